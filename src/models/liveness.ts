/**
 * Passive liveness (presentation-attack) check with a MiniFASNet-style classifier (`antispoof_faceplugin_128`):
 * the face box widened by the manifest's `cropScale`, resized to the model's input, three logits out, the softmax of
 * the manifest's `liveClass` is the live probability.
 *
 * It is off by default everywhere: the model's source says nothing of its training data, and facegate has measured
 * it on one spoof photo only (see docs/quality.md). Treat its score as a hint, never as a security control.
 */
import { FaceGateError } from '../core/errors.js';
import type { Box, DetectedFace, RgbImage } from '../core/types.js';
import { cropImage, resizeImage } from '../image/image.js';
import { createSession, type OnnxSession, type SessionOptions } from '../runtime/onnx.js';
import type { ModelEntry } from './manifest.js';
import { imageToTensor } from './tensor.js';

export interface LivenessModel {
  readonly modelId: string;
  readonly entry: ModelEntry;
  /** Live probability of each face, 0..1 (1 = live), in the order given. */
  check(img: RgbImage, faces: readonly Pick<DetectedFace, 'box'>[]): Promise<number[]>;
  close(): Promise<void>;
}

/**
 * The region the model was trained on: the face box scaled by `scale` about its centre, shrunk when it would not fit
 * in the image, then shifted inside it (as Silent-Face-Anti-Spoofing's CropImage, whose models this family follows).
 */
export function livenessCropBox(box: Box, width: number, height: number, scale: number): Box {
  const bw = Math.max(1, box.x2 - box.x1);
  const bh = Math.max(1, box.y2 - box.y1);
  const s = Math.min(scale, (height - 1) / bh, (width - 1) / bw);
  const w = bw * s;
  const h = bh * s;
  const cx = (box.x1 + box.x2) / 2;
  const cy = (box.y1 + box.y2) / 2;
  let x1 = cx - w / 2;
  let y1 = cy - h / 2;
  x1 = Math.min(Math.max(0, x1), width - 1 - w);
  y1 = Math.min(Math.max(0, y1), height - 1 - h);
  return { x1: Math.max(0, x1), y1: Math.max(0, y1), x2: Math.min(width, x1 + w), y2: Math.min(height, y1 + h) };
}

/**
 * Loads the liveness model from a verified path (see requireModel). Throws `MODEL_INCOMPATIBLE` when the entry is not
 * a liveness model, has no fixed input size, or the model does not give 3 logits per face.
 */
export async function createLivenessModel(entry: ModelEntry, modelPath: string, sessionOptions: SessionOptions = {}): Promise<LivenessModel> {
  const fail = (why: string): FaceGateError =>
    new FaceGateError('MODEL_INCOMPATIBLE', `liveness model "${entry.id}" (${modelPath}): ${why}`, { details: { id: entry.id, path: modelPath } });
  if (entry.role !== 'liveness') throw fail(`manifest role is ${entry.role}, expected liveness`);
  if (!entry.input.size) throw fail('manifest input.size must be a fixed [width, height]');
  const [width, height] = entry.input.size;
  const session = await createSession(modelPath, { label: entry.id, modelSha256: entry.sha256, ...sessionOptions });
  try {
    if (!session.inputs.some((i) => i.name === entry.input.name)) {
      throw fail(`input "${entry.input.name}" not found (model inputs: ${session.inputs.map((i) => i.name).join(', ')})`);
    }
    const probe = await session.run({ [entry.input.name]: { data: new Float32Array(3 * width * height), dims: [1, 3, height, width], type: 'float32' } });
    const out = probe[session.outputNames[0]!]!;
    if (out.data.length !== 3) throw fail(`expected 3 logits, got ${out.data.length}`);
  } catch (e) {
    await session.close();
    throw e;
  }
  return new MiniFasLiveness(entry, session, width, height);
}

class MiniFasLiveness implements LivenessModel {
  readonly modelId: string;
  private readonly liveClass: number;
  private readonly cropScale: number;

  constructor(
    readonly entry: ModelEntry,
    private readonly session: OnnxSession,
    private readonly width: number,
    private readonly height: number,
  ) {
    this.modelId = entry.id;
    this.liveClass = entry.output.liveClass ?? 0;
    this.cropScale = entry.input.cropScale ?? 2.7;
  }

  async check(img: RgbImage, faces: readonly Pick<DetectedFace, 'box'>[]): Promise<number[]> {
    const out: number[] = [];
    const tensor = new Float32Array(3 * this.width * this.height);
    for (const f of faces) {
      const region = livenessCropBox(f.box, img.width, img.height, this.cropScale);
      const crop = await resizeImage(await cropImage(img, region), this.width, this.height);
      imageToTensor(crop, this.entry.input, this.width, this.height, tensor);
      const res = await this.session.run({ [this.entry.input.name]: { data: tensor, dims: [1, 3, this.height, this.width], type: 'float32' } });
      const logits = res[this.session.outputNames[0]!]!.data as Float32Array;
      out.push(softmax(logits)[this.liveClass]!);
    }
    return out;
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

function softmax(v: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) max = Math.max(max, v[i]!);
  const e = Array.from(v, (x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}
