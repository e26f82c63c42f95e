/**
 * Gallery search speed: brute-force 1:N latency (median, p99) at 1e4, 1e5 and 1e6 templates of random 512-d unit
 * vectors, float32 and int8, each beside the memory-bandwidth floor (reading the same vector bytes once with the same
 * 16-byte loads), and the time to open an LMDB gallery of 1e5 templates (load into the search index).
 * `npm run bench -- gallery`; FACEGATE_BENCH_GALLERY_MAX=100000 skips the 1e6 rows (they need about 3 GB of memory).
 * To time only some rows: FACEGATE_BENCH_GALLERY_SIZES (comma list, default 1e4,1e5,1e6) and
 * FACEGATE_BENCH_GALLERY_FORMATS (default float32,int8); setting either skips the open-time table, e.g.
 * `FACEGATE_BENCH_GALLERY_SIZES=1e6 FACEGATE_BENCH_GALLERY_FORMATS=int8 npm run bench -- gallery`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGallery } from '../src/gallery/lmdb-store.js';
import { SearchIndex } from '../src/gallery/vector-index.js';
import { fmtMs, median, percentile } from './stats.js';

const DIM = 512;
const TEMPLATES_PER_IDENTITY = 5;
const SIZES = (process.env.FACEGATE_BENCH_GALLERY_SIZES ?? '1e4,1e5,1e6').split(',').map(Number);
const FORMATS = (process.env.FACEGATE_BENCH_GALLERY_FORMATS ?? 'float32,int8').split(',') as ('float32' | 'int8')[];
const ONLY_SOME = process.env.FACEGATE_BENCH_GALLERY_SIZES !== undefined || process.env.FACEGATE_BENCH_GALLERY_FORMATS !== undefined;

/** xorshift32 -> roughly Gaussian unit vectors, fast enough to fill a million rows. */
function randomUnits(seed: number): (out: Float32Array) => Float32Array {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  return (out) => {
    let ss = 0;
    for (let i = 0; i < out.length; i++) {
      const x = u() + u() + u() - 1.5;
      out[i] = x;
      ss += x * x;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let i = 0; i < out.length; i++) out[i]! *= inv;
    return out;
  };
}

function time(fn: () => unknown, iterations: number, warmup = 3): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

async function searchRows(): Promise<void> {
  const max = Number(process.env.FACEGATE_BENCH_GALLERY_MAX ?? 1e6);
  console.log('| templates | format | vector bytes | search median ms | p99 ms | floor ms (read bytes once) | median / floor |');
  console.log('|---|---|---|---|---|---|---|');
  for (const n of SIZES) {
    if (!(n > 0)) throw new Error(`bad gallery bench size ${n}`);
    if (n > max) continue;
    for (const format of FORMATS) {
      if (format !== 'float32' && format !== 'int8') throw new Error(`bad gallery bench format ${String(format)}`);
      const next = randomUnits(n + (format === 'int8' ? 1 : 0));
      const index = new SearchIndex(DIM, format, n);
      const v = new Float32Array(DIM);
      for (let t = 0; t < n; t++) index.addTemplate(t, Math.floor(t / TEMPLATES_PER_IDENTITY), next(v));
      const probes = Array.from({ length: 16 }, () => next(new Float32Array(DIM)));
      const iterations = n >= 1e6 ? 30 : n >= 1e5 ? 100 : 300;
      let k = 0;
      const lat = time(() => index.search(probes[k++ % probes.length]!, 5, 'template'), iterations);
      const floor = time(() => index.templates.readAllOnce(), iterations);
      const fm = median(floor);
      console.log(
        `| ${n.toExponential(0)} | ${format} | ${(index.templates.dataBytes / 1e6).toFixed(1)} MB | ${fmtMs(median(lat))} | ${fmtMs(percentile(lat, 99))} | ${fmtMs(fm)} | ${(median(lat) / fm).toFixed(2)}x |`,
      );
    }
  }
  console.log(`(${TEMPLATES_PER_IDENTITY} templates per identity, top-5 identities by best template; SIMD: ${new SearchIndex(DIM, 'float32', 1).templates.simd})`);
}

async function openTime(): Promise<void> {
  const n = 1e5;
  const dir = mkdtempSync(join(tmpdir(), 'facegate-bench-gallery-'));
  try {
    const g = openGallery({ path: dir });
    const next = randomUnits(7);
    const t0 = Date.now();
    const identities = n / TEMPLATES_PER_IDENTITY;
    for (let j = 0; j < identities; j++) {
      await g.enroll({
        id: `person-${j}`,
        modelId: 'bench-random',
        templates: Array.from({ length: TEMPLATES_PER_IDENTITY }, () => ({ vector: next(new Float32Array(DIM)) })),
      });
    }
    const enrolS = (Date.now() - t0) / 1000;
    await g.close();
    console.log(`\nenrolled ${n} templates (${identities} identities) in ${enrolS.toFixed(1)} s (one transaction per identity)`);
    console.log('| open 1e5 templates | median ms | runs |');
    console.log('|---|---|---|');
    for (const vectorFormat of ['float32', 'int8'] as const) {
      const runs: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t = process.hrtime.bigint();
        const h = openGallery({ path: dir, vectorFormat });
        runs.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (h.stats().templates !== n) throw new Error('open did not load every template');
        await h.close();
      }
      console.log(`| ${vectorFormat} | ${fmtMs(median(runs))} | ${runs.length} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  await searchRows();
  if (!ONLY_SOME) await openTime();
}
