/**
 * SCRFD (InsightFace) face detector with 5 keypoints: letterbox, one forward pass, anchor decoding per stride,
 * score threshold, NMS, mapping back to image pixels.
 */
import { FaceGateError } from '../core/errors.js';
import type { DetectedFace, Landmarks5, RgbImage } from '../core/types.js';
import { createSession, type OnnxSession, type SessionOptions, type TensorData } from '../runtime/onnx.js';
import { cellsFor, finishDetections, floatData, resolveDetectOptions, rowsAndChannels } from './detect-post.js';
import { createLetterboxRunner, planLetterbox } from './letterbox.js';
import type { ModelEntry } from './manifest.js';
import type { DetectOptions, Detector } from './types.js';

/** One stride's three output tensors. */
interface StrideOutputs {
  stride: number;
  scores: Float32Array;
  boxes: Float32Array;
  kps: Float32Array;
}

/**
 * Finds each stride's score, box and keypoint tensors by shape: channels 1, 4 and 10, and rows equal to the stride's
 * cells x anchors. The insightface export lists them as 3 scores, 3 boxes, 3 keypoints; matching by shape also
 * accepts exports that interleave them by stride.
 */
function matchOutputs(
  session: OnnxSession,
  out: Record<string, TensorData>,
  strides: readonly number[],
  anchors: number,
  inputWidth: number,
  inputHeight: number,
): StrideOutputs[] {
  const byKind: Record<number, { name: string; rows: number }[]> = { 1: [], 4: [], 10: [] };
  for (const name of session.outputNames) {
    const t = out[name];
    if (!t) continue;
    const { rows, channels } = rowsAndChannels(t);
    byKind[channels]?.push({ name, rows });
  }
  return strides.map((stride) => {
    const rows = cellsFor(inputWidth, inputHeight, stride) * anchors;
    const pick = (channels: 1 | 4 | 10, what: string): Float32Array => {
      const hit = byKind[channels]!.find((o) => o.rows === rows);
      if (!hit) {
        throw new FaceGateError(
          'MODEL_INCOMPATIBLE',
          `${session.path}: no ${what} output with ${rows} rows x ${channels} for stride ${stride} at input ${inputWidth}x${inputHeight} (outputs: ${session.outputNames.join(', ')}); the manifest declares an SCRFD with keypoints, ${anchors} anchors per cell`,
          { details: { stride, rows, channels } },
        );
      }
      return floatData(session, out[hit.name], hit.name);
    };
    return { stride, scores: pick(1, 'score'), boxes: pick(4, 'box'), kps: pick(10, 'keypoint') };
  });
}

/**
 * Decodes one stride. Anchor centres sit on the stride grid (x * stride, y * stride), `anchors` per cell sharing the
 * centre; boxes are distances (left, top, right, bottom) and keypoints offsets, both in stride units. Scores are
 * already sigmoid outputs.
 */
function decodeStride(s: StrideOutputs, anchors: number, inputWidth: number, threshold: number, out: DetectedFace[]): void {
  const cols = Math.ceil(inputWidth / s.stride);
  const n = s.scores.length;
  for (let i = 0; i < n; i++) {
    const score = s.scores[i]!;
    if (score < threshold) continue;
    const cell = Math.floor(i / anchors);
    const cx = (cell % cols) * s.stride;
    const cy = Math.floor(cell / cols) * s.stride;
    const b = i * 4;
    const k = i * 10;
    const st = s.stride;
    const landmarks = [0, 1, 2, 3, 4].map((j) => [cx + s.kps[k + 2 * j]! * st, cy + s.kps[k + 2 * j + 1]! * st]) as Landmarks5;
    out.push({
      box: { x1: cx - s.boxes[b]! * st, y1: cy - s.boxes[b + 1]! * st, x2: cx + s.boxes[b + 2]! * st, y2: cy + s.boxes[b + 3]! * st },
      score,
      landmarks,
    });
  }
}

/** Loads an SCRFD model described by its manifest entry. `defaults` override the detection defaults per call. */
export async function createScrfdDetector(
  entry: ModelEntry,
  modelPath: string,
  sessionOptions: SessionOptions = {},
  defaults: DetectOptions = {},
): Promise<Detector> {
  const session = await createSession(modelPath, { label: entry.id, modelSha256: entry.sha256, ...sessionOptions });
  const inputName = entry.input.name;
  if (!session.inputs.some((i) => i.name === inputName)) {
    await session.close();
    throw new FaceGateError('MODEL_INCOMPATIBLE', `${modelPath}: no input "${inputName}" (has ${session.inputs.map((i) => i.name).join(', ')})`);
  }
  if (session.outputNames.length < 9) {
    await session.close();
    throw new FaceGateError('MODEL_INCOMPATIBLE', `${modelPath}: SCRFD with keypoints has 9 outputs, this model has ${session.outputNames.length}`);
  }
  const strides = entry.output.strides ?? [8, 16, 32];
  const anchors = entry.output.anchorsPerCell ?? 2;
  const multiple = entry.input.sizeMultiple ?? 32;
  try {
    // Bad defaults fail at construction, not on every frame.
    planLetterbox(640, 480, entry.input.size ?? resolveDetectOptions(defaults).inputSize, multiple);
  } catch (e) {
    await session.close();
    throw e;
  }
  const runLetterboxed = createLetterboxRunner(session, entry, inputName, multiple);

  return {
    modelId: entry.id,
    entry,
    async detect(img: RgbImage, options?: DetectOptions): Promise<DetectedFace[]> {
      const o = resolveDetectOptions(defaults, options);
      const { plan, outputs: out } = await runLetterboxed(img, o.inputSize);
      const candidates: DetectedFace[] = [];
      for (const s of matchOutputs(session, out, strides, anchors, plan.inputWidth, plan.inputHeight)) {
        decodeStride(s, anchors, plan.inputWidth, o.scoreThreshold, candidates);
      }
      return finishDetections(candidates, plan.scale, img.width, img.height, o);
    },
    close: () => session.close(),
  };
}
