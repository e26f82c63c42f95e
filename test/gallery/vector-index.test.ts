import { describe, expect, it } from 'vitest';
import { quantizeInt8, SearchIndex, topKIndices, VectorMatrix } from '../../src/gallery/vector-index.js';
import { rng } from '../helpers/random.js';

function unit(r: () => number, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let ss = 0;
  for (let i = 0; i < dim; i++) {
    v[i] = r() + r() + r() - 1.5;
    ss += v[i]! * v[i]!;
  }
  for (let i = 0; i < dim; i++) v[i]! /= Math.sqrt(ss);
  return v;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe('topKIndices', () => {
  it('equals a full sort (ties by lower index), skipping -Infinity', () => {
    const r = rng(1);
    for (const [n, k] of [[1000, 5], [10, 10], [7, 20], [0, 3], [500, 1]] as const) {
      const s = new Float32Array(n).map(() => Math.round(r() * 50) / 50);
      if (n > 3) s[2] = -Infinity;
      const expected = [...s.keys()].filter((i) => s[i] !== -Infinity).sort((a, b) => s[b]! - s[a]! || a - b).slice(0, k);
      expect(topKIndices(s, n, k)).toEqual(expected);
    }
  });
});

describe('VectorMatrix', () => {
  // 512 and 128 use the SIMD kernels, 100 the scalar loops.
  for (const dim of [512, 128, 100]) {
    it(`scores float32 exactly and int8 within quantisation error (dim ${dim})`, () => {
      const r = rng(dim);
      const rows = Array.from({ length: 5000 }, () => unit(r, dim));
      const f = new VectorMatrix(dim, 'float32', 16);
      const q = new VectorMatrix(dim, 'int8', 16);
      rows.forEach((v, i) => {
        f.set(i * 3, v, i % 7);
        q.set(i * 3, v);
      });
      expect(f.simd).toBe(dim % 32 === 0);
      const probe = unit(r, dim);
      const sf = f.scoreAll(probe);
      const exact = rows.map((v) => dot(v, probe));
      let maxErrF = 0;
      for (let i = 0; i < rows.length; i++) maxErrF = Math.max(maxErrF, Math.abs(sf[i]! - exact[i]!));
      expect(maxErrF).toBeLessThan(1e-5);
      const sq = q.scoreAll(probe);
      let maxErrQ = 0;
      for (let i = 0; i < rows.length; i++) maxErrQ = Math.max(maxErrQ, Math.abs(sq[i]! - exact[i]!));
      // Per-vector scale: error per element about scale/2, summed over the dot: well under 0.01 for unit vectors.
      expect(maxErrQ).toBeLessThan(0.01);
      expect(maxErrQ).toBeGreaterThan(0);
      // Swap-removal keeps every other row's key and score.
      for (let i = 0; i < 1000; i++) f.delete(i * 3 * 5);
      expect(f.size).toBe(4000);
      const after = f.scoreAll(probe);
      for (let row = 0; row < f.size; row++) {
        const key = f.keyAt(row);
        expect(key % 15).not.toBe(0);
        expect(Math.abs(after[row]! - exact[key / 3]!)).toBeLessThan(1e-5);
        expect(f.groupAt(row)).toBe((key / 3) % 7);
      }
    });
  }

  it('quantises with a per-vector scale', () => {
    const out = new Int8Array(4);
    const s = quantizeInt8([0.5, -0.3, 0, 0.125], out);
    expect(s).toBeCloseTo(0.5 / 127, 9);
    expect([...out]).toEqual([127, -76, 0, 32]);
  });
});

describe('SearchIndex', () => {
  it('ranks identities by their best template and by centroid, matching brute force', () => {
    const r = rng(9);
    const dim = 64;
    const idx = new SearchIndex(dim, 'float32', 4);
    const all: { key: number; owner: number; v: Float32Array }[] = [];
    let key = 0;
    for (let p = 0; p < 50; p++) {
      for (let t = 0; t < 1 + (p % 4); t++) {
        const v = unit(r, dim);
        idx.addTemplate(++key, 1000 + p, v);
        all.push({ key, owner: 1000 + p, v });
      }
      idx.setCentroid(1000 + p, unit(r, dim));
    }
    // Remove a whole identity and one template of another.
    for (const e of all.filter((e) => e.owner === 1003)) idx.removeTemplate(e.key);
    idx.removeTemplate(all.find((e) => e.owner === 1007)!.key);
    const live = all.filter((e) => e.owner !== 1003 && e.key !== all.find((x) => x.owner === 1007)!.key);
    const probe = unit(r, dim);
    const best = new Map<number, number>();
    for (const e of live) best.set(e.owner, Math.max(best.get(e.owner) ?? -Infinity, dot(e.v, probe)));
    const expected = [...best.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    const got = idx.search(probe, 5, 'template');
    expect(got.map((h) => h.identityKey)).toEqual(expected.map((e) => e[0]));
    got.forEach((h, i) => expect(h.similarity).toBeCloseTo(expected[i]![1], 5));
    expect(got.map((h) => h.identityKey)).not.toContain(1003);
    expect(idx.search(probe, 3, 'centroid')).toHaveLength(3);
  });

  // 512 and 128: the int8 kernel folds the best template per identity itself (group in the row trailer); 96: scalar.
  for (const dim of [512, 128, 96]) {
    it(`int8 search by best template equals the per-identity maximum of the int8 scores (dim ${dim})`, () => {
      const r = rng(100 + dim);
      const idx = new SearchIndex(dim, 'int8', 8);
      const owner = new Map<number, number>();
      const vec = new Map<number, Float32Array>();
      let key = 0;
      // 2001 templates (odd), 1 to 6 per identity, identities interleaved so removal reorders rows.
      for (let t = 0; t < 2001; t++) {
        const id = 5000 + ((t * 7919) % 400);
        const v = unit(r, dim);
        idx.addTemplate(++key, id, v);
        owner.set(key, id);
        vec.set(key, v);
      }
      expect(idx.templates.simd).toBe(dim !== 96);
      // Remove every template of a few identities and some single ones: swap-removal moves trailers with rows.
      for (const [k, id] of [...owner]) {
        if (id % 50 === 0 || k % 13 === 0) {
          idx.removeTemplate(k);
          owner.delete(k);
        }
      }
      for (let trial = 0; trial < 3; trial++) {
        const probe = unit(r, dim);
        const scores = idx.templates.scoreAll(probe);
        const best = new Map<number, { s: number; key: number }>();
        for (let row = 0; row < idx.templates.size; row++) {
          const k = idx.templates.keyAt(row);
          const id = owner.get(k)!;
          const b = best.get(id);
          if (!b || scores[row]! > b.s) best.set(id, { s: scores[row]!, key: k });
        }
        const expected = [...best.entries()].sort((a, b) => b[1].s - a[1].s).slice(0, 10);
        const got = idx.search(probe, 10, 'template');
        expect(got.map((h) => h.identityKey)).toEqual(expected.map((e) => e[0]));
        got.forEach((h, i) => {
          expect(h.similarity).toBeCloseTo(expected[i]![1].s, 6);
          expect(h.templateKey).toBe(expected[i]![1].key);
          // Against float32 truth: quantisation error only.
          expect(Math.abs(h.similarity - dot(vec.get(h.templateKey)!, probe))).toBeLessThan(0.01);
        });
        expect(got.map((h) => h.identityKey).filter((id) => id % 50 === 0)).toEqual([]);
      }
    });
  }
});
