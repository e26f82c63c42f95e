import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/models/manifest.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { have, MODELS_DIR } from '../helpers/shared.js';

const manifest = loadManifest();
const tmp = mkdtempSync(join(tmpdir(), 'facegate-models-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!have(join(MODELS_DIR, 'det_500m.onnx')))('facegate models', () => {
  it('lists every manifest model with verified / missing status for ../shared/models', async () => {
    const r = await runCli(['models', '--json']);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.filter((l) => l.id).map((l) => l.id)).toEqual(manifest.models.map((m) => m.id));
    const status = Object.fromEntries(lines.map((l) => [l.id ?? l.file, l.status]));
    expect(status.det_500m).toBe('verified');
    for (const m of manifest.models) expect(status[m.id]).toBe(existsSync(join(MODELS_DIR, m.file)) ? 'verified' : 'missing');
  });

  it('flags a corrupt file as mismatch with its actual sha256, and an unknown .onnx file; text output too', async () => {
    const dir = mkdtempSync(join(tmp, 'dir-'));
    const bytes = readFileSync(join(MODELS_DIR, 'det_500m.onnx'));
    bytes[100] ^= 1;
    writeFileSync(join(dir, 'det_500m.onnx'), bytes);
    copyFileSync(join(MODELS_DIR, 'det_500m.onnx'), join(dir, 'extra.onnx'));
    const r = await runCli(['models', '--json', '--models', dir]);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    const det = lines.find((l) => l.id === 'det_500m')!;
    expect(det.status).toBe('mismatch');
    expect(det.actualSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(det.actualSha256).not.toBe(det.sha256);
    expect(lines.find((l) => l.file === 'extra.onnx')).toMatchObject({ status: 'unknown' });
    expect(lines.filter((l) => l.status === 'missing').length).toBe(manifest.models.length - 1);
    const text = await runCli(['models', '--models', dir]);
    expect(text.stdout).toContain(`models directory: ${dir}`);
    expect(text.stdout).toMatch(/mismatch\s+det_500m/);
  });

  it('a models directory that does not exist is MODEL_DIR_NOT_FOUND, exit 1', async () => {
    const r = await runCli(['models', '--models', join(tmp, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[MODEL_DIR_NOT_FOUND]');
  });
});
