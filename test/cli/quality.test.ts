import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { command as detect } from '../../src/cli/commands/detect.js';
import { command as embed } from '../../src/cli/commands/embed.js';
import { command as evalCommand } from '../../src/cli/commands/eval.js';
import { command, type QualityImageReport } from '../../src/cli/commands/quality.js';
import type { Command } from '../../src/cli/common.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const CLEAN = facePath('quality/clean_single_face/skimage__astronaut.png');
const BLUR = facePath('quality/blur/insightface__blur.jpg');
const NONFACE = facePath('quality/nonface/skimage__coffee.png');
const MASK = facePath('quality/occlusion_partial/insightface__mask2.jpg');

/** Runs the command in-process, capturing stdout and stderr. */
async function runCli(args: string[], cmd: Command = command): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  const code = await cmd.run(args);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('facegate quality (usage)', () => {
  it('needs an image and a known preset', async () => {
    await expect(command.run([])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(command.run(['--preset', 'museum', 'a.jpg'])).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe.skipIf(!have(MODELS_DIR, CLEAN, BLUR, NONFACE, MASK))('facegate quality on real photos', () => {
  it('--json: passes the clean face, rejects blur and a mask with reasons, reports a non-face image as NO_FACE', async () => {
    const { code, out } = await runCli(['--json', '--threads', '1', '--models', MODELS_DIR, CLEAN, BLUR, NONFACE, MASK]);
    const reports = out.trim().split('\n').map((l) => JSON.parse(l) as QualityImageReport);
    expect(reports.map((r) => r.path)).toEqual([CLEAN, BLUR, NONFACE, MASK]);
    const [clean, blur, nonface, mask] = reports;
    expect(clean!.pass).toBe(true);
    expect(clean!.faces).toHaveLength(1);
    const m = clean!.faces[0]!.measures;
    expect(m.interOcularPx).toBeGreaterThan(30);
    expect(m.embeddingNorm).toBeGreaterThan(0);
    expect(clean!.faces[0]!.quality.score).toBeGreaterThan(0.35);
    expect(blur!.pass).toBe(false);
    expect(blur!.faces[0]!.quality.reasons.map((r) => r.code)).toContain('BLUR');
    const reason = blur!.faces[0]!.quality.reasons.find((r) => r.code === 'BLUR')!;
    expect(reason.value).toBeGreaterThan(reason.limit);
    expect(nonface!.pass).toBe(false);
    expect(nonface!.faces).toEqual([]);
    expect(nonface!.error?.code).toBe('NO_FACE');
    expect(mask!.faces[0]!.quality.reasons.map((r) => r.code)).toContain('OCCLUDED');
    expect(code).toBe(3);
  });

  it('prints a readable verdict, and exit 0 when every face passes', async () => {
    const { code, out } = await runCli(['--threads', '1', '--models', MODELS_DIR, CLEAN]);
    expect(code).toBe(0);
    expect(out).toMatch(/1 face, 1 pass \(kiosk preset\)/);
    expect(out).toMatch(/pose yaw -?\d+(\.\d)? deg/);
    expect(out).toMatch(/blur effect 0\.\d\d/);
  });

  it('the passive preset accepts what kiosk refuses for size: the 240p portrait', async () => {
    const small = facePath('quality/resolution_ladder/face_recognition__obama-240p.jpg');
    const kiosk = await runCli(['--json', '--threads', '1', '--models', MODELS_DIR, small]);
    const passive = await runCli(['--json', '--preset', 'passive', '--threads', '1', '--models', MODELS_DIR, small]);
    const k = JSON.parse(kiosk.out) as QualityImageReport;
    const p = JSON.parse(passive.out) as QualityImageReport;
    expect(k.faces[0]!.quality.reasons.map((r) => r.code)).toEqual(['TOO_SMALL']);
    expect(p.pass).toBe(true);
  });

  it('--liveness attaches a live score; the photo of a screen gets a SPOOF reason', async () => {
    const spoof = facePath('quality/spoof/insightface__rgb_fake.jpg');
    const { out } = await runCli(['--json', '--liveness', '--threads', '1', '--models', MODELS_DIR, CLEAN, spoof]);
    const [clean, fake] = out.trim().split('\n').map((l) => JSON.parse(l) as QualityImageReport);
    expect(clean!.faces[0]!.measures.liveScore).toBeGreaterThan(0.5);
    expect(fake!.faces[0]!.measures.liveScore).toBeLessThan(0.5);
    expect(fake!.faces[0]!.quality.reasons.map((r) => r.code)).toContain('SPOOF');
  });

  it('an unreadable file is reported and the others still are (exit 1)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facegate-quality-'));
    const bad = join(dir, 'broken.jpg');
    writeFileSync(bad, 'not an image');
    const { code, out, err } = await runCli(['--json', '--threads', '1', '--models', MODELS_DIR, bad, CLEAN]);
    const [broken, clean] = out.trim().split('\n').map((l) => JSON.parse(l) as QualityImageReport);
    expect(broken!.error?.code).toBe('IMAGE_DECODE_FAILED');
    expect(clean!.pass).toBe(true);
    expect(code).toBe(1);
    expect(err).toBe('');
  });

  it('detect --quality and embed --quality attach the verdict and measures to each face', async () => {
    const d = await runCli(['--json', '--quality', '--threads', '1', '--models', MODELS_DIR, CLEAN, BLUR], detect);
    const [dc, db] = d.out.trim().split('\n').map((l) => JSON.parse(l) as { faces: { quality: { pass: boolean; reasons: { code: string }[] }; measures: { blurEffect: number } }[] });
    expect(dc!.faces[0]!.quality.pass).toBe(true);
    expect(db!.faces[0]!.quality.reasons.map((r) => r.code)).toContain('BLUR');
    const e = await runCli(['--quality', '--threads', '1', '--models', MODELS_DIR, CLEAN], embed);
    const ef = (JSON.parse(e.out) as { faces: { embedding: number[]; quality: { pass: boolean }; measures: { embeddingNorm: number; blurEffect: number } }[] }).faces[0]!;
    expect(ef.embedding).toHaveLength(512);
    expect(ef.quality.pass).toBe(true);
    expect(ef.measures.embeddingNorm).toBeGreaterThan(0);
    // The same measures (printed to 3 decimals, so one rounding step apart at most) whether the gate aligns the face itself (detect) or reuses the recognizer's crop (embed).
    expect(ef.measures.blurEffect).toBeCloseTo(dc!.faces[0]!.measures.blurEffect, 2);
    const plain = await runCli(['--threads', '1', '--models', MODELS_DIR, CLEAN], detect);
    expect(plain.out).not.toMatch(/quality \d| PASS| FAIL/);
  });

  it('eval --quality --plot writes the error-versus-reject curve and reports it in JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facegate-eval-quality-'));
    const plot = join(dir, 'roc.svg');
    const { code, out } = await runCli(
      ['--pairs', facePath('pairs/dev-pairs.csv'), '--root', facePath(''), '--limit', '40', '--quality', '--plot', plot, '--json', '--threads', '1', '--models', MODELS_DIR],
      evalCommand,
    );
    expect(code).toBe(0);
    const report = JSON.parse(out) as { quality: { threshold: number; pairs: number; plot: string; points: { rejectShare: number; kept: number; errorRate: number }[] } };
    expect(report.quality.plot).toBe(join(dir, 'roc-quality.svg'));
    expect(readFileSync(report.quality.plot, 'utf8')).toMatch(/^<svg[\s\S]*pairs rejected/);
    expect(report.quality.points.map((p) => p.rejectShare)).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]);
    expect(report.quality.points[0]!.kept).toBe(report.quality.pairs);
    expect(report.quality.points[2]!.kept).toBe(report.quality.pairs - Math.floor(0.1 * report.quality.pairs));
  });
});
