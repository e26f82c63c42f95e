/**
 * YuNet (OpenCV Zoo) face detector: one anchor per cell on strides 8/16/32, score sqrt(cls x obj), boxes as
 * centre offsets and log sizes in stride units, 5 keypoints as offsets from the cell corner.
 */
import { FaceGateError } from '../core/errors.js';
import type { DetectedFace, Landmarks5, RgbImage } from '../core/types.js';
import { createSession, type OnnxSession, type SessionOptions, type TensorData } from '../runtime/onnx.js';
import { cellsFor, finishDetections, floatData, resolveDetectOptions } from './detect-post.js';
import { createLetterboxRunner, planLetterbox } from './letterbox.js';
import type { ModelEntry } from './manifest.js';
import type { DetectOptions, Detector } from './types.js';

const KINDS = ['cls', 'obj', 'bbox', 'kps'] as const;
type Kind = (typeof KINDS)[number];

/**
 * Output names per stride and kind. The zoo export names them `cls_8` ... `kps_32`; an export without those names
 * falls back to the documented order (cls x3, obj x3, bbox x3, kps x3).
 */
function outputTable(session: OnnxSession, strides: readonly number[]): Map<string, string> {
  const table = new Map<string, string>();
  for (const name of session.outputNames) {
    const m = /^(cls|obj|bbox|kps)_(\d+)$/.exec(name);
    if (m) table.set(`${m[1]}_${m[2]}`, name);
  }
  if (table.size === KINDS.length * strides.length) return table;
  if (session.outputNames.length !== KINDS.length * strides.length) {
    throw new FaceGateError(
      'MODEL_INCOMPATIBLE',
      `${session.path}: YuNet has ${KINDS.length * strides.length} outputs (cls/obj/bbox/kps per stride), this model has ${session.outputNames.length}`,
    );
  }
  table.clear();
  KINDS.forEach((kind, k) => strides.forEach((s, i) => table.set(`${kind}_${s}`, session.outputNames[k * strides.length + i]!)));
  return table;
}

/**
 * YuNet's own default score threshold. Measured on the 43 human-annotated boxes of groups/annotations.json at input
 * size auto: 0.5 gives 3 false positives, 0.7 none, both with recall 1.0; 0.9 (OpenCV's default) drops recall to 0.84.
 */
export const YUNET_SCORE_THRESHOLD = 0.7;

/**
 * Loads a YuNet model described by its manifest entry. `defaults` override the detection defaults per call; the
 * score threshold defaults to YUNET_SCORE_THRESHOLD.
 */
export async function createYunetDetector(
  entry: ModelEntry,
  modelPath: string,
  sessionOptions: SessionOptions = {},
  defaultsIn: DetectOptions = {},
): Promise<Detector> {
  const defaults: DetectOptions = { ...defaultsIn, scoreThreshold: defaultsIn.scoreThreshold ?? YUNET_SCORE_THRESHOLD };
  const session = await createSession(modelPath, { label: entry.id, modelSha256: entry.sha256, ...sessionOptions });
  const inputName = entry.input.name;
  const strides = entry.output.strides ?? [8, 16, 32];
  let table: Map<string, string>;
  try {
    if (!session.inputs.some((i) => i.name === inputName)) {
      throw new FaceGateError('MODEL_INCOMPATIBLE', `${modelPath}: no input "${inputName}" (has ${session.inputs.map((i) => i.name).join(', ')})`);
    }
    table = outputTable(session, strides);
    // Bad defaults fail at construction, not on every frame.
    planLetterbox(640, 480, entry.input.size ?? resolveDetectOptions(defaults).inputSize, entry.input.sizeMultiple ?? 32);
  } catch (e) {
    await session.close();
    throw e;
  }
  const multiple = entry.input.sizeMultiple ?? 32;
  const runLetterboxed = createLetterboxRunner(session, entry, inputName, multiple);

  const get = (out: Record<string, TensorData>, kind: Kind, stride: number, rows: number): Float32Array => {
    const name = table.get(`${kind}_${stride}`)!;
    const data = floatData(session, out[name], name);
    const channels = kind === 'bbox' ? 4 : kind === 'kps' ? 10 : 1;
    if (data.length !== rows * channels) {
      throw new FaceGateError('MODEL_INCOMPATIBLE', `${session.path}: output "${name}" has ${data.length} values, expected ${rows} x ${channels}`);
    }
    return data;
  };

  return {
    modelId: entry.id,
    entry,
    async detect(img: RgbImage, options?: DetectOptions): Promise<DetectedFace[]> {
      const o = resolveDetectOptions(defaults, options);
      const { plan, outputs: out } = await runLetterboxed(img, o.inputSize);
      const candidates: DetectedFace[] = [];
      for (const s of strides) {
        const cols = Math.ceil(plan.inputWidth / s);
        const rows = cellsFor(plan.inputWidth, plan.inputHeight, s);
        const cls = get(out, 'cls', s, rows);
        const obj = get(out, 'obj', s, rows);
        const bbox = get(out, 'bbox', s, rows);
        const kps = get(out, 'kps', s, rows);
        for (let i = 0; i < rows; i++) {
          const c = Math.min(1, Math.max(0, cls[i]!));
          const ob = Math.min(1, Math.max(0, obj[i]!));
          const score = Math.sqrt(c * ob);
          if (score < o.scoreThreshold) continue;
          const col = i % cols;
          const row = Math.floor(i / cols);
          const cx = (col + bbox[i * 4]!) * s;
          const cy = (row + bbox[i * 4 + 1]!) * s;
          const w = Math.exp(bbox[i * 4 + 2]!) * s;
          const h = Math.exp(bbox[i * 4 + 3]!) * s;
          const k = i * 10;
          const landmarks = [0, 1, 2, 3, 4].map((j) => [(col + kps[k + 2 * j]!) * s, (row + kps[k + 2 * j + 1]!) * s]) as Landmarks5;
          candidates.push({ box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 }, score, landmarks });
        }
      }
      return finishDetections(candidates, plan.scale, img.width, img.height, o);
    },
    close: () => session.close(),
  };
}
