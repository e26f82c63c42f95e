/**
 * `npm run bench -- pipeline`: the live pipeline on the hamilton clip (640x360 H.264, 10 s at 29.97 fps) with
 * Lin-Manuel Miranda enrolled from one photo.
 *
 * 1. throughput: every frame of the clip (no fps resampling), the file read with backpressure: frames per second
 *    processed and per-stage latency (median, p95).
 * 2. live: the file read at its own speed like a camera, resampled to the target rate, latest-frame queue of 2
 *    (drop oldest): frames dropped at that rate and the time from a face's first frame to its event.
 * `BENCH_THREADS` sets onnxruntime's intra-op threads (default 1: numbers that do not depend on a busy box).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/engine.js';
import { enrollImages, listImages } from '../src/enrollment.js';
import { openGallery } from '../src/gallery/lmdb-store.js';
import { createPipeline, type PipelineStats } from '../src/pipeline/pipeline.js';
import { createFfmpegSource } from '../src/sources/index.js';

const FACES = join(process.cwd(), '..', 'shared', 'data', 'faces');
const CLIP = join(FACES, 'video', 'face_recognition__short_hamilton_clip.mp4');
const LIN = join(FACES, 'identities', 'face_recognition__lin_manuel_miranda');

function stageTable(s: PipelineStats): string {
  const rows = (['detect', 'quality', 'embed', 'search', 'decide', 'sink', 'frame'] as const).map((k) => {
    const l = s.latency[k];
    return `${k.padEnd(8)} | ${String(l.medianMs).padStart(7)} | ${String(l.p95Ms).padStart(7)} | ${String(l.count).padStart(5)}`;
  });
  return ['stage    |  median |     p95 | count', ...rows].join('\n');
}

export async function run(): Promise<void> {
  const threads = Number(process.env.BENCH_THREADS ?? 1);
  // FP32 unless BENCH_PRECISION says otherwise, so the figures do not depend on whether `npm run quantize` ran.
  const engine = await createEngine({ intraOpThreads: threads, precision: (process.env.BENCH_PRECISION ?? 'fp32') as 'fp32' | 'int8' | 'auto' });
  const dir = mkdtempSync(join(tmpdir(), 'facegate-bench-'));
  const gallery = openGallery({ path: dir });
  try {
    await enrollImages(engine, gallery, { id: 'lin_manuel_miranda', images: listImages(LIN) });
    console.log(`det ${engine.detectorId} + rec ${engine.recognizerId}, ${threads} intra-op thread(s), frames <= 640 px wide, quality gate 'passive'`);

    const all = createPipeline({ engine, gallery });
    const t = await all.run(createFfmpegSource({ input: CLIP }));
    console.log(`\nthroughput, every frame (${t.frames} frames, file read with backpressure): ${t.fps} fps, drops ${t.drops}`);
    console.log(stageTable(t));
    console.log(`tracks ${t.tracks}, faces ${t.faces} (${t.facesPassed} passed the gate, ${t.embeddings} embedded), events ${JSON.stringify(t.events)}`);

    for (const fps of [10, 30]) {
      const live = createPipeline({ engine, gallery });
      const s = await live.run(createFfmpegSource({ input: CLIP, fps, realtime: true }));
      const offered = s.frames + s.drops;
      console.log(
        `\nlive at ${fps} fps (real time, queue 2, drop oldest): ${s.frames} processed of ${offered}, dropped ${s.drops} (${((100 * s.drops) / Math.max(1, offered)).toFixed(1)}%), ` +
          `${s.fps} fps, frame median ${s.latency.frame.medianMs} ms`,
      );
      console.log(
        `first frame -> event: median ${s.timeToEvent.medianMs} ms wall clock (${s.timeToEvent.medianStreamMs} ms of stream) over ${s.timeToEvent.count} event(s); events ${JSON.stringify(s.events)}`,
      );
    }
  } finally {
    await gallery.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
