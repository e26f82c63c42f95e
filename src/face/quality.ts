/**
 * Face quality: measured values with units for one detected face, an overall score in 0..1, and a configurable gate
 * that says why a face is rejected. Pure functions over pixels and keypoints; no inference happens here (the
 * recognizer's raw embedding norm and the liveness score are passed in by the caller when it has them).
 *
 * Image measures (blur, exposure, occlusion) are taken on the 112x112 ArcFace-aligned crop, so they are
 * comparable across face sizes and always look at the same facial regions. See docs/quality.md.
 */
import type { DetectedFace, Landmarks5, RgbImage } from '../core/types.js';
import { ARCFACE_TEMPLATE_112 } from '../core/types.js';
import { alignFace, alignmentMatrix, invertAffine, transformPoint, type AffineMatrix } from './align.js';
import { estimatePose } from './pose.js';

/** Everything measured about one face. Units are in the names; shares are fractions in 0..1. */
export interface QualityMeasures {
  /** Detector box width in source pixels. */
  boxWidthPx: number;
  /** Distance between the two eye keypoints in source pixels. */
  interOcularPx: number;
  /** Detector confidence, 0..1. */
  detScore: number;
  /** Head turn from the 5 keypoints, degrees; positive when the nose points to the image's right (see pose.ts). */
  yawDeg: number;
  /** Head tilt up/down, degrees; positive when the chin is raised. */
  pitchDeg: number;
  /** In-plane rotation of the eye line, degrees; positive clockwise in the image. */
  rollDeg: number;
  /** Variance of the 4-neighbour Laplacian over the inner face of the aligned grayscale crop, in grey levels squared. */
  laplacianVar: number;
  /**
   * Blur effect (Crete-Roffet et al. 2007), 0..1, higher is blurrier: the share of the inner face's edge variation that
   * survives re-blurring with an 11-pixel box filter, the worse of the two axes. Unlike `laplacianVar` it does not
   * depend on contrast or on how much texture the face has, so it separates blur from low light and smooth skin;
   * the gate's BLUR reason uses it.
   */
  blurEffect: number;
  /** Mean grey level of the inner face, 0..255. */
  brightness: number;
  /** Share of inner-face pixels at or below grey level 8 or at or above 247 (crushed or blown). */
  clippedShare: number;
  /** Share of inner-face pixels at or above grey level 247 (blown highlights). */
  overexposedShare: number;
  /** Standard deviation of the inner-face grey levels (RMS contrast), 0..128. */
  contrast: number;
  /**
   * Covered share of the eyes, nose and mouth, 0..1 (see `occlusionShare`), plus twice the share of the inner face
   * outside the image (`truncatedShare`).
   */
  occlusion: number;
  /** Share of the aligned inner face that lies outside the image, 0..1 (a face cut by the frame edge). */
  truncatedShare: number;
  /** The recognizer's pre-normalisation embedding norm, when the caller embedded the face. */
  embeddingNorm?: number;
  /** Liveness probability (0..1, 1 = live), when the liveness check ran. */
  liveScore?: number;
}

/** One reason a face failed the gate: the measured value and the limit it broke. */
export interface QualityReason {
  code: QualityReasonCode;
  value: number;
  limit: number;
}

export type QualityReasonCode = 'BLUR' | 'TOO_SMALL' | 'POSE' | 'DARK' | 'OVEREXPOSED' | 'OCCLUDED' | 'LOW_SCORE' | 'SPOOF';

/** The gate's verdict for one face. */
export interface QualityResult {
  pass: boolean;
  /** Overall quality, 0..1 (see `qualityScore`). */
  score: number;
  /** Every limit the face broke, most fundamental first; empty when it passes. */
  reasons: QualityReason[];
}

/** Gate limits. Every field has a default from the chosen preset. */
export interface QualityGateConfig {
  /** Smallest inter-ocular distance, in source pixels. kiosk 40, passive 20. */
  minInterOcularPx: number;
  /** Smallest detector confidence, 0..1. kiosk 0.7, passive 0.5 (measured with det_500m). */
  minDetScore: number;
  /** Largest |yaw|, degrees. kiosk 30, passive 45. */
  maxYawDeg: number;
  /** Largest |pitch|, degrees. kiosk 25, passive 35. */
  maxPitchDeg: number;
  /** Largest |roll|, degrees. kiosk 25, passive 40. */
  maxRollDeg: number;
  /** Largest blur effect (`QualityMeasures.blurEffect`), 0..1. kiosk 0.55, passive 0.6. */
  maxBlurEffect: number;
  /** Smallest mean grey level of the inner face, 0..255. kiosk 60, passive 45. */
  minBrightness: number;
  /** Largest share of blown pixels (>= 247) on the inner face, 0..1. kiosk 0.15, passive 0.25. */
  maxOverexposedShare: number;
  /** Largest occlusion share, 0..1. kiosk 0.25, passive 0.3. */
  maxOcclusion: number;
  /** Smallest overall score, 0..1. kiosk 0.35, passive 0.25. */
  minScore: number;
  /** Smallest liveness probability (only applied when a liveness score is given), 0..1. Default 0.5. */
  minLiveScore: number;
}

export type QualityPreset = 'kiosk' | 'passive';

/**
 * Defaults per use. `kiosk`: a cooperating person at arm's length in front of an access point, where refusing and
 * asking them to look again is cheap. `passive`: a ceiling or corridor camera that must make do with what passes by.
 */
export const QUALITY_PRESETS: Readonly<Record<QualityPreset, Readonly<QualityGateConfig>>> = {
  kiosk: {
    minInterOcularPx: 40,
    minDetScore: 0.7,
    maxYawDeg: 30,
    maxPitchDeg: 25,
    maxRollDeg: 25,
    maxBlurEffect: 0.55,
    minBrightness: 60,
    maxOverexposedShare: 0.15,
    maxOcclusion: 0.25,
    minScore: 0.35,
    minLiveScore: 0.5,
  },
  passive: {
    minInterOcularPx: 20,
    minDetScore: 0.5,
    maxYawDeg: 45,
    maxPitchDeg: 35,
    maxRollDeg: 40,
    maxBlurEffect: 0.6,
    minBrightness: 45,
    maxOverexposedShare: 0.25,
    maxOcclusion: 0.3,
    minScore: 0.25,
    minLiveScore: 0.5,
  },
};

/** A preset's limits with the given fields overridden. Throws nothing; callers validate user input. */
export function gateConfig(preset: QualityPreset = 'kiosk', overrides: Partial<QualityGateConfig> = {}): QualityGateConfig {
  return { ...QUALITY_PRESETS[preset], ...overrides };
}

// Inner face on the aligned crop: brows to chin, cheek to cheek, so background and hair weigh little.
const INNER = { x1: 22, y1: 36, x2: 90, y2: 106 };

/** Grey levels (BT.601 luma) of an RGB image, as floats. */
export function toGray(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const g = new Float32Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) g[i] = 0.299 * d[j]! + 0.587 * d[j + 1]! + 0.114 * d[j + 2]!;
  return g;
}

/** A pixel rectangle [x1, x2) x [y1, y2). */
export interface Region {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Laplacian variance and grey-level statistics over a region of a grey image (border pixels excluded). */
export function imageStats(gray: Float32Array, width: number, region: Region): {
  laplacianVar: number;
  mean: number;
  std: number;
  darkShare: number;
  brightShare: number;
} {
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  let lsum = 0;
  let lsum2 = 0;
  let dark = 0;
  let bright = 0;
  for (let y = region.y1; y < region.y2; y++) {
    for (let x = region.x1; x < region.x2; x++) {
      const i = y * width + x;
      const v = gray[i]!;
      const lap = gray[i - 1]! + gray[i + 1]! + gray[i - width]! + gray[i + width]! - 4 * v;
      n++;
      sum += v;
      sum2 += v * v;
      lsum += lap;
      lsum2 += lap * lap;
      if (v <= 8) dark++;
      else if (v >= 247) bright++;
    }
  }
  const mean = sum / n;
  const lmean = lsum / n;
  return {
    laplacianVar: Math.max(0, lsum2 / n - lmean * lmean),
    mean,
    std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)),
    darkShare: dark / n,
    brightShare: bright / n,
  };
}

/**
 * Blur effect of Crete-Roffet, Dolmiere, Ladret and Nicolas (2007), "The blur effect: perception and estimation with a
 * new no-reference perceptual blur metric", 0..1, higher is blurrier. The image is re-blurred along each axis with a
 * box filter of `boxPx`; a sharp image loses much of its neighbour-to-neighbour variation, a blurred one little.
 */
export function blurEffect(gray: Float32Array, width: number, region: Region, boxPx = 11): number {
  const half = boxPx >> 1;
  const height = gray.length / width;
  const blurred = new Float32Array(gray.length);
  let worst = 0;
  for (const horizontal of [true, false]) {
    // Box filter along one axis by a running sum, the border pixel repeated (prefix sums would cost the same).
    const lines = horizontal ? height : width;
    const len = horizontal ? width : height;
    const step = horizontal ? 1 : width;
    for (let l = 0; l < lines; l++) {
      const base = horizontal ? l * width : l;
      let acc = 0;
      for (let k = -half; k <= half; k++) acc += gray[base + Math.min(len - 1, Math.max(0, k)) * step]!;
      for (let i = 0; i < len; i++) {
        blurred[base + i * step] = acc / boxPx;
        acc += gray[base + Math.min(len - 1, i + half + 1) * step]! - gray[base + Math.max(0, i - half) * step]!;
      }
    }
    const back = step;
    let sF = 0;
    let sV = 0;
    for (let y = region.y1; y < region.y2; y++) {
      for (let x = region.x1; x < region.x2; x++) {
        const i = y * width + x;
        const dF = Math.abs(gray[i]! - gray[i - back]!);
        const dB = Math.abs(blurred[i]! - blurred[i - back]!);
        sF += dF;
        if (dF > dB) sV += dF - dB;
      }
    }
    worst = Math.max(worst, sF > 0 ? (sF - sV) / sF : 1);
  }
  return worst;
}

export interface MeasureInputs {
  /** The face's 112x112 ArcFace-aligned crop; when absent it is made here with `alignFace` (about 0.3 ms). */
  aligned?: RgbImage;
  /** The recognizer's pre-normalisation embedding norm, when the caller embedded the face. */
  embeddingNorm?: number;
  /** Liveness probability (0..1, 1 = live), when the check ran. */
  liveScore?: number;
}

/**
 * Measures one face of `img`. Pure: same inputs, same numbers. Pass the aligned crop the recognizer used (see
 * `MeasureInputs.aligned`) to avoid warping twice.
 */
export function measureFace(img: RgbImage, face: DetectedFace, inputs: MeasureInputs = {}): QualityMeasures {
  const lm = face.landmarks;
  const aligned = inputs.aligned ?? alignFace(img, lm, 112).crop;
  const pose = estimatePose(lm);
  const gray = toGray(aligned);
  const inner = scaleRegion(INNER, aligned.width);
  const s = imageStats(gray, aligned.width, inner);
  const outside = outsideShare(lm, img.width, img.height);
  const m: QualityMeasures = {
    boxWidthPx: face.box.x2 - face.box.x1,
    interOcularPx: Math.hypot(lm[1][0] - lm[0][0], lm[1][1] - lm[0][1]),
    detScore: face.score,
    yawDeg: pose.yawDeg,
    pitchDeg: pose.pitchDeg,
    rollDeg: pose.rollDeg,
    laplacianVar: s.laplacianVar,
    blurEffect: blurEffect(gray, aligned.width, inner),
    brightness: s.mean,
    clippedShare: s.darkShare + s.brightShare,
    overexposedShare: s.brightShare,
    contrast: s.std,
    // Outside the frame counts twice: that part is lost to the recognizer and the detector guesses its keypoints.
    occlusion: Math.min(1, occlusionShare(aligned, gray) + 2 * outside),
    truncatedShare: outside,
  };
  if (inputs.embeddingNorm !== undefined) m.embeddingNorm = inputs.embeddingNorm;
  if (inputs.liveScore !== undefined) m.liveScore = inputs.liveScore;
  return m;
}

function scaleRegion(r: Region, size: number): Region {
  const k = size / 112;
  return {
    x1: Math.max(1, Math.round(r.x1 * k)),
    y1: Math.max(1, Math.round(r.y1 * k)),
    x2: Math.min(size - 1, Math.round(r.x2 * k)),
    y2: Math.min(size - 1, Math.round(r.y2 * k)),
  };
}

// Keypoint regions on the 112x112 template, weighted by how much identity they carry (eyes most). `structureRef` is
// the region's grey-level spread over the inner face's on an uncovered face: the median over the dev-pair photos.
const T = ARCFACE_TEMPLATE_112;
const KEY_REGIONS: readonly { r: Region; weight: number; structureRef: number }[] = [
  { r: around(T[0], 12, 8), weight: 0.25, structureRef: 0.7 },
  { r: around(T[1], 12, 8), weight: 0.25, structureRef: 0.7 },
  { r: around(T[2], 10, 8), weight: 0.2, structureRef: 0.66 },
  { r: { x1: Math.round(T[3][0] - 3), y1: Math.round(T[3][1] - 8), x2: Math.round(T[4][0] + 4), y2: Math.round(T[4][1] + 8) }, weight: 0.3, structureRef: 0.69 },
];

function around(p: readonly [number, number], halfW: number, halfH: number): Region {
  return { x1: Math.round(p[0] - halfW), y1: Math.round(p[1] - halfH), x2: Math.round(p[0] + halfW), y2: Math.round(p[1] + halfH) };
}

/** Below this share of the inner face's mean grey level a pixel counts as dark (a patch, sunglasses, deep shadow). */
const DARK_FRACTION = 0.35;
/** A dark pixel is also flat when no neighbour two pixels away differs by more than this share of the face's contrast. */
const FLAT_FRACTION = 0.15;

/**
 * Per-region covered shares (image-left eye, image-right eye, nose, mouth), each 0..1: the larger of
 * (a) the share of dark, flat pixels (a black patch, sunglasses, a hand in shadow), and
 * (b) the structure deficit 1 - spread / structureRef, where spread is the region's grey-level standard deviation over
 *     the inner face's: a mask or a scarf hides the nostrils and the lip line, leaving a smooth, even region.
 */
export function regionCoverage(aligned: RgbImage, gray: Float32Array = toGray(aligned)): number[] {
  const w = aligned.width;
  const inner = imageStats(gray, w, scaleRegion(INNER, w));
  const darkLimit = DARK_FRACTION * inner.mean;
  const flatLimit = Math.max(1.5, FLAT_FRACTION * inner.std);
  const out: number[] = [];
  for (const { r: reg, structureRef } of KEY_REGIONS) {
    const r = scaleRegion(reg, w);
    let darkFlat = 0;
    let n = 0;
    let sum = 0;
    let sum2 = 0;
    for (let y = r.y1; y < r.y2; y++) {
      for (let x = r.x1; x < r.x2; x++) {
        const i = y * w + x;
        const v = gray[i]!;
        n++;
        sum += v;
        sum2 += v * v;
        if (v > darkLimit) continue;
        let g = 0;
        for (const o of [-2, 2]) {
          g = Math.max(g, Math.abs(gray[i + o]! - v), Math.abs(gray[i + o * w]! - v), Math.abs(gray[i + o * w + o]! - v), Math.abs(gray[i + o * w - o]! - v));
        }
        if (g < flatLimit) darkFlat++;
      }
    }
    const mean = sum / n;
    const spread = inner.std > 1e-3 ? Math.sqrt(Math.max(0, sum2 / n - mean * mean)) / inner.std : 0;
    out.push(Math.max(darkFlat / n, Math.min(1, Math.max(0, 1 - spread / structureRef))));
  }
  return out;
}

/**
 * Occlusion of the eyes, nose and mouth on the aligned crop, 0..1: the region-weighted covered share (see
 * `regionCoverage`). Uncovered faces read 0 to 0.2 (smooth skin, closed lips); a surgical mask about 0.35.
 */
export function occlusionShare(aligned: RgbImage, gray: Float32Array = toGray(aligned)): number {
  const cov = regionCoverage(aligned, gray);
  return KEY_REGIONS.reduce((acc, k, i) => acc + k.weight * cov[i]!, 0);
}

/**
 * Share of the aligned face's inner region that falls outside the source image (a face cut by the frame edge),
 * 0..1: the inner region of the template, sampled on a 16x16 grid, mapped back into the image by the inverse of the
 * alignment transform.
 */
export function outsideShare(landmarks: Readonly<Landmarks5>, width: number, height: number): number {
  let inv: AffineMatrix;
  try {
    inv = invertAffine(alignmentMatrix(landmarks, 112));
  } catch {
    return 1; // degenerate keypoints: nothing of the face can be trusted to be in view
  }
  const steps = 16;
  let out = 0;
  for (let gy = 0; gy < steps; gy++) {
    for (let gx = 0; gx < steps; gx++) {
      const [sx, sy] = transformPoint(inv, [
        INNER.x1 + ((gx + 0.5) / steps) * (INNER.x2 - INNER.x1),
        INNER.y1 + ((gy + 0.5) / steps) * (INNER.y2 - INNER.y1),
      ]);
      if (sx < 0 || sy < 0 || sx >= width || sy >= height) out++;
    }
  }
  return out / (steps * steps);
}

/**
 * Overall quality in 0..1: the product of smooth per-measure factors, each strictly increasing in quality and
 * never quite 1, so any degradation lowers the score. The factors are documented in docs/quality.md.
 */
export function qualityScore(m: QualityMeasures): number {
  const size = 1 - Math.exp(-m.interOcularPx / 15);
  const det = Math.min(1, Math.max(0, m.detScore)) ** 2;
  const sharp = 1 / (1 + Math.exp((m.blurEffect - 0.55) / 0.06));
  const light = (1 - Math.exp(-m.brightness / 40)) * (1 - m.overexposedShare);
  const pose = (Math.cos(rad(Math.min(89, Math.abs(m.yawDeg)))) * Math.cos(rad(Math.min(89, Math.abs(m.pitchDeg))))) ** 2;
  const occ = 1 - Math.min(1, m.occlusion);
  return Math.max(0, Math.min(1, size * det * sharp * light * pose * occ));
}

function rad(deg: number): number {
  return (deg * Math.PI) / 180;
}

/**
 * Applies the gate to measured values. Reasons are listed in a fixed order (size, score, pose, blur, light,
 * occlusion, liveness, overall) with the value and the limit each broke.
 */
export function gateFace(m: QualityMeasures, config: QualityGateConfig = QUALITY_PRESETS.kiosk): QualityResult {
  const reasons: QualityReason[] = [];
  const check = (code: QualityReasonCode, value: number, limit: number, bad: boolean): void => {
    if (bad) reasons.push({ code, value: round(value), limit });
  };
  check('TOO_SMALL', m.interOcularPx, config.minInterOcularPx, m.interOcularPx < config.minInterOcularPx);
  check('LOW_SCORE', m.detScore, config.minDetScore, m.detScore < config.minDetScore);
  const poseWorst = worstPose(m, config);
  if (poseWorst) check('POSE', poseWorst[0], poseWorst[1], true);
  check('BLUR', m.blurEffect, config.maxBlurEffect, m.blurEffect > config.maxBlurEffect);
  check('DARK', m.brightness, config.minBrightness, m.brightness < config.minBrightness);
  check('OVEREXPOSED', m.overexposedShare, config.maxOverexposedShare, m.overexposedShare > config.maxOverexposedShare);
  check('OCCLUDED', m.occlusion, config.maxOcclusion, m.occlusion > config.maxOcclusion);
  if (m.liveScore !== undefined) check('SPOOF', m.liveScore, config.minLiveScore, m.liveScore < config.minLiveScore);
  const score = qualityScore(m);
  if (reasons.length === 0) check('LOW_SCORE', score, config.minScore, score < config.minScore);
  return { pass: reasons.length === 0, score: round(score), reasons };
}

/** The pose angle that most exceeds its limit (as [signed value, limit]), or undefined. */
function worstPose(m: QualityMeasures, c: QualityGateConfig): [number, number] | undefined {
  const over = [
    [m.yawDeg, c.maxYawDeg],
    [m.pitchDeg, c.maxPitchDeg],
    [m.rollDeg, c.maxRollDeg],
  ].filter(([v, l]) => Math.abs(v!) > l!) as [number, number][];
  over.sort((a, b) => Math.abs(b[0]) / b[1] - Math.abs(a[0]) / a[1]);
  return over[0];
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
