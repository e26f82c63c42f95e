/** Image -> NCHW float tensor conversion, driven by a manifest input spec (mean, std, colour order). */
import type { RgbImage } from '../core/types.js';
import type { ModelInputSpec } from './manifest.js';

/**
 * Writes `img` into the top-left of a [1, 3, height, width] float32 tensor, normalised as (value - mean) / std in the
 * spec's colour order. Pixels outside the image are raw 0 before normalisation, as insightface pads its letterbox.
 * `out`, when given, is reused (a hot-path allocation saved per frame).
 */
export function imageToTensor(
  img: RgbImage,
  spec: Pick<ModelInputSpec, 'mean' | 'std' | 'colorOrder'>,
  width: number,
  height: number,
  out?: Float32Array,
  flip = false,
): Float32Array {
  const plane = width * height;
  const t = out && out.length === 3 * plane ? out : new Float32Array(3 * plane);
  const bgr = spec.colorOrder === 'BGR';
  for (let c = 0; c < 3; c++) {
    const src = bgr ? 2 - c : c;
    const mean = spec.mean[c]!;
    const inv = 1 / spec.std[c]!;
    const pad = (0 - mean) * inv;
    const base = c * plane;
    for (let y = 0; y < height; y++) {
      const row = base + y * width;
      if (y >= img.height) {
        t.fill(pad, row, row + width);
        continue;
      }
      const w = Math.min(width, img.width);
      const srcRow = y * img.width * 3;
      for (let x = 0; x < w; x++) {
        const sx = flip ? img.width - 1 - x : x;
        t[row + x] = (img.data[srcRow + sx * 3 + src]! - mean) * inv;
      }
      if (w < width) t.fill(pad, row + w, row + width);
    }
  }
  return t;
}
