/** Post-processing shared by every detector family: NMS, mapping back to the image, size filter and max faces. */
import { FaceGateError } from '../core/errors.js';
import { boxCenter, boxArea, clipBox, nms } from '../core/geometry.js';
import type { DetectedFace, Landmarks5 } from '../core/types.js';
import type { OnnxSession, TensorData } from '../runtime/onnx.js';
import type { DetectOptions } from './types.js';

/** Detection defaults of every family (see DetectOptions for meanings and units). */
export const DETECT_DEFAULTS = {
  scoreThreshold: 0.5,
  nmsIouThreshold: 0.4,
  maxFaces: 0,
  minFacePx: 0,
  inputSize: 'auto',
} as const satisfies Required<DetectOptions>;

/** Checks the per-call options once, so a bad value is a coded error and not a silent empty result. */
export function resolveDetectOptions(defaults: DetectOptions, options: DetectOptions = {}): Required<DetectOptions> {
  const o = { ...DETECT_DEFAULTS, ...defaults, ...stripUndefined(options) } as Required<DetectOptions>;
  const bad = (field: string, why: string): never => {
    throw new FaceGateError('CONFIG_INVALID', `detect option ${field}=${JSON.stringify((o as Record<string, unknown>)[field])} ${why}`, {
      details: { field, value: (o as Record<string, unknown>)[field] },
    });
  };
  if (!(o.scoreThreshold >= 0 && o.scoreThreshold <= 1)) bad('scoreThreshold', 'must be in [0, 1]');
  if (!(o.nmsIouThreshold >= 0 && o.nmsIouThreshold <= 1)) bad('nmsIouThreshold', 'must be in [0, 1]');
  if (!(Number.isInteger(o.maxFaces) && o.maxFaces >= 0)) bad('maxFaces', 'must be a non-negative integer');
  if (!(o.minFacePx >= 0)) bad('minFacePx', 'must be >= 0');
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * NMS over candidates in network coordinates, then maps them to image pixels (dividing by `scale`), clips boxes to
 * the image, drops faces narrower than `minFacePx` and keeps `maxFaces` by insightface's ranking (area minus twice
 * the squared distance from the image centre: big central faces first). Result sorted by descending score.
 */
export function finishDetections(
  candidates: DetectedFace[],
  scale: number,
  imageWidth: number,
  imageHeight: number,
  o: Required<DetectOptions>,
): DetectedFace[] {
  const kept = nms(candidates, o.nmsIouThreshold);
  const inv = 1 / scale;
  let faces: DetectedFace[] = [];
  for (const f of kept) {
    const box = clipBox({ x1: f.box.x1 * inv, y1: f.box.y1 * inv, x2: f.box.x2 * inv, y2: f.box.y2 * inv }, imageWidth, imageHeight);
    if (box.x2 - box.x1 < Math.max(o.minFacePx, 1e-6)) continue;
    const landmarks = f.landmarks.map(([x, y]) => [x * inv, y * inv]) as Landmarks5;
    faces.push({ box, score: f.score, landmarks });
  }
  if (o.maxFaces > 0 && faces.length > o.maxFaces) {
    const cx = imageWidth / 2;
    const cy = imageHeight / 2;
    const rank = (f: DetectedFace): number => {
      const [bx, by] = boxCenter(f.box);
      return boxArea(f.box) - 2 * ((bx - cx) ** 2 + (by - cy) ** 2);
    };
    faces = [...faces].sort((a, b) => rank(b) - rank(a)).slice(0, o.maxFaces);
    faces.sort((a, b) => b.score - a.score);
  }
  return faces;
}

/** Number of anchor rows one stride produces for a feature map of the input. */
export function cellsFor(inputWidth: number, inputHeight: number, stride: number): number {
  return Math.ceil(inputWidth / stride) * Math.ceil(inputHeight / stride);
}

/** Second-to-last-free view: rows and channels of an output shaped [N, C] or [1, N, C]. */
export function rowsAndChannels(t: TensorData): { rows: number; channels: number } {
  const dims = t.dims;
  const channels = dims.length >= 2 ? dims[dims.length - 1]! : 1;
  return { rows: t.data.length / Math.max(1, channels), channels };
}

/** A float32 output's data, or MODEL_INCOMPATIBLE naming the model and output. */
export function floatData(session: OnnxSession, t: TensorData | undefined, name: string): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) {
    throw new FaceGateError('MODEL_INCOMPATIBLE', `${session.path}: output "${name}" is missing or not float32`, { details: { output: name } });
  }
  return t.data;
}
