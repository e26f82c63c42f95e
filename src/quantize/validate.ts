/**
 * The accuracy gates a quantised model must pass against its FP32 source. The caller runs both models through the
 * SDK's own detector/recognizer code and hands the results here, so the gates measure what users get.
 */
import type { Box } from '../core/types.js';
import { iou } from '../core/geometry.js';
import { cosineSimilarity } from '../core/vector.js';

/** Thresholds of the built-in validation. Every field has the default. */
export interface ValidationGates {
  /** Least mean cosine between FP32 and INT8 embeddings of held-back faces. Default 0.99. */
  minMeanCosine?: number;
  /** Least IoU between an FP32 detection and its INT8 match; the count must be equal too. Default 0.9. */
  minDetectionIou?: number;
  /** Largest drop of verification accuracy on labelled pairs, in percentage points. Default 0.3. */
  maxAccuracyDropPts?: number;
  /** Largest drop of detection recall on annotated photos (0..1). Default 0.02. */
  maxRecallDrop?: number;
}

export const DEFAULT_GATES: Required<ValidationGates> = { minMeanCosine: 0.99, minDetectionIou: 0.9, maxAccuracyDropPts: 0.3, maxRecallDrop: 0.02 };

export interface Scored {
  box: Box;
  score: number;
}

export interface DetectionComparison {
  images: number;
  /** Images where both models found the same number of faces and every FP32 face has an INT8 match at minIou. */
  matchedImages: number;
  fp32Faces: number;
  int8Faces: number;
  minIou: number;
  meanIou: number;
  /** Names of the images that failed, for the error message. */
  failed: string[];
}

/** Matches each FP32 detection to its best INT8 detection (greedy by score). */
export function compareDetections(fp32: readonly Scored[][], int8: readonly Scored[][], minIou = DEFAULT_GATES.minDetectionIou, names: readonly string[] = []): DetectionComparison {
  let matchedImages = 0;
  let fp32Faces = 0;
  let int8Faces = 0;
  let minSeen = 1;
  let sum = 0;
  let pairs = 0;
  const failed: string[] = [];
  fp32.forEach((a, k) => {
    const b = int8[k] ?? [];
    fp32Faces += a.length;
    int8Faces += b.length;
    const used = new Set<number>();
    let ok = a.length === b.length;
    for (const d of [...a].sort((x, y) => y.score - x.score)) {
      let best = -1;
      let bestIou = 0;
      b.forEach((e, j) => {
        const v = iou(d.box, e.box);
        if (!used.has(j) && v > bestIou) {
          bestIou = v;
          best = j;
        }
      });
      if (best >= 0) used.add(best);
      minSeen = Math.min(minSeen, bestIou);
      sum += bestIou;
      pairs++;
      if (bestIou < minIou) ok = false;
    }
    if (ok) matchedImages++;
    else failed.push(names[k] ?? `#${k}`);
  });
  return { images: fp32.length, matchedImages, fp32Faces, int8Faces, minIou: pairs ? minSeen : 1, meanIou: pairs ? sum / pairs : 1, failed };
}

/** Share of ground-truth boxes matched (one-to-one) by a detection at IoU >= iouThreshold. */
export function detectionRecall(dets: readonly Scored[][], truth: readonly Box[][], iouThreshold = 0.5): number {
  let hit = 0;
  let total = 0;
  truth.forEach((gts, k) => {
    const used = new Set<number>();
    for (const gt of gts) {
      total++;
      let best = -1;
      let bestIou = iouThreshold;
      (dets[k] ?? []).forEach((d, j) => {
        const v = iou(gt, d.box);
        if (!used.has(j) && v >= bestIou) {
          bestIou = v;
          best = j;
        }
      });
      if (best >= 0) {
        used.add(best);
        hit++;
      }
    }
  });
  return total ? hit / total : 1;
}

/** Cosine between paired FP32 and INT8 embeddings. */
export function compareEmbeddings(fp32: readonly ArrayLike<number>[], int8: readonly ArrayLike<number>[]): { count: number; meanCosine: number; minCosine: number } {
  let sum = 0;
  let min = 1;
  fp32.forEach((a, i) => {
    const c = cosineSimilarity(a, int8[i]!);
    sum += c;
    min = Math.min(min, c);
  });
  return { count: fp32.length, meanCosine: fp32.length ? sum / fp32.length : 1, minCosine: min };
}

/**
 * Verification accuracy in percent: at `threshold` when given, otherwise at the threshold that maximises it (the
 * LFW protocol), which is returned.
 */
export function verificationAccuracy(similarities: readonly number[], same: readonly boolean[], threshold?: number): { accuracyPct: number; threshold: number } {
  const n = similarities.length;
  if (n === 0) return { accuracyPct: 100, threshold: threshold ?? 0 };
  const at = (t: number): number => similarities.reduce((acc, s, i) => acc + ((s >= t) === same[i] ? 1 : 0), 0);
  if (threshold !== undefined) return { accuracyPct: (100 * at(threshold)) / n, threshold };
  // Sweep the midpoints of sorted similarities: O(n log n).
  const order = similarities.map((s, i) => [s, same[i] ? 1 : 0] as const).sort((a, b) => a[0] - b[0]);
  let correct = order.reduce((acc, [, y]) => acc + y, 0); // threshold below everything: all "same"
  let best = correct;
  let bestT = order[0]![0] - 1e-6;
  for (let i = 0; i < n; i++) {
    correct += order[i]![1] ? -1 : 1;
    if (correct > best) {
      best = correct;
      bestT = i + 1 < n ? (order[i]![0] + order[i + 1]![0]) / 2 : order[i]![0] + 1e-6;
    }
  }
  return { accuracyPct: (100 * best) / n, threshold: bestT };
}

export interface ValidationReport {
  detection?: DetectionComparison;
  recall?: { fp32: number; int8: number; images: number; faces: number };
  embedding?: { count: number; meanCosine: number; minCosine: number };
  verification?: { pairs: number; fp32AccuracyPct: number; int8AccuracyPct: number; int8AtFp32ThresholdPct: number; fp32Threshold: number };
}

/** The gates that failed, as sentences (empty when the model passes). */
export function gateFailures(report: ValidationReport, gates: ValidationGates = {}): string[] {
  const g = { ...DEFAULT_GATES, ...gates };
  const out: string[] = [];
  const d = report.detection;
  if (d && d.matchedImages < d.images) {
    out.push(`detections differ on ${d.images - d.matchedImages}/${d.images} held-back images (${d.failed.slice(0, 5).join(', ')}): counts ${d.fp32Faces} vs ${d.int8Faces}, min IoU ${d.minIou.toFixed(3)} < ${g.minDetectionIou}`);
  }
  const r = report.recall;
  if (r && r.fp32 - r.int8 > g.maxRecallDrop) out.push(`detection recall dropped ${r.fp32.toFixed(3)} -> ${r.int8.toFixed(3)} (more than ${g.maxRecallDrop})`);
  const e = report.embedding;
  if (e && e.meanCosine < g.minMeanCosine) out.push(`mean embedding cosine INT8 vs FP32 is ${e.meanCosine.toFixed(4)} < ${g.minMeanCosine} on ${e.count} held-back faces`);
  const v = report.verification;
  if (v && v.fp32AccuracyPct - v.int8AccuracyPct > g.maxAccuracyDropPts) {
    out.push(`verification accuracy dropped ${v.fp32AccuracyPct.toFixed(2)}% -> ${v.int8AccuracyPct.toFixed(2)}% on ${v.pairs} pairs (more than ${g.maxAccuracyDropPts} points)`);
  }
  return out;
}
