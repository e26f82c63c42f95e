/** Recognizer factory: picks the implementation by the manifest entry's family, so the engine never names a family. */
import { FaceGateError } from '../core/errors.js';
import type { SessionOptions } from '../runtime/onnx.js';
import { createArcFaceRecognizer, type RecognizerOptions } from './arcface.js';
import type { ModelEntry } from './manifest.js';
import type { Recognizer } from './types.js';

export type { EmbedOptions, RecognizerOptions } from './arcface.js';

/**
 * Loads the recognizer described by `entry` from `modelPath` (a path already verified by `requireModel`). Throws
 * `MODEL_INCOMPATIBLE` when the entry is not a recognizer or its family has no implementation, and whatever the
 * family's loader throws when the model does not match its entry.
 */
export async function createRecognizer(
  entry: ModelEntry,
  modelPath: string,
  sessionOptions: SessionOptions = {},
  options: RecognizerOptions = {},
): Promise<Recognizer> {
  if (entry.role !== 'recognizer') {
    throw new FaceGateError('MODEL_INCOMPATIBLE', `model "${entry.id}" is a ${entry.role}, not a recognizer`, { details: { id: entry.id, role: entry.role } });
  }
  switch (entry.family) {
    case 'arcface':
      return createArcFaceRecognizer(entry, modelPath, sessionOptions, options);
    default:
      throw new FaceGateError('MODEL_INCOMPATIBLE', `model "${entry.id}": no recognizer implementation for family "${entry.family}"`, {
        details: { id: entry.id, family: entry.family },
      });
  }
}
