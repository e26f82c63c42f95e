/**
 * Static INT8 QDQ quantisation of an FP32 ONNX model, in Node: onnxruntime's BASIC pre-optimisation (folds BatchNorm
 * and constants), calibration through extra graph outputs, then the QDQ rewrite of ./qdq.ts. Validation against the
 * FP32 model lives in ./validate.ts; this file only needs calibration tensors, so it stays independent of any model
 * family (the caller does the SDK's own preprocessing).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaceGateError, isFaceGateError } from '../core/errors.js';
import { createSession } from '../runtime/onnx.js';
import { TensorStats, type CalibrationMethod, type RangeOptions } from './calibrate.js';
import { DT, cloneModel, decodeModel, defaultOpset, encodeModel, nodeLabel, onnx, toNum, upgradeToOpset13, type ModelProto } from './onnx-graph.js';
import { decomposePRelu } from './prelu.js';
import { nameNodes, planQuantization, rewriteQdq, stemConvs, tailNodes, type ActivationType, type QuantTarget } from './qdq.js';

/** Version of this quantiser, recorded in models/int8/manifest.json. */
export const QUANTIZER_VERSION = '1.0.0';

/** One calibration input: a float32 NCHW tensor, preprocessed exactly as the SDK feeds the model. */
export interface CalibrationTensor {
  data: Float32Array;
  dims: readonly number[];
}

export interface QuantizeOptions extends RangeOptions {
  /** FP32 ONNX model to read. */
  modelPath: string;
  /** Where the INT8 QDQ model is written. */
  outputPath: string;
  /** QDQ flavour. Default `cpu`. */
  target?: QuantTarget;
  /** Calibration inputs (a few dozen detector images or a few hundred aligned faces). */
  calibration: readonly CalibrationTensor[] | AsyncIterable<CalibrationTensor>;
  /**
   * Node names (after onnxruntime's BASIC optimisation) to keep in float. Default: the last `excludeDepth` weighted
   * layers before every graph output and everything after them, and an RGB stem conv (see `stemConvs`).
   */
  exclude?: readonly string[];
  /** Weighted layers kept in float at the end of every output path when `exclude` is not given. Default 1 (detector heads); recognizers use 3 (1x1 expansion, GDC, linear embedding). */
  excludeDepth?: number;
  /**
   * cpu target: element type of activations. Default `uint8` on x64, `int8` elsewhere. Measured on x64 with
   * onnxruntime 1.30: with int8 activations its S8->U8 rewrite skips tensors with two consumers, which then leaves
   * the neighbouring convs unfused (17 of 51 convs of det_500m ran in float); uint8 activations fuse every conv.
   */
  activationType?: ActivationType;
  /** cpu target: rewrite Conv->PRelu into two convs and an Add so the whole block runs in int8 (see prelu.ts). Default true. */
  decomposePRelu?: boolean;
  /** Called after each calibration input. */
  onProgress?: (done: number) => void;
}

export interface QuantizeReport {
  modelPath: string;
  outputPath: string;
  sourceSha256: string;
  outputSha256: string;
  sourceBytes: number;
  outputBytes: number;
  target: QuantTarget;
  method: CalibrationMethod;
  percentile?: number;
  activationType: ActivationType;
  calibrationCount: number;
  excluded: string[];
  quantizedNodes: number;
  quantizedTensors: number;
  foldedActivations: number;
  /** Conv->PRelu pairs rewritten into int8 convs + Add. */
  decomposedPRelu: number;
  sourceOpset: number;
  quantizerVersion: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Checks the graph input: one float tensor of rank 4 with a fixed channel count. Throws QUANTIZE_UNSUPPORTED naming it. */
function checkInputs(m: ModelProto, label: string): void {
  const inits = new Set((m.graph!.initializer ?? []).map((t) => t.name!));
  const inputs = (m.graph!.input ?? []).filter((i) => !inits.has(i.name!));
  if (inputs.length !== 1) {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `${label} has ${inputs.length} graph inputs (${inputs.map((i) => i.name).join(', ')}); the quantiser handles single-input image models`, { details: { model: label } });
  }
  const input = inputs[0]!;
  const tt = input.type?.tensorType;
  const dims = tt?.shape?.dim ?? [];
  if (tt?.elemType !== DT.FLOAT || dims.length !== 4) {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `input "${input.name}" of ${label} must be a float32 [N, C, H, W] tensor (got type ${tt?.elemType}, rank ${dims.length})`, { details: { model: label, input: input.name } });
  }
  if (!(toNum(dims[1]?.dimValue) > 0)) {
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `input "${input.name}" of ${label} has a dynamic channel dimension, which the quantiser cannot handle`, { details: { model: label, input: input.name } });
  }
}

/** The model's single input name. */
function inputName(m: ModelProto): string {
  const inits = new Set((m.graph!.initializer ?? []).map((t) => t.name!));
  return (m.graph!.input ?? []).find((i) => !inits.has(i.name!))!.name!;
}

/** onnxruntime BASIC optimisation, saved to a file: constant folding and Conv+BatchNorm/Add/Mul fusion. */
async function preOptimize(modelPath: string, workDir: string): Promise<Uint8Array> {
  const out = join(workDir, 'preoptimized.onnx');
  try {
    const s = await createSession(modelPath, { device: 'cpu', graphOptimizationLevel: 'basic', optimizedModelFilePath: out, intraOpThreads: 1 });
    await s.close();
  } catch (e) {
    if (isFaceGateError(e, 'MODEL_NOT_FOUND')) throw e;
    throw new FaceGateError('QUANTIZE_UNSUPPORTED', `onnxruntime cannot load ${modelPath} (corrupt or unsupported model): ${(e as Error).message}`, { cause: e, details: { model: modelPath } });
  }
  return readFileSync(out);
}

/** Runs the graph with every tensor in `tensors` exposed as an output and collects their statistics. */
async function calibrate(
  model: ModelProto,
  tensors: readonly string[],
  options: QuantizeOptions,
): Promise<{ ranges: Map<string, [number, number]>; count: number }> {
  const method = options.method ?? 'minmax';
  const aug = cloneModel(model);
  const existing = new Set((aug.graph!.output ?? []).map((o) => o.name!));
  for (const t of tensors) {
    // Shape-less value info: onnxruntime accepts it, and ORT-saved models have no shapes to copy.
    if (!existing.has(t)) aug.graph!.output!.push(onnx.ValueInfoProto.create({ name: t, type: { tensorType: { elemType: DT.FLOAT } } }));
  }
  const session = await createSession(encodeModel(aug), { device: 'cpu', graphOptimizationLevel: 'disabled', label: 'calibration graph' });
  const name = inputName(model);
  const defaultBins = method === 'minmax' ? 0 : options.numBins ?? 2048;
  const stats = new Map(tensors.map((t) => [t, new TensorStats(method, defaultBins)] as const));
  let count = 0;
  try {
    for await (const input of options.calibration) {
      const out = await session.run({ [name]: { data: input.data, dims: input.dims, type: 'float32' } }, tensors);
      for (const t of tensors) {
        const v = out[t];
        if (v && v.data instanceof Float32Array) stats.get(t)!.add(v.data);
      }
      count++;
      options.onProgress?.(count);
    }
  } finally {
    await session.close();
  }
  if (count === 0) throw new FaceGateError('CONFIG_INVALID', 'no calibration data: the calibration set is empty', { details: { field: 'calibration' } });
  const ranges = new Map<string, [number, number]>();
  for (const [t, s] of stats) ranges.set(t, s.range(options));
  return { ranges, count };
}

/**
 * Quantises `modelPath` into `outputPath`. Throws QUANTIZE_UNSUPPORTED naming the node or input for a corrupt model, an
 * unknown op, a dynamic weight or an unsupported input shape; CONFIG_INVALID for an exclude entry that names no node.
 */
export async function quantizeModel(options: QuantizeOptions): Promise<QuantizeReport> {
  const target = options.target ?? 'cpu';
  if (target !== 'cpu' && target !== 'trt') throw new FaceGateError('CONFIG_INVALID', `target must be cpu or trt, got "${String(target)}"`, { details: { field: 'target' } });
  const method = options.method ?? 'minmax';
  if (!['minmax', 'percentile', 'entropy', 'mse'].includes(method)) throw new FaceGateError('CONFIG_INVALID', `calibration method must be minmax, percentile, entropy or mse, got "${method}"`, { details: { field: 'method' } });
  let sourceBytes: Uint8Array;
  try {
    sourceBytes = readFileSync(options.modelPath);
  } catch (e) {
    throw new FaceGateError('MODEL_NOT_FOUND', `model file not found: ${options.modelPath}`, { cause: e, details: { path: options.modelPath } });
  }
  const source = decodeModel(sourceBytes, options.modelPath);
  checkInputs(source, options.modelPath);
  const sourceOpset = defaultOpset(source);

  const workDir = mkdtempSync(join(tmpdir(), 'facegate-quantize-'));
  try {
    const model = decodeModel(await preOptimize(options.modelPath, workDir), options.modelPath);
    nameNodes(model);
    upgradeToOpset13(model);
    const names = new Set((model.graph!.node ?? []).map((n) => n.name!));
    const excluded = options.exclude ? [...options.exclude] : [...new Set([...tailNodes(model, options.excludeDepth ?? 1), ...stemConvs(model)])];
    for (const e of excluded) {
      if (!names.has(e)) throw new FaceGateError('CONFIG_INVALID', `exclude names node "${e}", which is not in the (pre-optimised) graph`, { details: { field: 'exclude', node: e } });
    }
    const exclude = new Set(excluded);
    // cpu: PRelu -> two int8 convs + Add (see prelu.ts); TensorRT fuses PRelu itself, and excluded layers stay as they are.
    const decomposedPRelu = target === 'cpu' && options.decomposePRelu !== false ? decomposePRelu(model, exclude) : 0;
    const plan = planQuantization(model, target, exclude);
    if (plan.calibrate.length === 0) {
      const first = (model.graph!.node ?? [])[0];
      throw new FaceGateError('QUANTIZE_UNSUPPORTED', `nothing to quantise in ${options.modelPath} (first node ${first ? nodeLabel(first) : 'none'})`);
    }
    const { ranges, count } = await calibrate(model, plan.calibrate, options);
    const activationType: ActivationType = target === 'trt' ? 'int8' : options.activationType ?? (process.arch === 'x64' ? 'uint8' : 'int8');
    const result = rewriteQdq(model, plan, ranges, target, exclude, activationType);
    const bytes = encodeModel(model);
    writeFileSync(options.outputPath, bytes);
    return {
      modelPath: options.modelPath,
      outputPath: options.outputPath,
      sourceSha256: sha256(sourceBytes),
      outputSha256: sha256(bytes),
      sourceBytes: statSync(options.modelPath).size,
      outputBytes: bytes.byteLength,
      target,
      method,
      ...(method === 'percentile' ? { percentile: options.percentile ?? 99.999 } : {}),
      activationType,
      calibrationCount: count,
      excluded,
      ...result,
      decomposedPRelu,
      sourceOpset,
      quantizerVersion: QUANTIZER_VERSION,
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
