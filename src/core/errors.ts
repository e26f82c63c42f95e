/**
 * The one error type of facegate and its table of codes.
 *
 * Every failure that a user can act on is a `FaceGateError` with a stable `code`. The table below is the single
 * source of truth: the CLI maps it to exit codes and hints, and docs are generated from it. Per-frame outcomes
 * (no face, low quality, unknown person) are values, never errors.
 */

/** Where an error is fatal for the CLI: `usage` exits 2, `runtime` exits 1. */
export type ErrorKind = 'usage' | 'runtime';

interface CodeInfo {
  readonly kind: ErrorKind;
  /** What the code means, for the docs table. */
  readonly description: string;
  /** What the user can do about it. */
  readonly hint: string;
}

/** The table of error codes. Add a code here (and only here) when a new failure needs its own handling. */
export const ERROR_CODES = {
  // configuration and usage
  USAGE: { kind: 'usage', description: 'Command-line usage error.', hint: 'run `facegate help` or `facegate <command> --help`' },
  CONFIG_INVALID: { kind: 'usage', description: 'An option or configuration field has an invalid value.', hint: 'check the named field against the documented options' },
  FILE_NOT_FOUND: { kind: 'runtime', description: 'A file named by the user does not exist or cannot be read.', hint: 'check the path' },
  // models and runtime
  MODEL_DIR_NOT_FOUND: { kind: 'runtime', description: 'The models directory does not exist.', hint: 'pass --models DIR or set FACEGATE_MODELS' },
  MODEL_NOT_FOUND: { kind: 'runtime', description: 'A model file named by the manifest is missing from the models directory.', hint: 'copy the model into the models directory (`facegate models` lists what is found)' },
  MODEL_CHECKSUM_MISMATCH: { kind: 'runtime', description: 'A model file does not have the sha256 the manifest expects.', hint: 'the file is corrupt or a different model: fetch it again from its source' },
  MODEL_UNKNOWN: { kind: 'usage', description: 'A model id is not in the manifest.', hint: '`facegate models` lists the known ids' },
  MODEL_INCOMPATIBLE: { kind: 'runtime', description: 'A model does not have the inputs/outputs its manifest entry declares, or cannot be used for the requested role.', hint: 'check the manifest entry against the model' },
  MODEL_LOAD_FAILED: { kind: 'runtime', description: 'onnxruntime could not load a model file (corrupt or unsupported).', hint: 'verify the file with `facegate models`' },
  MANIFEST_INVALID: { kind: 'runtime', description: 'The model manifest is malformed.', hint: 'fix the named entry in the manifest' },
  PROVIDER_UNAVAILABLE: { kind: 'runtime', description: 'The requested execution provider is not in the installed onnxruntime build.', hint: 'use --device cpu or auto, or install an onnxruntime build with that provider (see deploy/jetson)' },
  INFERENCE_FAILED: { kind: 'runtime', description: 'onnxruntime failed while running a model.', hint: 'run with --verbose and report the model and input size' },
  // images
  IMAGE_DECODE_FAILED: { kind: 'runtime', description: 'A file is not a decodable image (corrupt, truncated or another format).', hint: 'check the file; JPEG, PNG, WebP and GIF are supported' },
  IMAGE_TOO_LARGE: { kind: 'runtime', description: 'An image has more pixels than the configured limit.', hint: 'downscale the image or raise maxPixels' },
  IMAGE_TOO_SMALL: { kind: 'runtime', description: 'An image is too small to hold a face.', hint: 'use an image at least 16x16 pixels' },
  // faces
  NO_FACE: { kind: 'runtime', description: 'No face was found where one is required.', hint: 'use a photo where the face is clearly visible' },
  LANDMARKS_INVALID: { kind: 'runtime', description: 'Face keypoints cannot be aligned (non-finite, coincident or mismatched).', hint: 'check the detector output or the keypoints passed in' },
  // gallery
  GALLERY_PATH_INVALID: { kind: 'runtime', description: 'The gallery path cannot be used (a file, not a directory, or not writable).', hint: 'name a directory for the gallery' },
  GALLERY_MODEL_MISMATCH: { kind: 'runtime', description: 'The gallery holds templates of another recognizer model.', hint: 're-enrol the gallery with the current model, or use the model it was built with' },
  GALLERY_INVALID_VECTOR: { kind: 'usage', description: 'An embedding has the wrong length or non-finite values.', hint: 'pass unit embeddings of the gallery\'s dimension' },
  GALLERY_IDENTITY_NOT_FOUND: { kind: 'runtime', description: 'No identity with that id is enrolled.', hint: '`facegate gallery list` shows enrolled ids' },
  GALLERY_CLOSED: { kind: 'runtime', description: 'The gallery was used after close().', hint: 'open it again' },
  GALLERY_IMPORT_INVALID: { kind: 'runtime', description: 'A gallery export line is malformed.', hint: 'check the named line of the export file' },
  // live pipeline
  SOURCE_FAILED: { kind: 'runtime', description: 'A frame source failed (missing file, camera gone, stream stalled).', hint: 'check the source; it is retried with backoff' },
  SINK_FAILED: { kind: 'runtime', description: 'An event sink failed to deliver (broker down, webhook error).', hint: 'events stay in the outbox and are retried' },
  // quantisation
  QUANTIZE_UNSUPPORTED: { kind: 'runtime', description: 'The quantiser met a node or shape it does not support.', hint: 'add the node to the exclude list or report the op' },
  QUANTIZE_VALIDATION_FAILED: { kind: 'runtime', description: 'A quantised model failed the accuracy validation.', hint: 'try another calibration method or exclude more nodes' },
  INTERNAL: { kind: 'runtime', description: 'An unexpected internal error.', hint: 'report it with the output of --verbose' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FaceGateErrorOptions {
  cause?: unknown;
  /** Structured facts about the failure (the path, the expected and actual values). */
  details?: Record<string, unknown>;
}

/** The error facegate throws: a stable `code`, a message that names the value at fault, and a hint. */
export class FaceGateError extends Error {
  override readonly name = 'FaceGateError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: FaceGateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  get hint(): string {
    return ERROR_CODES[this.code].hint;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code].kind;
  }

  /** A plain object for JSON output (`{code, message}`; details when present). */
  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return Object.keys(this.details).length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** True when `e` is a FaceGateError (optionally with the given code). */
export function isFaceGateError(e: unknown, code?: ErrorCode): e is FaceGateError {
  return e instanceof FaceGateError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a FaceGateError, keeping coded errors as they are. */
export function toFaceGateError(e: unknown, fallback: ErrorCode = 'INTERNAL'): FaceGateError {
  if (e instanceof FaceGateError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FaceGateError(fallback, message, { cause: e });
}
