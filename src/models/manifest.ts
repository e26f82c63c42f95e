/**
 * The model manifest: what each supported model is, where its file is, and how to feed it. Adding a model is a
 * manifest entry, never code: detectors and recognizers read their pre- and post-processing from it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaceGateError } from '../core/errors.js';

export type ModelRole = 'detector' | 'recognizer' | 'liveness';
export type ModelFamily = 'scrfd' | 'yunet' | 'arcface' | 'minifasnet';
export type ColorOrder = 'RGB' | 'BGR';

export interface ModelInputSpec {
  /** Input tensor name. */
  name: string;
  /** Fixed [width, height] in pixels, or null when the model takes any size (a multiple of `sizeMultiple`). */
  size: [number, number] | null;
  /** Dynamic sizes must be a multiple of this, in pixels. */
  sizeMultiple?: number;
  /** Per-channel mean subtracted from 0..255 values, in the model's colour order. */
  mean: [number, number, number];
  /** Per-channel divisor applied after the mean. */
  std: [number, number, number];
  colorOrder: ColorOrder;
  /** Liveness models: the face box is scaled by this before cropping. */
  cropScale?: number;
}

export interface ModelEntry {
  id: string;
  file: string;
  sha256: string;
  sizeBytes?: number;
  role: ModelRole;
  family: ModelFamily;
  input: ModelInputSpec;
  output: {
    layout: string;
    name?: string;
    strides?: number[];
    anchorsPerCell?: number;
    order?: string;
    liveClass?: number;
  };
  /** Recognizers: embedding length. */
  embeddingSize?: number;
  /** Recognizers: cosine-similarity threshold measured on the dev pairs (null until measured). */
  recommendedThreshold?: number | null;
  license: string;
  source: string;
  /** Free-form notes (how a setting was measured). */
  notes?: string;
}

export interface Manifest {
  schema: string;
  models: ModelEntry[];
}

/** The package root (the folder holding package.json), found from this file's location in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models', 'manifest.json'))) return dir;
    dir = dirname(dir);
  }
  throw new FaceGateError('INTERNAL', 'cannot find the facegate package root (models/manifest.json)');
}

/** Path of the built-in manifest. */
export function defaultManifestPath(): string {
  return join(packageRoot(), 'models', 'manifest.json');
}

const ROLES: readonly ModelRole[] = ['detector', 'recognizer', 'liveness'];
const FAMILIES: readonly ModelFamily[] = ['scrfd', 'yunet', 'arcface', 'minifasnet'];

function validateEntry(e: Partial<ModelEntry>, index: number): ModelEntry {
  const where = `manifest entry ${index}${e.id ? ` (${e.id})` : ''}`;
  const fail = (field: string, why: string): never => {
    throw new FaceGateError('MANIFEST_INVALID', `${where}: field "${field}" ${why}`, { details: { index, field } });
  };
  if (typeof e.id !== 'string' || !e.id) fail('id', 'must be a non-empty string');
  if (typeof e.file !== 'string' || !e.file) fail('file', 'must be a file name');
  if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) fail('sha256', 'must be 64 lowercase hex digits');
  if (!ROLES.includes(e.role as ModelRole)) fail('role', `must be one of ${ROLES.join(', ')}`);
  if (!FAMILIES.includes(e.family as ModelFamily)) fail('family', `must be one of ${FAMILIES.join(', ')}`);
  const inp = e.input;
  if (!inp || typeof inp.name !== 'string') fail('input.name', 'must be a string');
  if (inp!.size !== null && !(Array.isArray(inp!.size) && inp!.size.length === 2)) fail('input.size', 'must be [width, height] or null');
  if (!Array.isArray(inp!.mean) || inp!.mean.length !== 3) fail('input.mean', 'must be 3 numbers');
  if (!Array.isArray(inp!.std) || inp!.std.length !== 3 || inp!.std.some((s) => s === 0)) fail('input.std', 'must be 3 non-zero numbers');
  if (inp!.colorOrder !== 'RGB' && inp!.colorOrder !== 'BGR') fail('input.colorOrder', 'must be RGB or BGR');
  if (e.role === 'recognizer' && !(Number.isInteger(e.embeddingSize) && e.embeddingSize! > 0)) fail('embeddingSize', 'must be a positive integer for a recognizer');
  return e as ModelEntry;
}

/** Parses and validates a manifest (the built-in one by default). Throws `MANIFEST_INVALID` naming the entry and field. */
export function loadManifest(path: string = defaultManifestPath()): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FaceGateError('MANIFEST_INVALID', `cannot read manifest ${path}: ${(e as Error).message}`, { cause: e });
  }
  const m = parsed as Partial<Manifest>;
  if (!m || !Array.isArray(m.models)) throw new FaceGateError('MANIFEST_INVALID', `manifest ${path} has no "models" array`);
  const models = m.models.map((e, i) => validateEntry(e, i));
  const ids = new Set<string>();
  for (const e of models) {
    if (ids.has(e.id)) throw new FaceGateError('MANIFEST_INVALID', `manifest ${path}: duplicate id "${e.id}"`);
    ids.add(e.id);
  }
  return { schema: m.schema ?? 'facegate.manifest/v1', models };
}

/** Looks a model up by id. Throws `MODEL_UNKNOWN` listing the known ids. */
export function findModel(manifest: Manifest, id: string): ModelEntry {
  const e = manifest.models.find((m) => m.id === id);
  if (!e) {
    throw new FaceGateError('MODEL_UNKNOWN', `unknown model "${id}" (known: ${manifest.models.map((m) => m.id).join(', ')})`, {
      details: { id },
    });
  }
  return e;
}

/**
 * The models directory: the option, then `FACEGATE_MODELS`, then `../shared/models` beside the package (the
 * bundled sample set of a development checkout). Throws `MODEL_DIR_NOT_FOUND` when none exists.
 */
export function resolveModelsDir(option?: string): string {
  const candidates: [string, string][] = [];
  if (option) candidates.push([option, 'the models option']);
  else if (process.env.FACEGATE_MODELS) candidates.push([process.env.FACEGATE_MODELS, 'FACEGATE_MODELS']);
  else candidates.push([join(packageRoot(), '..', 'shared', 'models'), 'the default ../shared/models']);
  const [dir, from] = candidates[0]!;
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new FaceGateError('MODEL_DIR_NOT_FOUND', `models directory ${abs} (from ${from}) does not exist`, { details: { path: abs } });
  }
  return abs;
}

/** sha256 of a file, hex, streamed (recognizers can be 170 MB). */
export function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}

export interface ModelStatus {
  entry: ModelEntry;
  path: string;
  status: 'ok' | 'missing' | 'mismatch';
  /** The sha256 found on disk (when the file exists). */
  actualSha256?: string;
}

/** Checks one model file: present, and with the manifest's sha256. Never throws for a bad file; see `requireModel`. */
export async function checkModel(dir: string, entry: ModelEntry): Promise<ModelStatus> {
  const path = join(dir, entry.file);
  if (!existsSync(path)) return { entry, path, status: 'missing' };
  const actual = await sha256File(path);
  return { entry, path, status: actual === entry.sha256 ? 'ok' : 'mismatch', actualSha256: actual };
}

/**
 * Resolves a model's file and verifies it. Throws `MODEL_NOT_FOUND` naming the expected path, or
 * `MODEL_CHECKSUM_MISMATCH` naming the file, the expected and the actual sha256.
 */
export async function requireModel(dir: string, entry: ModelEntry): Promise<string> {
  const s = await checkModel(dir, entry);
  if (s.status === 'missing') {
    throw new FaceGateError('MODEL_NOT_FOUND', `model "${entry.id}" not found: expected ${s.path} (source: ${entry.source})`, {
      details: { id: entry.id, path: s.path },
    });
  }
  if (s.status === 'mismatch') {
    throw new FaceGateError(
      'MODEL_CHECKSUM_MISMATCH',
      `model file ${s.path} has sha256 ${s.actualSha256}, expected ${entry.sha256} for "${entry.id}"`,
      { details: { id: entry.id, path: s.path, expected: entry.sha256, actual: s.actualSha256 } },
    );
  }
  return s.path;
}
