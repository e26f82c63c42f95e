/**
 * The only importer of onnxruntime-node. Everything else sees `OnnxSession` and plain typed arrays, so the runtime
 * can be swapped (or its build changed on a Jetson) without touching model code.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { FaceGateError } from '../core/errors.js';
import { detectJetson } from './cpu-features.js';
import {
  adaptTensorRtToBoard,
  engineCachePath,
  executionProviderEntry,
  inspectBinding,
  planProviders,
  providerStatuses,
  SILENT_LOGGER,
  tensorRtOptionsFromEnv,
  type BindingInfo,
  type ProviderLogger,
  type ProviderName,
  type ProviderOptions,
} from './providers.js';

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
  /** Options per execution provider (TensorRT precision, engine cache, shapes; CUDA; CPU). Default: each provider's defaults. */
  providers?: ProviderOptions;
  /** Receives one line per model saying which provider it runs on and why others were skipped. Default: silent. */
  logger?: ProviderLogger;
  /** Name for log lines (a model id). Default: the path. */
  label?: string;
  /** sha256 of the model file when already known (the manifest's); keys the TensorRT engine cache. Default: hashed here. */
  modelSha256?: string;
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
export async function createSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<OnnxSession> {
  // A model given as bytes (the quantiser's calibration graph with extra outputs) has no path; errors name it "<bytes>".
  const modelPath = typeof model === 'string' ? model : `<${model.byteLength} model bytes>`;
  if (typeof model === 'string' && !existsSync(model)) {
    throw new FaceGateError('MODEL_NOT_FOUND', `model file not found: ${modelPath}`, { details: { path: modelPath } });
  }
  const device = options.device ?? 'cpu';
  if (!Object.hasOwn(DEVICE_TABLE, device)) {
    throw new FaceGateError('CONFIG_INVALID', `unknown device "${device}" (expected one of ${Object.keys(DEVICE_TABLE).join(', ')})`, {
      details: { field: 'device', value: device },
    });
  }
  const logger = options.logger ?? SILENT_LOGGER;
  const label = options.label ?? modelPath;
  const binding = bindingInfo();
  let providerOptions = options.providers ?? {};
  if (device === 'tensorrt' || device === 'auto') {
    // FACEGATE_TRT_* (the service's environment) under explicit options, so every command finds the same engines.
    const tensorrt = { ...tensorRtOptionsFromEnv(), ...providerOptions.tensorrt };
    if (Object.keys(tensorrt).length) providerOptions = { ...providerOptions, tensorrt: adaptTensorRtToBoard(tensorrt, detectJetson(), logger) };
  }
  // Throws PROVIDER_UNAVAILABLE (naming the build needed) for an explicit provider this build cannot honour.
  const plan = planProviders(device, providerStatuses(binding), binding, providerOptions);
  for (const s of plan.skipped) logger.info(`${label}: skipping ${s.name}: ${s.reason}`, { model: label, provider: s.name });
  let lastError: unknown;
  let failedProvider: ProviderName = plan.tryOrder[0] ?? 'cpu';
  for (let i = 0; i < plan.tryOrder.length; i++) {
    const provider = plan.tryOrder[i]!;
    // The whole remaining list goes to onnxruntime, so nodes the first provider cannot run fall to the next one.
    const chain = plan.tryOrder.slice(i);
    let trtCache: string | undefined;
    if (provider === 'tensorrt' && providerOptions.tensorrt?.engineCacheDir) {
      const sha = options.modelSha256 ?? createHash('sha256').update(typeof model === 'string' ? readFileSync(model) : model).digest('hex');
      trtCache = engineCachePath(sha, providerOptions.tensorrt, runtimeVersion());
      if (trtCache) mkdirSync(trtCache, { recursive: true });
    }
    try {
      const session = await ort.InferenceSession.create(model as never, {
        executionProviders: chain.map((p) => executionProviderEntry(p, providerOptions, trtCache)) as never,
        intraOpNumThreads: options.intraOpThreads ?? 0,
        interOpNumThreads: options.interOpThreads ?? 1,
        graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        // onnxruntime warns (VerifyOutputSizes) on every run of a dynamic-shape model; errors still surface as exceptions.
        logSeverityLevel: 3,
        ...(providerOptions.cpu?.memArena !== undefined ? { enableCpuMemArena: providerOptions.cpu.memArena } : {}),
        ...(options.optimizedModelFilePath ? { optimizedModelFilePath: options.optimizedModelFilePath } : {}),
      });
      logger.info(`${label} runs on ${provider}`, {
        model: label,
        provider,
        requested: device,
        ...(trtCache ? { engineCache: trtCache } : {}),
        ...(chain.length > 1 ? { nodeFallback: chain.slice(1) } : {}),
      });
      return wrap(modelPath, session, provider);
    } catch (e) {
      lastError = e;
      failedProvider = provider;
      if (device !== 'auto' || provider === 'cpu') break;
      // Listed and with its libraries, yet failing (no GPU, system CUDA/TensorRT missing): try the next one.
      logger.warn(`${label}: ${provider} failed to load the model, falling back`, {
        model: label,
        provider,
        error: e instanceof Error ? e.message.split('\n')[0] : String(e),
      });
    }
  }
  const message = lastError instanceof Error ? lastError.message : String(lastError);
  const code = failedProvider === 'cpu' ? 'MODEL_LOAD_FAILED' : 'PROVIDER_UNAVAILABLE';
  throw new FaceGateError(code, `cannot load ${modelPath} on ${failedProvider}: ${message}`, {
    cause: lastError,
    details: { path: modelPath, device, provider: failedProvider },
  });
}

/** Facts about the installed onnxruntime-node binding: compiled providers, provider libraries, option forwarding. */
export function bindingInfo(): BindingInfo {
  return inspectBinding(listProviders().map((p) => p.name));
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
