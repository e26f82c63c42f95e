import { describe, expect, it } from 'vitest';
import { accuracyAt, bestThreshold, crossValidatedAccuracy, rocAuc, rocCurve, tarAtFar, verificationReport } from '../../src/core/roc.js';

// Four pairs: same at 0.9 and 0.7, different at 0.8 and 0.6.
const S4 = [0.9, 0.8, 0.7, 0.6];
const L4 = [true, false, true, false];

describe('rocCurve / rocAuc', () => {
  it('walks the thresholds midway between scores, from accept-nothing to accept-all', () => {
    const c = rocCurve(S4, L4);
    expect(c.map((p) => [p.far, p.tar])).toEqual([
      [0, 0],
      [0, 0.5],
      [0.5, 0.5],
      [0.5, 1],
      [1, 1],
    ]);
    expect(c[0]!.threshold).toBe(Infinity);
    expect(c[1]!.threshold).toBeCloseTo(0.85, 12);
    expect(c[2]!.threshold).toBeCloseTo(0.75, 12);
    expect(c[3]!.threshold).toBeCloseTo(0.65, 12);
    expect(c[4]!.threshold).toBe(-Infinity);
  });

  it('AUC is the share of (same, different) pairs ranked correctly: 3 of 4', () => {
    expect(rocAuc(S4, L4)).toBeCloseTo(0.75, 12);
  });

  it('counts ties as one half and handles perfect separation and empty classes', () => {
    expect(rocAuc([0.5, 0.5], [true, false])).toBeCloseTo(0.5, 12);
    expect(rocCurve([0.5, 0.5], [true, false]).map((p) => [p.far, p.tar])).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(rocAuc([0.9, 0.8, 0.1], [true, true, false])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.3], [false, true, false])).toBeCloseTo(0.5, 12);
    expect(rocAuc([0.1, 0.2], [true, true])).toBeNaN();
  });

  it('rejects mismatched lengths and non-finite scores', () => {
    expect(() => rocCurve([0.1], [true, false])).toThrow(RangeError);
    expect(() => rocCurve([NaN, 0.1], [true, false])).toThrow(RangeError);
  });
});

describe('tarAtFar', () => {
  it('takes the best TAR whose FAR stays within the target', () => {
    const r = tarAtFar(S4, L4, 0.1);
    expect(r).toMatchObject({ tar: 0.5, far: 0 });
    expect(r.threshold).toBeCloseTo(0.85, 12);
    const half = tarAtFar(S4, L4, 0.5);
    expect(half).toMatchObject({ tar: 1, far: 0.5 });
    expect(half.threshold).toBeCloseTo(0.65, 12);
    expect(tarAtFar(S4, L4, 1).tar).toBe(1);
  });
});

describe('accuracy and thresholds', () => {
  it('accuracyAt counts score >= threshold as same', () => {
    expect(accuracyAt(S4, L4, 0.85)).toBe(0.75);
    expect(accuracyAt(S4, L4, 0.7)).toBe(0.75);
    expect(accuracyAt(S4, L4, 0.95)).toBe(0.5);
  });

  it('bestThreshold finds the most accurate midpoint', () => {
    const b = bestThreshold(S4, L4);
    expect(b.accuracy).toBeCloseTo(0.75, 12);
    expect([0.85, 0.65].some((t) => Math.abs(b.threshold - t) < 1e-12)).toBe(true);
    const sep = bestThreshold([0.9, 0.8, 0.2, 0.1], [true, true, false, false]);
    expect(sep.accuracy).toBe(1);
    expect(sep.threshold).toBeCloseTo(0.5, 12);
  });

  // 10 same pairs at 0.50..0.59 (indices 0-9), 10 different at 0.10..0.19 (indices 10-19), except that the
  // different pair 19 scores 0.9, above everything. Fold f holds pairs f and f + 10.
  const scores = [...Array.from({ length: 10 }, (_, i) => 0.5 + 0.01 * i), ...Array.from({ length: 9 }, (_, i) => 0.1 + 0.01 * i), 0.9];
  const labels = [...Array<boolean>(10).fill(true), ...Array<boolean>(10).fill(false)];

  it('10-fold CV: each fold thresholded on the other nine; the outlier costs its own fold half its pairs', () => {
    const cv = crossValidatedAccuracy(scores, labels, 10);
    expect(cv.folds.map((f) => f.pairs)).toEqual(Array(10).fill(2));
    expect(cv.folds.map((f) => f.accuracy)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]);
    expect(cv.accuracy).toBeCloseTo(0.95, 12);
    expect(cv.accuracyStd).toBeCloseTo(0.15, 12);
    // Thresholds midway between the highest regular different pair and the lowest same pair left in training.
    expect(cv.folds[0]!.threshold).toBeCloseTo((0.18 + 0.51) / 2, 12);
    expect(cv.folds[8]!.threshold).toBeCloseTo((0.17 + 0.5) / 2, 12);
    expect(cv.folds[5]!.threshold).toBeCloseTo((0.18 + 0.5) / 2, 12);
    expect(cv.threshold).toBeCloseTo(0.34, 12);
  });

  it('verificationReport gathers AUC, TAR@FAR, CV accuracy and counts', () => {
    const r = verificationReport(scores, labels, { farTargets: [0.01, 0.1] });
    expect(r).toMatchObject({ pairs: 20, positives: 10, negatives: 10 });
    expect(r.auc).toBeCloseTo(0.9, 12); // the 0.9 impostor outranks all 10 same pairs: 90 of 100 orderings right
    expect(r.tarAtFar[0]).toMatchObject({ farTarget: 0.01, tar: 0, far: 0 });
    expect(r.tarAtFar[1]).toMatchObject({ farTarget: 0.1, tar: 1, far: 0.1 });
    expect(r.tarAtFar[1]!.threshold).toBeCloseTo(0.34, 12);
    expect(r.bestAccuracy).toBeCloseTo(0.95, 12);
    expect(r.accuracy).toBeCloseTo(0.95, 12);
  });

  it('rejects a fold count the data cannot fill', () => {
    expect(() => crossValidatedAccuracy(S4, L4, 10)).toThrow(RangeError);
  });
});
