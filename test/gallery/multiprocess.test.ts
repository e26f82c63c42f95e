/**
 * The gallery across processes: a writer SIGKILLed mid-enrolment leaves a consistent store, and readers in other
 * processes see the writer's commits. Child processes run the built gallery (dist/, built by test/global-setup.ts)
 * from small scripts written into a temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { centroidOf } from '../../src/gallery/gallery.js';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { REPO_ROOT } from '../helpers/shared.js';

const TMP = mkdtempSync(join(tmpdir(), 'facegate-gallery-mp-'));
const storeJs = join(REPO_ROOT, 'dist', 'src', 'gallery', 'lmdb-store.js');

afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** Shared by the child scripts: a seeded unit vector per (identity, template). */
const VECTOR_JS = `
function vectorFor(seed, dim = 512) {
  let a = seed >>> 0;
  const next = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = next() + next() + next() - 1.5;
  return v;
}
`;

function writeScript(name: string, body: string): string {
  const p = join(TMP, name);
  writeFileSync(p, `import { openGallery } from ${JSON.stringify(storeJs)};\n${VECTOR_JS}\n${body}`);
  return p;
}

function run(script: string, args: string[]): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('gallery across processes', () => {
  it('stays consistent when the enrolling process is SIGKILLed at random points (20 times)', async () => {
    const dir = join(TMP, 'crash');
    mkdirSync(dir);
    // Enrols identities of 1..6 templates (the count is in metadata), appends to and removes earlier ones, forever.
    const script = writeScript(
      'enroll-loop.mjs',
      `
const [dir, round] = process.argv.slice(2);
const g = openGallery({ path: dir });
let i = 0;
for (;;) {
  const id = 'r' + round + '-' + i;
  const k = 1 + (i % 6);
  const templates = Array.from({ length: k }, (_, t) => ({ vector: vectorFor(Number(round) * 100000 + i * 10 + t), quality: 0.5 }));
  await g.enroll({ id, modelId: 'm', metadata: { k }, templates });
  if (i % 5 === 4) await g.enroll({ id: 'r' + round + '-' + (i - 1), modelId: 'm', metadata: { k: 1 + ((i - 1) % 6) + 2 },
    templates: [{ vector: vectorFor(i * 7 + 1) }, { vector: vectorFor(i * 7 + 2) }] });
  if (i % 7 === 6) await g.remove('r' + round + '-' + (i - 3));
  if (i === 2) process.stdout.write('ready\\n');
  i++;
}
`,
    );
    let killedMidRun = 0;
    for (let round = 0; round < 20; round++) {
      const p = run(script, [dir, String(round)]);
      await waitFor(() => p.out().includes('ready') || p.child.exitCode !== null, 20_000);
      expect(p.err()).toBe('');
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      if (p.child.exitCode === null) killedMidRun++;
      p.child.kill('SIGKILL');
      await p.exited;
      const g = openGallery({ path: dir });
      const list = g.list();
      expect(list.length).toBeGreaterThan(0);
      let templates = 0;
      for (const identity of list) {
        const ts = g.templates(identity.id);
        // All or none: the identity has exactly the templates its enrolments wrote.
        expect(ts.length).toBe((identity.metadata as { k: number }).k);
        expect(identity.templateCount).toBe(ts.length);
        const vs = ts.map((t) => g.templateVector(t.templateId));
        const expected = centroidOf(vs);
        const c = g.centroid(identity.id);
        let err = 0;
        for (let j = 0; j < c.length; j++) err = Math.max(err, Math.abs(c[j]! - expected[j]!));
        expect(err).toBeLessThan(1e-6);
        templates += ts.length;
      }
      expect(g.stats().templates).toBe(templates);
      // The search index loads and finds an enrolled template.
      const someone = list[list.length - 1]!;
      const v = g.templateVector(g.templates(someone.id)[0]!.templateId);
      expect(g.search(v, { modelId: 'm', topK: 1 })[0]!.id).toBe(someone.id);
      await g.close();
    }
    expect(killedMidRun).toBe(20);
  });

  it('two processes identify while a third enrols: no errors, readers see each identity after its commit', async () => {
    const dir = join(TMP, 'concurrent');
    mkdirSync(dir);
    const N = 40;
    const writer = writeScript(
      'writer.mjs',
      `
const [dir, n] = process.argv.slice(2);
const g = openGallery({ path: dir });
for (let i = 0; i < Number(n); i++) {
  await g.enroll({ id: 'id' + i, modelId: 'm', templates: [0, 1, 2].map((t) => ({ vector: vectorFor(i * 10 + t) })) });
  process.stdout.write('committed ' + i + ' ' + Date.now() + '\\n');
  await new Promise((r) => setTimeout(r, 10));
}
await g.close();
`,
    );
    const reader = writeScript(
      'reader.mjs',
      `
const [dir, n] = process.argv.slice(2);
const g = openGallery({ path: dir, vectorFormat: process.argv[4] });
const seenAt = {};
let searches = 0, errors = 0, wrong = 0;
const t0 = Date.now();
while (Object.keys(seenAt).length < Number(n) && Date.now() - t0 < 60000) {
  for (let i = 0; i < Number(n); i++) {
    if (seenAt[i]) continue;
    try {
      const hits = g.search(vectorFor(i * 10 + 1), { modelId: 'm', topK: 1 });
      searches++;
      if (hits.length && hits[0].id === 'id' + i) {
        if (hits[0].similarity < 0.99) wrong++;
        seenAt[i] = Date.now();
      } else if (hits.length && hits[0].similarity > 0.5) wrong++;
    } catch (e) { errors++; process.stderr.write(String(e) + '\\n'); }
    break;
  }
  await new Promise((r) => setImmediate(r));
}
process.stdout.write(JSON.stringify({ seenAt, searches, errors, wrong }) + '\\n');
await g.close();
`,
    );
    // Readers open the (empty) gallery first, then the writer starts.
    const w0 = openGallery({ path: dir });
    await w0.close();
    const readers = [run(reader, [dir, String(N), 'float32']), run(reader, [dir, String(N), 'int8'])];
    await new Promise((r) => setTimeout(r, 300));
    const w = run(writer, [dir, String(N)]);
    expect(await w.exited).toBe(0);
    expect(w.err()).toBe('');
    const committedAt = new Map<number, number>();
    for (const m of w.out().matchAll(/committed (\d+) (\d+)/g)) committedAt.set(Number(m[1]), Number(m[2]));
    expect(committedAt.size).toBe(N);
    for (const p of readers) {
      expect(await p.exited).toBe(0);
      expect(p.err()).toBe('');
      const res = JSON.parse(p.out()) as { seenAt: Record<string, number>; searches: number; errors: number; wrong: number };
      expect(res.errors).toBe(0);
      expect(res.wrong).toBe(0);
      expect(Object.keys(res.seenAt)).toHaveLength(N);
      // Readers searched while the writer wrote (many more searches than identities).
      expect(res.searches).toBeGreaterThan(N * 2);
      // Never seen before the writer process began that commit's enrolment (clock shared on one machine).
      for (let i = 1; i < N; i++) expect(res.seenAt[i]!).toBeGreaterThanOrEqual(committedAt.get(i - 1)! - 5);
    }
  });
});
