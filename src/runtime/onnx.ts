/**
 * The only importer of onnxruntime-node. Everything else sees `OnnxSession` and plain typed arrays, so the runtime
 * can be swapped (or its build changed on a Jetson) without touching model code.
 */
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { FaceGateError } from '../core/errors.js';

/** Device names a user can ask for. `auto` tries the accelerated providers in order and falls back to CPU. */
export type DeviceName = 'cpu' | 'cuda' | 'tensorrt' | 'auto';

/** Maps a device name to the onnxruntime execution providers to try, in order. */
export const DEVICE_TABLE: Readonly<Record<DeviceName, readonly string[]>> = {
  cpu: ['cpu'],
  cuda: ['cuda'],
  tensorrt: ['tensorrt'],
  auto: ['tensorrt', 'cuda', 'cpu'],
};

/** A tensor as the rest of facegate sees it. */
export interface TensorData {
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;
  dims: readonly number[];
  type: 'float32' | 'int32' | 'int64' | 'uint8' | 'int8';
}

export interface InputInfo {
  name: string;
  /** Declared shape; symbolic or unknown dimensions are -1. */
  shape: number[];
  type: string;
}

export interface SessionOptions {
  /** Device to run on. Default `cpu`. */
  device?: DeviceName;
  /** Threads inside one operator; 0 lets onnxruntime choose (one per core). Default 0. */
  intraOpThreads?: number;
  /** Threads across operators (only with parallel execution). Default 1. */
  interOpThreads?: number;
  /** Graph optimisation level. Default `all`. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** When set, onnxruntime writes the optimised model here (used by the quantiser to fold constants and BatchNorm). */
  optimizedModelFilePath?: string;
}

/** A loaded model. Call `close()` to release native memory. */
export interface OnnxSession {
  readonly path: string;
  readonly inputs: readonly InputInfo[];
  readonly outputNames: readonly string[];
  /** The execution provider this session actually runs on. */
  readonly provider: string;
  run(feeds: Record<string, TensorData>, outputNames?: readonly string[]): Promise<Record<string, TensorData>>;
  close(): Promise<void>;
}

/** Execution providers that the installed onnxruntime build offers (`bundled: false` means libraries must be installed). */
export function listProviders(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/** The onnxruntime-node version in use. */
export function runtimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
}

function toOrtTensor(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.type, t.data as never, t.dims as number[]);
}

function fromOrtTensor(t: ort.Tensor): TensorData {
  return { data: t.data as TensorData['data'], dims: [...t.dims], type: t.type as TensorData['type'] };
}

function describeInputs(session: ort.InferenceSession): InputInfo[] {
  const meta = (session as unknown as { inputMetadata?: readonly unknown[] }).inputMetadata;
  return session.inputNames.map((name, i) => {
    const m = meta?.[i] as { isTensor?: boolean; shape?: readonly (number | string)[]; type?: string } | undefined;
    const shape = (m?.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : -1));
    return { name, shape, type: m?.type ?? 'float32' };
  });
}

/**
 * Loads a model. Throws `MODEL_NOT_FOUND` for a missing file, `PROVIDER_UNAVAILABLE` when a demanded provider is not
 * in this build, and `MODEL_LOAD_FAILED` when onnxruntime rejects the file.
 */
export async function createSession(modelPath: string, options: SessionOptions = {}): Promise<OnnxSession> {
  if (!existsSync(modelPath)) {
    throw new FaceGateError('MODEL_NOT_FOUND', `model file not found: ${modelPath}`, { details: { path: modelPath } });
  }
  const device = options.device ?? 'cpu';
  const candidates = DEVICE_TABLE[device];
  if (!candidates) {
    throw new FaceGateError('CONFIG_INVALID', `unknown device "${device}" (expected one of ${Object.keys(DEVICE_TABLE).join(', ')})`);
  }
  const offered = new Set(listProviders().map((p) => p.name));
  const usable = candidates.filter((p) => offered.has(p));
  if (usable.length === 0) {
    throw new FaceGateError(
      'PROVIDER_UNAVAILABLE',
      `device "${device}" needs the ${candidates.join('/')} execution provider, which this onnxruntime-node build lacks (it offers ${[...offered].join(', ')})`,
      { details: { device, offered: [...offered] } },
    );
  }
  let lastError: unknown;
  for (const provider of usable) {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        intraOpNumThreads: options.intraOpThreads ?? 0,
        interOpNumThreads: options.interOpThreads ?? 1,
        graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        ...(options.optimizedModelFilePath ? { optimizedModelFilePath: options.optimizedModelFilePath } : {}),
      });
      return wrap(modelPath, session, provider);
    } catch (e) {
      lastError = e;
      // A provider listed but unusable (missing CUDA libraries) falls through to the next one under `auto`.
      if (device !== 'auto') break;
    }
  }
  const message = lastError instanceof Error ? lastError.message : String(lastError);
  const code = device === 'cpu' || device === 'auto' ? 'MODEL_LOAD_FAILED' : 'PROVIDER_UNAVAILABLE';
  throw new FaceGateError(code, `cannot load ${modelPath} on ${device}: ${message}`, { cause: lastError, details: { path: modelPath, device } });
}

function wrap(path: string, session: ort.InferenceSession, provider: string): OnnxSession {
  let closed = false;
  return {
    path,
    inputs: describeInputs(session),
    outputNames: [...session.outputNames],
    provider,
    async run(feeds, outputNames) {
      if (closed) throw new FaceGateError('INTERNAL', `session for ${path} used after close()`);
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrtTensor(v);
      let out: ort.InferenceSession.ReturnType;
      try {
        out = outputNames ? await session.run(ortFeeds, outputNames as string[]) : await session.run(ortFeeds);
      } catch (e) {
        throw new FaceGateError('INFERENCE_FAILED', `inference failed for ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const result: Record<string, TensorData> = {};
      for (const [k, v] of Object.entries(out)) result[k] = fromOrtTensor(v);
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
