/**
 * Execution providers: what the installed onnxruntime-node build really offers, how facegate's provider options map
 * onto onnxruntime's, and in which order providers are tried.
 *
 * What the stock onnxruntime-node 1.30 binding does (js/node/src/session_options_helper.cc, checked against the
 * installed binary's strings; see deploy/jetson/README.md):
 * - `listSupportedBackends()` lists `cuda` and `tensorrt` on linux/x64 even when their provider libraries were never
 *   downloaded (`bundled: false`), so "listed" is not "usable": the libraries beside libonnxruntime.so decide.
 * - for `cuda` and `tensorrt` it reads only `deviceId`; every other key (trt_int8_enable, trt_fp16_enable, the engine
 *   cache...) is silently dropped, and because it uses the V2 options struct the ORT_TENSORRT_* environment variables
 *   are ignored too. Only a binding patched to call UpdateTensorRTProviderOptions (deploy/jetson/patch-onnxruntime-node.mjs) forwards them.
 * - the linux/arm64 npm build is CPU only.
 * So facegate detects both facts and refuses, with a coded error naming the build needed, to pretend that INT8, FP16
 * or an engine cache is on when the binding would drop them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FaceGateError } from '../core/errors.js';
import type { JetsonInfo } from './cpu-features.js';

/** The execution providers facegate knows how to configure, fastest first. */
export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

/** The order `auto` tries providers in; CPU always comes last and always works. */
export const FALLBACK_ORDER: readonly ProviderName[] = ['tensorrt', 'cuda', 'cpu'];

/** Where facegate reports which provider each model runs on. Injected; facegate never writes to console itself. */
export interface ProviderLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything (the default). */
export const SILENT_LOGGER: ProviderLogger = { info() {}, warn() {} };

/** Shape range of one dynamic input for a TensorRT optimisation profile, each as full NCHW dims. */
export interface ShapeProfile {
  /** Smallest shape the engine accepts, e.g. [1, 3, 640, 640]. */
  min: readonly number[];
  /** Shape TensorRT tunes for. */
  opt: readonly number[];
  /** Largest shape the engine accepts. */
  max: readonly number[];
}

/** TensorRT execution-provider options. Everything but `deviceId` needs a binding that forwards trt_* options. */
export interface TensorRtOptions {
  /** GPU index. Default 0. */
  deviceId?: number;
  /** Build INT8 engines (for QDQ models; also required for them on TensorRT 8.x). Needs Xavier or Orin. Default false. */
  int8?: boolean;
  /** Let TensorRT run non-quantised layers in FP16. Default false. */
  fp16?: boolean;
  /**
   * Root directory for serialised engines. Each model gets a subdirectory keyed by its sha256 and these options, so a
   * changed model or option never reuses a stale engine. Default: no engine cache (engines rebuild at every start).
   */
  engineCacheDir?: string;
  /** Directory for the TensorRT timing cache (shareable between models of one GPU). Default: none. */
  timingCacheDir?: string;
  /** Builder workspace limit in bytes. Default: onnxruntime's (1 GiB); lower it on 4-8 GB boards. */
  workspaceSizeBytes?: number;
  /** Optimisation profiles per input name for dynamic shapes. Default: none (rebuild when a new shape arrives). */
  shapeProfiles?: Readonly<Record<string, ShapeProfile>>;
  /** TensorRT builder optimisation level 0..5 (lower builds faster). Default: onnxruntime's (3). */
  builderOptimizationLevel?: number;
  /** Run on this DLA core (AGX/NX Xavier and Orin, not Orin Nano). Needs int8 or fp16. Default: GPU only. */
  dlaCore?: number;
}

/** CUDA execution-provider options. `memoryLimitBytes` and `convAlgoSearch` need a forwarding binding. */
export interface CudaOptions {
  /** GPU index. Default 0. */
  deviceId?: number;
  /** Cap on the CUDA memory arena, bytes. Default: no cap. */
  memoryLimitBytes?: number;
  /** cuDNN convolution algorithm search. Default onnxruntime's (`EXHAUSTIVE`). */
  convAlgoSearch?: 'EXHAUSTIVE' | 'HEURISTIC' | 'DEFAULT';
}

/** CPU options. */
export interface CpuOptions {
  /** Use onnxruntime's CPU memory arena (set as a session option; the binding ignores CPU EP options). Default true. */
  memArena?: boolean;
}

/** Per-provider options; a provider without an entry uses its defaults. */
export interface ProviderOptions {
  tensorrt?: TensorRtOptions;
  cuda?: CudaOptions;
  cpu?: CpuOptions;
}

/** Environment variables that set TensorRT defaults for every model of every facegate process on a box. */
export const TENSORRT_ENV = {
  int8: 'FACEGATE_TRT_INT8',
  fp16: 'FACEGATE_TRT_FP16',
  cacheDir: 'FACEGATE_TRT_CACHE_DIR',
  workspaceMb: 'FACEGATE_TRT_WORKSPACE_MB',
  builderOptimizationLevel: 'FACEGATE_TRT_BUILDER_LEVEL',
} as const;

/**
 * TensorRT defaults from the environment (the systemd unit's EnvironmentFile), so `facegate run`, `facegate doctor
 * --warmup` and every other command build and find the same cached engines without each config repeating them.
 * `FACEGATE_TRT_CACHE_DIR` holds `engines/` and `timing/`. Explicit options override these. Throws `CONFIG_INVALID`
 * naming the variable for a bad value.
 */
export function tensorRtOptionsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): TensorRtOptions {
  const out: TensorRtOptions = {};
  const bool = (name: string): boolean | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (['1', 'true', 'yes', 'on'].includes(v.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(v.toLowerCase())) return false;
    throw new FaceGateError('CONFIG_INVALID', `${name} must be 1 or 0, got "${v}"`, { details: { field: name, value: v } });
  };
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!(Number.isInteger(n) && n >= min && n <= max)) {
      throw new FaceGateError('CONFIG_INVALID', `${name} must be an integer in ${min}..${max}, got "${v}"`, { details: { field: name, value: v } });
    }
    return n;
  };
  const int8 = bool(TENSORRT_ENV.int8);
  const fp16 = bool(TENSORRT_ENV.fp16);
  if (int8 !== undefined) out.int8 = int8;
  if (fp16 !== undefined) out.fp16 = fp16;
  const cache = env[TENSORRT_ENV.cacheDir];
  if (cache) {
    out.engineCacheDir = join(cache, 'engines');
    out.timingCacheDir = join(cache, 'timing');
  }
  const mb = int(TENSORRT_ENV.workspaceMb, 1, 1 << 20);
  if (mb !== undefined) out.workspaceSizeBytes = mb * 1024 * 1024;
  const level = int(TENSORRT_ENV.builderOptimizationLevel, 0, 5);
  if (level !== undefined) out.builderOptimizationLevel = level;
  return out;
}

/** Facts about the installed onnxruntime-node binding. */
export interface BindingInfo {
  /** onnxruntime-node package version. */
  version: string;
  platform: string;
  arch: string;
  /** Folder of onnxruntime_binding.node and libonnxruntime; provider libraries must sit here. */
  dir: string;
  /** Providers compiled into the binding (what listSupportedBackends reports). */
  compiled: readonly string[];
  /** Files present in `dir`. */
  files: readonly string[];
  /** The binding forwards trt_* options to the TensorRT provider (patched build). */
  forwardsTensorRtOptions: boolean;
  /** The binding forwards CUDA provider options beyond the device id (patched build). */
  forwardsCudaOptions: boolean;
}

/** Whether one provider can be used here and, if not, why and what to install. */
export interface ProviderStatus {
  name: ProviderName;
  /** Compiled into the binding. */
  compiled: boolean;
  /** Provider libraries the binding needs but its folder lacks. */
  missingLibraries: string[];
  /** Compiled and with its libraries present (system CUDA/TensorRT libraries are checked only by loading a model). */
  usable: boolean;
  /** Why not usable; null when usable. */
  reason: string | null;
  /** The build a user must install to get this provider; null when usable. */
  buildNeeded: string | null;
}

/** Provider libraries each provider loads from the binding's folder, named as on `platform`. */
export function providerLibraries(name: ProviderName, platform: string): string[] {
  if (name === 'cpu') return [];
  const file = (base: string) => (platform === 'win32' ? `${base}.dll` : platform === 'darwin' ? `lib${base}.dylib` : `lib${base}.so`);
  return [file('onnxruntime_providers_shared'), file(`onnxruntime_providers_${name}`)];
}

/**
 * Strings a patched binding carries in its error messages (deploy/jetson/patch-onnxruntime-node.mjs); the stock binding has
 * neither. Looking for them in the binary tells whether trt_* options reach TensorRT without loading a model.
 */
export const FORWARDING_MARKERS = { tensorrt: 'UpdateTensorRTProviderOptions', cuda: 'UpdateCUDAProviderOptions' } as const;

/** Reads facts about the binding in `dir` (default: the installed onnxruntime-node for this platform). */
export function inspectBinding(compiled: readonly string[], dir?: string): BindingInfo {
  const req = createRequire(import.meta.url);
  const pkgDir = dirname(dirname(req.resolve('onnxruntime-node')));
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  // onnxruntime-node 1.16 ships bin/napi-v3, newer ones bin/napi-v6: take the newest that has this platform.
  const binRoot = join(pkgDir, 'bin');
  const napi = existsSync(binRoot) ? readdirSync(binRoot).filter((n) => /^napi-v\d+$/.test(n)) : [];
  napi.sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  const found = napi.map((n) => join(binRoot, n, process.platform, process.arch)).find((d) => existsSync(d));
  const bindingDir = dir ?? found ?? join(binRoot, 'napi-v6', process.platform, process.arch);
  const files = existsSync(bindingDir) ? readdirSync(bindingDir).sort() : [];
  let binary = '';
  try {
    // latin1 keeps every byte, so ASCII markers are found anywhere in the ~0.4 MB binary.
    binary = readFileSync(join(bindingDir, 'onnxruntime_binding.node')).toString('latin1');
  } catch {
    // A missing binding is reported by onnxruntime itself when a model loads.
  }
  return {
    version,
    platform: process.platform,
    arch: process.arch,
    dir: bindingDir,
    compiled: [...compiled],
    files,
    forwardsTensorRtOptions: binary.includes(FORWARDING_MARKERS.tensorrt),
    forwardsCudaOptions: binary.includes(FORWARDING_MARKERS.cuda),
  };
}

/** The build a user needs for `provider` on this platform, in words (used by errors and `facegate doctor`). */
export function buildNeeded(provider: ProviderName, platform: string, arch: string): string {
  if (provider === 'cpu') return 'any onnxruntime-node build';
  if (platform === 'linux' && arch === 'arm64') {
    return `onnxruntime-node built from source with --use_tensorrt --build_nodejs for your JetPack (the npm linux/arm64 build is CPU only); see deploy/jetson/README.md`;
  }
  if (platform === 'linux' && arch === 'x64') {
    return provider === 'tensorrt'
      ? 'onnxruntime-node with its CUDA 12 provider libraries (npm install with ONNXRUNTIME_NODE_INSTALL=cuda12, which downloads them from NuGet) plus TensorRT 10 and CUDA 12 on the system; INT8/FP16/engine caches also need the binding patched by deploy/jetson/patch-onnxruntime-node.mjs'
      : 'onnxruntime-node with its CUDA 12 provider libraries (npm install with ONNXRUNTIME_NODE_INSTALL=cuda12, which downloads them from NuGet) plus CUDA 12 and cuDNN 9 on the system';
  }
  return `an onnxruntime-node build with the ${provider} provider, which npm does not publish for ${platform}/${arch}`;
}

/** Usability of each provider facegate knows, in fallback order. */
export function providerStatuses(binding: BindingInfo): ProviderStatus[] {
  return FALLBACK_ORDER.map((name) => {
    const compiled = name === 'cpu' || binding.compiled.includes(name);
    const missingLibraries = providerLibraries(name, binding.platform).filter((lib) => !binding.files.includes(lib));
    let reason: string | null = null;
    if (!compiled) reason = `onnxruntime-node ${binding.version} for ${binding.platform}/${binding.arch} is built without ${name}`;
    else if (missingLibraries.length) reason = `${missingLibraries.join(', ')} missing from ${binding.dir}`;
    const usable = reason === null;
    return { name, compiled, missingLibraries, usable, reason, buildNeeded: usable ? null : buildNeeded(name, binding.platform, binding.arch) };
  });
}

/** True when `o` asks for anything beyond the device id, i.e. something only a forwarding binding applies. */
export function needsTensorRtForwarding(o: TensorRtOptions | undefined): boolean {
  if (!o) return false;
  return Boolean(
    o.int8 || o.fp16 || o.engineCacheDir || o.timingCacheDir || o.workspaceSizeBytes !== undefined ||
      (o.shapeProfiles && Object.keys(o.shapeProfiles).length) || o.builderOptimizationLevel !== undefined || o.dlaCore !== undefined,
  );
}

/** True when `o` asks for CUDA options beyond the device id. */
export function needsCudaForwarding(o: CudaOptions | undefined): boolean {
  return Boolean(o && (o.memoryLimitBytes !== undefined || o.convAlgoSearch !== undefined));
}

export type DeviceRequest = ProviderName | 'auto';

/** The providers to try for a device request, in order, with the ones skipped and why. */
export interface ProviderPlan {
  tryOrder: ProviderName[];
  skipped: { name: ProviderName; reason: string }[];
}

/**
 * Decides which providers to try. An explicit provider that is unusable (or whose options the binding would drop)
 * throws `PROVIDER_UNAVAILABLE` naming the build needed; `auto` skips it, records why, and ends at CPU.
 */
export function planProviders(device: DeviceRequest, statuses: readonly ProviderStatus[], binding: BindingInfo, options: ProviderOptions = {}): ProviderPlan {
  const order: readonly ProviderName[] = device === 'auto' ? FALLBACK_ORDER : [device];
  if (!FALLBACK_ORDER.includes(order[0]!)) {
    throw new FaceGateError('CONFIG_INVALID', `unknown device "${device}" (expected one of ${[...FALLBACK_ORDER, 'auto'].join(', ')})`, {
      details: { field: 'device', value: device },
    });
  }
  const plan: ProviderPlan = { tryOrder: [], skipped: [] };
  for (const name of order) {
    const s = statuses.find((x) => x.name === name)!;
    let reason = s.reason;
    let needed = s.buildNeeded;
    if (!reason && name === 'tensorrt' && needsTensorRtForwarding(options.tensorrt) && !binding.forwardsTensorRtOptions) {
      reason = 'this onnxruntime-node binding passes only deviceId to TensorRT, so the requested int8/fp16/engine-cache/profile options would be silently dropped';
      needed = `a binding patched to forward trt_* options (deploy/jetson/patch-onnxruntime-node.mjs); ${buildNeeded('tensorrt', binding.platform, binding.arch)}`;
    }
    if (!reason && name === 'cuda' && needsCudaForwarding(options.cuda) && !binding.forwardsCudaOptions) {
      reason = 'this onnxruntime-node binding passes only deviceId to CUDA, so memoryLimitBytes/convAlgoSearch would be silently dropped';
      needed = 'a binding patched to forward CUDA options (deploy/jetson/patch-onnxruntime-node.mjs)';
    }
    if (reason) {
      if (device !== 'auto') {
        throw new FaceGateError('PROVIDER_UNAVAILABLE', `device "${name}" is not available: ${reason}. Needed: ${needed}`, {
          details: { device, provider: name, reason, buildNeeded: needed },
        });
      }
      plan.skipped.push({ name, reason });
      continue;
    }
    plan.tryOrder.push(name);
  }
  return plan;
}

/** The trt_* provider options (onnxruntime's documented names) for `o`; `engineCachePath` is the keyed folder. */
export function tensorRtProviderOptions(o: TensorRtOptions, engineCachePath?: string): Record<string, string> {
  validateTensorRtOptions(o);
  const out: Record<string, string> = {};
  if (o.int8) out.trt_int8_enable = '1';
  if (o.fp16) out.trt_fp16_enable = '1';
  if (engineCachePath) {
    out.trt_engine_cache_enable = '1';
    out.trt_engine_cache_path = engineCachePath;
  }
  if (o.timingCacheDir) {
    out.trt_timing_cache_enable = '1';
    out.trt_timing_cache_path = o.timingCacheDir;
  }
  if (o.workspaceSizeBytes !== undefined) out.trt_max_workspace_size = String(o.workspaceSizeBytes);
  if (o.builderOptimizationLevel !== undefined) out.trt_builder_optimization_level = String(o.builderOptimizationLevel);
  if (o.dlaCore !== undefined) {
    out.trt_dla_enable = '1';
    out.trt_dla_core = String(o.dlaCore);
  }
  const profiles = Object.entries(o.shapeProfiles ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (profiles.length) {
    const join = (k: keyof ShapeProfile) => profiles.map(([name, p]) => `${name}:${p[k].join('x')}`).join(',');
    out.trt_profile_min_shapes = join('min');
    out.trt_profile_opt_shapes = join('opt');
    out.trt_profile_max_shapes = join('max');
  }
  return out;
}

/** CUDA provider options (onnxruntime's names) beyond the device id. */
export function cudaProviderOptions(o: CudaOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.memoryLimitBytes !== undefined) {
    if (!(Number.isInteger(o.memoryLimitBytes) && o.memoryLimitBytes > 0)) invalid('cuda.memoryLimitBytes', 'must be a positive integer (bytes)', o.memoryLimitBytes);
    out.gpu_mem_limit = String(o.memoryLimitBytes);
  }
  if (o.convAlgoSearch !== undefined) {
    if (!['EXHAUSTIVE', 'HEURISTIC', 'DEFAULT'].includes(o.convAlgoSearch)) invalid('cuda.convAlgoSearch', 'must be EXHAUSTIVE, HEURISTIC or DEFAULT', o.convAlgoSearch);
    out.cudnn_conv_algo_search = o.convAlgoSearch;
  }
  return out;
}

function invalid(field: string, why: string, value: unknown): never {
  throw new FaceGateError('CONFIG_INVALID', `provider option ${field} ${why} (got ${JSON.stringify(value)})`, { details: { field, value } });
}

function validateTensorRtOptions(o: TensorRtOptions): void {
  const int = (v: number | undefined, field: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) invalid(`tensorrt.${field}`, `must be an integer in ${min}..${max}`, v);
  };
  int(o.deviceId, 'deviceId', 0);
  int(o.workspaceSizeBytes, 'workspaceSizeBytes', 1);
  int(o.builderOptimizationLevel, 'builderOptimizationLevel', 0, 5);
  int(o.dlaCore, 'dlaCore', 0, 1);
  if (o.dlaCore !== undefined && !o.int8 && !o.fp16) invalid('tensorrt.dlaCore', 'needs int8 or fp16 (DLA has no FP32)', o.dlaCore);
  for (const [name, p] of Object.entries(o.shapeProfiles ?? {})) {
    const dims = [p.min, p.opt, p.max];
    if (!/^[^:,]+$/.test(name)) invalid(`tensorrt.shapeProfiles`, 'input names must not contain ":" or ","', name);
    if (!dims.every((d) => Array.isArray(d) && d.length > 0 && d.every((x) => Number.isInteger(x) && x > 0))) {
      invalid(`tensorrt.shapeProfiles.${name}`, 'needs min, opt and max as arrays of positive integers', p);
    }
    if (!(p.min.length === p.opt.length && p.opt.length === p.max.length)) invalid(`tensorrt.shapeProfiles.${name}`, 'min, opt and max must have the same rank', p);
    if (!p.min.every((m, i) => m <= p.opt[i]! && p.opt[i]! <= p.max[i]!)) invalid(`tensorrt.shapeProfiles.${name}`, 'needs min <= opt <= max in every dimension', p);
  }
}

/**
 * The engine-cache folder name for a model: sha256 of the model's sha256, the options that change the engine, and
 * the onnxruntime version. onnxruntime's own key hashes the model's file name, not its bytes, so a replaced model
 * under the same name would otherwise load a stale engine.
 */
export function engineCacheKey(modelSha256: string, o: TensorRtOptions, runtimeVersion: string): string {
  const engineAffecting = {
    int8: Boolean(o.int8),
    fp16: Boolean(o.fp16),
    deviceId: o.deviceId ?? 0,
    workspaceSizeBytes: o.workspaceSizeBytes ?? null,
    builderOptimizationLevel: o.builderOptimizationLevel ?? null,
    dlaCore: o.dlaCore ?? null,
    shapeProfiles: Object.entries(o.shapeProfiles ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([n, p]) => [n, [...p.min], [...p.opt], [...p.max]]),
  };
  const text = JSON.stringify({ modelSha256, runtimeVersion, engineAffecting });
  return `${modelSha256.slice(0, 12)}-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** Engine cache folder for a model under `o.engineCacheDir`; undefined without one. */
export function engineCachePath(modelSha256: string, o: TensorRtOptions, runtimeVersion: string): string | undefined {
  return o.engineCacheDir ? join(o.engineCacheDir, engineCacheKey(modelSha256, o, runtimeVersion)) : undefined;
}

/**
 * Applies board limits: on a Jetson without INT8 (Nano, TX1, TX2) an int8 request becomes fp16 with a warning, since
 * TensorRT there rejects QDQ models and has no int8 builder path.
 */
export function adaptTensorRtToBoard(o: TensorRtOptions, jetson: JetsonInfo | null, logger: ProviderLogger = SILENT_LOGGER): TensorRtOptions {
  if (!o.int8 || !jetson || jetson.int8) return o;
  logger.warn(`${jetson.model} has no INT8 in TensorRT: using FP16 instead (load the FP32 model, not the INT8 one)`, {
    board: jetson.family,
  });
  return { ...o, int8: false, fp16: true };
}

/** One entry of onnxruntime's `executionProviders` list. */
export type ExecutionProviderEntry = { name: ProviderName; deviceId?: number } & Record<string, string | number>;

/** The onnxruntime execution-provider entry for `name`, with the forwarded options as string values. */
export function executionProviderEntry(name: ProviderName, options: ProviderOptions, trtEngineCachePath?: string): ExecutionProviderEntry {
  if (name === 'tensorrt') {
    const o = options.tensorrt ?? {};
    return { name, deviceId: o.deviceId ?? 0, ...tensorRtProviderOptions(o, trtEngineCachePath) };
  }
  if (name === 'cuda') {
    const o = options.cuda ?? {};
    return { name, deviceId: o.deviceId ?? 0, ...cudaProviderOptions(o) };
  }
  return { name: 'cpu' };
}
