/**
 * `facegate doctor`: what this box can do, checked rather than assumed. It loads nothing it does not need: the
 * providers come from the binding's files, the models from their sha256, the broker from a TCP connect. INT8 vs FP32
 * speed is measured only when INT8 models exist (models/int8/manifest.json). `--json` prints one object matching
 * schema/doctor.schema.json, for fleet tooling.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { release, type as osType } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FaceGateError, toFaceGateError } from '../../core/errors.js';
import { checkModel, loadManifest, packageRoot, resolveModelsDir, type ModelEntry, type ModelStatus } from '../../models/manifest.js';
import { detectCpuFeatures, detectJetson, type CpuFeatures, type JetsonInfo } from '../../runtime/cpu-features.js';
import { bindingInfo, createSession, runtimeVersion, type DeviceName, type OnnxSession } from '../../runtime/onnx.js';
import { planProviders, providerStatuses, type ProviderLogger, type ProviderOptions, type ProviderStatus } from '../../runtime/providers.js';
import { bool, numberFlag, parse, str, type Command } from '../common.js';
import { getField, loadConfigFile } from '../config.js';

export const DOCTOR_SCHEMA_ID = 'facegate.doctor/v1';

export interface DoctorReport {
  schema: typeof DOCTOR_SCHEMA_ID;
  generatedAt: string;
  facegateVersion: string;
  platform: { os: string; kernel: string; arch: string; node: string; jetson: JetsonInfo | null };
  cpu: CpuFeatures;
  runtime: {
    onnxruntimeVersion: string;
    bindingDir: string;
    /** Providers compiled into the binding (what onnxruntime lists, usable or not). */
    compiledProviders: string[];
    forwardsTensorRtOptions: boolean;
    forwardsCudaOptions: boolean;
    providers: ProviderStatus[];
    /** What `--device auto` would try, in order. */
    autoOrder: string[];
  };
  models: {
    dir: string | null;
    error: { code: string; message: string } | null;
    entries: { id: string; role: string; file: string; status: ModelStatus['status']; sizeBytes: number | null }[];
    verified: number;
  };
  int8: {
    manifest: string;
    status: 'absent' | 'invalid' | 'present';
    message: string | null;
    comparisons: Int8Comparison[];
  };
  cameras: { path: string; name: string | null; readable: boolean; writable: boolean }[];
  broker: BrokerCheck | null;
  warmup: WarmupResult[];
  /** Things that stop facegate from working as configured (exit code 1). */
  problems: string[];
  /** Things worth knowing that do not stop it. */
  warnings: string[];
}

export interface Int8Comparison {
  id: string;
  fp32Id: string;
  status: 'measured' | 'missing' | 'failed';
  message: string | null;
  runs: number;
  fp32MedianMs: number | null;
  int8MedianMs: number | null;
  /** fp32 / int8 median time; above 1 means INT8 is faster here. */
  speedup: number | null;
}

export interface BrokerCheck {
  url: string;
  host: string;
  port: number;
  reachable: boolean;
  latencyMs: number | null;
  error: string | null;
  timeoutMs: number;
}

export interface WarmupResult {
  id: string;
  status: 'ok' | 'failed';
  provider: string | null;
  loadMs: number | null;
  error: { code: string; message: string } | null;
}

const USAGE = `facegate doctor [options]

Checks this box: platform, CPU int8 features, onnxruntime providers, models, INT8 speed, cameras, broker.

options:
  --models DIR           models directory (default FACEGATE_MODELS, then ../shared/models)
  --int8-manifest FILE   INT8 model manifest (default models/int8/manifest.json in the package)
  --bench-runs N         timed runs per model for the INT8 vs FP32 comparison (default 5; 0 skips it)
  --broker URL           check TCP reachability of an MQTT broker (mqtt://host:port, mqtts://, ws://, wss://)
  --timeout-ms N         broker connect timeout in milliseconds (default 2000)
  --config FILE          the \`facegate run\` config: --warmup loads its engine.detector and engine.recognizer from
                         engine.modelsDir on engine.device; TensorRT settings come from FACEGATE_TRT_* as for run
  --warmup               load models on the device once (builds and caches TensorRT engines at install time):
                         the --model list, else the config's detector and recognizer, else every verified model
  --model ID[,ID...]     models for --warmup
  --device NAME          device for --warmup: cpu, cuda, tensorrt or auto (default: the config's, else auto)
  --trt-int8, --trt-fp16 TensorRT precision for --warmup (over FACEGATE_TRT_INT8/FP16)
  --trt-cache DIR        TensorRT engine and timing cache root for --warmup (over FACEGATE_TRT_CACHE_DIR)
  --trt-workspace-mb N   TensorRT builder workspace for --warmup, MiB
  --json                 print one JSON object (schema/doctor.schema.json)
exit code: 0 when no problem was found, 1 otherwise.`;

const OPTIONS = {
  'int8-manifest': { type: 'string' },
  'bench-runs': { type: 'string' },
  broker: { type: 'string' },
  'timeout-ms': { type: 'string' },
  config: { type: 'string' },
  warmup: { type: 'boolean' },
  model: { type: 'string' },
  device: { type: 'string' },
  'trt-int8': { type: 'boolean' },
  'trt-fp16': { type: 'boolean' },
  'trt-cache': { type: 'string' },
  'trt-workspace-mb': { type: 'string' },
} as const;

/** Default MQTT ports per URL scheme. */
const BROKER_PORTS: Record<string, number> = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ssl:': 8883, 'tls:': 8883, 'ws:': 80, 'wss:': 443 };

/** Parses a broker URL into host and port. Throws `USAGE` for anything else. */
export function parseBrokerUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FaceGateError('USAGE', `--broker expects a URL like mqtt://host:1883, got "${url}"`);
  }
  const fallback = BROKER_PORTS[u.protocol];
  if (fallback === undefined) throw new FaceGateError('USAGE', `--broker scheme "${u.protocol}" is not one of ${Object.keys(BROKER_PORTS).join(' ')}`);
  if (!u.hostname) throw new FaceGateError('USAGE', `--broker URL "${url}" has no host`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : fallback };
}

/** A TCP connect to the broker with a timeout: enough to tell "down or firewalled" from "up". */
export function checkBroker(url: string, timeoutMs: number): Promise<BrokerCheck> {
  const { host, port } = parseBrokerUrl(url);
  const start = performance.now();
  return new Promise((res) => {
    const socket = connect({ host, port });
    const done = (reachable: boolean, error: string | null) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      res({ url, host, port, reachable, latencyMs: reachable ? round(performance.now() - start) : null, error, timeoutMs });
    };
    socket.setTimeout(timeoutMs, () => done(false, `no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(true, null));
    socket.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ? `${e.code}: ${e.message}` : e.message));
  });
}

/** Video4Linux devices (/dev/videoN) with their driver-given names and whether this user may open them. */
export function listCameras(devDir = '/dev', sysDir = '/sys/class/video4linux'): DoctorReport['cameras'] {
  let names: string[] = [];
  try {
    names = readdirSync(devDir).filter((n) => /^video\d+$/.test(n));
  } catch {
    return [];
  }
  const can = (p: string, mode: number) => {
    try {
      accessSync(p, mode);
      return true;
    } catch {
      return false;
    }
  };
  return names
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((n) => {
      const path = join(devDir, n);
      let name: string | null = null;
      try {
        name = readFileSync(join(sysDir, n, 'name'), 'utf8').trim();
      } catch {
        // No sysfs entry (a container): the path alone still tells the integrator what is mapped in.
      }
      return { path, name, readable: can(path, constants.R_OK), writable: can(path, constants.W_OK) };
    });
}

interface Int8Entry {
  id: string;
  file: string;
  fp32Id: string;
  target: string | null;
  /** sha256 of the FP32 file it was quantised from, when recorded. */
  sourceSha256: string | null;
}

/**
 * Reads the INT8 manifest (models/int8/manifest.json, written by the quantiser) leniently: an entry needs a file
 * (relative to the manifest) and an id. The FP32 model it was made from is `fp32Id`/`sourceId`/`source.id` when
 * given, else the entry's own id (the quantiser records INT8 files under their FP32 model's id). Entries are named
 * after their file (`det_500m.int8.cpu`), since one FP32 model can have a CPU and a TensorRT flavour.
 */
export function readInt8Manifest(path: string): { status: DoctorReport['int8']['status']; message: string | null; entries: Int8Entry[] } {
  if (!existsSync(path)) return { status: 'absent', message: `no INT8 models (${path} does not exist)`, entries: [] };
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { models?: unknown };
    if (!Array.isArray(raw.models)) throw new Error('no "models" array');
    const entries = raw.models.flatMap((m: Record<string, unknown>): Int8Entry[] => {
      const src = m.fp32Id ?? m.sourceId ?? m.fp32 ?? m.source;
      const named = typeof src === 'string' ? src : src && typeof src === 'object' ? (src as { id?: unknown }).id : undefined;
      const fp32Id = typeof named === 'string' ? named : m.id;
      if (typeof m.id !== 'string' || typeof m.file !== 'string' || typeof fp32Id !== 'string') return [];
      const sourceSha = src && typeof src === 'object' ? (src as { sha256?: unknown }).sha256 : undefined;
      return [
        {
          id: basename(m.file).replace(/\.onnx$/, ''),
          file: m.file,
          fp32Id,
          target: typeof m.target === 'string' ? m.target : null,
          sourceSha256: typeof sourceSha === 'string' ? sourceSha : null,
        },
      ];
    });
    return { status: 'present', message: null, entries };
  } catch (e) {
    return { status: 'invalid', message: `cannot read ${path}: ${(e as Error).message}`, entries: [] };
  }
}

/** A zero input of the model's declared shape (dynamic sizes: the manifest's, else 640 for detectors). */
function zeroFeed(session: OnnxSession, entry: ModelEntry) {
  const input = session.inputs[0]!;
  const [w, h] = entry.input.size ?? [640, 640];
  const dims = input.shape.length === 4 ? [1, 3, h, w] : input.shape.map((d) => (d > 0 ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  return { [input.name]: { data: new Float32Array(n), dims, type: 'float32' as const } };
}

async function medianRunMs(session: OnnxSession, entry: ModelEntry, runs: number): Promise<number> {
  const feed = zeroFeed(session, entry);
  await session.run(feed);
  await session.run(feed);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await session.run(feed);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  return times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
}

async function compareInt8(entry: Int8Entry, manifestDir: string, fp32: ModelStatus | undefined, runs: number): Promise<Int8Comparison> {
  const base: Int8Comparison = { id: entry.id, fp32Id: entry.fp32Id, status: 'missing', message: null, runs, fp32MedianMs: null, int8MedianMs: null, speedup: null };
  const int8Path = resolve(manifestDir, entry.file);
  if (!fp32 || fp32.status !== 'ok') return { ...base, message: `FP32 model ${entry.fp32Id} is not verified here` };
  if (entry.sourceSha256 && entry.sourceSha256 !== fp32.entry.sha256) {
    return { ...base, status: 'failed', message: `made from a different ${entry.fp32Id} file (sha256 ${entry.sourceSha256.slice(0, 12)}...): quantise again` };
  }
  if (!existsSync(int8Path)) return { ...base, message: `${int8Path} does not exist` };
  const sessions: OnnxSession[] = [];
  try {
    const a = await createSession(fp32.path, { device: 'cpu' });
    sessions.push(a);
    const b = await createSession(int8Path, { device: 'cpu' });
    sessions.push(b);
    const fp32Ms = await medianRunMs(a, fp32.entry, runs);
    const int8Ms = await medianRunMs(b, fp32.entry, runs);
    return { ...base, status: 'measured', fp32MedianMs: round(fp32Ms), int8MedianMs: round(int8Ms), speedup: round(fp32Ms / int8Ms) };
  } catch (e) {
    return { ...base, status: 'failed', message: toFaceGateError(e).message.split('\n')[0]! };
  } finally {
    for (const s of sessions) await s.close();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function facegateVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export interface DoctorOptions {
  /** Models directory (default: resolveModelsDir's order). */
  modelsDir?: string;
  /** INT8 manifest path. Default: models/int8/manifest.json in the package. */
  int8Manifest?: string;
  /** Timed runs per model for INT8 vs FP32; 0 skips timing. Default 5. */
  benchRuns?: number;
  /** Broker URL to check; none by default. */
  broker?: string;
  /** Broker connect timeout, milliseconds. Default 2000. */
  brokerTimeoutMs?: number;
  /** Model ids to load on `device` (building TensorRT engines), or ['all']. Default none. */
  warmup?: string[];
  /** Device for warmup. Default auto. */
  device?: DeviceName;
  /** Provider options for warmup. */
  providers?: ProviderOptions;
  /** Receives the provider log lines of warmup. Default silent. */
  logger?: ProviderLogger;
}

/** Runs every check and returns the report (never throws for a failed check; each is reported in place). */
export async function runDoctor(o: DoctorOptions = {}): Promise<DoctorReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const jetson = detectJetson();
  const cpu = detectCpuFeatures();
  const binding = bindingInfo();
  const statuses = providerStatuses(binding);
  const autoOrder = planProviders('auto', statuses, binding).tryOrder;

  // Models: every manifest entry, verified by sha256.
  let dir: string | null = null;
  let modelError: DoctorReport['models']['error'] = null;
  const checked: ModelStatus[] = [];
  try {
    dir = resolveModelsDir(o.modelsDir);
    for (const entry of loadManifest().models) checked.push(await checkModel(dir, entry));
  } catch (e) {
    const err = toFaceGateError(e);
    modelError = { code: err.code, message: err.message };
    problems.push(`models: ${err.message}`);
  }
  for (const s of checked.filter((c) => c.status === 'mismatch')) {
    problems.push(`model ${s.entry.id}: ${s.path} has sha256 ${s.actualSha256}, expected ${s.entry.sha256}`);
  }
  const verified = checked.filter((c) => c.status === 'ok');
  if (dir && !verified.some((c) => c.entry.role === 'detector')) problems.push('no verified detector model');
  if (dir && !verified.some((c) => c.entry.role === 'recognizer')) problems.push('no verified recognizer model');

  // INT8 vs FP32, only when INT8 models exist.
  const int8Manifest = o.int8Manifest ?? join(packageRoot(), 'models', 'int8', 'manifest.json');
  const int8 = readInt8Manifest(int8Manifest);
  const runs = o.benchRuns ?? 5;
  const comparisons: Int8Comparison[] = [];
  if (int8.status === 'invalid') warnings.push(int8.message!);
  for (const entry of int8.entries) {
    if (entry.target && entry.target !== 'cpu') continue; // TensorRT-flavoured QDQ is timed on the Jetson, not here.
    if (runs <= 0) continue;
    const c = await compareInt8(entry, dirname(int8Manifest), checked.find((s) => s.entry.id === entry.fp32Id), runs);
    comparisons.push(c);
    if (c.status === 'measured' && c.speedup! < 1) warnings.push(`INT8 ${entry.id} is slower than FP32 here (${c.int8MedianMs} vs ${c.fp32MedianMs} ms): use the FP32 model`);
  }
  if (int8.entries.length && cpu.int8Acceleration === 'none' && !jetson) {
    warnings.push('this CPU has no VNNI / dot-product instructions: INT8 models may be no faster than FP32');
  }
  if (jetson && !jetson.int8) warnings.push(`${jetson.model} has no INT8 in TensorRT: run the FP32 models with FP16`);
  if (jetson && !statuses.find((s) => s.name === 'tensorrt')!.usable) {
    warnings.push(`Jetson without a TensorRT-enabled onnxruntime-node: running on CPU (${statuses.find((s) => s.name === 'tensorrt')!.buildNeeded})`);
  }

  const cameras = listCameras();
  let broker: BrokerCheck | null = null;
  if (o.broker) {
    broker = await checkBroker(o.broker, o.brokerTimeoutMs ?? 2000);
    if (!broker.reachable) problems.push(`broker ${broker.host}:${broker.port} unreachable: ${broker.error}`);
  }

  // Warm-up: load models on the device once, so TensorRT engines are built and cached at install, not first use.
  const warmup: WarmupResult[] = [];
  const wanted = o.warmup?.includes('all') ? verified.map((v) => v.entry.id) : (o.warmup ?? []);
  for (const id of wanted) {
    const s = checked.find((c) => c.entry.id === id);
    if (!s || s.status !== 'ok') {
      const message = s ? `model ${id} is ${s.status}` : `model ${id} is not in the manifest or the models directory was not found`;
      warmup.push({ id, status: 'failed', provider: null, loadMs: null, error: { code: s ? 'MODEL_NOT_FOUND' : 'MODEL_UNKNOWN', message } });
      problems.push(`warmup ${id}: ${message}`);
      continue;
    }
    const t = performance.now();
    try {
      const session = await createSession(s.path, {
        device: o.device ?? 'auto',
        providers: o.providers,
        logger: o.logger,
        label: id,
        modelSha256: s.entry.sha256,
      });
      const loadMs = round(performance.now() - t);
      await medianRunMs(session, s.entry, 1);
      warmup.push({ id, status: 'ok', provider: session.provider, loadMs, error: null });
      await session.close();
    } catch (e) {
      const err = toFaceGateError(e);
      warmup.push({ id, status: 'failed', provider: null, loadMs: null, error: { code: err.code, message: err.message } });
      problems.push(`warmup ${id}: ${err.message}`);
    }
  }

  return {
    schema: DOCTOR_SCHEMA_ID,
    generatedAt: new Date().toISOString(),
    facegateVersion: facegateVersion(),
    platform: { os: osType(), kernel: release(), arch: process.arch, node: process.version, jetson },
    cpu,
    runtime: {
      onnxruntimeVersion: runtimeVersion(),
      bindingDir: binding.dir,
      compiledProviders: [...binding.compiled],
      forwardsTensorRtOptions: binding.forwardsTensorRtOptions,
      forwardsCudaOptions: binding.forwardsCudaOptions,
      providers: statuses,
      autoOrder,
    },
    models: {
      dir,
      error: modelError,
      entries: checked.map((c) => ({ id: c.entry.id, role: c.entry.role, file: c.entry.file, status: c.status, sizeBytes: c.entry.sizeBytes ?? null })),
      verified: verified.length,
    },
    int8: { manifest: int8Manifest, status: int8.status, message: int8.message, comparisons },
    cameras,
    broker,
    warmup,
    problems,
    warnings,
  };
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The human-readable report. */
export function formatReport(r: DoctorReport): string {
  const L: string[] = [];
  const j = r.platform.jetson;
  L.push(`facegate ${r.facegateVersion} doctor`);
  L.push(`platform   ${r.platform.os} ${r.platform.kernel} ${r.platform.arch}, node ${r.platform.node}`);
  L.push(`board      ${j ? `${j.model} (L4T ${j.l4t ?? '?'}, JetPack ${j.jetpack ?? '?'}, TensorRT INT8 ${yesNo(j.int8)})` : 'not a Jetson'}`);
  const c = r.cpu;
  L.push(`cpu        ${c.model ?? 'unknown'}, ${c.logicalCores} logical cores`);
  L.push(
    c.arch === 'arm64' || c.arch === 'arm'
      ? `           dot-product (asimddp) ${yesNo(c.armDotProd)}, i8mm ${yesNo(c.armI8mm)}; int8 acceleration: ${c.int8Acceleration}`
      : `           AVX2 ${yesNo(c.avx2)}, AVX512 ${yesNo(c.avx512f)}, AVX512-VNNI ${yesNo(c.avx512Vnni)}, AVX-VNNI ${yesNo(c.avxVnni)}; int8 acceleration: ${c.int8Acceleration}`,
  );
  L.push(`onnxruntime-node ${r.runtime.onnxruntimeVersion} (${r.runtime.bindingDir})`);
  for (const p of r.runtime.providers) {
    L.push(`  ${p.name.padEnd(9)} ${p.usable ? 'usable' : `unavailable: ${p.reason}`}`);
    if (!p.usable) L.push(`            needs: ${p.buildNeeded}`);
  }
  L.push(`  trt_* options forwarded: ${yesNo(r.runtime.forwardsTensorRtOptions)}; --device auto tries: ${r.runtime.autoOrder.join(' -> ')}`);
  L.push(`models     ${r.models.dir ?? r.models.error?.message}`);
  for (const m of r.models.entries) L.push(`  ${m.id.padEnd(28)} ${m.role.padEnd(10)} ${m.status === 'ok' ? 'verified' : m.status}`);
  if (r.int8.status !== 'present') L.push(`int8       ${r.int8.message}`);
  for (const cmp of r.int8.comparisons) {
    L.push(
      cmp.status === 'measured'
        ? `int8       ${cmp.id}: ${cmp.int8MedianMs} ms vs FP32 ${cmp.fp32Id} ${cmp.fp32MedianMs} ms (x${cmp.speedup}, median of ${cmp.runs})`
        : `int8       ${cmp.id}: ${cmp.status}: ${cmp.message}`,
    );
  }
  L.push(`cameras    ${r.cameras.length ? r.cameras.map((d) => `${d.path}${d.name ? ` (${d.name})` : ''}${d.readable ? '' : ' [no access]'}`).join(', ') : 'none found (/dev/video*)'}`);
  if (r.broker) L.push(`broker     ${r.broker.host}:${r.broker.port} ${r.broker.reachable ? `reachable (${r.broker.latencyMs} ms)` : `UNREACHABLE: ${r.broker.error}`}`);
  for (const w of r.warmup) L.push(`warmup     ${w.id}: ${w.status === 'ok' ? `${w.provider}, loaded in ${w.loadMs} ms` : `failed: ${w.error?.message}`}`);
  for (const w of r.warnings) L.push(`warning    ${w}`);
  for (const p of r.problems) L.push(`PROBLEM    ${p}`);
  L.push(r.problems.length ? `${r.problems.length} problem(s) found` : 'no problems found');
  return L.join('\n');
}

function stderrLogger(): ProviderLogger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  return { info: line('info'), warn: line('warn') };
}

export const command: Command = {
  name: 'doctor',
  summary: 'check this box: CPU features, onnxruntime providers, models, INT8 speed, cameras, broker',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const configPath = str(args, 'config');
    // The same loader as `facegate run`, so a config doctor accepts is one run accepts.
    const config = configPath ? loadConfigFile(configPath) : undefined;
    const fromConfig = (field: string) => (config ? getField<string>(config, `engine.${field}`) : undefined);
    const device = (str(args, 'device') ?? fromConfig('device') ?? 'auto') as DeviceName;
    if (!['cpu', 'cuda', 'tensorrt', 'auto'].includes(device)) throw new FaceGateError('USAGE', `--device must be cpu, cuda, tensorrt or auto, got "${device}"`);
    const cache = str(args, 'trt-cache');
    const workspaceMb = str(args, 'trt-workspace-mb');
    const tensorrt = {
      ...(bool(args, 'trt-int8') ? { int8: true } : {}),
      ...(bool(args, 'trt-fp16') ? { fp16: true } : {}),
      ...(cache ? { engineCacheDir: join(cache, 'engines'), timingCacheDir: join(cache, 'timing') } : {}),
      ...(workspaceMb ? { workspaceSizeBytes: Math.round(numberFlag(workspaceMb, 'trt-workspace-mb', 0) * 1024 * 1024) } : {}),
    };
    const configured = [fromConfig('detector'), fromConfig('recognizer')].filter((v): v is string => typeof v === 'string');
    const listed = str(args, 'model')?.split(',').map((s) => s.trim()).filter(Boolean);
    const warmup = bool(args, 'warmup') ? (listed ?? (configured.length ? configured : ['all'])) : undefined;
    const report = await runDoctor({
      modelsDir: str(args, 'models') ?? fromConfig('modelsDir'),
      int8Manifest: str(args, 'int8-manifest'),
      benchRuns: numberFlag(str(args, 'bench-runs'), 'bench-runs', 5),
      broker: str(args, 'broker'),
      brokerTimeoutMs: numberFlag(str(args, 'timeout-ms'), 'timeout-ms', 2000),
      warmup,
      device,
      ...(Object.keys(tensorrt).length ? { providers: { tensorrt } } : {}),
      // Provider log lines go to stderr so --json output on stdout stays one object.
      logger: stderrLogger(),
    });
    process.stdout.write(bool(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.problems.length ? 1 : 0;
  },
};
