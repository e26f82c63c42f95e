/**
 * `npm run quantize [-- --target cpu|trt] [-- MODEL...]`: generates the INT8 QDQ models of models/int8 from the FP32
 * models in ../shared/models (or FACEGATE_MODELS), validates each against FP32 and records it in
 * models/int8/manifest.json. The .onnx outputs are git-ignored (derived from weights we may not redistribute).
 *
 * Data split (all under ../shared/data/faces): detectors calibrate on the group photos without annotations and
 * validate on the 9 annotated PASCAL photos (same detections + recall); recognizers calibrate on 16 Glint360k
 * identities' aligned crops and validate on the other 8 (cosine) and on pairs/dev-pairs.csv (accuracy).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { packageRoot, resolveModelsDir } from '../src/models/manifest.js';
import { defaultSplit, quantizeEntry, readAnnotations, readPairs } from '../src/quantize-models.js';
import type { QuantTarget } from '../src/quantize/qdq.js';
import { toFaceGateError } from '../src/core/errors.js';

export const DEFAULT_MODELS = ['det_500m', 'det_2.5g', 'mobilefacenet512_faceplugin'];

async function main(argv: string[]): Promise<number> {
  const targetIdx = argv.indexOf('--target');
  const target = (targetIdx >= 0 ? argv[targetIdx + 1] : 'cpu') as QuantTarget;
  const ids = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--target');
  const modelsDir = resolveModelsDir();
  const facesDir = join(packageRoot(), '..', 'shared', 'data', 'faces');
  if (!existsSync(facesDir)) {
    process.stderr.write(`error: calibration data not found at ${facesDir}\n`);
    return 1;
  }
  const split = defaultSplit(facesDir);
  const outDir = join(packageRoot(), 'models', 'int8');
  let failed = 0;
  for (const id of ids.length ? ids : DEFAULT_MODELS) {
    const isDetector = id.startsWith('det') || id.includes('yunet');
    const t0 = Date.now();
    try {
      const r = await quantizeEntry({
        modelId: id,
        modelsDir,
        outputPath: join(outDir, `${id}.int8.${target}.onnx`),
        target,
        calibrationImages: isDetector ? split.detCalibration : split.recCalibration,
        validationImages: isDetector ? split.detValidation : split.recValidation,
        ...(isDetector ? { annotated: readAnnotations(facesDir) } : { pairs: readPairs(join(facesDir, 'pairs', 'dev-pairs.csv'), facesDir) }),
        onProgress: (m) => process.stderr.write(`${m}\n`),
        command: target === 'cpu' ? 'npm run quantize' : `npm run quantize -- --target ${target}`,
      });
      process.stdout.write(`${JSON.stringify({ id, target, file: r.record.file, bytes: [r.report.sourceBytes, r.report.outputBytes], validation: r.validation, seconds: (Date.now() - t0) / 1000 })}\n`);
    } catch (e) {
      const err = toFaceGateError(e);
      process.stderr.write(`error[${err.code}]: ${err.message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
