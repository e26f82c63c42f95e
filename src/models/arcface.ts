/**
 * ArcFace-family recognizers: an aligned face crop in, an L2-normalised embedding out. Everything model-specific
 * (input name and size, mean/std, colour order, output name, embedding length) comes from the manifest entry and is
 * checked against the loaded session, so a new recognizer is a manifest entry, never code.
 */
import { FaceGateError } from '../core/errors.js';
import type { RgbImage } from '../core/types.js';
import { createSession, type OnnxSession, type SessionOptions } from '../runtime/onnx.js';
import type { ModelEntry } from './manifest.js';
import { imageToTensor } from './tensor.js';
import type { EmbedResult, Recognizer } from './types.js';

/** Recognizer settings beyond the session's. */
export interface RecognizerOptions {
  /**
   * Most crops per inference call when the model's batch dimension is dynamic. Default 32. Batch-fixed models
   * (batch dimension 1 in the graph) always run one crop per call.
   */
  maxBatch?: number;
}

/** Per-call embedding settings. */
export interface EmbedOptions {
  /**
   * Also embed the horizontally mirrored crop and fuse the two (sum of the raw outputs, then L2-normalise), as the
   * ArcFace evaluation protocol does. Costs a second inference per crop. Default false.
   */
  flip?: boolean;
}

function incompatible(entry: ModelEntry, path: string, why: string, details: Record<string, unknown> = {}): FaceGateError {
  return new FaceGateError('MODEL_INCOMPATIBLE', `recognizer "${entry.id}" (${path}): ${why}`, { details: { id: entry.id, path, ...details } });
}

/**
 * Loads an ArcFace-family recognizer. Validates at construction, throwing `MODEL_INCOMPATIBLE` when the manifest's
 * input name is not among the model's inputs, its input is not [N, 3, H, W] of the manifest's size, or one test run
 * gives an embedding of another length than `embeddingSize`. Session errors (`MODEL_LOAD_FAILED`, ...) pass through.
 */
export async function createArcFaceRecognizer(
  entry: ModelEntry,
  modelPath: string,
  sessionOptions: SessionOptions = {},
  options: RecognizerOptions = {},
): Promise<Recognizer> {
  if (entry.role !== 'recognizer' || entry.family !== 'arcface') {
    throw incompatible(entry, modelPath, `manifest role/family is ${entry.role}/${entry.family}, expected recognizer/arcface`);
  }
  if (!entry.input.size) throw incompatible(entry, modelPath, 'manifest input.size must be a fixed [width, height] for a recognizer');
  const [width, height] = entry.input.size;
  const embeddingSize = entry.embeddingSize!;
  const maxBatch = options.maxBatch ?? 32;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new FaceGateError('CONFIG_INVALID', `maxBatch must be a positive integer, got ${maxBatch}`, { details: { field: 'maxBatch', value: maxBatch } });
  }

  const session = await createSession(modelPath, { label: entry.id, modelSha256: entry.sha256, ...sessionOptions });
  let batchDynamic: boolean;
  let outputName: string;
  try {
    const input = session.inputs.find((i) => i.name === entry.input.name);
    if (!input) {
      throw incompatible(entry, modelPath, `input "${entry.input.name}" not found (model inputs: ${session.inputs.map((i) => i.name).join(', ')})`);
    }
    const shape = input.shape;
    if (shape.length !== 4 || (shape[1] !== -1 && shape[1] !== 3)) {
      throw incompatible(entry, modelPath, `input "${input.name}" has shape [${shape.join(', ')}], expected [N, 3, H, W]`, { shape });
    }
    if ((shape[2] !== -1 && shape[2] !== height) || (shape[3] !== -1 && shape[3] !== width)) {
      throw incompatible(entry, modelPath, `input is ${shape[3]}x${shape[2]} but the manifest says ${width}x${height}`, { shape });
    }
    batchDynamic = shape[0] === -1;
    outputName = entry.output.name ?? session.outputNames[0]!;
    if (!session.outputNames.includes(outputName)) {
      throw incompatible(entry, modelPath, `output "${outputName}" not found (model outputs: ${session.outputNames.join(', ')})`);
    }
    // One run on a blank crop: the only way to learn the output length, and it warms the session up.
    const probe = await session.run({ [entry.input.name]: { data: new Float32Array(3 * width * height), dims: [1, 3, height, width], type: 'float32' } }, [outputName]);
    const out = probe[outputName]!;
    const perItem = out.data.length / (out.dims[0] ?? 1);
    if (perItem !== embeddingSize) {
      throw incompatible(entry, modelPath, `embedding has ${perItem} values, the manifest says ${embeddingSize}`, {
        expected: embeddingSize,
        actual: perItem,
      });
    }
  } catch (e) {
    await session.close();
    throw e;
  }
  return new ArcFaceRecognizer(entry, session, width, height, embeddingSize, outputName, batchDynamic ? maxBatch : 1);
}

class ArcFaceRecognizer implements Recognizer {
  readonly modelId: string;
  /** How many crops go into one inference call (1 for batch-fixed models). */
  readonly batchSize: number;

  constructor(
    readonly entry: ModelEntry,
    private readonly session: OnnxSession,
    private readonly width: number,
    private readonly height: number,
    readonly embeddingSize: number,
    private readonly outputName: string,
    batchSize: number,
  ) {
    this.modelId = entry.id;
    this.batchSize = batchSize;
  }

  async embedAligned(crops: readonly RgbImage[], options: EmbedOptions = {}): Promise<EmbedResult[]> {
    const flip = options.flip ?? false;
    for (let i = 0; i < crops.length; i++) {
      const c = crops[i]!;
      if (c.width !== this.width || c.height !== this.height) {
        throw new FaceGateError('CONFIG_INVALID', `aligned crop ${i} is ${c.width}x${c.height}, "${this.modelId}" needs ${this.width}x${this.height}`, {
          details: { index: i, width: c.width, height: c.height },
        });
      }
    }
    // Each crop contributes one or two (mirrored) items; items are batched up to batchSize per call.
    const views = flip ? 2 : 1;
    const items = crops.length * views;
    const raw = new Float32Array(items * this.embeddingSize);
    const plane = 3 * this.width * this.height;
    for (let start = 0; start < items; start += this.batchSize) {
      const n = Math.min(this.batchSize, items - start);
      const tensor = new Float32Array(n * plane);
      for (let k = 0; k < n; k++) {
        const item = start + k;
        const crop = crops[Math.floor(item / views)]!;
        imageToTensor(crop, this.entry.input, this.width, this.height, tensor.subarray(k * plane, (k + 1) * plane), item % views === 1);
      }
      const out = await this.session.run(
        { [this.entry.input.name]: { data: tensor, dims: [n, 3, this.height, this.width], type: 'float32' } },
        [this.outputName],
      );
      const data = out[this.outputName]!.data as Float32Array;
      raw.set(data.subarray(0, n * this.embeddingSize), start * this.embeddingSize);
    }
    const d = this.embeddingSize;
    const results: EmbedResult[] = [];
    for (let i = 0; i < crops.length; i++) {
      const embedding = new Float32Array(d);
      let normSum = 0;
      for (let v = 0; v < views; v++) {
        const row = raw.subarray((i * views + v) * d, (i * views + v + 1) * d);
        let sq = 0;
        for (let j = 0; j < d; j++) {
          embedding[j] += row[j]!;
          sq += row[j]! * row[j]!;
        }
        normSum += Math.sqrt(sq);
      }
      let sq = 0;
      for (let j = 0; j < d; j++) sq += embedding[j]! * embedding[j]!;
      const n = Math.sqrt(sq);
      // A zero vector (never seen from a real model) stays zero rather than becoming NaN.
      if (n > 0) for (let j = 0; j < d; j++) embedding[j]! /= n;
      // With flip, the mean of the two views' norms: comparable with the unflipped value as a quality signal.
      results.push({ embedding, rawNorm: normSum / views });
    }
    return results;
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
