/**
 * Verification metrics over scored pairs: ROC curve, area under it, TAR at a target FAR, and accuracy with the
 * threshold chosen by k-fold cross-validation (the LFW protocol). Pure functions, no imports.
 *
 * Convention: a pair is accepted ("same") when its score (cosine similarity) is >= the threshold. Thresholds are
 * placed midway between consecutive distinct scores, so a reported threshold never sits on an observed score and a
 * small change in a score does not flip a decision at the reported operating point.
 */

/** One operating point of an ROC curve. */
export interface RocPoint {
  /** Accept when score >= threshold. +Infinity accepts nothing, -Infinity everything. */
  threshold: number;
  /** False accept rate: accepted different-identity pairs / all different-identity pairs. */
  far: number;
  /** True accept rate: accepted same-identity pairs / all same-identity pairs. */
  tar: number;
}

function checkInput(scores: ArrayLike<number>, labels: ArrayLike<boolean>): void {
  if (scores.length !== labels.length) throw new RangeError(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]!)) throw new RangeError(`score ${i} is not finite`);
  }
}

function countLabels(labels: ArrayLike<boolean>, idx?: readonly number[]): { pos: number; neg: number } {
  let pos = 0;
  const n = idx ? idx.length : labels.length;
  for (let k = 0; k < n; k++) if (labels[idx ? idx[k]! : k]) pos++;
  return { pos, neg: n - pos };
}

/**
 * The ROC curve: one point per distinct threshold, from (FAR 0, TAR 0) at +Infinity to (1, 1) at -Infinity, in
 * order of decreasing threshold. With no positives (or no negatives) the TAR (or FAR) is 0 throughout.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<boolean>): RocPoint[] {
  checkInput(scores, labels);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const { pos, neg } = countLabels(labels);
  const points: RocPoint[] = [{ threshold: Infinity, far: 0, tar: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; ) {
    const s = scores[order[k]!]!;
    // All pairs with this exact score are accepted together.
    while (k < order.length && scores[order[k]!]! === s) {
      if (labels[order[k]!]) tp++;
      else fp++;
      k++;
    }
    const next = k < order.length ? scores[order[k]!]! : -Infinity;
    points.push({ threshold: next === -Infinity ? -Infinity : (s + next) / 2, far: neg ? fp / neg : 0, tar: pos ? tp / pos : 0 });
  }
  return points;
}

/**
 * Area under the ROC curve: the probability that a random same-identity pair scores above a random different one,
 * ties counting one half (the trapezoidal area). NaN when either class is empty.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<boolean>): number {
  const pts = rocCurve(scores, labels);
  const { pos, neg } = countLabels(labels);
  if (!pos || !neg) return NaN;
  let area = 0;
  for (let i = 1; i < pts.length; i++) area += ((pts[i]!.far - pts[i - 1]!.far) * (pts[i]!.tar + pts[i - 1]!.tar)) / 2;
  return area;
}

/** The best operating point with FAR at most a target. */
export interface TarAtFar {
  /** The FAR asked for. */
  farTarget: number;
  /** Highest TAR reachable with FAR <= farTarget. */
  tar: number;
  /** The FAR actually reached (<= farTarget; 0 when the target is below 1 / negatives). */
  far: number;
  /** The threshold reaching it (the lowest such, so the highest TAR). */
  threshold: number;
}

/** TAR at a FAR target, read off the ROC curve. With n negatives the FAR resolution is 1/n: a smaller target means FAR 0. */
export function tarAtFar(scores: ArrayLike<number>, labels: ArrayLike<boolean>, farTarget: number, curve = rocCurve(scores, labels)): TarAtFar {
  let best = curve[0]!;
  for (const p of curve) if (p.far <= farTarget && p.tar >= best.tar) best = p;
  return { farTarget, tar: best.tar, far: best.far, threshold: best.threshold };
}

/** Accuracy of `score >= threshold` as the "same" decision, over all pairs or the given indices. */
export function accuracyAt(scores: ArrayLike<number>, labels: ArrayLike<boolean>, threshold: number, idx?: readonly number[]): number {
  const n = idx ? idx.length : scores.length;
  if (n === 0) return NaN;
  let right = 0;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k]! : k;
    if (scores[i]! >= threshold === Boolean(labels[i])) right++;
  }
  return right / n;
}

/**
 * The threshold with the highest accuracy over the given pairs (all by default). Candidates are the midpoints between
 * consecutive distinct scores; among equally accurate candidates the middle one (by rank) is taken, which keeps the
 * choice away from the edges of the optimal band.
 */
export function bestThreshold(scores: ArrayLike<number>, labels: ArrayLike<boolean>, idx?: readonly number[]): { threshold: number; accuracy: number } {
  const sel = idx ?? Array.from({ length: scores.length }, (_, i) => i);
  const s = sel.map((i) => scores[i]!);
  const l = sel.map((i) => Boolean(labels[i]));
  const curve = rocCurve(s, l);
  const { pos, neg } = countLabels(l);
  const n = pos + neg;
  if (n === 0) return { threshold: 0, accuracy: NaN };
  // accuracy = (TP + TN) / n = (tar * pos + (1 - far) * neg) / n at each curve point.
  let bestAcc = -1;
  let ties: number[] = [];
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i]!;
    const acc = (p.tar * pos + (1 - p.far) * neg) / n;
    if (acc > bestAcc + 1e-12) {
      bestAcc = acc;
      ties = [i];
    } else if (Math.abs(acc - bestAcc) <= 1e-12) ties.push(i);
  }
  let threshold = curve[ties[Math.floor((ties.length - 1) / 2)]!]!.threshold;
  // An infinite threshold (all accepted or all rejected) is reported as just beyond the extreme score.
  if (threshold === Infinity) threshold = Math.max(...s) + 1e-6;
  if (threshold === -Infinity) threshold = Math.min(...s) - 1e-6;
  return { threshold, accuracy: bestAcc };
}

/** The result of k-fold cross-validated accuracy. */
export interface CrossValidation {
  /** Mean test-fold accuracy, each fold's threshold chosen on the other k-1 folds. */
  accuracy: number;
  /** Standard deviation of the test-fold accuracies (population). */
  accuracyStd: number;
  /** Mean of the k chosen thresholds: the threshold to report. */
  threshold: number;
  /** Per fold: its threshold (from the other folds) and its test accuracy. */
  folds: { threshold: number; accuracy: number; pairs: number }[];
}

/**
 * Accuracy by k-fold cross-validation of the threshold (default 10 folds, as LFW). Pair i goes to fold i mod k: a
 * deterministic split that stays balanced when a file lists all same pairs before all different ones.
 */
export function crossValidatedAccuracy(scores: ArrayLike<number>, labels: ArrayLike<boolean>, folds = 10): CrossValidation {
  checkInput(scores, labels);
  const n = scores.length;
  if (!Number.isInteger(folds) || folds < 2 || folds > n) throw new RangeError(`folds must be an integer in [2, ${n}], got ${folds}`);
  const members: number[][] = Array.from({ length: folds }, () => []);
  for (let i = 0; i < n; i++) members[i % folds]!.push(i);
  const out: CrossValidation['folds'] = [];
  for (let f = 0; f < folds; f++) {
    const train = members.flatMap((m, g) => (g === f ? [] : m));
    const { threshold } = bestThreshold(scores, labels, train);
    out.push({ threshold, accuracy: accuracyAt(scores, labels, threshold, members[f]!), pairs: members[f]!.length });
  }
  const mean = out.reduce((a, r) => a + r.accuracy, 0) / folds;
  const variance = out.reduce((a, r) => a + (r.accuracy - mean) ** 2, 0) / folds;
  return {
    accuracy: mean,
    accuracyStd: Math.sqrt(variance),
    threshold: out.reduce((a, r) => a + r.threshold, 0) / folds,
    folds: out,
  };
}

/** Everything `facegate eval` reports for one set of scored pairs. */
export interface VerificationReport {
  pairs: number;
  positives: number;
  negatives: number;
  auc: number;
  /** 10-fold cross-validated accuracy (see `crossValidatedAccuracy`). */
  accuracy: number;
  accuracyStd: number;
  /** Mean cross-validated threshold. */
  threshold: number;
  /** The most accurate threshold on all pairs, and its (optimistic, not cross-validated) accuracy. */
  bestThreshold: number;
  bestAccuracy: number;
  tarAtFar: TarAtFar[];
  roc: RocPoint[];
}

/** Computes the full report; `farTargets` default [1e-3, 1e-2], `folds` default 10. */
export function verificationReport(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean>,
  options: { farTargets?: readonly number[]; folds?: number } = {},
): VerificationReport {
  const roc = rocCurve(scores, labels);
  const { pos, neg } = countLabels(labels);
  const cv = crossValidatedAccuracy(scores, labels, options.folds ?? 10);
  const best = bestThreshold(scores, labels);
  return {
    pairs: scores.length,
    positives: pos,
    negatives: neg,
    auc: rocAuc(scores, labels),
    accuracy: cv.accuracy,
    accuracyStd: cv.accuracyStd,
    threshold: cv.threshold,
    bestThreshold: best.threshold,
    bestAccuracy: best.accuracy,
    tarAtFar: (options.farTargets ?? [1e-3, 1e-2]).map((t) => tarAtFar(scores, labels, t, roc)),
    roc,
  };
}
