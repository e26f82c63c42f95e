/**
 * Quantises a manifest model end to end with the SDK's own pipeline: calibration tensors made by the detector's
 * letterbox and the recognizer's aligned crops, the QDQ rewrite of src/quantize, and the built-in validation through
 * the real detector/recognizer code against the FP32 model. Used by `facegate quantize`, tools/quantize.ts, the tests
 * and the INT8 bench.
 */
import { readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FaceGateError } from './core/errors.js';
import { centerMostFace } from './core/geometry.js';
import type { Box, RgbImage } from './core/types.js';
import { alignFace } from './face/align.js';
import { decodeImage } from './image/image.js';
import { createDetector, planLetterbox } from './models/detector.js';
import { letterboxImage } from './models/letterbox.js';
import { findModel, loadManifest, requireModel, type ModelEntry } from './models/manifest.js';
import { createRecognizer } from './models/recognizer.js';
import { imageToTensor } from './models/tensor.js';
import type { Detector } from './models/types.js';
import { runtimeVersion } from './runtime/onnx.js';
import { quantizeModel, type CalibrationTensor, type QuantizeReport } from './quantize/quantize.js';
import type { CalibrationMethod } from './quantize/calibrate.js';
import { recordInt8Model, type Int8ModelRecord } from './quantize/precision.js';
import type { QuantTarget } from './quantize/qdq.js';
import {
  compareDetections,
  compareEmbeddings,
  detectionRecall,
  gateFailures,
  verificationAccuracy,
  type ValidationGates,
  type ValidationReport,
} from './quantize/validate.js';

const IMAGE_EXT = /\.(jpe?g|png|webp|bmp|gif)$/i;

/** Image files under `dir` (one level of sub-folders, sorted, so the split is reproducible). */
export function listImages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) IMAGE_EXT.test(f) && out.push(join(p, f));
    else if (IMAGE_EXT.test(name)) out.push(p);
  }
  return out;
}

/** Labelled pair of face images for the verification gate. */
export interface LabelledPair {
  a: string;
  b: string;
  same: boolean;
}

/** An image with its ground-truth face boxes, for the recall gate. */
export interface AnnotatedImage {
  path: string;
  boxes: Box[];
}

export interface QuantizeEntryOptions {
  /** FP32 model id from models/manifest.json. */
  modelId: string;
  /** Directory holding the FP32 models. */
  modelsDir: string;
  /** Output file (e.g. models/int8/det_500m.int8.cpu.onnx). */
  outputPath: string;
  /** QDQ flavour. Default `cpu`. */
  target?: QuantTarget;
  /** Activation range method. Default `minmax` for detectors, `mse` for recognizers (measured best on held-back faces). */
  method?: CalibrationMethod;
  /** Percentile method, in percent. Default 99.999. */
  percentile?: number;
  /** Calibration images: whole photos for a detector; faces (aligned crops of the model's size, or photos to detect and align) for a recognizer. */
  calibrationImages: readonly string[];
  /** Held-back images for the gates: photos for a detector (same-detections gate), faces for a recognizer (cosine gate). */
  validationImages: readonly string[];
  /** Detector only: annotated photos for the recall gate. */
  annotated?: readonly AnnotatedImage[];
  /** Recognizer only: labelled pairs (photos) for the verification-accuracy gate. */
  pairs?: readonly LabelledPair[];
  /** Detector used to align photos for a recognizer. Default `det_500m` (FP32). */
  alignDetectorId?: string;
  /** Node names kept in float (default: the output heads, or the recognizer's last two layers). */
  exclude?: readonly string[];
  gates?: ValidationGates;
  /** Threads for validation sessions. Default 0 (onnxruntime's choice). */
  threads?: number;
  /** Progress lines (stage and counts). */
  onProgress?: (message: string) => void;
  /** The command recorded in the manifest. Default `facegate quantize --model <id> --target <target>`. */
  command?: string;
}

export interface QuantizeEntryResult {
  report: QuantizeReport;
  validation: ValidationReport;
  record: Int8ModelRecord;
}

async function detectorTensor(entry: ModelEntry, path: string): Promise<CalibrationTensor> {
  const img = await decodeImage(path);
  const plan = planLetterbox(img.width, img.height, entry.input.size ?? 'auto', entry.input.sizeMultiple ?? 32);
  const resized = await letterboxImage(img, plan);
  return { data: imageToTensor(resized, entry.input, plan.inputWidth, plan.inputHeight), dims: [1, 3, plan.inputHeight, plan.inputWidth] };
}

/** A face crop of the recognizer's size: the image itself when it already is one, else detect + align (centre-most face). */
async function faceCrop(path: string, size: number, detector: () => Promise<Detector>): Promise<RgbImage | undefined> {
  const img = await decodeImage(path);
  if (img.width === size && img.height === size) return img;
  const faces = await (await detector()).detect(img);
  const face = centerMostFace(faces, img.width, img.height);
  return face ? alignFace(img, face.landmarks, size).crop : undefined;
}

/**
 * Quantises one model, validates it and records it in `<dir of outputPath>/manifest.json`. Throws
 * QUANTIZE_VALIDATION_FAILED listing the failed gates (the output file is then removed), QUANTIZE_UNSUPPORTED for a
 * model the quantiser cannot handle.
 */
export async function quantizeEntry(options: QuantizeEntryOptions): Promise<QuantizeEntryResult> {
  const manifest = loadManifest();
  const entry = findModel(manifest, options.modelId);
  if (entry.role !== 'detector' && entry.role !== 'recognizer') {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `model "${entry.id}" is a ${entry.role}; only detectors and recognizers are quantised`, { details: { id: entry.id } });
  }
  const fp32Path = await requireModel(options.modelsDir, entry);
  const target = options.target ?? 'cpu';
  const isDetector = entry.role === 'detector';
  // Measured on MobileFaceNet (held-back cosine): minmax 0.979, percentile 99.999 0.990, mse 0.991.
  const method = options.method ?? (isDetector ? 'minmax' : 'mse');
  const log = options.onProgress ?? (() => {});
  const session = { intraOpThreads: options.threads ?? 0 };
  const size = entry.input.size?.[0] ?? 112;

  let alignDet: Detector | undefined;
  const getAlignDet = async (): Promise<Detector> => {
    if (!alignDet) {
      const d = findModel(manifest, options.alignDetectorId ?? 'det_500m');
      alignDet = await createDetector(d, await requireModel(options.modelsDir, d), session);
    }
    return alignDet;
  };
  try {
    // 1. Calibration tensors, made by the SDK's own preprocessing.
    const calibration: CalibrationTensor[] = [];
    for (const p of options.calibrationImages) {
      if (isDetector) calibration.push(await detectorTensor(entry, p));
      else {
        const crop = await faceCrop(p, size, getAlignDet);
        if (crop) calibration.push({ data: imageToTensor(crop, entry.input, size, size), dims: [1, 3, size, size] });
      }
    }
    log(`${entry.id}: calibrating on ${calibration.length} ${isDetector ? 'images' : 'faces'} (${method}, target ${target})`);
    const tmpOut = `${options.outputPath}.tmp`;
    const report = await quantizeModel({
      modelPath: fp32Path,
      outputPath: tmpOut,
      target,
      method,
      ...(options.percentile !== undefined ? { percentile: options.percentile } : {}),
      calibration,
      ...(options.exclude ? { exclude: options.exclude } : {}),
      // Recognizer: the 1x1 expansion, GDC and linear embedding layers stay float (measured: cosine 0.987 -> 0.990 on MobileFaceNet).
      excludeDepth: isDetector ? 1 : 3,
    });
    // 2. Validation through the real detector / recognizer code.
    log(`${entry.id}: validating against FP32`);
    const validation: ValidationReport = {};
    try {
      if (isDetector) {
        // Both closed whatever fails, the INT8 load included (a broken model is what validation is for).
        const opened: { close(): Promise<void> }[] = [];
        try {
          const a = await createDetector(entry, fp32Path, session);
          opened.push(a);
          const b = await createDetector(entry, tmpOut, session);
          opened.push(b);
          const fa = [];
          const fb = [];
          for (const p of options.validationImages) {
            const img = await decodeImage(p);
            fa.push(await a.detect(img));
            fb.push(await b.detect(img));
          }
          validation.detection = compareDetections(fa, fb, options.gates?.minDetectionIou, options.validationImages.map((p) => basename(p)));
          if (options.annotated?.length) {
            const ra = [];
            const rb = [];
            for (const x of options.annotated) {
              const img = await decodeImage(x.path);
              ra.push(await a.detect(img));
              rb.push(await b.detect(img));
            }
            const truth = options.annotated.map((x) => x.boxes);
            validation.recall = { fp32: detectionRecall(ra, truth), int8: detectionRecall(rb, truth), images: truth.length, faces: truth.reduce((n, t) => n + t.length, 0) };
          }
        } finally {
          await closeEach(opened);
        }
      } else {
        // Both closed whatever fails, the INT8 load included (a broken model is what validation is for).
        const opened: { close(): Promise<void> }[] = [];
        try {
          const a = await createRecognizer(entry, fp32Path, session);
          opened.push(a);
          const b = await createRecognizer(entry, tmpOut, session);
          opened.push(b);
          const crops: RgbImage[] = [];
          for (const p of options.validationImages) {
            const c = await faceCrop(p, size, getAlignDet);
            if (c) crops.push(c);
          }
          const ea = (await a.embedAligned(crops)).map((r) => r.embedding);
          const eb = (await b.embedAligned(crops)).map((r) => r.embedding);
          validation.embedding = compareEmbeddings(ea, eb);
          if (options.pairs?.length) {
            const cache = new Map<string, [Float32Array, Float32Array] | null>();
            const embed = async (p: string): Promise<[Float32Array, Float32Array] | null> => {
              if (!cache.has(p)) {
                const c = await faceCrop(p, size, getAlignDet);
                cache.set(p, c ? [(await a.embedAligned([c]))[0]!.embedding, (await b.embedAligned([c]))[0]!.embedding] : null);
              }
              return cache.get(p)!;
            };
            const sa: number[] = [];
            const sb: number[] = [];
            const same: boolean[] = [];
            for (const pair of options.pairs) {
              const x = await embed(pair.a);
              const y = await embed(pair.b);
              // A pair with no face found counts as similarity -1 for both precisions (same for both, so fair).
              sa.push(x && y ? dotUnit(x[0], y[0]) : -1);
              sb.push(x && y ? dotUnit(x[1], y[1]) : -1);
              same.push(pair.same);
            }
            const fa = verificationAccuracy(sa, same);
            const fb = verificationAccuracy(sb, same);
            validation.verification = {
              pairs: same.length,
              fp32AccuracyPct: fa.accuracyPct,
              int8AccuracyPct: fb.accuracyPct,
              int8AtFp32ThresholdPct: verificationAccuracy(sb, same, fa.threshold).accuracyPct,
              fp32Threshold: fa.threshold,
            };
          }
        } finally {
          await closeEach(opened);
        }
      }
    } catch (e) {
      rmSync(tmpOut, { force: true });
      throw e;
    }
    const failures = gateFailures(validation, options.gates);
    if (failures.length > 0) {
      rmSync(tmpOut, { force: true });
      throw new FaceGateError('QUANTIZE_VALIDATION_FAILED', `${entry.id} (${target}, ${method}) failed validation: ${failures.join('; ')}`, { details: { id: entry.id, validation } });
    }
    renameSync(tmpOut, options.outputPath);
    const record: Int8ModelRecord = {
      id: entry.id,
      file: basename(options.outputPath),
      sha256: report.outputSha256,
      sizeBytes: report.outputBytes,
      target,
      source: { file: entry.file, sha256: report.sourceSha256, sizeBytes: report.sourceBytes },
      calibration: {
        method,
        ...(report.percentile !== undefined ? { percentile: report.percentile } : {}),
        count: report.calibrationCount,
        data: describeFiles(options.calibrationImages),
      },
      activationType: report.activationType,
      decomposedPRelu: report.decomposedPRelu,
      excludedNodes: report.excluded.length,
      quantizedNodes: report.quantizedNodes,
      validation,
      quantizerVersion: report.quantizerVersion,
      onnxruntimeVersion: runtimeVersion(),
      command: options.command ?? `facegate quantize --model ${entry.id} --target ${target}`,
    };
    recordInt8Model(join(options.outputPath, '..'), record);
    return { report: { ...report, outputPath: options.outputPath }, validation, record };
  } finally {
    await alignDet?.close();
  }
}

/** "N files in M folders under a/b/c" (the last three segments of their common folder), for the manifest. */
function describeFiles(paths: readonly string[]): string {
  const dirs = [...new Set(paths.map((p) => dirname(p)))];
  let common = dirs[0] ?? '';
  for (const d of dirs) while (common && !(d === common || d.startsWith(`${common}/`))) common = dirname(common) === common ? '' : dirname(common);
  return `${paths.length} files in ${dirs.length} folder(s) under ${common.split('/').slice(-3).join('/')}`;
}

function dotUnit(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Ground-truth boxes of the annotated group photos (../shared/data/faces/groups/annotations.json format). */
export function readAnnotations(facesDir: string): AnnotatedImage[] {
  const json = JSON.parse(readFileSync(join(facesDir, 'groups', 'annotations.json'), 'utf8')) as {
    images: Record<string, { faces: { x: number; y: number; w: number; h: number; ignore?: boolean }[] }>;
  };
  return Object.entries(json.images).map(([rel, v]) => ({
    path: join(facesDir, rel),
    boxes: v.faces.filter((f) => !f.ignore).map((f) => ({ x1: f.x, y1: f.y, x2: f.x + f.w, y2: f.y + f.h })),
  }));
}

/** Labelled pairs from a CSV `label,path1,path2[,...]` with paths relative to `facesDir`; `limit` takes an evenly spaced subset. */
export function readPairs(csvPath: string, facesDir: string, limit = Infinity): LabelledPair[] {
  const all = readFileSync(csvPath, 'utf8').split('\n').slice(1).filter((l) => l.trim());
  const step = all.length > limit ? all.length / limit : 1;
  const lines = step === 1 ? all : Array.from({ length: limit }, (_, i) => all[Math.floor(i * step)]!);
  return lines.map((l) => {
    const [label, a, b] = l.split(',');
    return { a: join(facesDir, a!), b: join(facesDir, b!), same: label === 'same' };
  });
}

/**
 * The default split over ../shared/data/faces: detectors calibrate on the group photos without annotations and validate
 * on the annotated ones; recognizers calibrate on two thirds of the Glint360k identities and validate on the rest.
 */
export function defaultSplit(facesDir: string): {
  detCalibration: string[];
  detValidation: string[];
  recCalibration: string[];
  recValidation: string[];
} {
  const annotated = new Set(readAnnotations(facesDir).map((a) => a.path));
  const groups = listImages(join(facesDir, 'groups'));
  const glint = listImages(join(facesDir, 'identities')).filter((p) => p.includes('glint360k__'));
  const ids = [...new Set(glint.map((p) => p.split('/').slice(-2)[0]!))].sort();
  const calIds = new Set(ids.slice(0, Math.ceil((ids.length * 2) / 3)));
  return {
    detCalibration: groups.filter((p) => !annotated.has(p)),
    detValidation: groups.filter((p) => annotated.has(p)),
    recCalibration: glint.filter((p) => calIds.has(p.split('/').slice(-2)[0]!)),
    recValidation: glint.filter((p) => !calIds.has(p.split('/').slice(-2)[0]!)),
  };
}

export interface SpeedRow {
  id: string;
  threads: number;
  fp32Ms: number;
  int8Ms: number;
  /** fp32Ms / int8Ms: above 1 means INT8 is faster. */
  speedup: number;
  fp32Bytes: number;
  int8Bytes: number;
}

function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/**
 * Median latency of the FP32 and INT8 models of `id` through the SDK's detector/recognizer (pre- and post-processing
 * included), measured in the same run with the two models interleaved call by call, so load from other processes
 * hits both alike. `sample` is a photo (detector) or a face image (recognizer: aligned crops or a photo).
 */
export async function compareSpeed(id: string, modelsDir: string, int8Path: string, sample: string, threads: number, iterations = 30): Promise<SpeedRow> {
  const manifest = loadManifest();
  const entry = findModel(manifest, id);
  const fp32Path = await requireModel(modelsDir, entry);
  const session = { intraOpThreads: threads };
  const img = await decodeImage(sample);
  const run: (() => Promise<unknown>)[] = [];
  const closers: (() => Promise<void>)[] = [];
  try {
    if (entry.role === 'detector') {
      for (const p of [fp32Path, int8Path]) {
        const d = await createDetector(entry, p, session);
        closers.push(() => d.close());
        run.push(() => d.detect(img));
      }
    } else {
      const size = entry.input.size?.[0] ?? 112;
      const d = findModel(manifest, 'det_500m');
      const det = await createDetector(d, await requireModel(modelsDir, d), session);
      let crop: RgbImage | undefined;
      try {
        crop = await faceCrop(sample, size, async () => det);
      } finally {
        await det.close();
      }
      if (!crop) throw new FaceGateError('NO_FACE', `no face in ${sample}`);
      for (const p of [fp32Path, int8Path]) {
        const r = await createRecognizer(entry, p, session);
        closers.push(() => r.close());
        run.push(() => r.embedAligned([crop]));
      }
    }
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < iterations + 3; i++) {
      for (const k of [0, 1] as const) {
        const t0 = process.hrtime.bigint();
        await run[k]!();
        if (i >= 3) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const fp32Ms = medianOf(times[0]);
    const int8Ms = medianOf(times[1]);
    return { id, threads, fp32Ms, int8Ms, speedup: fp32Ms / int8Ms, fp32Bytes: statSync(fp32Path).size, int8Bytes: statSync(int8Path).size };
  } finally {
    for (const c of closers) await c();
  }
}

/** Closes every resource, going on past failures (the first failure is rethrown after all are closed). */
async function closeEach(resources: readonly { close(): Promise<void> }[]): Promise<void> {
  let first: unknown;
  for (const r of resources) {
    try {
      await r.close();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}
