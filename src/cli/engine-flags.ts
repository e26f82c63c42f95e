/** Flags shared by the commands that run the face engine, and their mapping to EngineOptions. */
import { FaceGateError } from '../core/errors.js';
import type { EngineOptions } from '../engine.js';
import type { DetectOptions } from '../models/types.js';
import type { DeviceName } from '../runtime/onnx.js';
import { numberFlag, str, type ParsedArgs } from './common.js';

export const ENGINE_OPTIONS = {
  detector: { type: 'string' },
  recognizer: { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  'input-size': { type: 'string' },
  'score-threshold': { type: 'string' },
  precision: { type: 'string' },
} as const;

export const ENGINE_USAGE = `engine options:
  --models DIR             models directory (default: $FACEGATE_MODELS, then ../shared/models)
  --detector ID            detector model id from the manifest (default det_500m; \`facegate models\` lists ids)
  --recognizer ID          recognizer model id (default mobilefacenet512_faceplugin)
  --device NAME            cpu | cuda | tensorrt | auto (default cpu)
  --threads N              onnxruntime threads per operator, 0 = one per core (default 0)
  --input-size S           detector input: auto (the image's size, multiple of 32, at most 640), N or WxH
  --score-threshold T      detector confidence 0..1 (default 0.5 for SCRFD, 0.7 for YuNet)
  --precision P            int8 | fp32 | auto: auto uses validated INT8 models from \`npm run quantize\` when present
                           and the CPU has int8 dot-product instructions (default auto)`;

const DEVICES = ['cpu', 'cuda', 'tensorrt', 'auto'];

/** Parses `--input-size`: auto, N or WxH. */
export function parseInputSize(v: string | undefined): DetectOptions['inputSize'] | undefined {
  if (v === undefined) return undefined;
  if (v === 'auto') return 'auto';
  const m = /^(\d+)(?:x(\d+))?$/i.exec(v);
  if (!m) throw new FaceGateError('USAGE', `--input-size expects auto, N or WxH, got "${v}"`);
  return m[2] ? [Number(m[1]), Number(m[2])] : Number(m[1]);
}

/** EngineOptions from the parsed common engine flags. */
export function engineOptionsFrom(args: ParsedArgs): EngineOptions {
  const device = str(args, 'device');
  if (device !== undefined && !DEVICES.includes(device)) throw new FaceGateError('USAGE', `--device must be one of ${DEVICES.join(', ')}, got "${device}"`);
  const threads = str(args, 'threads');
  const inputSize = parseInputSize(str(args, 'input-size'));
  const score = str(args, 'score-threshold');
  const detect: DetectOptions = {
    ...(inputSize !== undefined ? { inputSize } : {}),
    ...(score !== undefined ? { scoreThreshold: numberFlag(score, 'score-threshold', 0.5) } : {}),
  };
  const o: EngineOptions = { detect };
  const models = str(args, 'models');
  if (models) o.modelsDir = models;
  const detector = str(args, 'detector');
  if (detector) o.detector = detector;
  const recognizer = str(args, 'recognizer');
  if (recognizer) o.recognizer = recognizer;
  if (device) o.device = device as DeviceName;
  const precision = str(args, 'precision');
  if (precision !== undefined && !['int8', 'fp32', 'auto'].includes(precision)) throw new FaceGateError('USAGE', `--precision must be int8, fp32 or auto, got "${precision}"`);
  if (precision) o.precision = precision as 'int8' | 'fp32' | 'auto';
  if (threads !== undefined) {
    const n = numberFlag(threads, 'threads', 0);
    if (!Number.isInteger(n) || n < 0) throw new FaceGateError('USAGE', `--threads expects a non-negative integer, got "${threads}"`);
    o.intraOpThreads = n;
  }
  return o;
}

/** Rounds for JSON output: pixels to 2 decimals, scores to 4. */
export const round = (v: number, digits: number): number => Number(v.toFixed(digits));
