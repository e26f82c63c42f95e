/**
 * Does quality predict recognition errors? The error-versus-reject curve (ISO/IEC 29794-1's "error versus discard
 * characteristic"): pairs are ranked by pair quality (the lower of the two faces' scores), the lowest-quality share is
 * rejected, and the verification error of what remains is measured at one fixed threshold. If quality means anything,
 * the error falls as the rejected share grows.
 */
import { writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { FaceGateError, toFaceGateError } from './core/errors.js';
import { centerMostFace, largestFace } from './core/geometry.js';
import { linePlotSvg } from './core/svg-plot.js';
import type { Engine } from './engine.js';
import { measureFace, qualityScore } from './face/quality.js';

/** One scored pair. */
export interface QualityPair {
  same: boolean;
  /** Cosine similarity of the two embeddings. */
  similarity: number;
  /** Pair quality, 0..1: the lower of the two faces' overall scores. */
  quality: number;
}

/** One point of the curve. */
export interface RejectPoint {
  /** Share of pairs rejected (lowest quality first), 0..1. */
  rejectShare: number;
  /** Pairs kept. */
  kept: number;
  /** Wrong decisions among the kept pairs at the fixed threshold. */
  errors: number;
  /** errors / kept. */
  errorRate: number;
  /** False non-match rate: same-person pairs below the threshold, over same-person pairs kept. */
  fnmr: number;
  /** False match rate: different-person pairs at or above the threshold, over different-person pairs kept. */
  fmr: number;
}

/** The default reject shares: 0 to 30 % in steps of 5 %, plus 10 % exactly (the acceptance figure). */
export const DEFAULT_REJECT_SHARES: readonly number[] = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

/**
 * The error-versus-reject curve at a fixed `threshold` (cosine similarity). Pairs with equal quality are ordered as
 * given, so the curve is deterministic. Throws `CONFIG_INVALID` for an empty list or a share outside 0..1.
 */
export function errorVersusReject(pairs: readonly QualityPair[], threshold: number, shares: readonly number[] = DEFAULT_REJECT_SHARES): RejectPoint[] {
  if (pairs.length === 0) throw new FaceGateError('CONFIG_INVALID', 'no scored pairs to rank by quality');
  const ranked = pairs.map((p, i) => ({ p, i })).sort((a, b) => a.p.quality - b.p.quality || a.i - b.i);
  return shares.map((share) => {
    if (!(share >= 0 && share < 1)) throw new FaceGateError('CONFIG_INVALID', `reject share ${share} must be in [0, 1)`);
    const kept = ranked.slice(Math.floor(share * ranked.length)).map((r) => r.p);
    let fn = 0;
    let fm = 0;
    let same = 0;
    for (const p of kept) {
      if (p.same) {
        same++;
        if (p.similarity < threshold) fn++;
      } else if (p.similarity >= threshold) {
        fm++;
      }
    }
    const diff = kept.length - same;
    return {
      rejectShare: share,
      kept: kept.length,
      errors: fn + fm,
      errorRate: (fn + fm) / kept.length,
      fnmr: same ? fn / same : 0,
      fmr: diff ? fm / diff : 0,
    };
  });
}

/** The curve as SVG: error rate and FNMR (percent) against the rejected share (percent). */
export function errorRejectPlotSvg(points: readonly RejectPoint[], title: string, threshold: number): string {
  const pct = (v: number): number => 100 * v;
  const maxY = Math.max(...points.map((p) => Math.max(pct(p.errorRate), pct(p.fnmr), pct(p.fmr))));
  const at10 = points.find((p) => Math.abs(p.rejectShare - 0.1) < 1e-9);
  const first = points[0]!;
  return linePlotSvg(
    [
      { label: 'verification error (FNM + FM) / pairs kept', points: points.map((p) => ({ x: pct(p.rejectShare), y: pct(p.errorRate) })) },
      { label: 'false non-match rate', points: points.map((p) => ({ x: pct(p.rejectShare), y: pct(p.fnmr) })) },
      { label: 'false match rate', points: points.map((p) => ({ x: pct(p.rejectShare), y: pct(p.fmr) })) },
    ],
    {
      title,
      xLabel: 'pairs rejected, lowest quality first (%)',
      yLabel: 'error at the fixed threshold (%)',
      xMin: 0,
      xMax: pct(points[points.length - 1]!.rejectShare),
      yMin: 0,
      yMax: Math.max(0.1, Math.ceil(maxY * 11) / 10),
      markers: at10 ? [{ x: 10, y: pct(at10.errorRate), label: `${pct(at10.errorRate).toFixed(2)}% at 10% rejected (${pct(first.errorRate).toFixed(2)}% at 0)` }] : [],
      notes: [`threshold ${threshold.toFixed(3)} (cosine), fixed for every point; ${first.kept} pairs`],
    },
  );
}

export interface ImageQualityOptions {
  /** Directory relative paths start from. Default: the current directory. */
  root?: string;
  /** Which face of each image: `center` (default, as `facegate eval`) or `largest`. */
  face?: 'center' | 'largest';
  /** Called after each image. Default none. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The overall quality score (0..1) of the selected face of each distinct image: decode, detect, pick the face the
 * evaluation embeds, measure. Images without a face or that cannot be read map to NaN (their pairs are lost anyway).
 */
export async function imageQualities(engine: Engine, paths: readonly string[], options: ImageQualityOptions = {}): Promise<Map<string, number>> {
  const root = options.root ?? '.';
  const out = new Map<string, number>();
  const distinct = [...new Set(paths)];
  let done = 0;
  for (const rel of distinct) {
    const path = isAbsolute(rel) ? rel : join(root, rel);
    try {
      const img = await engine.decode(path);
      const faces = await engine.detect(img);
      const face = options.face === 'largest' ? largestFace(faces) : centerMostFace(faces, img.width, img.height);
      out.set(rel, face ? qualityScore(measureFace(img, face)) : NaN);
    } catch (e) {
      const err = toFaceGateError(e);
      if (!['IMAGE_DECODE_FAILED', 'IMAGE_TOO_LARGE', 'IMAGE_TOO_SMALL', 'FILE_NOT_FOUND'].includes(err.code)) throw err;
      out.set(rel, NaN);
    }
    options.onProgress?.(++done, distinct.length);
  }
  return out;
}

/** A printable table of the curve. */
export function formatRejectTable(points: readonly RejectPoint[]): string {
  const lines = ['rejected  kept  errors  error rate   FNMR     FMR'];
  for (const p of points) {
    lines.push(
      `${(100 * p.rejectShare).toFixed(0).padStart(6)}%  ${String(p.kept).padStart(5)}  ${String(p.errors).padStart(6)}  ${(100 * p.errorRate).toFixed(3).padStart(9)}%  ${(100 * p.fnmr).toFixed(3).padStart(6)}%  ${(100 * p.fmr).toFixed(3).padStart(6)}%`,
    );
  }
  return lines.join('\n');
}

/** Where `facegate eval --quality --plot FILE` writes the curve: FILE with `-quality` before its extension. */
export function qualityPlotPath(plotPath: string): string {
  const dot = plotPath.lastIndexOf('.');
  return dot > plotPath.lastIndexOf('/') ? `${plotPath.slice(0, dot)}-quality${plotPath.slice(dot)}` : `${plotPath}-quality.svg`;
}

export interface QualityCurveResult {
  /** The fixed threshold used (the evaluation's cross-validated one). */
  threshold: number;
  points: RejectPoint[];
  /** Pairs ranked (both images have a face and a score). */
  pairs: number;
  /** The SVG written, when a plot path was given. */
  plot?: string;
}

/**
 * `facegate eval --quality`: measures each image's selected face, ranks the scored pairs by pair quality and returns
 * the error-versus-reject curve at `threshold`; writes it as SVG to `plotPath` when given (`FILE_NOT_FOUND` when the
 * file cannot be written).
 */
export async function qualityCurve(
  engine: Engine,
  pairs: readonly { same: boolean; path1: string; path2: string }[],
  scores: ArrayLike<number>,
  threshold: number,
  options: ImageQualityOptions & { plotPath?: string; title?: string } = {},
): Promise<QualityCurveResult> {
  const q = await imageQualities(
    engine,
    pairs.flatMap((p) => [p.path1, p.path2]),
    options,
  );
  const scored: QualityPair[] = [];
  pairs.forEach((p, i) => {
    const s = scores[i]!;
    const quality = Math.min(q.get(p.path1) ?? NaN, q.get(p.path2) ?? NaN);
    if (Number.isFinite(s) && Number.isFinite(quality)) scored.push({ same: p.same, similarity: s, quality });
  });
  const points = errorVersusReject(scored, threshold);
  const result: QualityCurveResult = { threshold, points, pairs: scored.length };
  if (options.plotPath) {
    try {
      writeFileSync(options.plotPath, errorRejectPlotSvg(points, options.title ?? `error versus reject: ${engine.detectorId} + ${engine.recognizerId}`, threshold));
    } catch (e) {
      throw new FaceGateError('FILE_NOT_FOUND', `cannot write ${options.plotPath}: ${(e as Error).message}`, { cause: e, details: { path: options.plotPath } });
    }
    result.plot = options.plotPath;
  }
  return result;
}
