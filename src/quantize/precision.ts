/**
 * models/int8/manifest.json (what was quantised, how, and how well it validated) and the choice between a model's
 * FP32 file and its INT8 QDQ file at start-up.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaceGateError } from '../core/errors.js';
import type { ValidationReport } from './validate.js';
import type { QuantTarget } from './qdq.js';

export type Precision = 'int8' | 'fp32';
/** `auto`: INT8 when a validated INT8 file for this model is present, else FP32. */
export type PrecisionChoice = Precision | 'auto';

export interface Int8ModelRecord {
  /** Id of the FP32 model in models/manifest.json. */
  id: string;
  /** INT8 file name inside models/int8. */
  file: string;
  /** sha256 of the INT8 file as generated here (regeneration with the same inputs gives the same bytes). */
  sha256: string;
  sizeBytes: number;
  target: QuantTarget;
  source: { file: string; sha256: string; sizeBytes: number };
  calibration: { method: string; percentile?: number; count: number; data: string };
  /** Element type of the quantised activations. */
  activationType: 'int8' | 'uint8';
  /** Conv->PRelu pairs rewritten into int8 convs + Add. */
  decomposedPRelu: number;
  excludedNodes: number;
  quantizedNodes: number;
  validation: ValidationReport;
  quantizerVersion: string;
  onnxruntimeVersion: string;
  /** How the record was produced (the command). */
  command: string;
}

export interface Int8Manifest {
  schema: 'facegate.int8-manifest/v1';
  models: Int8ModelRecord[];
}

/** Reads models/int8/manifest.json; an absent file is an empty manifest. Throws MANIFEST_INVALID for a malformed one. */
export function loadInt8Manifest(int8Dir: string): Int8Manifest {
  const path = join(int8Dir, 'manifest.json');
  if (!existsSync(path)) return { schema: 'facegate.int8-manifest/v1', models: [] };
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Int8Manifest;
    if (!Array.isArray(m.models)) throw new Error('no "models" array');
    return m;
  } catch (e) {
    throw new FaceGateError('MANIFEST_INVALID', `cannot read ${path}: ${(e as Error).message}`, { cause: e, details: { path } });
  }
}

/** Adds or replaces the record for (id, target) and writes the manifest back. */
export function recordInt8Model(int8Dir: string, record: Int8ModelRecord): void {
  const m = loadInt8Manifest(int8Dir);
  m.models = [...m.models.filter((r) => !(r.id === record.id && r.target === record.target)), record].sort((a, b) => (a.id + a.target).localeCompare(b.id + b.target));
  writeFileSync(join(int8Dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
}

export interface ResolvedPrecision {
  /** Model file to load. */
  path: string;
  precision: Precision;
  /** The INT8 record when INT8 was chosen. */
  record?: Int8ModelRecord;
  /** Why FP32 was chosen under `auto` (no INT8 file, stale file, ...). */
  reason?: string;
}

/**
 * Chooses the file for model `id` (FP32 `fp32Path`, whose manifest sha256 is `fp32Sha256`). `int8` demands the INT8
 * file and throws MODEL_NOT_FOUND (none generated: run `npm run quantize`) or MODEL_CHECKSUM_MISMATCH (file or source
 * changed since quantisation); `auto` falls back to FP32 with a reason instead.
 */
export function resolvePrecision(int8Dir: string, id: string, fp32Path: string, fp32Sha256: string, choice: PrecisionChoice = 'auto', target: QuantTarget = 'cpu'): ResolvedPrecision {
  if (choice === 'fp32') return { path: fp32Path, precision: 'fp32' };
  if (choice !== 'int8' && choice !== 'auto') {
    throw new FaceGateError('CONFIG_INVALID', `precision must be int8, fp32 or auto, got "${String(choice)}"`, { details: { field: 'precision', value: choice } });
  }
  const fail = (code: 'MODEL_NOT_FOUND' | 'MODEL_CHECKSUM_MISMATCH', why: string): ResolvedPrecision => {
    if (choice === 'int8') throw new FaceGateError(code, `INT8 model for "${id}": ${why}`, { details: { id, int8Dir } });
    return { path: fp32Path, precision: 'fp32', reason: why };
  };
  const record = loadInt8Manifest(int8Dir).models.find((r) => r.id === id && r.target === target);
  if (!record) return fail('MODEL_NOT_FOUND', `no ${target} INT8 model in ${int8Dir}/manifest.json (run \`npm run quantize\`)`);
  if (record.source.sha256 !== fp32Sha256) return fail('MODEL_CHECKSUM_MISMATCH', `it was quantised from another FP32 file (sha256 ${record.source.sha256.slice(0, 12)}...)`);
  const path = join(int8Dir, record.file);
  if (!existsSync(path)) return fail('MODEL_NOT_FOUND', `${path} is not generated (run \`npm run quantize\`)`);
  const actual = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (actual !== record.sha256) return fail('MODEL_CHECKSUM_MISMATCH', `${path} has sha256 ${actual.slice(0, 12)}..., the manifest expects ${record.sha256.slice(0, 12)}... (regenerate it)`);
  return { path, precision: 'int8', record };
}

/**
 * Whether this CPU has the int8 dot-product instructions that make INT8 pay (x86 VNNI, ARM dot-product), read from
 * /proc/cpuinfo. Without them onnxruntime's int8 kernels are often slower than FP32. `unknown` off Linux.
 */
export function cpuInt8Support(): { supported: boolean | 'unknown'; features: string[] } {
  let text: string;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { supported: 'unknown', features: [] };
  }
  const flags = new Set(text.split('\n').filter((l) => /^(flags|Features)\s*:/.test(l)).flatMap((l) => l.split(':')[1]!.trim().split(/\s+/)));
  const features = ['avx512_vnni', 'avx_vnni', 'asimddp'].filter((f) => flags.has(f));
  return { supported: features.length > 0, features };
}

/**
 * The engine's start-up choice for one model: `resolvePrecision` plus the CPU check. Under `auto` on the CPU, INT8 is
 * used only when the CPU has int8 dot-product instructions (otherwise it is usually slower than FP32, and `reason`
 * says so); a TensorRT device looks for the `trt` flavour. `int8` is honoured whatever the CPU.
 */
export function chooseModelFile(
  int8Dir: string,
  model: { id: string; sha256: string },
  fp32Path: string,
  choice: PrecisionChoice = 'auto',
  device: string = 'cpu',
): ResolvedPrecision {
  const target: QuantTarget = device === 'tensorrt' ? 'trt' : 'cpu';
  const resolved = resolvePrecision(int8Dir, model.id, fp32Path, model.sha256, choice, target);
  if (choice === 'auto' && resolved.precision === 'int8' && target === 'cpu') {
    const cpu = cpuInt8Support();
    if (cpu.supported === false) {
      return { path: fp32Path, precision: 'fp32', reason: 'this CPU has no int8 dot-product instructions (x86 VNNI / ARM dot-product), so INT8 would not be faster; pass --precision int8 to force it' };
    }
  }
  return resolved;
}
