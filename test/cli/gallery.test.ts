import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { jsonLines, runCli } from '../helpers/cli.js';

const ROOT = mkdtempSync(join(tmpdir(), 'facegate-cli-gallery-'));
const DIR = join(ROOT, 'g');
const MODEL = 'mobilefacenet512_faceplugin';
const vectors = new Map<string, Float32Array[]>();

function unit(seed: number): Float32Array {
  const v = new Float32Array(512);
  let ss = 0;
  for (let i = 0; i < 512; i++) {
    v[i] = Math.sin(seed * 7.31 + i * 1.7) + Math.cos(seed * 3.1 + i * i * 0.01);
    ss += v[i]! * v[i]!;
  }
  for (let i = 0; i < 512; i++) v[i]! /= Math.sqrt(ss);
  return v;
}

beforeAll(async () => {
  // Embeddings through the API (the gallery commands never run a model).
  const g = openGallery({ path: DIR, name: 'staff' });
  for (const [k, id] of ['ada-LOVELACE-7Q', 'alan-TURING-9Z', 'grace-HOPPER-3K'].entries()) {
    const vs = [unit(k * 10 + 1), unit(k * 10 + 2)];
    const res = await g.enroll({ id, name: id.split('-')[0]!, metadata: { desk: k }, modelId: MODEL, templates: vs.map((vector, i) => ({ vector, source: `${id}-${i}.jpg` })) });
    vectors.set(id, res.templateIds.map((t) => g.templateVector(t)));
  }
  await g.close();
});

afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('facegate gallery', () => {
  it('lists and shows people (plain and --json)', async () => {
    const list = await runCli(['gallery', 'list', '--gallery', DIR, '--gallery-name', 'staff']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`gallery "staff": 3 people, 6 templates, model ${MODEL}`);
    expect(list.stdout).toMatch(/ada-LOVELACE-7Q\tada\t2 template\(s\)/);
    const json = jsonLines((await runCli(['gallery', 'list', '--gallery', DIR, '--gallery-name', 'staff', '--json'])).stdout);
    expect(json[0]).toMatchObject({ gallery: 'staff', modelId: MODEL, dim: 512, identities: 3, templates: 6 });
    expect(json.slice(1).map((p) => p.id)).toEqual(['ada-LOVELACE-7Q', 'alan-TURING-9Z', 'grace-HOPPER-3K']);
    const show = jsonLines((await runCli(['gallery', 'show', 'alan-TURING-9Z', '--gallery', DIR, '--gallery-name', 'staff', '--json'])).stdout)[0]!;
    expect(show).toMatchObject({ id: 'alan-TURING-9Z', name: 'alan', metadata: { desk: 1 }, templateCount: 2 });
    expect((show.templates as { modelId: string; source: string }[]).map((t) => [t.modelId, t.source])).toEqual([
      [MODEL, 'alan-TURING-9Z-0.jpg'],
      [MODEL, 'alan-TURING-9Z-1.jpg'],
    ]);
    const missing = await runCli(['gallery', 'show', 'nobody', '--gallery', DIR, '--gallery-name', 'staff']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error[GALLERY_IDENTITY_NOT_FOUND]');
  });

  it('exports JSON Lines with the model id and imports them elsewhere bit for bit; a corrupt line imports nothing', async () => {
    const out = join(ROOT, 'export.jsonl');
    const exp = await runCli(['gallery', 'export', '--gallery', DIR, '--gallery-name', 'staff', '--out', out]);
    expect(exp.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'facegate-gallery', modelId: MODEL, dim: 512, identities: 3 });
    const other = join(ROOT, 'device-b');
    const imp = await runCli(['gallery', 'import', out, '--gallery', other, '--gallery-name', 'staff']);
    expect(imp.code).toBe(0);
    expect(imp.stdout).toContain('imported 3 people, 6 templates');
    const g = openGallery({ path: other, name: 'staff' });
    for (const [id, vs] of vectors) {
      const back = g.templates(id).map((t) => Buffer.from(g.templateVector(t.templateId).buffer));
      expect(back).toHaveLength(vs.length);
      vs.forEach((v, i) => expect(back[i]!.equals(Buffer.from(v.buffer))).toBe(true));
    }
    await g.close();
    // A corrupt third line: exit 1 naming line 3, and the new gallery stays empty.
    const bad = join(ROOT, 'corrupt.jsonl');
    writeFileSync(bad, [lines[0], lines[1], lines[2]!.slice(0, 80), lines[3]].join('\n'));
    const fresh = join(ROOT, 'device-c');
    const r = await runCli(['gallery', 'import', bad, '--gallery', fresh]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[GALLERY_IMPORT_INVALID]: export line 3');
    const c = openGallery({ path: fresh });
    expect(c.stats()).toMatchObject({ identities: 0, templates: 0 });
    await c.close();
  });

  it('remove deletes every trace of a person from the raw store; bad input is a coded error', async () => {
    const victim = 'grace-HOPPER-3K';
    const before = Buffer.concat(readdirSync(DIR).map((f) => readFileSync(join(DIR, f))));
    expect(before.indexOf(Buffer.from(victim))).toBeGreaterThanOrEqual(0);
    const r = await runCli(['gallery', 'remove', victim, '--gallery', DIR, '--gallery-name', 'staff']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`removed ${victim}\n`);
    const raw = Buffer.concat(readdirSync(DIR).map((f) => readFileSync(join(DIR, f))));
    expect(raw.indexOf(Buffer.from(victim))).toBe(-1);
    expect(raw.indexOf(Buffer.from(`${victim}-0.jpg`))).toBe(-1);
    for (const v of vectors.get(victim)!) {
      const bytes = Buffer.from(v.buffer);
      for (let off = 0; off + 32 <= bytes.length; off += 256) expect(raw.indexOf(bytes.subarray(off, off + 32))).toBe(-1);
    }
    expect(raw.indexOf(Buffer.from('alan-TURING-9Z'))).toBeGreaterThanOrEqual(0);
    const unknown = await runCli(['gallery', 'remove', 'nobody', '--gallery', DIR, '--gallery-name', 'staff']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error[GALLERY_IDENTITY_NOT_FOUND]');
    const file = join(ROOT, 'a-file');
    writeFileSync(file, 'x');
    const notDir = await runCli(['gallery', 'list', '--gallery', file]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toContain('error[GALLERY_PATH_INVALID]');
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect((await runCli(['gallery', 'list', '--gallery', join(ROOT, 'nothing-here')])).stderr).toContain('error[GALLERY_PATH_INVALID]');
    expect((await runCli(['gallery', 'frobnicate', '--gallery', DIR])).code).toBe(2);
    expect((await runCli(['gallery', 'list'])).code).toBe(2);
  });
});
