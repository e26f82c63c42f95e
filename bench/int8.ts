/**
 * INT8 vs FP32 (`npm run bench -- int8`): median latency through the SDK's detector/recognizer for 1 and 2 threads,
 * both models interleaved in the same run, plus file sizes and the accuracy deltas that `npm run quantize` measured
 * (models/int8/manifest.json). Models without a generated INT8 file are listed as skipped.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, resolveModelsDir } from '../src/models/manifest.js';
import { cpuInt8Support, loadInt8Manifest } from '../src/quantize/precision.js';
import { compareSpeed } from '../src/quantize-models.js';
import { fmtMs } from './stats.js';

const MODELS = ['det_500m', 'det_2.5g', 'mobilefacenet512_faceplugin'];

export async function run(): Promise<void> {
  const modelsDir = resolveModelsDir();
  const int8Dir = join(packageRoot(), 'models', 'int8');
  const faces = join(packageRoot(), '..', 'shared', 'data', 'faces');
  const samples: Record<string, string> = {
    detector: join(faces, 'groups', 'dlib__2008_002079.jpg'),
    recognizer: join(faces, 'identities', 'glint360k__Keanu_Reeves'),
  };
  const cpu = cpuInt8Support();
  console.log(`cpu int8 dot-product: ${cpu.supported} (${cpu.features.join(', ') || 'none'}); ${process.arch}`);
  console.log('| model | threads | fp32 ms | int8 ms | speed-up | MB fp32 -> int8 | accuracy delta (from the quantiser validation) |');
  console.log('|---|---|---|---|---|---|---|');
  const manifest = loadInt8Manifest(int8Dir);
  for (const id of MODELS) {
    const rec = manifest.models.find((r) => r.id === id && r.target === 'cpu');
    const path = rec ? join(int8Dir, rec.file) : '';
    if (!rec || !existsSync(path)) {
      console.log(`| ${id} | - | - | - | skipped: run \`npm run quantize\` | - | - |`);
      continue;
    }
    const v = rec.validation;
    const delta = v.embedding
      ? `cosine ${v.embedding.meanCosine.toFixed(4)}; pairs ${v.verification ? `${v.verification.fp32AccuracyPct.toFixed(2)}% -> ${v.verification.int8AccuracyPct.toFixed(2)}%` : 'n/a'}`
      : `recall ${v.recall?.fp32.toFixed(3)} -> ${v.recall?.int8.toFixed(3)}; same detections ${v.detection?.matchedImages}/${v.detection?.images}, min IoU ${v.detection?.minIou.toFixed(3)}`;
    const isDetector = id.startsWith('det');
    let sample = isDetector ? samples.detector! : samples.recognizer!;
    if (!isDetector) {
      const { readdirSync } = await import('node:fs');
      sample = join(sample, readdirSync(sample).sort()[0]!);
    }
    for (const threads of [1, 2]) {
      const r = await compareSpeed(id, modelsDir, path, sample, threads);
      console.log(`| ${id} | ${threads} | ${fmtMs(r.fp32Ms)} | ${fmtMs(r.int8Ms)} | ${r.speedup.toFixed(2)}x | ${(r.fp32Bytes / 1e6).toFixed(2)} -> ${(r.int8Bytes / 1e6).toFixed(2)} | ${delta} |`);
    }
  }
}
