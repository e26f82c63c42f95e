/**
 * Verification evaluation over a labelled pairs file: embed each distinct image once with the engine, score every
 * pair by cosine similarity, and report ROC AUC, TAR at FAR, and k-fold cross-validated accuracy and threshold
 * (src/core/roc.ts), overall and per `source` column.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { FaceGateError, toFaceGateError } from './core/errors.js';
import { verificationReport, type VerificationReport } from './core/roc.js';
import { linePlotSvg, type PlotMarker } from './core/svg-plot.js';
import { dot } from './core/vector.js';
import type { Engine, FaceSelection } from './engine.js';

/** One labelled pair. */
export interface LabelledPair {
  same: boolean;
  path1: string;
  path2: string;
  /** The row's `source` column, or "" when the file has none. */
  source: string;
  /** 1-based line number in the file, for messages. */
  line: number;
}

const SAME = new Set(['same', '1', 'true', 'match', 'genuine']);
const DIFFERENT = new Set(['different', 'diff', '0', 'false', 'nonmatch', 'non-match', 'impostor']);

/**
 * Parses a pairs CSV with a header naming at least `label`, `path1` and `path2` (any order; an optional `source`
 * column groups the report). Labels: same/1/true or different/0/false. Throws `CONFIG_INVALID` naming the line of a
 * malformed row. Commas inside fields are not supported (file paths in these files have none).
 */
export function parsePairsCsv(text: string, name = 'pairs file'): LabelledPair[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const col = (n: string): number => header.indexOf(n);
  const [li, p1, p2, si] = [col('label'), col('path1'), col('path2'), col('source')];
  if (li < 0 || p1 < 0 || p2 < 0) {
    throw new FaceGateError('CONFIG_INVALID', `${name}: the header must name label, path1 and path2 (got "${lines[0] ?? ''}")`, { details: { file: name } });
  }
  const pairs: LabelledPair[] = [];
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith('#')) continue;
    const f = raw.split(',').map((v) => v.trim());
    const label = (f[li] ?? '').toLowerCase();
    const same = SAME.has(label) ? true : DIFFERENT.has(label) ? false : undefined;
    if (same === undefined || !f[p1] || !f[p2]) {
      throw new FaceGateError('CONFIG_INVALID', `${name} line ${i + 1}: expected a same/different label and two paths, got "${raw}"`, {
        details: { file: name, line: i + 1 },
      });
    }
    pairs.push({ same, path1: f[p1]!, path2: f[p2]!, source: si >= 0 ? (f[si] ?? '') : '', line: i + 1 });
  }
  return pairs;
}

/** Reads and parses a pairs file; `FILE_NOT_FOUND` when it cannot be read. */
export function readPairsFile(path: string): LabelledPair[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot read pairs file ${path}: ${(e as Error).message}`, { cause: e, details: { path } });
  }
  return parsePairsCsv(text, path);
}

export interface EvaluateOptions {
  /** Directory the pair paths are relative to (absolute paths are used as given). Default: the current directory. */
  root?: string;
  /** Which face of each image: `center` (default; the labelled face of LFW-style crops) or `largest`. */
  face?: Exclude<FaceSelection, 'all'>;
  /** Fuse flipped crops. Default: the engine's setting. */
  flip?: boolean;
  /** FAR targets for TAR@FAR. Default [1e-3, 1e-2]. */
  farTargets?: readonly number[];
  /** Cross-validation folds. Default 10. */
  folds?: number;
  /** Called after each distinct image is embedded. Default none. */
  onProgress?: (done: number, total: number) => void;
}

/** Why an image gave no embedding. */
export interface ImageFailure {
  path: string;
  /** `NO_FACE` when nothing was detected, else the coded error of decoding. */
  code: string;
  message: string;
}

export interface EvaluationResult {
  /** Every usable pair together. */
  overall: VerificationReport;
  /** Per distinct `source` value (only when the file has that column). */
  bySource: Record<string, VerificationReport>;
  /** Pairs in the file, pairs scored, and pairs dropped because an image had no face or could not be read. */
  pairsTotal: number;
  pairsUsed: number;
  pairsLost: number;
  /** Distinct images embedded, and those that failed. */
  images: number;
  failures: ImageFailure[];
  /** The pairs' scores (cosine similarity), NaN for lost pairs, in file order. */
  scores: Float64Array;
}

/**
 * Embeds each distinct image of `pairs` once (cached by path) and computes the verification report. Per-image
 * failures (unreadable file, no face) drop the pairs that need the image and are listed, never thrown.
 */
export async function evaluatePairs(engine: Engine, pairs: readonly LabelledPair[], options: EvaluateOptions = {}): Promise<EvaluationResult> {
  if (pairs.length === 0) throw new FaceGateError('CONFIG_INVALID', 'the pairs file has no pairs');
  const root = options.root ?? '.';
  const face = options.face ?? 'center';
  const distinct = [...new Set(pairs.flatMap((p) => [p.path1, p.path2]))];
  const cache = new Map<string, Float32Array | null>();
  const failures: ImageFailure[] = [];
  let done = 0;
  for (const rel of distinct) {
    const path = isAbsolute(rel) ? rel : join(root, rel);
    try {
      const [f] = await engine.embedImage(path, { face, ...(options.flip !== undefined ? { flip: options.flip } : {}) });
      cache.set(rel, f ? f.embedding : null);
      if (!f) failures.push({ path: rel, code: 'NO_FACE', message: `no face found in ${path}` });
    } catch (e) {
      const err = toFaceGateError(e);
      // Setup and model failures are fatal; only the image's own problems are per-image outcomes.
      if (!['IMAGE_DECODE_FAILED', 'IMAGE_TOO_LARGE', 'IMAGE_TOO_SMALL', 'FILE_NOT_FOUND'].includes(err.code)) throw err;
      cache.set(rel, null);
      failures.push({ path: rel, code: err.code, message: err.message });
    }
    options.onProgress?.(++done, distinct.length);
  }
  const scores = new Float64Array(pairs.length);
  const groups = new Map<string, { s: number[]; l: boolean[] }>();
  const all = { s: [] as number[], l: [] as boolean[] };
  pairs.forEach((p, i) => {
    const a = cache.get(p.path1);
    const b = cache.get(p.path2);
    if (!a || !b) {
      scores[i] = NaN;
      return;
    }
    const s = dot(a, b);
    scores[i] = s;
    all.s.push(s);
    all.l.push(p.same);
    const g = groups.get(p.source) ?? { s: [], l: [] };
    g.s.push(s);
    g.l.push(p.same);
    groups.set(p.source, g);
  });
  const reportOptions = { ...(options.farTargets ? { farTargets: options.farTargets } : {}), ...(options.folds ? { folds: options.folds } : {}) };
  const report = (g: { s: number[]; l: boolean[] }): VerificationReport => {
    if (g.s.length < (options.folds ?? 10)) {
      throw new FaceGateError('CONFIG_INVALID', `only ${g.s.length} usable pairs: too few for ${options.folds ?? 10}-fold cross-validation`);
    }
    return verificationReport(g.s, g.l, reportOptions);
  };
  const bySource: Record<string, VerificationReport> = {};
  if (pairs.some((p) => p.source !== '') && groups.size > 1) {
    for (const [src, g] of groups) if (g.s.length >= (options.folds ?? 10)) bySource[src] = report(g);
  }
  return {
    overall: report(all),
    bySource,
    pairsTotal: pairs.length,
    pairsUsed: all.s.length,
    pairsLost: pairs.length - all.s.length,
    images: distinct.length,
    failures,
    scores,
  };
}

/**
 * An ROC curve as SVG: TAR against FAR on a log axis (from the decade below one false accept, 1/negatives, to 1;
 * FAR 0 is drawn on the left edge), one curve per report, the first report's TAR@FAR operating points marked.
 */
export function rocPlotSvg(reports: readonly { label: string; report: VerificationReport }[], title: string): string {
  const maxNeg = Math.max(...reports.map((r) => r.report.negatives));
  const xMin = 10 ** Math.floor(Math.log10(1 / Math.max(1, maxNeg)) + 1e-9);
  const series = reports.map(({ label, report }) => ({
    label: `${label} (AUC ${report.auc.toFixed(4)}, acc ${report.accuracy.toFixed(4)})`,
    // FAR 0 points sit on the left edge of the log axis.
    points: report.roc.filter((p) => Number.isFinite(p.threshold) || p.far > 0).map((p) => ({ x: Math.max(p.far, xMin), y: p.tar })),
  }));
  const markers: PlotMarker[] = [];
  const first = reports[0];
  if (first) {
    for (const t of first.report.tarAtFar) {
      markers.push({ x: Math.max(t.far, xMin), y: t.tar, label: `TAR ${t.tar.toFixed(3)} @ FAR<=${t.farTarget} (thr ${t.threshold.toFixed(3)})` });
    }
  }
  // Zoom the TAR axis to where the curves start at the left edge: the interesting part of a good ROC is near the top.
  const tarAtLeft = Math.min(...reports.map((r) => Math.max(...r.report.roc.filter((p) => p.far <= xMin).map((p) => p.tar))));
  const yMin = Math.max(0, Math.floor((tarAtLeft - 0.02) * 20) / 20);
  return linePlotSvg(series, {
    title,
    xLabel: 'false accept rate (FAR, log scale)',
    yLabel: 'true accept rate (TAR)',
    xLog: true,
    xMin,
    xMax: 1,
    yMin,
    yMax: 1,
    markers,
    notes: first ? [`${first.report.positives} same / ${first.report.negatives} different pairs; CV threshold ${first.report.threshold.toFixed(3)}`] : [],
  });
}
