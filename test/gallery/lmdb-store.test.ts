import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import { centroidOf, type Gallery } from '../../src/gallery/gallery.js';
import { listGalleries, openGallery } from '../../src/gallery/lmdb-store.js';
import { rng } from '../helpers/random.js';

const ROOT = mkdtempSync(join(tmpdir(), 'facegate-gallery-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => join(ROOT, `g${counter++}`);

function unit(r: () => number, dim = 512): Float32Array {
  const v = new Float32Array(dim);
  let ss = 0;
  for (let i = 0; i < dim; i++) {
    // Sum of uniforms: roughly Gaussian, so directions are uniform enough.
    v[i] = r() + r() + r() - 1.5;
    ss += v[i]! * v[i]!;
  }
  const inv = 1 / Math.sqrt(ss);
  for (let i = 0; i < dim; i++) v[i]! *= inv;
  return v;
}

/** A vector near `base` (similarity about 1 - noise^2/2). */
function near(base: Float32Array, r: () => number, noise = 0.5): Float32Array {
  const n = unit(r, base.length);
  const v = new Float32Array(base.length);
  for (let i = 0; i < v.length; i++) v[i] = base[i]! + noise * n[i]!;
  return v;
}

const M = 'test-model';

/** Raw bytes of every file of the environment. */
function rawStore(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(isFaceGateError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('LMDB gallery', () => {
  it('round-trips vectors bit for bit, across a reopen', async () => {
    const dir = freshDir();
    const r = rng(1);
    const g = openGallery({ path: dir });
    // Unit vectors are stored as given after normalisation: normalise here so the bytes are predictable.
    const vectors = [unit(r), unit(r), unit(r)];
    const { templateIds } = await g.enroll({ id: 'alice', modelId: M, templates: vectors.map((vector) => ({ vector })) });
    const stored = templateIds.map((t) => g.templateVector(t));
    await g.close();
    const g2 = openGallery({ path: dir });
    for (let i = 0; i < 3; i++) {
      const again = g2.templateVector(templateIds[i]!);
      expect(Buffer.from(again.buffer).equals(Buffer.from(stored[i]!.buffer))).toBe(true);
      // Normalising an already-unit vector moves at most the last bits.
      for (let j = 0; j < 512; j++) expect(Math.abs(again[j]! - vectors[i]![j]!)).toBeLessThan(1e-6);
    }
    // A Float32Array that is a view into a larger buffer stores only its own bytes.
    const big = new Float32Array(1024);
    big.set(unit(r), 256);
    const view = big.subarray(256, 768);
    const res = await g2.enroll({ id: 'view', modelId: M, templates: [{ vector: view }] });
    const back = g2.templateVector(res.templateIds[0]!);
    for (let j = 0; j < 512; j++) expect(Math.abs(back[j]! - view[j]!)).toBeLessThan(1e-6);
    await g2.close();
  });

  it('keeps identities, templates and the centroid current on every write', async () => {
    const g = openGallery({ path: freshDir() });
    const r = rng(2);
    const base = unit(r);
    const a = await g.enroll({ id: 'bob', name: 'Bob B', metadata: { badge: 7 }, modelId: M, templates: [{ vector: near(base, r), quality: 0.9, source: 'a.jpg' }] });
    expect(a.created).toBe(true);
    const b = await g.enroll({ id: 'bob', modelId: M, templates: [{ vector: near(base, r) }, { vector: near(base, r) }] });
    expect(b.created).toBe(false);
    const bob = g.get('bob')!;
    expect(bob).toMatchObject({ id: 'bob', name: 'Bob B', metadata: { badge: 7 }, templateCount: 3 });
    expect(Date.parse(bob.updatedAt)).toBeGreaterThanOrEqual(Date.parse(bob.createdAt));
    const ts = g.templates('bob');
    expect(ts.map((t) => t.modelId)).toEqual([M, M, M]);
    expect(ts[0]).toMatchObject({ quality: 0.9, source: 'a.jpg', identityId: 'bob' });
    const expected = centroidOf(ts.map((t) => g.templateVector(t.templateId)));
    const c = g.centroid('bob');
    for (let j = 0; j < 512; j++) expect(c[j]).toBeCloseTo(expected[j]!, 6);
    // Replace drops the old templates and recomputes the centroid.
    const v = unit(r);
    await g.enroll({ id: 'bob', modelId: M, mode: 'replace', templates: [{ vector: v }] });
    expect(g.templates('bob')).toHaveLength(1);
    const c2 = g.centroid('bob');
    for (let j = 0; j < 512; j++) expect(c2[j]).toBeCloseTo(v[j]!, 6);
    const u = await g.update('bob', { name: 'Robert' });
    expect(u.name).toBe('Robert');
    expect(g.stats()).toMatchObject({ identities: 1, templates: 1, modelId: M, dim: 512 });
    await g.close();
  });

  it('searches top-k by best template or by centroid, with the open-set decision', async () => {
    const r = rng(3);
    for (const vectorFormat of ['float32', 'int8'] as const) {
      const g = openGallery({ path: freshDir(), vectorFormat });
      const bases = Array.from({ length: 40 }, () => unit(r));
      for (let p = 0; p < bases.length; p++) {
        await g.enroll({ id: `p${p}`, modelId: M, templates: [0, 1, 2].map(() => ({ vector: near(bases[p]!, r) })) });
      }
      let right = 0;
      for (let p = 0; p < bases.length; p++) {
        const probe = near(bases[p]!, r);
        const hits = g.search(probe, { modelId: M, topK: 3 });
        expect(hits).toHaveLength(3);
        expect(hits[0]!.similarity).toBeGreaterThanOrEqual(hits[1]!.similarity);
        expect(hits[1]!.similarity).toBeGreaterThanOrEqual(hits[2]!.similarity);
        if (hits[0]!.id === `p${p}`) right++;
        // The reported similarity is the best template's.
        const best = Math.max(...g.templates(hits[0]!.id).map((t) => dotF(probe, g.templateVector(t.templateId))));
        expect(hits[0]!.similarity).toBeCloseTo(best / normF(probe), vectorFormat === 'int8' ? 2 : 5);
        const byCentroid = g.search(probe, { modelId: M, topK: 1, scoreBy: 'centroid' });
        expect(byCentroid[0]!.id).toBe(`p${p}`);
        expect(byCentroid[0]!.templateId).toBeUndefined();
        const known = g.identify(probe, { modelId: M, threshold: 0.5 });
        expect(known.decision).toBe('known');
        expect(known.match!.id).toBe(`p${p}`);
      }
      expect(right).toBe(bases.length);
      const stranger = g.identify(unit(r), { modelId: M, threshold: 0.5 });
      expect(stranger.decision).toBe('unknown');
      expect(stranger.match).toBeNull();
      expect(stranger.hits.length).toBeGreaterThan(0);
      await g.close();
    }
  });

  it('refuses to mix or compare embeddings of another model (GALLERY_MODEL_MISMATCH)', async () => {
    const g = openGallery({ path: freshDir() });
    const r = rng(4);
    await g.enroll({ id: 'x', modelId: M, templates: [{ vector: unit(r) }] });
    await expectCode(() => g.search(unit(r), { modelId: 'other-model' }), 'GALLERY_MODEL_MISMATCH');
    await expectCode(g.enroll({ id: 'y', modelId: 'other-model', templates: [{ vector: unit(r) }] }), 'GALLERY_MODEL_MISMATCH');
    expect(g.get('y')).toBeUndefined();
    await g.close();
  });

  it('rejects bad input with coded errors and writes nothing', async () => {
    const dir = freshDir();
    const g = openGallery({ path: dir });
    const r = rng(5);
    await g.enroll({ id: 'ok', modelId: M, templates: [{ vector: unit(r) }] });
    const before = g.stats().version;
    const nan = unit(r);
    nan[100] = NaN;
    await expectCode(g.enroll({ id: 'bad', modelId: M, templates: [{ vector: unit(r) }, { vector: nan }] }), 'GALLERY_INVALID_VECTOR');
    await expectCode(g.enroll({ id: 'bad', modelId: M, templates: [{ vector: unit(r, 128) }] }), 'GALLERY_INVALID_VECTOR');
    await expectCode(g.enroll({ id: 'bad', modelId: M, templates: [{ vector: new Float32Array(512) }] }), 'GALLERY_INVALID_VECTOR');
    await expectCode(g.enroll({ id: 'bad', modelId: M, templates: [] }), 'GALLERY_INVALID_VECTOR');
    await expectCode(() => g.search(unit(r, 100), { modelId: M }), 'GALLERY_INVALID_VECTOR');
    await expectCode(() => g.search(nan, { modelId: M }), 'GALLERY_INVALID_VECTOR');
    await expectCode(g.remove('nobody'), 'GALLERY_IDENTITY_NOT_FOUND');
    await expectCode(g.update('nobody', { name: 'n' }), 'GALLERY_IDENTITY_NOT_FOUND');
    await expectCode(() => g.templates('nobody'), 'GALLERY_IDENTITY_NOT_FOUND');
    expect(g.get('bad')).toBeUndefined();
    expect(g.stats()).toMatchObject({ identities: 1, templates: 1, version: before });
    await g.close();
    await expectCode(() => g.list(), 'GALLERY_CLOSED');
    // A gallery path that is a file.
    const file = join(ROOT, 'not-a-dir');
    writeFileSync(file, 'x');
    await expectCode(() => openGallery({ path: file }), 'GALLERY_PATH_INVALID');
    expect(readFileSync(file, 'utf8')).toBe('x');
    await expectCode(() => openGallery({ path: freshDir(), name: 'no spaces' }), 'CONFIG_INVALID');
  });

  it('exports and imports JSON Lines with the model id, bit for bit; a corrupt line imports nothing', async () => {
    const r = rng(6);
    const g = openGallery({ path: freshDir(), name: 'staff' });
    for (let p = 0; p < 5; p++) {
      await g.enroll({ id: `s${p}`, name: `Staff ${p}`, metadata: { p }, modelId: M, templates: [{ vector: unit(r), quality: 0.5 }, { vector: unit(r) }] });
    }
    const lines = [...g.exportLines()];
    expect(lines).toHaveLength(6);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'facegate-gallery', modelId: M, dim: 512, identities: 5 });
    const dir2 = freshDir();
    const h = openGallery({ path: dir2, name: 'staff' });
    const res = await h.importLines(lines);
    expect(res).toEqual({ identities: 5, templates: 10 });
    for (const id of g.list().map((i) => i.id)) {
      expect(h.get(id)).toEqual(g.get(id));
      const a = g.templates(id).map((t) => Buffer.from(g.templateVector(t.templateId).buffer));
      const b = h.templates(id).map((t) => Buffer.from(h.templateVector(t.templateId).buffer));
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++) expect(b[i]!.equals(a[i]!)).toBe(true);
    }
    // Corrupt lines: bad JSON, a truncated vector, a NaN vector; each fails with its line number and writes nothing.
    const nanVec = Buffer.from(new Float32Array(512).fill(NaN).buffer).toString('base64');
    const obj = JSON.parse(lines[2]!);
    const corrupt = [
      '{"id": "broken"',
      JSON.stringify({ ...obj, id: 'short', templates: [{ ...obj.templates[0], vector: obj.templates[0].vector.slice(0, 100) }] }),
      JSON.stringify({ ...obj, id: 'nan', templates: [{ ...obj.templates[0], vector: nanVec }] }),
    ];
    const k = openGallery({ path: freshDir(), name: 'staff' });
    for (const bad of corrupt) {
      try {
        await k.importLines([lines[0]!, lines[1]!, bad, lines[3]!]);
        throw new Error('import of a corrupt line succeeded');
      } catch (e) {
        expect((e as { code?: string }).code).toBe('GALLERY_IMPORT_INVALID');
        expect((e as { details: { line: number } }).details.line).toBe(3);
      }
      expect(k.stats()).toMatchObject({ identities: 0, templates: 0, version: 0 });
    }
    // An export of another model does not import.
    const other = [JSON.stringify({ ...JSON.parse(lines[0]!), modelId: 'other' })];
    await h.enroll({ id: 'keep', modelId: M, templates: [{ vector: unit(r) }] });
    await expectCode(h.importLines(other), 'GALLERY_MODEL_MISMATCH');
    await Promise.all([g.close(), h.close(), k.close()]);
  });

  it('holds several named galleries in one environment', async () => {
    const dir = freshDir();
    const r = rng(7);
    const staff = openGallery({ path: dir, name: 'staff' });
    const visitors = openGallery({ path: dir, name: 'visitors' });
    const v = unit(r);
    await staff.enroll({ id: 'same-id', name: 'Staff member', modelId: M, templates: [{ vector: v }] });
    await visitors.enroll({ id: 'guest', modelId: 'another-model', templates: [{ vector: unit(r, 128) }] });
    expect(staff.list().map((i) => i.id)).toEqual(['same-id']);
    expect(visitors.list().map((i) => i.id)).toEqual(['guest']);
    expect(staff.search(v, { modelId: M })[0]!.id).toBe('same-id');
    expect(visitors.stats()).toMatchObject({ modelId: 'another-model', dim: 128 });
    // Erasure in one gallery (which rewrites free pages) leaves the other intact.
    await staff.enroll({ id: 'leaver', modelId: M, templates: [{ vector: unit(r) }] });
    await staff.remove('leaver');
    expect(visitors.templates('guest')).toHaveLength(1);
    expect(visitors.templateVector(visitors.templates('guest')[0]!.templateId)).toHaveLength(128);
    expect(staff.list().map((i) => i.id)).toEqual(['same-id']);
    await staff.close();
    await visitors.close();
    expect(listGalleries(dir)).toEqual(['staff', 'visitors']);
  });

  it('remove erases every trace of an identity from the raw store', async () => {
    const dir = freshDir();
    const r = rng(8);
    const g: Gallery = openGallery({ path: dir });
    const victim = 'erase-me-QX7Z-secret';
    const vecs: Float32Array[] = [];
    for (let p = 0; p < 150; p++) {
      const id = p === 75 ? victim : `keep-${p}-KQ9W`;
      const res = await g.enroll({ id, name: `${id} name`, modelId: M, templates: [0, 1, 2].map((i) => ({ vector: unit(r), source: `/photos/${id}/${i}.jpg` })) });
      if (p === 75) for (const t of res.templateIds) vecs.push(g.templateVector(t));
    }
    // Several writes touch the victim (updates leave old page copies behind in the free list).
    await g.update(victim, { metadata: { note: `${victim} note` } });
    await g.enroll({ id: victim, modelId: M, templates: [{ vector: unit(r) }] });
    vecs.push(g.templateVector(g.templates(victim)[3]!.templateId));
    const c = g.centroid(victim);
    const needles = [Buffer.from(victim), ...vecs.map((v) => Buffer.from(v.buffer)), Buffer.from(c.buffer)];
    // Before removal the store does hold them (so the scan below can see them).
    const before = rawStore(dir);
    for (const n of needles) expect(before.indexOf(n.subarray(0, 32))).toBeGreaterThanOrEqual(0);
    await g.remove(victim);
    expect(g.get(victim)).toBeUndefined();
    expect(g.search(vecs[0]!, { modelId: M, topK: 3 }).map((h) => h.id)).not.toContain(victim);
    await g.close();
    const after = rawStore(dir);
    for (const n of needles) {
      // Any 32-byte window of a vector, and the id itself.
      for (let off = 0; off + 32 <= n.length; off += 512) expect(after.indexOf(n.subarray(off, off + 32))).toBe(-1);
    }
    expect(after.indexOf(Buffer.from('keep-74-KQ9W'))).toBeGreaterThanOrEqual(0);
    // The others are intact.
    const g2 = openGallery({ path: dir });
    expect(g2.list()).toHaveLength(149);
    await g2.close();
  });
});

function dotF(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normF(a: ArrayLike<number>): number {
  return Math.sqrt(dotF(a, a));
}
