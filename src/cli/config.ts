/**
 * The configuration of `facegate run`: one table of fields, read from a JSON or YAML file and overridden by flags
 * of the same dotted name (`--source.fps 5`). Every field is checked once here; a malformed one is CONFIG_INVALID
 * naming the field (and the file), so nothing deeper in the pipeline meets an unchecked value.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FaceGateError } from '../core/errors.js';

type FieldType = 'string' | 'number' | 'integer' | 'boolean' | 'string[]';

/** One configuration field. */
export interface FieldSpec {
  /** Dotted path in the file, also the flag name (`source.fps` is `--source.fps`). */
  path: string;
  type: FieldType;
  /** For strings: the allowed values. */
  values?: readonly string[];
  /** For numbers: inclusive bounds. */
  min?: number;
  max?: number;
  /** Default as shown in the docs (the code's default applies when absent). */
  default?: string;
  doc: string;
}

/** Every option of `facegate run`. Keep in step with docs (the usage text is generated from this table). */
export const CONFIG_FIELDS: readonly FieldSpec[] = [
  { path: 'deviceId', type: 'string', default: 'the host name', doc: 'device id in topics and events' },
  { path: 'source.input', type: 'string', doc: 'video file, rtsp:// URL, /dev/videoN camera or image folder (required)' },
  { path: 'source.fps', type: 'number', min: 0.1, max: 240, default: '10', doc: 'target frame rate, frames per second' },
  { path: 'source.maxWidthPx', type: 'integer', min: 0, default: '640', doc: 'frames wider than this are scaled down (0: keep)' },
  { path: 'source.realtime', type: 'boolean', default: 'false', doc: 'files: read at their own speed, like a camera' },
  { path: 'source.loop', type: 'boolean', default: 'false', doc: 'files and folders: start again at the end' },
  { path: 'source.queueSize', type: 'integer', min: 1, max: 100, default: '2', doc: 'latest-frame queue capacity, frames' },
  { path: 'source.stallTimeoutMs', type: 'integer', min: 100, default: '10000', doc: 'a stream silent this long is restarted, ms' },
  { path: 'source.reconnectInitialDelayMs', type: 'integer', min: 0, default: '500', doc: 'first retry wait, ms' },
  { path: 'source.reconnectMaxDelayMs', type: 'integer', min: 0, default: '30000', doc: 'longest retry wait, ms' },
  { path: 'source.reconnectMaxAttempts', type: 'integer', min: 1, default: 'unlimited', doc: 'give up after this many failed attempts' },
  { path: 'source.inputArgs', type: 'string[]', default: '[]', doc: 'extra ffmpeg input arguments (e.g. ["-input_format","mjpeg"])' },
  { path: 'engine.modelsDir', type: 'string', default: 'FACEGATE_MODELS or ../shared/models', doc: 'models directory' },
  { path: 'engine.detector', type: 'string', default: 'det_500m', doc: 'detector model id' },
  { path: 'engine.recognizer', type: 'string', default: 'mobilefacenet512_faceplugin', doc: 'recognizer model id' },
  { path: 'engine.device', type: 'string', values: ['cpu', 'cuda', 'tensorrt', 'auto'], default: 'cpu', doc: 'execution device' },
  { path: 'engine.precision', type: 'string', values: ['auto', 'int8', 'fp32'], default: 'auto (int8 when models/int8 has the model and the CPU has VNNI/dot-product)', doc: 'model precision' },
  { path: 'engine.threads', type: 'integer', min: 0, max: 256, default: '0 (one per core)', doc: 'onnxruntime threads per operator' },
  { path: 'engine.scoreThreshold', type: 'number', min: 0, max: 1, default: '0.5 (SCRFD), 0.7 (YuNet)', doc: 'least detector confidence' },
  { path: 'engine.minFacePx', type: 'integer', min: 0, default: '24', doc: 'ignore faces narrower than this, pixels' },
  { path: 'gallery.path', type: 'string', doc: 'LMDB gallery directory (required)' },
  { path: 'gallery.name', type: 'string', default: 'default', doc: 'gallery name within the directory' },
  { path: 'quality.preset', type: 'string', values: ['kiosk', 'passive'], default: 'passive', doc: 'quality gate limits' },
  { path: 'quality.minInterOcularPx', type: 'number', min: 0, doc: 'override: least eye distance, pixels' },
  { path: 'quality.maxYawDeg', type: 'number', min: 0, max: 90, doc: 'override: largest yaw, degrees' },
  { path: 'quality.minScore', type: 'number', min: 0, max: 1, doc: 'override: least overall quality score' },
  { path: 'tracker.minIou', type: 'number', min: 0, max: 1, default: '0.2', doc: 'least IoU to continue a track' },
  { path: 'tracker.maxAgeMs', type: 'integer', min: 0, default: '1000', doc: 'a track unseen this long ends, ms' },
  { path: 'decision.threshold', type: 'number', min: -1, max: 1, default: "the recognizer's", doc: 'least fused similarity to identify' },
  { path: 'decision.minMargin', type: 'number', min: 0, max: 2, default: '0.05', doc: 'least gap to the runner-up identity' },
  { path: 'decision.minSamples', type: 'integer', min: 1, default: '2', doc: 'quality-passing faces needed to identify' },
  { path: 'decision.maxSamples', type: 'integer', min: 1, default: '5', doc: 'best faces fused per track' },
  { path: 'decision.maxAttempts', type: 'integer', min: 1, default: '12', doc: 'faces embedded per undecided track' },
  { path: 'decision.cooldownMs', type: 'integer', min: 0, default: '10000', doc: 'no repeat event for a person seen within, ms' },
  { path: 'events.faceCrop', type: 'boolean', default: 'false', doc: 'attach a JPEG of the face to events' },
  { path: 'events.console', type: 'boolean', default: 'false', doc: 'also print events as JSON Lines on stdout' },
  { path: 'mqtt.url', type: 'string', doc: 'broker URL, mqtt:// or mqtts:// (no MQTT when absent)' },
  { path: 'mqtt.topicPrefix', type: 'string', default: 'facegate/<deviceId>/', doc: 'topic prefix' },
  { path: 'mqtt.clientId', type: 'string', default: 'facegate-<deviceId>', doc: 'MQTT client id' },
  { path: 'mqtt.username', type: 'string', doc: 'user name' },
  { path: 'mqtt.password', type: 'string', doc: 'password (prefer FACEGATE_MQTT_PASSWORD)' },
  { path: 'mqtt.caFile', type: 'string', doc: 'TLS: CA certificate file (PEM)' },
  { path: 'mqtt.certFile', type: 'string', doc: 'TLS: client certificate file (PEM)' },
  { path: 'mqtt.keyFile', type: 'string', doc: 'TLS: client key file (PEM)' },
  { path: 'mqtt.rejectUnauthorized', type: 'boolean', default: 'true', doc: 'TLS: verify the broker certificate' },
  { path: 'mqtt.outboxPath', type: 'string', default: '<gallery.path>/../outbox', doc: 'LMDB outbox directory' },
  { path: 'mqtt.outboxMaxEvents', type: 'integer', min: 1, default: '100000', doc: 'outbox bound, events' },
  { path: 'webhook.url', type: 'string', doc: 'HTTP(S) endpoint receiving each event as a JSON POST' },
  { path: 'webhook.timeoutMs', type: 'integer', min: 1, default: '5000', doc: 'request timeout, ms' },
  { path: 'webhook.outboxPath', type: 'string', default: '<gallery.path>/../webhook-outbox', doc: 'LMDB outbox directory of the webhook' },
  { path: 'statusIntervalMs', type: 'integer', min: 0, default: '60000', doc: 'publish counters on the status topic this often, ms (0: never)' },
  { path: 'shutdownTimeoutMs', type: 'integer', min: 0, default: '5000', doc: 'on SIGINT/SIGTERM, wait this long for sinks to flush, ms' },
];

/** The parsed configuration: a nested object of checked values. */
export type RunConfig = Record<string, unknown>;

const BY_PATH = new Map(CONFIG_FIELDS.map((f) => [f.path, f]));
const SECTIONS = new Set(CONFIG_FIELDS.filter((f) => f.path.includes('.')).map((f) => f.path.split('.')[0]!));

function invalid(field: string, message: string, origin: string): FaceGateError {
  return new FaceGateError('CONFIG_INVALID', `${origin}: ${field} ${message}`, { details: { field, origin } });
}

/** Checks and converts one value (from a file, or a flag's string when `fromFlag`). */
export function checkField(spec: FieldSpec, value: unknown, origin: string, fromFlag = false): unknown {
  const bad = (m: string): never => {
    throw invalid(spec.path, m, origin);
  };
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string' || value.length === 0) bad(`must be a non-empty string, got ${JSON.stringify(value)}`);
      if (spec.values && !spec.values.includes(value as string)) bad(`must be one of ${spec.values.join(', ')}, got "${value}"`);
      return value;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (fromFlag && (value === 'true' || value === 'false')) return value === 'true';
      return bad(`must be true or false, got ${JSON.stringify(value)}`);
    case 'number':
    case 'integer': {
      const n = fromFlag && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) return bad(`must be a number, got ${JSON.stringify(value)}`);
      if (spec.type === 'integer' && !Number.isInteger(n)) bad(`must be an integer, got ${n}`);
      if (spec.min !== undefined && n < spec.min) bad(`must be >= ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) bad(`must be <= ${spec.max}, got ${n}`);
      return n;
    }
    case 'string[]': {
      let v = value;
      if (fromFlag && typeof v === 'string') {
        try {
          v = JSON.parse(v);
        } catch {
          v = (value as string).split(/\s+/).filter(Boolean);
        }
      }
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return bad(`must be a list of strings, got ${JSON.stringify(value)}`);
      return v;
    }
  }
}

function set(config: RunConfig, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = config;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as RunConfig;
  o[parts.at(-1)!] = value;
}

/** Reads a value at a dotted path. */
export function getField<T>(config: RunConfig, path: string): T | undefined {
  let o: unknown = config;
  for (const p of path.split('.')) {
    if (typeof o !== 'object' || o === null) return undefined;
    o = (o as Record<string, unknown>)[p];
  }
  return o as T | undefined;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** The known field nearest a misspelt one (at most 2 edits, case ignored), for the error message. */
function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const f of CONFIG_FIELDS) {
    const dist = editDistance(name.toLowerCase(), f.path.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = f.path;
    }
  }
  return best;
}

/** Checks a parsed configuration object (from a file): unknown fields and bad values are CONFIG_INVALID naming the field. */
export function checkConfig(raw: unknown, origin: string): RunConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FaceGateError('CONFIG_INVALID', `${origin}: the configuration must be an object of fields`, { details: { origin } });
  }
  const out: RunConfig = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (SECTIONS.has(key)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(key, 'must be a section (an object of fields)', origin);
      for (const [sub, v] of Object.entries(value as Record<string, unknown>)) {
        const path = `${key}.${sub}`;
        const spec = BY_PATH.get(path);
        if (!spec) {
          const hint = closest(path);
          throw invalid(path, `is not a known option${hint ? ` (did you mean ${hint}?)` : ''}`, origin);
        }
        if (v === null || v === undefined) continue;
        set(out, path, checkField(spec, v, origin));
      }
      continue;
    }
    const spec = BY_PATH.get(key);
    if (!spec) {
      const hint = closest(key);
      throw invalid(key, `is not a known option${hint ? ` (did you mean ${hint}?)` : ''}`, origin);
    }
    if (value === null || value === undefined) continue;
    set(out, key, checkField(spec, value, origin));
  }
  return out;
}

/** Reads a JSON (`.json`) or YAML (`.yaml`, `.yml`, anything else) configuration file and checks it. */
export function loadConfigFile(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { details: { path } });
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new FaceGateError('CONFIG_INVALID', `${path}: not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`, {
      details: { path },
    });
  }
  return checkConfig(raw ?? {}, path);
}

/** parseArgs option declarations for every field (`--source.fps 5`, `--events.console`). */
export function configFlagOptions(): Record<string, { type: 'string' | 'boolean' }> {
  return Object.fromEntries(CONFIG_FIELDS.map((f) => [f.path, { type: f.type === 'boolean' ? 'boolean' : 'string' }]));
}

/** Applies flag values over a configuration (flags win). */
export function applyFlags(config: RunConfig, values: Record<string, unknown>): RunConfig {
  const out = structuredClone(config);
  for (const spec of CONFIG_FIELDS) {
    let v = values[spec.path];
    if (Array.isArray(v)) v = v.at(-1);
    if (v === undefined) continue;
    set(out, spec.path, checkField(spec, v, `--${spec.path}`, true));
  }
  return out;
}

/** Fails with CONFIG_INVALID naming the first required field that is missing. */
export function requireFields(config: RunConfig, paths: readonly string[]): void {
  for (const p of paths) {
    if (getField(config, p) === undefined) {
      throw new FaceGateError('CONFIG_INVALID', `${p} is required (in the config file or as --${p})`, { details: { field: p } });
    }
  }
}

/** The options table for usage text. */
export function configUsage(): string {
  return CONFIG_FIELDS.map((f) => `  --${f.path.padEnd(30)} ${f.doc}${f.default ? ` (default ${f.default})` : ''}`).join('\n');
}
