/**
 * `facegate quantize`: INT8 static QDQ quantisation of a manifest model with the built-in validation against FP32.
 * With no --calibration folder it uses the default split of ../shared/data/faces (what `npm run quantize` does).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FaceGateError } from '../../core/errors.js';
import { findModel, loadManifest, packageRoot, resolveModelsDir } from '../../models/manifest.js';
import { defaultSplit, listImages, quantizeEntry, readAnnotations, readPairs } from '../../quantize-models.js';
import type { CalibrationMethod } from '../../quantize/calibrate.js';
import type { QuantTarget } from '../../quantize/qdq.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';

const usage = `facegate quantize --model ID [options]

Quantises an FP32 detector or recognizer from the models directory into an INT8 QDQ model (per-channel int8
weights, calibrated activations), validates it against FP32 and records it in the manifest beside the output.
The quantisation fails (error QUANTIZE_VALIDATION_FAILED, no file written) unless: mean embedding cosine INT8 vs
FP32 >= 0.99 on held-back faces; the same detections (count, IoU >= 0.9) on held-back images; verification accuracy
on labelled pairs within 0.3 points; detection recall on annotated photos within 0.02.

options:
  --model ID            model id from models/manifest.json (det_500m, det_2.5g, mobilefacenet512_faceplugin, ...)
  --target cpu|trt      cpu: asymmetric activations, int32 bias; trt: symmetric Q/DQ pairs for TensorRT (default cpu)
  --method M            activation ranges: minmax | percentile | entropy | mse (default: minmax detectors, mse recognizers)
  --percentile P        percentile method, in percent (default 99.999)
  --calibration DIR     calibration images: photos for a detector, faces (aligned crops or photos) for a recognizer
                        (default: the split of ../shared/data/faces)
  --validation DIR      held-back images for the gates (required with --calibration)
  --pairs CSV           labelled pairs "label,path1,path2" for the accuracy gate (recognizers; paths relative to the CSV's ../)
  --exclude A,B         node names kept in float (default: detector heads / recognizer embedding layers)
  --out FILE            output file (default models/int8/<id>.int8.<target>.onnx)
  --threads N           onnxruntime threads for validation (default 0: one per core)
  --models DIR          models directory (default FACEGATE_MODELS, then ../shared/models)
  --json                one JSON line with the report
  --verbose             stack traces on errors`;

export const command: Command = {
  name: 'quantize',
  summary: 'quantise a model to INT8 (QDQ) and validate it against FP32',
  usage,
  async run(argv) {
    const args = parse(argv, {
      model: { type: 'string' },
      target: { type: 'string' },
      method: { type: 'string' },
      percentile: { type: 'string' },
      calibration: { type: 'string' },
      validation: { type: 'string' },
      pairs: { type: 'string' },
      exclude: { type: 'string' },
      out: { type: 'string' },
      threads: { type: 'string' },
    });
    const id = str(args, 'model');
    if (!id) throw new FaceGateError('USAGE', '--model ID is required (see `facegate models`)');
    const target = (str(args, 'target') ?? 'cpu') as QuantTarget;
    if (target !== 'cpu' && target !== 'trt') throw new FaceGateError('USAGE', `--target must be cpu or trt, got "${target}"`);
    const method = str(args, 'method') as CalibrationMethod | undefined;
    if (method && !['minmax', 'percentile', 'entropy', 'mse'].includes(method)) throw new FaceGateError('USAGE', `--method must be minmax, percentile, entropy or mse, got "${method}"`);
    const entry = findModel(loadManifest(), id);
    const modelsDir = resolveModelsDir(str(args, 'models'));
    const facesDir = join(packageRoot(), '..', 'shared', 'data', 'faces');
    const isDetector = entry.role === 'detector';

    let calibrationImages: string[];
    let validationImages: string[];
    const calDir = str(args, 'calibration');
    if (calDir) {
      const valDir = str(args, 'validation');
      if (!valDir) throw new FaceGateError('USAGE', '--validation DIR is required with --calibration (held-back images for the gates)');
      for (const d of [calDir, valDir]) if (!existsSync(d)) throw new FaceGateError('FILE_NOT_FOUND', `folder not found: ${d}`, { details: { path: d } });
      calibrationImages = listImages(resolve(calDir));
      validationImages = listImages(resolve(valDir));
    } else {
      if (!existsSync(facesDir)) throw new FaceGateError('USAGE', `no --calibration folder given and the default data ${facesDir} is missing`);
      const split = defaultSplit(facesDir);
      calibrationImages = isDetector ? split.detCalibration : split.recCalibration;
      validationImages = isDetector ? split.detValidation : split.recValidation;
    }
    if (calibrationImages.length === 0) throw new FaceGateError('USAGE', 'the calibration folder holds no images');
    const pairsCsv = str(args, 'pairs') ?? (calDir ? undefined : join(facesDir, 'pairs', 'dev-pairs.csv'));
    const json = bool(args, 'json');
    const outputPath = resolve(str(args, 'out') ?? join(packageRoot(), 'models', 'int8', `${id}.int8.${target}.onnx`));
    const percentile = str(args, 'percentile');
    const exclude = str(args, 'exclude');
    const result = await quantizeEntry({
      modelId: id,
      modelsDir,
      outputPath,
      target,
      ...(method ? { method } : {}),
      ...(percentile ? { percentile: numberFlag(percentile, 'percentile', 99.999) } : {}),
      calibrationImages,
      validationImages,
      ...(isDetector && !calDir ? { annotated: readAnnotations(facesDir) } : {}),
      ...(!isDetector && pairsCsv ? { pairs: readPairs(pairsCsv, join(pairsCsv, '..', '..')) } : {}),
      ...(exclude ? { exclude: exclude.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      threads: numberFlag(str(args, 'threads'), 'threads', 0),
      onProgress: (m) => process.stderr.write(`${m}\n`),
    });
    if (json) {
      printJsonLine({ id, target, output: outputPath, report: result.report, validation: result.validation });
    } else {
      const r = result.report;
      const v = result.validation;
      const lines = [
        `${id} -> ${outputPath}`,
        `  ${(r.sourceBytes / 1e6).toFixed(2)} MB -> ${(r.outputBytes / 1e6).toFixed(2)} MB, ${r.quantizedNodes} int8 layers, ${r.excluded.length} nodes kept float, ${r.calibrationCount} calibration inputs (${r.method}, ${r.activationType} activations)`,
      ];
      if (v.detection) lines.push(`  detections: ${v.detection.matchedImages}/${v.detection.images} images identical (min IoU ${v.detection.minIou.toFixed(3)})`);
      if (v.recall) lines.push(`  recall on ${v.recall.faces} annotated faces: fp32 ${v.recall.fp32.toFixed(3)}, int8 ${v.recall.int8.toFixed(3)}`);
      if (v.embedding) lines.push(`  embedding cosine INT8 vs FP32: mean ${v.embedding.meanCosine.toFixed(4)}, min ${v.embedding.minCosine.toFixed(4)} (${v.embedding.count} faces)`);
      if (v.verification) lines.push(`  verification on ${v.verification.pairs} pairs: fp32 ${v.verification.fp32AccuracyPct.toFixed(2)}%, int8 ${v.verification.int8AccuracyPct.toFixed(2)}%`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  },
};
