/** `facegate eval --pairs CSV --root DIR [--plot roc.svg] [--json]`: verification accuracy on labelled pairs. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaceGateError } from '../../core/errors.js';
import type { VerificationReport } from '../../core/roc.js';
import { createEngine, DEFAULT_RECOGNIZER, type EngineOptions } from '../../engine.js';
import { evaluatePairs, readPairsFile, rocPlotSvg, type LabelledPair } from '../../evaluate.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';
import { findModel, loadManifest } from '../../models/manifest.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { formatRejectTable, qualityCurve, qualityPlotPath } from '../../quality-eval.js';

const USAGE = `usage: facegate eval --pairs CSV --root DIR [--source PREFIX] [--limit N] [--face center|largest] [--flip]
                     [--quality] [--plot roc.svg] [--scores scores.csv] [--json]

Embeds every distinct image of a labelled pairs file once, scores each pair by cosine similarity and prints:
accuracy by 10-fold cross-validation of the threshold (pair i in fold i mod 10), TAR at FAR 1e-3 and 1e-2, ROC AUC,
the cross-validated threshold, pairs used, and pairs lost to an image with no face or that cannot be read. With a
"source" column the numbers are also given per source.
  --pairs CSV      header label,path1,path2[,source]; label same|different (or 1|0)
  --root DIR       directory the paths are relative to (default: the current directory)
  --source PREFIX  keep only rows whose source starts with PREFIX (e.g. lfw)
  --limit N        keep only the first N rows after --source, spread evenly over the file (a quick check)
  --face WHICH     center (default: the labelled face of LFW-style crops) or largest
  --flip           fuse flipped crops into each embedding
  --plot FILE      write the ROC curve (TAR vs log FAR) as SVG
  --scores FILE    write every pair with its similarity as CSV (label,path1,path2,source,similarity; empty when lost)
  --quality        also rank pairs by face quality (the lower of the two) and print the error at the CV threshold
                   after rejecting the lowest 0..30 %; with --plot, the curve goes to FILE-quality.svg
  --json           print the whole report as one JSON object (ROC points left out)
measuring a recognizer's preprocessing (overrides its manifest entry for this run only):
  --color-order RGB|BGR   channel order fed to the recognizer
  --norm MEAN/STD         (x - MEAN) / STD on 0..255 values, e.g. 127.5/127.5, 127.5/128 or 0/255
progress goes to stderr. exit status: 0 when evaluated (even with lost pairs), 1 on errors, 2 for usage errors.

${ENGINE_USAGE}`;

const OPTIONS = {
  ...ENGINE_OPTIONS,
  pairs: { type: 'string' },
  root: { type: 'string' },
  source: { type: 'string' },
  limit: { type: 'string' },
  face: { type: 'string' },
  flip: { type: 'boolean' },
  plot: { type: 'string' },
  scores: { type: 'string' },
  'color-order': { type: 'string' },
  norm: { type: 'string' },
  quality: { type: 'boolean' },
} as const;

/** Every k-th row so that a subset keeps the file's mix of labels and sources. */
function spread<T>(rows: readonly T[], n: number): T[] {
  if (n >= rows.length) return [...rows];
  return Array.from({ length: n }, (_, i) => rows[Math.floor((i * rows.length) / n)]!);
}

/**
 * Applies --color-order / --norm by writing a copy of the manifest with the recognizer's input changed to a temporary
 * directory and pointing the engine at it (the engine reads preprocessing only from a manifest). Returns the
 * directory to remove afterwards, or undefined when neither flag is given.
 */
function overrideRecognizerInput(options: EngineOptions, colorOrder: string | undefined, norm: string | undefined): string | undefined {
  if (colorOrder === undefined && norm === undefined) return undefined;
  if (colorOrder !== undefined && colorOrder !== 'RGB' && colorOrder !== 'BGR') throw new FaceGateError('USAGE', `--color-order must be RGB or BGR, got "${colorOrder}"`);
  let meanStd: [number, number] | undefined;
  if (norm !== undefined) {
    const m = /^(-?[\d.]+)\/([\d.]+)$/.exec(norm);
    if (!m || !(Number(m[2]) > 0) || !Number.isFinite(Number(m[1]))) throw new FaceGateError('USAGE', `--norm expects MEAN/STD with STD > 0, e.g. 127.5/127.5, got "${norm}"`);
    meanStd = [Number(m[1]), Number(m[2])];
  }
  const manifest = loadManifest(options.manifestPath);
  const entry = findModel(manifest, options.recognizer ?? DEFAULT_RECOGNIZER);
  if (colorOrder) entry.input.colorOrder = colorOrder;
  if (meanStd) {
    entry.input.mean = [meanStd[0], meanStd[0], meanStd[0]];
    entry.input.std = [meanStd[1], meanStd[1], meanStd[1]];
  }
  const dir = mkdtempSync(join(tmpdir(), 'facegate-eval-'));
  const path = join(dir, 'manifest.json');
  writeFileSync(path, JSON.stringify(manifest));
  options.manifestPath = path;
  return dir;
}

function inputText(i: { colorOrder: string; mean: readonly number[]; std: readonly number[] }): string {
  return `${i.colorOrder}, (x - ${i.mean[0]}) / ${i.std[0]}`;
}

function writeOut(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot write ${path}: ${(e as Error).message}`, { cause: e, details: { path } });
  }
}

function summary(r: VerificationReport): Record<string, unknown> {
  const { roc: _roc, ...rest } = r;
  return rest;
}

function describe(name: string, r: VerificationReport): string {
  const tar = r.tarAtFar.map((t) => `TAR@FAR${t.farTarget} ${t.tar.toFixed(4)} (thr ${t.threshold.toFixed(3)}, FAR ${t.far.toFixed(4)})`).join('  ');
  return [
    `${name}: ${r.pairs} pairs (${r.positives} same, ${r.negatives} different)`,
    `  accuracy ${r.accuracy.toFixed(4)} +- ${r.accuracyStd.toFixed(4)} (10-fold CV)  threshold ${r.threshold.toFixed(4)}  AUC ${r.auc.toFixed(5)}`,
    `  ${tar}`,
  ].join('\n');
}

export const command: Command = {
  name: 'eval',
  summary: 'verification accuracy, TAR@FAR and ROC AUC on a labelled pairs file',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    if (args.positionals.length) throw new FaceGateError('USAGE', `eval takes no positional arguments, got "${args.positionals[0]}"`);
    const pairsPath = str(args, 'pairs');
    if (!pairsPath) throw new FaceGateError('USAGE', 'eval needs --pairs CSV');
    const face = str(args, 'face') ?? 'center';
    if (face !== 'center' && face !== 'largest') throw new FaceGateError('USAGE', `--face must be center or largest, got "${face}"`);
    const limitRaw = str(args, 'limit');
    const limit = numberFlag(limitRaw, 'limit', Infinity);
    if (limitRaw !== undefined && !(Number.isInteger(limit) && limit >= 10)) throw new FaceGateError('USAGE', `--limit expects an integer >= 10, got "${limitRaw}"`);
    let pairs: LabelledPair[] = readPairsFile(pairsPath);
    const source = str(args, 'source');
    if (source !== undefined) pairs = pairs.filter((p) => p.source.startsWith(source));
    pairs = spread(pairs, limit);
    if (pairs.length < 10) throw new FaceGateError('USAGE', `only ${pairs.length} pairs selected: at least 10 are needed for 10-fold cross-validation`);

    const engineOptions: EngineOptions = { ...engineOptionsFrom(args), flip: bool(args, 'flip') };
    const tmp = overrideRecognizerInput(engineOptions, str(args, 'color-order'), str(args, 'norm'));
    let engine;
    try {
      engine = await createEngine(engineOptions);
    } catch (e) {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const t0 = Date.now();
    let lastDraw = 0;
    try {
      const result = await evaluatePairs(engine, pairs, {
        root: str(args, 'root') ?? '.',
        face,
        onProgress(done, total) {
          // A line every 2 s (or a live bar on a terminal): long runs show they are alive without flooding logs.
          const nowMs = Date.now();
          if (done === total || nowMs - lastDraw > 2000) {
            lastDraw = nowMs;
            const s = (nowMs - t0) / 1000;
            const line = `embedding images ${done}/${total} ${s.toFixed(0)}s eta ${((s / done) * (total - done)).toFixed(0)}s`;
            process.stderr.write(process.stderr.isTTY ? `\r${line} ` : `${line}\n`);
          }
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const seconds = (Date.now() - t0) / 1000;
      const scoresPath = str(args, 'scores');
      if (scoresPath) {
        const lines = ['label,path1,path2,source,similarity'];
        pairs.forEach((p, i) => {
          const s = result.scores[i]!;
          lines.push(`${p.same ? 'same' : 'different'},${p.path1},${p.path2},${p.source},${Number.isNaN(s) ? '' : s.toFixed(6)}`);
        });
        writeOut(scoresPath, `${lines.join('\n')}\n`);
      }
      const plot = str(args, 'plot');
      if (plot) {
        const curves = [{ label: `all ${result.pairsUsed} pairs`, report: result.overall }];
        for (const [src, r] of Object.entries(result.bySource)) curves.push({ label: src, report: r });
        const title = `ROC: ${engine.detectorId} + ${engine.recognizerId}${bool(args, 'flip') ? ' (flip)' : ''}`;
        writeOut(plot, rocPlotSvg(curves, title));
      }
      // Quality versus error (src/quality-eval.ts): measured on the same selected faces, ranked at the CV threshold.
      const quality = bool(args, 'quality')
        ? await qualityCurve(engine, pairs, result.scores, result.overall.threshold, {
            root: str(args, 'root') ?? '.',
            face,
            ...(plot ? { plotPath: qualityPlotPath(plot) } : {}),
          })
        : undefined;
      if (bool(args, 'json')) {
        printJsonLine({
          pairsFile: pairsPath,
          detector: engine.detectorId,
          recognizer: engine.recognizerId,
          recognizerInput: { colorOrder: engine.recognizerEntry.input.colorOrder, mean: engine.recognizerEntry.input.mean, std: engine.recognizerEntry.input.std },
          flip: bool(args, 'flip'),
          face,
          pairsTotal: result.pairsTotal,
          pairsUsed: result.pairsUsed,
          pairsLost: result.pairsLost,
          images: result.images,
          failures: result.failures,
          seconds,
          overall: summary(result.overall),
          bySource: Object.fromEntries(Object.entries(result.bySource).map(([k, v]) => [k, summary(v)])),
          ...(plot ? { plot } : {}),
          ...(scoresPath ? { scores: scoresPath } : {}),
          ...(quality ? { quality } : {}),
        });
      } else {
        const out = [
          `${engine.detectorId} + ${engine.recognizerId} (${inputText(engine.recognizerEntry.input)})${bool(args, 'flip') ? ' + flip' : ''}, face ${face}: ${result.images} images in ${seconds.toFixed(1)} s`,
          `pairs used ${result.pairsUsed} of ${result.pairsTotal}; lost to an undetected or unreadable face: ${result.pairsLost}`,
          describe('all', result.overall),
          ...Object.entries(result.bySource).map(([k, v]) => describe(k, v)),
          ...result.failures.slice(0, 10).map((f) => `  no embedding: ${f.path} (${f.code})`),
          ...(plot ? [`ROC curve written to ${plot}`] : []),
          ...(quality ? [`error versus reject by pair quality (${quality.pairs} pairs, threshold ${quality.threshold.toFixed(4)}):`, formatRejectTable(quality.points)] : []),
          ...(quality?.plot ? [`error-versus-reject curve written to ${quality.plot}`] : []),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      }
      return 0;
    } finally {
      await engine.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  },
};
