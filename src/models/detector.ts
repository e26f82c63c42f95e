/** Detector factory: picks the implementation by the manifest entry's family, so adding a model is a manifest entry. */
import { FaceGateError } from '../core/errors.js';
import type { SessionOptions } from '../runtime/onnx.js';
import type { ModelEntry } from './manifest.js';
import { createScrfdDetector } from './scrfd.js';
import type { DetectOptions, Detector } from './types.js';
import { createYunetDetector } from './yunet.js';

export { DETECT_DEFAULTS } from './detect-post.js';
export { AUTO_MAX_SIDE_PX, planLetterbox, type LetterboxPlan } from './letterbox.js';

/**
 * Loads the detector for a manifest entry (`scrfd` or `yunet` family) from a verified model path (see requireModel).
 * `defaults` set the detection options used when a call passes none. Throws `MODEL_INCOMPATIBLE` for an entry that
 * is not a detector or whose outputs do not match its family.
 *
 * @example
 * const det = await createDetector(findModel(loadManifest(), 'det_500m'), path, { intraOpThreads: 2 });
 * const faces = await det.detect(await decodeImage('photo.jpg'));
 */
export async function createDetector(entry: ModelEntry, modelPath: string, sessionOptions: SessionOptions = {}, defaults: DetectOptions = {}): Promise<Detector> {
  if (entry.role !== 'detector') {
    throw new FaceGateError('MODEL_INCOMPATIBLE', `model "${entry.id}" is a ${entry.role}, not a detector`, { details: { id: entry.id, role: entry.role } });
  }
  switch (entry.family) {
    case 'scrfd':
      return createScrfdDetector(entry, modelPath, sessionOptions, defaults);
    case 'yunet':
      return createYunetDetector(entry, modelPath, sessionOptions, defaults);
    default:
      throw new FaceGateError('MODEL_INCOMPATIBLE', `model "${entry.id}" has family ${entry.family}, which has no detector`, { details: { id: entry.id } });
  }
}
