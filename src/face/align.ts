/**
 * Face alignment: the least-squares similarity transform from the five detector keypoints to the ArcFace template,
 * and a bilinear warp of the image into the aligned crop. Pure functions, no native dependencies.
 *
 * Matches insightface's `face_align.norm_crop`: `estimate_norm` (skimage `SimilarityTransform.estimate`, i.e.
 * Umeyama with scale) followed by `cv2.warpAffine(img, M, (size, size), borderValue=0)` with bilinear interpolation.
 * The 2-D similarity is solved in closed form (the 4-parameter least squares with R = [[a, -b], [b, a]]), which equals
 * Umeyama's result for any non-degenerate point set: a similarity has no reflection, so Umeyama's sign fix never applies.
 */
import { FaceGateError } from '../core/errors.js';
import type { Landmarks5, Point, RgbImage } from '../core/types.js';
import { ARCFACE_TEMPLATE_112 } from '../core/types.js';

/**
 * A 2-D affine transform as the 2x3 matrix [[a, b, c], [d, e, f]] flattened row-major:
 * x' = a x + b y + c, y' = d x + e y + f (the layout of cv2.warpAffine's M).
 */
export type AffineMatrix = readonly [number, number, number, number, number, number];

/**
 * The ArcFace template scaled for a square crop of `sizePx`, as insightface's `estimate_norm`: a multiple of 112
 * scales the 112 template; a multiple of 128 scales it by size/128 and shifts it right by 8 x size/128 (the 112
 * template centred in a 128 crop). Throws `CONFIG_INVALID` for any other size.
 */
export function arcfaceTemplate(sizePx = 112): Landmarks5 {
  let ratio: number;
  let diffX: number;
  if (Number.isInteger(sizePx) && sizePx > 0 && sizePx % 112 === 0) {
    ratio = sizePx / 112;
    diffX = 0;
  } else if (Number.isInteger(sizePx) && sizePx > 0 && sizePx % 128 === 0) {
    ratio = sizePx / 128;
    diffX = 8 * ratio;
  } else {
    throw new FaceGateError('CONFIG_INVALID', `aligned crop size ${sizePx} must be a positive multiple of 112 or 128`, {
      details: { field: 'sizePx', value: sizePx },
    });
  }
  return ARCFACE_TEMPLATE_112.map(([x, y]) => [x * ratio + diffX, y * ratio] as Point) as Landmarks5;
}

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) mapping `src` points onto `dst` points.
 * Needs at least two distinct source points; throws `LANDMARKS_INVALID` for fewer, for mismatched lengths, for
 * non-finite coordinates or when all source points coincide.
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): AffineMatrix {
  const n = src.length;
  if (n < 2 || dst.length !== n) {
    throw new FaceGateError('LANDMARKS_INVALID', `similarity needs two equal sets of >= 2 points (got ${n} and ${dst.length})`);
  }
  let msx = 0;
  let msy = 0;
  let mdx = 0;
  let mdy = 0;
  for (let i = 0; i < n; i++) {
    const [sx, sy] = src[i]!;
    const [dx, dy] = dst[i]!;
    if (!Number.isFinite(sx) || !Number.isFinite(sy) || !Number.isFinite(dx) || !Number.isFinite(dy)) {
      throw new FaceGateError('LANDMARKS_INVALID', `landmark ${i} is not finite`, { details: { index: i } });
    }
    msx += sx;
    msy += sy;
    mdx += dx;
    mdy += dy;
  }
  msx /= n;
  msy /= n;
  mdx /= n;
  mdy /= n;
  // With centred points s and d: a = sum(s . d) / sum|s|^2, b = sum(s x d) / sum|s|^2.
  let ss = 0;
  let sdDot = 0;
  let sdCross = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]![0] - msx;
    const sy = src[i]![1] - msy;
    const dx = dst[i]![0] - mdx;
    const dy = dst[i]![1] - mdy;
    ss += sx * sx + sy * sy;
    sdDot += sx * dx + sy * dy;
    sdCross += sx * dy - sy * dx;
  }
  // Relative test: coincident points (a zero-size face) leave no direction to fit.
  const scaleRef = Math.max(1, Math.abs(msx), Math.abs(msy));
  if (!(ss > 1e-12 * scaleRef * scaleRef)) {
    throw new FaceGateError('LANDMARKS_INVALID', 'landmarks coincide: cannot estimate an alignment');
  }
  const a = sdDot / ss;
  const b = sdCross / ss;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

/** The similarity transform taking detector keypoints (image pixels) to the ArcFace template of a `sizePx` crop. */
export function alignmentMatrix(landmarks: Readonly<Landmarks5>, sizePx = 112): AffineMatrix {
  return estimateSimilarity(landmarks, arcfaceTemplate(sizePx));
}

/** The inverse of an affine transform. Throws `LANDMARKS_INVALID` for a singular matrix. */
export function invertAffine(m: AffineMatrix): AffineMatrix {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!Number.isFinite(det) || det === 0) throw new FaceGateError('LANDMARKS_INVALID', 'alignment transform is singular');
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** Applies an affine transform to one point. */
export function transformPoint(m: AffineMatrix, [x, y]: Readonly<Point>): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/** Applies an affine transform to each point. */
export function transformPoints<T extends readonly Readonly<Point>[]>(m: AffineMatrix, points: T): Point[] {
  return points.map((p) => transformPoint(m, p));
}

/** The uniform scale of a similarity transform (crop pixels per source pixel). */
export function similarityScale(m: AffineMatrix): number {
  return Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
}

/**
 * Warps `img` into a `width` x `height` image by the forward transform `m` (source -> destination pixels), as
 * cv2.warpAffine with INTER_LINEAR and a constant 0 border: each destination pixel samples the source at the
 * inverse-mapped position, and neighbours outside the source count as black. `out`, when given and of the right
 * length, is reused.
 */
export function warpAffine(img: RgbImage, m: AffineMatrix, width: number, height: number, out?: Uint8Array): RgbImage {
  const len = width * height * 3;
  const dst = out && out.length === len ? out : new Uint8Array(len);
  const [ia, ib, ic, id, ie, iff] = invertAffine(m);
  const { data: s, width: sw, height: sh } = img;
  const stride = sw * 3;
  let o = 0;
  for (let y = 0; y < height; y++) {
    // The inverse map is affine, so along a row the source position moves by a constant step (ia, id).
    let fx = ib * y + ic;
    let fy = ie * y + iff;
    for (let x = 0; x < width; x++, fx += ia, fy += id, o += 3) {
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh) {
        dst[o] = 0;
        dst[o + 1] = 0;
        dst[o + 2] = 0;
        continue;
      }
      const wx = fx - x0;
      const wy = fy - y0;
      const w00 = (1 - wx) * (1 - wy);
      const w01 = wx * (1 - wy);
      const w10 = (1 - wx) * wy;
      const w11 = wx * wy;
      const inX0 = x0 >= 0;
      const inX1 = x0 + 1 < sw;
      const inY0 = y0 >= 0;
      const inY1 = y0 + 1 < sh;
      const p00 = y0 * stride + x0 * 3;
      const p10 = p00 + stride;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        if (inY0) {
          if (inX0) v += w00 * s[p00 + c]!;
          if (inX1) v += w01 * s[p00 + 3 + c]!;
        }
        if (inY1) {
          if (inX0) v += w10 * s[p10 + c]!;
          if (inX1) v += w11 * s[p10 + 3 + c]!;
        }
        dst[o + c] = v >= 255 ? 255 : (v + 0.5) | 0;
      }
    }
  }
  return { data: dst, width, height, channels: 3 };
}

/** An aligned face crop and the transform that produced it. */
export interface AlignedFace {
  /** The `sizePx` x `sizePx` crop, ArcFace-aligned. */
  crop: RgbImage;
  /** Source pixels -> crop pixels. */
  matrix: AffineMatrix;
}

/**
 * Aligns one face: estimates the similarity from its keypoints to the ArcFace template of a `sizePx` crop (default
 * 112, a multiple of 112 or 128) and warps the image into it. `out` (sizePx * sizePx * 3 bytes) is reused when given.
 */
export function alignFace(img: RgbImage, landmarks: Readonly<Landmarks5>, sizePx = 112, out?: Uint8Array): AlignedFace {
  const matrix = alignmentMatrix(landmarks, sizePx);
  return { crop: warpAffine(img, matrix, sizePx, sizePx, out), matrix };
}
