import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { FACES, MODELS_DIR, facePath, have, IN_CI } from '../helpers/shared.js';

const PAIRS = facePath('pairs/dev-pairs.csv');
const tmp = mkdtempSync(join(tmpdir(), 'facegate-eval-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Report {
  pairs: number;
  positives: number;
  negatives: number;
  auc: number;
  accuracy: number;
  threshold: number;
  tarAtFar: { farTarget: number; tar: number; threshold: number }[];
}
interface EvalJson {
  pairsTotal: number;
  pairsUsed: number;
  pairsLost: number;
  images: number;
  failures: { path: string; code: string }[];
  seconds: number;
  overall: Report;
  bySource: Record<string, Report>;
}

describe('facegate eval: usage errors', () => {
  it('needs --pairs (exit 2) and names an unreadable pairs file (exit 1)', async () => {
    const a = await runCli(['eval']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('error[USAGE]');
    const b = await runCli(['eval', '--pairs', join(tmp, 'nope.csv')]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('error[FILE_NOT_FOUND]');
  });

  it('rejects a CSV without the label,path1,path2 header', async () => {
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'a,b\n1,2\n');
    const r = await runCli(['eval', '--pairs', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error[CONFIG_INVALID]');
    expect(r.stderr).toContain('label, path1 and path2');
  });
});

describe.skipIf(!have(PAIRS, join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx')))('facegate eval on the dev pairs', () => {
  it('200 pairs spread over the file: no pair lost, accuracy above the measured floor, a readable ROC plot', async () => {
    const plot = join(tmp, 'roc.svg');
    const scores = join(tmp, 'scores.csv');
    const r = await runCli(['eval', '--pairs', PAIRS, '--root', FACES, '--limit', '200', '--threads', '1', '--json', '--plot', plot, '--scores', scores]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/embedding images \d+\/\d+/);
    const j = JSON.parse(r.stdout) as EvalJson;
    console.log(`eval 200 pairs: ${j.images} images in ${j.seconds.toFixed(1)} s; accuracy ${j.overall.accuracy.toFixed(4)}, AUC ${j.overall.auc.toFixed(5)}`);
    expect(j.pairsTotal).toBe(200);
    expect(j.pairsLost).toBe(0);
    expect(j.failures).toEqual([]);
    // Measured on these 200 pairs: accuracy 0.985 overall (LFW and deepface want different thresholds), 1.0 on the
    // 127 LFW pairs, AUC 0.9999.
    expect(j.overall.accuracy).toBeGreaterThanOrEqual(0.96);
    expect(j.overall.auc).toBeGreaterThan(0.99);
    expect(j.bySource['lfw-view1-devtest']!.accuracy).toBeGreaterThanOrEqual(0.97);
    expect(j.overall.tarAtFar.map((t) => t.farTarget)).toEqual([0.001, 0.01]);
    const rows = readFileSync(scores, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('label,path1,path2,source,similarity');
    expect(rows).toHaveLength(201);
    for (const row of rows.slice(1)) {
      const sim = Number(row.split(',')[4]);
      expect(sim >= -1 && sim <= 1).toBe(true);
    }
    const svg = readFileSync(plot, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['false accept rate', 'true accept rate', 'lfw-view1-devtest', 'AUC']) expect(svg).toContain(text);
  });

  it('rejects a bad --color-order or --norm as usage errors', async () => {
    const a = await runCli(['eval', '--pairs', PAIRS, '--root', FACES, '--color-order', 'GRB']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--color-order');
    const b = await runCli(['eval', '--pairs', PAIRS, '--root', FACES, '--norm', '127.5']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--norm');
  });

  it('drops only the pairs whose image is missing or not an image, and says so', async () => {
    const rows = readFileSync(PAIRS, 'utf8').trim().split('\n');
    const notImage = join(tmp, 'not-an-image.jpg');
    writeFileSync(notImage, 'this is text');
    const csv = join(tmp, 'some.csv');
    writeFileSync(
      csv,
      [rows[0], ...rows.slice(1, 7), ...rows.slice(-6), `same,${join(tmp, 'missing.jpg')},${rows[1]!.split(',')[1]},x`, `different,${notImage},${rows[1]!.split(',')[1]},x`].join('\n'),
    );
    const r = await runCli(['eval', '--pairs', csv, '--root', FACES, '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as EvalJson;
    expect(j.pairsTotal).toBe(14);
    expect(j.pairsUsed).toBe(12);
    expect(j.pairsLost).toBe(2);
    expect(j.failures.map((f) => f.code).sort()).toEqual(['FILE_NOT_FOUND', 'IMAGE_DECODE_FAILED'].sort());
  });

  // The acceptance run: all 1,000 LFW View-1 rows (the deepface rows, with their multi-megapixel photos, are in
  // BENCHMARKS.md). FACEGATE_SKIP_FULL_EVAL=1 skips it for a quick local loop (never under CI).
  it.skipIf(!IN_CI && process.env.FACEGATE_SKIP_FULL_EVAL === '1')('all 1,000 LFW View-1 dev pairs: accuracy >= 0.99 with no pair lost', async () => {
    const r = await runCli(['eval', '--pairs', PAIRS, '--root', FACES, '--source', 'lfw', '--threads', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as EvalJson;
    console.log(`eval LFW pairs: ${j.images} images in ${j.seconds.toFixed(1)} s; accuracy ${j.overall.accuracy.toFixed(4)}, AUC ${j.overall.auc.toFixed(5)}`);
    expect(j.pairsTotal).toBe(1000);
    expect(j.pairsLost).toBe(0);
    expect(j.overall.positives).toBe(500);
    expect(j.overall.accuracy).toBeGreaterThanOrEqual(0.99);
    expect(j.overall.auc).toBeGreaterThan(0.995);
  });
});
