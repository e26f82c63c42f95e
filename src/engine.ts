/**
 * The face engine: decode -> detect -> align -> embed -> compare, on any detector and recognizer in the manifest.
 * Models are verified (sha256) and loaded once at construction; per-image outcomes (no face) are values.
 */
import { FaceGateError } from './core/errors.js';
import { centerMostFace, largestFace } from './core/geometry.js';
import type { DetectedFace, RgbImage } from './core/types.js';
import { cosineSimilarity } from './core/vector.js';
import { alignFace } from './face/align.js';
import { decodeImage, resizeImage } from './image/image.js';
import { createDetector } from './models/detector.js';
import { findModel, loadManifest, packageRoot, requireModel, resolveModelsDir, type ModelEntry } from './models/manifest.js';
import { createRecognizer } from './models/recognizer.js';
import type { DetectOptions, Detector, EmbedResult, Recognizer } from './models/types.js';
import type { DeviceName, SessionOptions } from './runtime/onnx.js';
import type { ProviderLogger, ProviderOptions } from './runtime/providers.js';
import { chooseModelFile, type PrecisionChoice } from './quantize/precision.js';
import { join } from 'node:path';

/** Default detector model id. */
export const DEFAULT_DETECTOR = 'det_500m';
/** Default recognizer model id. */
export const DEFAULT_RECOGNIZER = 'mobilefacenet512_faceplugin';
/**
 * Cosine-similarity threshold used when the recognizer's manifest entry has no measured `recommendedThreshold` and
 * none is given: a conservative value for ArcFace-family models, not calibrated for any one of them.
 */
export const FALLBACK_THRESHOLD = 0.35;

/** Everything `createEngine` accepts. Every field is optional. */
export interface EngineOptions {
  /** Directory holding the model files. Default: `FACEGATE_MODELS`, then `../shared/models` beside the package. */
  modelsDir?: string;
  /** Path of a model manifest. Default: the built-in models/manifest.json. */
  manifestPath?: string;
  /** Detector model id from the manifest. Default `det_500m`. */
  detector?: string;
  /** Recognizer model id from the manifest. Default `mobilefacenet512_faceplugin`. */
  recognizer?: string;
  /** Device for both models: `cpu`, `cuda`, `tensorrt` or `auto`. Default `cpu`. */
  device?: DeviceName;
  /** onnxruntime threads per operator; 0 lets onnxruntime use one per core. Default 0. */
  intraOpThreads?: number;
  /** Execution-provider options (TensorRT cache and precision, CUDA). Default: each provider's defaults. */
  providers?: ProviderOptions;
  /** Receives one line per model saying which provider it runs on. Default: silent. */
  logger?: ProviderLogger;
  /** Detection settings used when a call gives none (score threshold 0.5, NMS IoU 0.4, input size `auto`...). */
  detect?: DetectOptions;
  /** Fuse the horizontally flipped crop into each embedding (twice the recognizer time). Default false. */
  flip?: boolean;
  /** Largest image accepted for decoding, in pixels (width x height), checked from the header. Default 100e6. */
  maxPixels?: number;
  /** Cosine-similarity threshold for `verify`. Default: the recognizer's manifest `recommendedThreshold`, else 0.35. */
  threshold?: number;
  /**
   * Model precision. `auto` (default): each model's validated INT8 file from `int8Dir` (made by `npm run quantize`)
   * when present, unchanged and, on the CPU, when the CPU has int8 dot-product instructions (x86 VNNI, ARM
   * dot-product), else FP32; the logger says which and why. `int8` demands the INT8 files (MODEL_NOT_FOUND /
   * MODEL_CHECKSUM_MISMATCH otherwise); `fp32` never uses them.
   */
  precision?: PrecisionChoice;
  /** Folder of INT8 models and their manifest.json. Default: models/int8 in the package. */
  int8Dir?: string;
}

/** Milliseconds spent per stage; calls add to the fields, so one object can total a run. */
export interface StageTimings {
  decodeMs: number;
  detectMs: number;
  alignMs: number;
  embedMs: number;
}

/** A fresh, zeroed timings object. */
export function createTimings(): StageTimings {
  return { decodeMs: 0, detectMs: 0, alignMs: 0, embedMs: 0 };
}

/** Which detected face(s) an image contributes: nearest the centre, largest box, or every face. */
export type FaceSelection = 'center' | 'largest' | 'all';

/** A face with its embedding. */
export interface FaceEmbedding extends EmbedResult {
  face: DetectedFace;
  /** The aligned crop fed to the recognizer (only with `keepCrops`). */
  aligned?: RgbImage;
}

/** An image given as a decoded image, a file path, or encoded bytes. */
export type ImageInput = RgbImage | string | Uint8Array;

export interface CallOptions {
  /** Filled with the time spent per stage when given. */
  timings?: StageTimings;
}

export interface EmbedCallOptions extends CallOptions {
  /** Fuse the flipped crop. Default: the engine's `flip`. */
  flip?: boolean;
  /** Keep the aligned crops in the results. Default false. */
  keepCrops?: boolean;
  /**
   * Crops already aligned for these faces (same order), e.g. by the quality gate; one of the recognizer's input size
   * is used as it is, anything else is aligned again. Default: none (every face is aligned here).
   */
  crops?: readonly (RgbImage | undefined)[];
}

export interface EmbedImageOptions extends EmbedCallOptions {
  /** Which face(s) to embed. Default `largest`. */
  face?: FaceSelection;
  /** Detection settings for this call. Default: the engine's. */
  detect?: DetectOptions;
}

export interface VerifyOptions extends EmbedImageOptions {
  /** Cosine-similarity threshold. Default: the engine's threshold. */
  threshold?: number;
}

export interface VerifyResult {
  /** Cosine similarity of the two embeddings, -1..1. */
  similarity: number;
  /** similarity >= threshold. */
  same: boolean;
  threshold: number;
  /** The face used in each image. */
  faces: [DetectedFace, DetectedFace];
}

export interface Engine {
  readonly detectorId: string;
  readonly recognizerId: string;
  readonly detectorEntry: ModelEntry;
  readonly recognizerEntry: ModelEntry;
  readonly embeddingSize: number;
  /** The recognizer's measured threshold from the manifest, or null when not measured. */
  readonly recommendedThreshold: number | null;
  /** The threshold `verify` uses by default. */
  readonly threshold: number;
  /** Decodes an image (EXIF orientation applied, RGB), with the engine's pixel limit. */
  decode(input: ImageInput, options?: CallOptions): Promise<RgbImage>;
  /** Faces in the image, in source pixels, by descending score. */
  detect(input: ImageInput, options?: DetectOptions & CallOptions): Promise<DetectedFace[]>;
  /** Aligns and embeds the given faces of an image (one batch). */
  embedFaces(img: RgbImage, faces: readonly DetectedFace[], options?: EmbedCallOptions): Promise<FaceEmbedding[]>;
  /** Detects, selects and embeds; an empty array when no face is found. */
  embedImage(input: ImageInput, options?: EmbedImageOptions): Promise<FaceEmbedding[]>;
  /**
   * Embeds an already-aligned crop (e.g. a 112x112 ArcFace crop) with no detection. A square crop of another size is
   * resized to the recognizer's input; a non-square one is `CONFIG_INVALID`.
   */
  embedAligned(input: ImageInput, options?: EmbedCallOptions): Promise<EmbedResult>;
  /** Compares the selected face of two images. Throws `NO_FACE` naming the image without one. */
  verify(a: ImageInput, b: ImageInput, options?: VerifyOptions): Promise<VerifyResult>;
  /** Releases both models. */
  close(): Promise<void>;
}

const now = (): number => performance.now();

function label(input: ImageInput): string {
  return typeof input === 'string' ? input : input instanceof Uint8Array ? '<bytes>' : `<${input.width}x${input.height} image>`;
}

function isRgbImage(input: ImageInput): input is RgbImage {
  return typeof input === 'object' && !(input instanceof Uint8Array);
}

/**
 * Creates an engine. Verifies both model files against the manifest first: `MODEL_NOT_FOUND` names the expected
 * path, `MODEL_CHECKSUM_MISMATCH` the file and both hashes; `MODEL_UNKNOWN` for an id not in the manifest.
 *
 * @example
 * const engine = await createEngine({ intraOpThreads: 2 });
 * const { similarity, same } = await engine.verify('a.jpg', 'b.jpg');
 * await engine.close();
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const manifest = loadManifest(options.manifestPath);
  const detEntry = findModel(manifest, options.detector ?? DEFAULT_DETECTOR);
  const recEntry = findModel(manifest, options.recognizer ?? DEFAULT_RECOGNIZER);
  if (detEntry.role !== 'detector') {
    throw new FaceGateError('CONFIG_INVALID', `"${detEntry.id}" is a ${detEntry.role}, not a detector`, { details: { field: 'detector', value: detEntry.id } });
  }
  if (recEntry.role !== 'recognizer') {
    throw new FaceGateError('CONFIG_INVALID', `"${recEntry.id}" is a ${recEntry.role}, not a recognizer`, { details: { field: 'recognizer', value: recEntry.id } });
  }
  if (options.threshold !== undefined && !(options.threshold >= -1 && options.threshold <= 1)) {
    throw new FaceGateError('CONFIG_INVALID', `threshold ${options.threshold} must be a cosine similarity in [-1, 1]`, { details: { field: 'threshold' } });
  }
  const dir = resolveModelsDir(options.modelsDir);
  const [detPath, recPath] = await Promise.all([requireModel(dir, detEntry), requireModel(dir, recEntry)]);
  const sessionOptions: SessionOptions = {
    device: options.device ?? 'cpu',
    intraOpThreads: options.intraOpThreads ?? 0,
    ...(options.providers ? { providers: options.providers } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  // INT8 or FP32 per model (src/quantize/precision.ts); an INT8 file keys the TensorRT cache by its own sha256.
  const int8Dir = options.int8Dir ?? join(packageRoot(), 'models', 'int8');
  const [detFile, recFile] = [detEntry, recEntry].map((e, i) => {
    const f = chooseModelFile(int8Dir, e, i === 0 ? detPath : recPath, options.precision ?? 'auto', sessionOptions.device);
    options.logger?.info(`${e.id}: ${f.precision}${f.reason ? ` (${f.reason})` : ''}`, { model: e.id, precision: f.precision, path: f.path });
    return { path: f.path, session: f.record ? { ...sessionOptions, modelSha256: f.record.sha256 } : sessionOptions };
  }) as [{ path: string; session: SessionOptions }, { path: string; session: SessionOptions }];
  const [det, rec] = await Promise.allSettled([
    createDetector(detEntry, detFile.path, detFile.session, options.detect ?? {}),
    createRecognizer(recEntry, recFile.path, recFile.session),
  ]);
  if (det.status === 'rejected' || rec.status === 'rejected') {
    if (det.status === 'fulfilled') await det.value.close();
    if (rec.status === 'fulfilled') await rec.value.close();
    throw det.status === 'rejected' ? det.reason : (rec as PromiseRejectedResult).reason;
  }
  return new FaceEngine(det.value, rec.value, options);
}

class FaceEngine implements Engine {
  readonly detectorId: string;
  readonly recognizerId: string;
  readonly detectorEntry: ModelEntry;
  readonly recognizerEntry: ModelEntry;
  readonly embeddingSize: number;
  readonly recommendedThreshold: number | null;
  readonly threshold: number;
  private readonly cropSize: [number, number];
  private closed = false;

  constructor(
    private readonly detector: Detector,
    private readonly recognizer: Recognizer,
    private readonly options: EngineOptions,
  ) {
    this.detectorId = detector.modelId;
    this.recognizerId = recognizer.modelId;
    this.detectorEntry = detector.entry;
    this.recognizerEntry = recognizer.entry;
    this.embeddingSize = recognizer.embeddingSize;
    this.recommendedThreshold = recognizer.entry.recommendedThreshold ?? null;
    this.threshold = options.threshold ?? this.recommendedThreshold ?? FALLBACK_THRESHOLD;
    this.cropSize = recognizer.entry.input.size ?? [112, 112];
  }

  private check(): void {
    if (this.closed) throw new FaceGateError('INTERNAL', 'engine used after close()');
  }

  async decode(input: ImageInput, options: CallOptions = {}): Promise<RgbImage> {
    if (isRgbImage(input)) return input;
    const t0 = now();
    const img = await decodeImage(input, this.options.maxPixels !== undefined ? { maxPixels: this.options.maxPixels } : {});
    if (options.timings) options.timings.decodeMs += now() - t0;
    return img;
  }

  async detect(input: ImageInput, options: DetectOptions & CallOptions = {}): Promise<DetectedFace[]> {
    this.check();
    const img = await this.decode(input, options);
    const { timings, ...detectOptions } = options;
    const t0 = now();
    const faces = await this.detector.detect(img, detectOptions);
    if (timings) timings.detectMs += now() - t0;
    return faces;
  }

  async embedFaces(img: RgbImage, faces: readonly DetectedFace[], options: EmbedCallOptions = {}): Promise<FaceEmbedding[]> {
    this.check();
    if (faces.length === 0) return [];
    const t0 = now();
    const [cw, ch] = this.cropSize;
    const crops = faces.map((f, i) => {
      const given = options.crops?.[i];
      return given && given.width === cw && given.height === ch ? given : alignFace(img, f.landmarks, cw).crop;
    });
    const t1 = now();
    const results = await this.recognizer.embedAligned(crops, { flip: options.flip ?? this.options.flip ?? false });
    if (options.timings) {
      options.timings.alignMs += t1 - t0;
      options.timings.embedMs += now() - t1;
    }
    return results.map((r, i) => ({ ...r, face: faces[i]!, ...(options.keepCrops ? { aligned: crops[i]! } : {}) }));
  }

  async embedImage(input: ImageInput, options: EmbedImageOptions = {}): Promise<FaceEmbedding[]> {
    const img = await this.decode(input, options);
    const all = await this.detect(img, { ...(options.detect ?? {}), ...(options.timings ? { timings: options.timings } : {}) });
    const selection = options.face ?? 'largest';
    let chosen: DetectedFace[];
    if (selection === 'all') chosen = all;
    else if (selection === 'largest') chosen = all.length ? [largestFace(all)!] : [];
    else if (selection === 'center') chosen = all.length ? [centerMostFace(all, img.width, img.height)!] : [];
    else throw new FaceGateError('CONFIG_INVALID', `face selection "${selection as string}" must be center, largest or all`, { details: { field: 'face' } });
    return this.embedFaces(img, chosen, options);
  }

  async embedAligned(input: ImageInput, options: EmbedCallOptions = {}): Promise<EmbedResult> {
    this.check();
    let img = await this.decode(input, options);
    const [w, h] = this.cropSize;
    if (img.width !== w || img.height !== h) {
      if (img.width * h !== img.height * w) {
        throw new FaceGateError('CONFIG_INVALID', `${label(input)} is ${img.width}x${img.height}; an aligned crop for "${this.recognizerId}" is ${w}x${h}`, {
          details: { width: img.width, height: img.height },
        });
      }
      img = await resizeImage(img, w, h);
    }
    const t0 = now();
    const [r] = await this.recognizer.embedAligned([img], { flip: options.flip ?? this.options.flip ?? false });
    if (options.timings) options.timings.embedMs += now() - t0;
    return r!;
  }

  async verify(a: ImageInput, b: ImageInput, options: VerifyOptions = {}): Promise<VerifyResult> {
    const threshold = options.threshold ?? this.threshold;
    const one = async (input: ImageInput): Promise<FaceEmbedding> => {
      const [f] = await this.embedImage(input, options);
      if (!f) throw new FaceGateError('NO_FACE', `no face found in ${label(input)}`, { details: { path: label(input) } });
      return f;
    };
    const fa = await one(a);
    const fb = await one(b);
    const similarity = cosineSimilarity(fa.embedding, fb.embedding);
    return { similarity, same: similarity >= threshold, threshold, faces: [fa.face, fb.face] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.detector.close(), this.recognizer.close()]);
  }
}
