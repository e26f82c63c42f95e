/**
 * `npm run bench -- quality`: what the quality gate costs next to the engine's own per-face work. For a few real
 * one-face photos (decoded once, outside the timing): the engine's detect + align + embed, then the gate on the
 * engine's aligned crop (measure + decide), the gate aligning by itself, and the optional liveness model.
 */
import { join } from 'node:path';
import { createEngine } from '../src/engine.js';
import { gateFace, measureFace, QUALITY_PRESETS } from '../src/face/quality.js';
import { loadLivenessModel } from '../src/quality-check.js';
import { fmtMs, median, timeIt } from './stats.js';

const FACES = join(process.cwd(), '..', 'shared', 'data', 'faces');
const PHOTOS = [
  'quality/clean_single_face/skimage__astronaut.png',
  'quality/resolution_ladder/face_recognition__obama-720p.jpg',
  'identities/lfw__Abdullah_Gul/Abdullah_Gul_0013.jpg',
];
const RUNS = 30;

export async function run(): Promise<void> {
  // FP32 unless BENCH_PRECISION says otherwise, so the figures do not depend on whether `npm run quantize` ran.
  const engine = await createEngine({ intraOpThreads: 1, precision: (process.env.BENCH_PRECISION ?? 'fp32') as 'fp32' | 'int8' | 'auto' });
  const liveness = await loadLivenessModel({ intraOpThreads: 1 });
  try {
    console.log(`det ${engine.detectorId} + rec ${engine.recognizerId}, 1 intra-op thread, median of ${RUNS} runs, ms`);
    console.log('photo                              | engine/face | gate (engine crop) | gate (own align) | gate share | liveness');
    const shares: number[] = [];
    for (const rel of PHOTOS) {
      const img = await engine.decode(join(FACES, rel));
      const faces = await engine.detect(img);
      if (faces.length === 0) throw new Error(`no face in ${rel}`);
      const face = faces[0]!;
      const [emb] = await engine.embedFaces(img, [face], { keepCrops: true });
      const aligned = emb!.aligned!;
      const engineMs = median(
        await timeIt(async () => {
          const f = await engine.detect(img);
          await engine.embedFaces(img, f.slice(0, 1));
        }, RUNS),
      );
      const gateMs = median(await timeIt(() => gateFace(measureFace(img, face, { aligned, embeddingNorm: emb!.rawNorm }), QUALITY_PRESETS.kiosk), RUNS));
      const ownMs = median(await timeIt(() => gateFace(measureFace(img, face), QUALITY_PRESETS.kiosk), RUNS));
      const liveMs = median(await timeIt(() => liveness.check(img, [face]), RUNS));
      shares.push(gateMs / engineMs);
      console.log(
        `${rel.split('/').pop()!.padEnd(34)} | ${fmtMs(engineMs).padStart(11)} | ${fmtMs(gateMs).padStart(18)} | ${fmtMs(ownMs).padStart(16)} | ${(100 * (gateMs / engineMs)).toFixed(1).padStart(9)}% | ${fmtMs(liveMs).padStart(8)}`,
      );
    }
    console.log(`gate share of the engine's per-face time: at most ${(100 * Math.max(...shares)).toFixed(1)}% (limit 10%)`);
  } finally {
    await liveness.close();
    await engine.close();
  }
}
