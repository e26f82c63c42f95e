/**
 * Input sizing and letterboxing for fully-convolutional detectors (SCRFD, YuNet): the image keeps its aspect ratio,
 * is placed in the top-left corner of the network input, and one scale maps detections back.
 */
import { FaceGateError } from '../core/errors.js';
import type { RgbImage } from '../core/types.js';
import { resizeImage } from '../image/image.js';
import type { OnnxSession, TensorData } from '../runtime/onnx.js';
import type { ModelEntry } from './manifest.js';
import { imageToTensor } from './tensor.js';
import type { DetectOptions } from './types.js';

/** Longest side of the `auto` input size, in pixels (larger images are downscaled to it). */
export const AUTO_MAX_SIDE_PX = 640;

/** How an image is fitted into a detector input. */
export interface LetterboxPlan {
  /** Network input width and height, in pixels (multiples of the model's size multiple). */
  inputWidth: number;
  inputHeight: number;
  /** Size of the resized image inside the input (top-left), in pixels. */
  resizedWidth: number;
  resizedHeight: number;
  /** resized / original; divide network coordinates by it to get image pixels. */
  scale: number;
}

function roundUp(n: number, multiple: number): number {
  return Math.max(multiple, Math.ceil(n / multiple) * multiple);
}

/**
 * Chooses the network input for an image.
 * - `auto`: the image at its own size (downscaled only when its longer side exceeds `maxSidePx`), each side rounded
 *   up to a multiple of `multiple`. The image is never upscaled: SCRFD loses large faces when a small crop is blown
 *   up (a 250x250 LFW crop letterboxed to 640 misses faces that it finds at 256).
 * - a number N: an N x N input; [w, h]: a w x h input. The image is scaled (up or down) to fit, keeping its aspect.
 * Throws `CONFIG_INVALID` for a fixed size that is not a positive multiple of `multiple`.
 */
export function planLetterbox(
  width: number,
  height: number,
  inputSize: DetectOptions['inputSize'] = 'auto',
  multiple = 32,
  maxSidePx = AUTO_MAX_SIDE_PX,
): LetterboxPlan {
  if (inputSize === 'auto') {
    const scale = Math.min(1, maxSidePx / Math.max(width, height));
    const resizedWidth = Math.max(1, Math.round(width * scale));
    const resizedHeight = Math.max(1, Math.round(height * scale));
    return {
      inputWidth: roundUp(resizedWidth, multiple),
      inputHeight: roundUp(resizedHeight, multiple),
      resizedWidth,
      resizedHeight,
      // Per-axis rounding makes the two scales differ by < 1 px; the width's is used for both, as insightface does.
      scale: resizedWidth / width,
    };
  }
  const [w, h] = typeof inputSize === 'number' ? [inputSize, inputSize] : inputSize;
  for (const v of [w, h]) {
    if (!Number.isInteger(v) || v <= 0 || v % multiple !== 0) {
      throw new FaceGateError('CONFIG_INVALID', `detector inputSize ${JSON.stringify(inputSize)} must be 'auto' or positive multiples of ${multiple}`, {
        details: { field: 'inputSize', value: inputSize },
      });
    }
  }
  const scale = Math.min(w / width, h / height);
  const resizedWidth = Math.min(w, Math.max(1, Math.round(width * scale)));
  const resizedHeight = Math.min(h, Math.max(1, Math.round(height * scale)));
  return { inputWidth: w, inputHeight: h, resizedWidth, resizedHeight, scale: resizedWidth / width };
}

/** The image resized to the plan's inner size (the same object when no resize is needed). */
export function letterboxImage(img: RgbImage, plan: LetterboxPlan): Promise<RgbImage> {
  return resizeImage(img, plan.resizedWidth, plan.resizedHeight);
}

/** One letterboxed inference: the plan used and the session's outputs. */
export interface LetterboxedRun {
  plan: LetterboxPlan;
  outputs: Record<string, TensorData>;
}

/**
 * Returns a function that letterboxes an image into the detector's input and runs the session. One input tensor is
 * reused while the size stays the same (video frames); a call that overlaps another gets its own, so concurrent
 * `detect()` calls never share a buffer.
 */
export function createLetterboxRunner(
  session: OnnxSession,
  entry: ModelEntry,
  inputName: string,
  multiple: number,
): (img: RgbImage, inputSize: DetectOptions['inputSize']) => Promise<LetterboxedRun> {
  let spare: Float32Array | undefined;
  return async (img, inputSize) => {
    // A fixed model input (size in the manifest) wins over the per-call size.
    const plan = planLetterbox(img.width, img.height, entry.input.size ?? inputSize, multiple);
    const resized = await letterboxImage(img, plan);
    const buffer = imageToTensor(resized, entry.input, plan.inputWidth, plan.inputHeight, spare);
    spare = undefined;
    try {
      const outputs = await session.run({ [inputName]: { data: buffer, dims: [1, 3, plan.inputHeight, plan.inputWidth], type: 'float32' } });
      return { plan, outputs };
    } finally {
      spare = buffer;
    }
  };
}
