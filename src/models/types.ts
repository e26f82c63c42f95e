/** The interfaces every detector and recognizer implements; the engine depends on these, never on a family. */
import type { DetectedFace, RgbImage } from '../core/types.js';
import type { ModelEntry } from './manifest.js';

/** Per-call detection settings. Every field has a default in the detector. */
export interface DetectOptions {
  /** Minimum detector confidence, 0..1. Default 0.5. */
  scoreThreshold?: number;
  /** IoU above which overlapping detections are suppressed, 0..1. Default 0.4. */
  nmsIouThreshold?: number;
  /** Keep at most this many faces (largest and most central first). Default 0 (all). */
  maxFaces?: number;
  /** Drop faces whose box is narrower than this, in pixels. Default 0. */
  minFacePx?: number;
  /**
   * Network input size in pixels: `auto` (default) follows the image, each side rounded up to a multiple of 32
   * (never upscaled beyond that), downscaled only when the longer side is over 640; a number gives a fixed square input; [width, height] a fixed rectangle.
   */
  inputSize?: 'auto' | number | [number, number];
}

export interface Detector {
  readonly modelId: string;
  readonly entry: ModelEntry;
  /** Faces in source-image pixels, sorted by descending score. */
  detect(img: RgbImage, options?: DetectOptions): Promise<DetectedFace[]>;
  close(): Promise<void>;
}

export interface EmbedResult {
  /** L2-normalised embedding. */
  embedding: Float32Array;
  /** L2 norm of the raw network output before normalisation (tracks face quality for ArcFace-family models). */
  rawNorm: number;
}

export interface Recognizer {
  readonly modelId: string;
  readonly entry: ModelEntry;
  readonly embeddingSize: number;
  /** Embeds aligned crops of the model's input size (112x112 for ArcFace). `flip` fuses the horizontally flipped crop. */
  embedAligned(crops: readonly RgbImage[], options?: { flip?: boolean }): Promise<EmbedResult[]>;
  close(): Promise<void>;
}
