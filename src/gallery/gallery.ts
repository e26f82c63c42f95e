/**
 * The gallery: enrolled people (identities) with several embedding templates each, searched 1:N. This file holds
 * the interface and its types, independent of storage; `lmdb-store.ts` implements it on LMDB. The gallery stores
 * and searches vectors only: it never runs a model (the engine turns images into embeddings first).
 */
import { FaceGateError } from '../core/errors.js';

/** How vectors are held in memory for search: exact float32, or int8 with one scale per vector (4x smaller). */
export type VectorFormat = 'float32' | 'int8';

/** How an identity is scored against a probe: its best template, or the centroid of its templates. */
export type ScoreBy = 'template' | 'centroid';

/** Free-form, JSON-serialisable metadata about an identity (badge number, department...). */
export type Metadata = Record<string, unknown>;

/** An enrolled person. */
export interface Identity {
  /** The caller's stable id (1 to 256 characters). */
  readonly id: string;
  /** Display name (defaults to the id). */
  readonly name: string;
  readonly metadata: Metadata;
  /** ISO 8601 times. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Number of templates currently enrolled. */
  readonly templateCount: number;
}

/** One stored embedding of an identity (its vector through `Gallery.templateVector`). */
export interface TemplateInfo {
  readonly templateId: number;
  readonly identityId: string;
  /** The recognizer model id (from the manifest) that produced the vector. */
  readonly modelId: string;
  /** Face quality in [0, 1] as judged at enrolment (1 when unknown). */
  readonly quality: number;
  readonly createdAt: string;
  /** Where the template came from (a file name), when given. */
  readonly source?: string;
}

/** A template to enrol. */
export interface TemplateInput {
  /** The embedding; it is L2-normalised before storage. Length must equal the gallery's dimension. */
  readonly vector: ArrayLike<number>;
  /** Face quality in [0, 1]. Default 1. */
  readonly quality?: number;
  /** Where the template came from (a file name). Default none. */
  readonly source?: string;
  /** Creation time (ISO 8601), kept by import. Default now. */
  readonly createdAt?: string;
}

/** What to enrol: all templates are written in one transaction (all or none). */
export interface EnrollInput {
  /** Identity id; created when new. */
  readonly id: string;
  /** Display name. Default: the existing name, else the id. */
  readonly name?: string;
  /** Metadata, replacing the existing metadata when given. Default: existing, else {}. */
  readonly metadata?: Metadata;
  /** The recognizer model id of every template (must match the gallery's). */
  readonly modelId: string;
  /** At least one template. */
  readonly templates: readonly TemplateInput[];
  /** `add` appends to an existing identity's templates, `replace` drops them first. Default 'add'. */
  readonly mode?: 'add' | 'replace';
}

export interface EnrollResult {
  readonly identity: Identity;
  /** Ids of the templates written, in input order. */
  readonly templateIds: readonly number[];
  /** True when the identity did not exist before. */
  readonly created: boolean;
}

/** Options of a search. */
export interface SearchOptions {
  /**
   * The recognizer model id of the probe. Required: a gallery of another model's templates refuses to search
   * (GALLERY_MODEL_MISMATCH) rather than compare embeddings of different models.
   */
  readonly modelId: string;
  /** Number of identities returned, best first. Default 5. */
  readonly topK?: number;
  /** Score by best template or by centroid. Default 'template'. */
  readonly scoreBy?: ScoreBy;
}

/** One identity in a search result. */
export interface SearchHit {
  readonly id: string;
  readonly name: string;
  /** Cosine similarity of the probe with the best template (or centroid). */
  readonly similarity: number;
  /** The best-matching template (absent when scoring by centroid). */
  readonly templateId?: number;
}

export interface IdentifyOptions extends SearchOptions {
  /** Similarity at or above which the best hit is `known`. Required: the engine passes its recognizer's. */
  readonly threshold: number;
}

/** The open-set decision of a 1:N search. */
export interface Identification {
  /** `known` when the best similarity ≥ threshold, else `unknown` (including an empty gallery). */
  readonly decision: 'known' | 'unknown';
  /** The best hit when known. */
  readonly match: SearchHit | null;
  /** The top-k hits, best first (known or not). */
  readonly hits: readonly SearchHit[];
  readonly threshold: number;
}

export interface GalleryStats {
  readonly name: string;
  readonly identities: number;
  readonly templates: number;
  /** The recognizer model id of the templates; null while empty. */
  readonly modelId: string | null;
  /** Embedding length; null while empty. */
  readonly dim: number | null;
  /** Commit counter of this gallery (every write adds one). */
  readonly version: number;
  readonly vectorFormat: VectorFormat;
}

export interface ImportResult {
  readonly identities: number;
  readonly templates: number;
}

/** A named gallery of identities. Reads are synchronous and never wait for a writer; writes return promises. */
export interface Gallery {
  readonly name: string;
  /** Enrols templates for an identity (creating it when new), in one transaction. */
  enroll(input: EnrollInput): Promise<EnrollResult>;
  /** Changes an identity's display name and/or metadata. GALLERY_IDENTITY_NOT_FOUND when absent. */
  update(id: string, changes: { name?: string; metadata?: Metadata }): Promise<Identity>;
  /** Deletes every trace of an identity: its records, its templates and their vectors (right to erasure). */
  remove(id: string): Promise<void>;
  /** The identity, or undefined. */
  get(id: string): Identity | undefined;
  /** All identities, ordered by id. */
  list(): Identity[];
  /** Templates of an identity. GALLERY_IDENTITY_NOT_FOUND when absent. */
  templates(id: string): TemplateInfo[];
  /** The stored vector of a template, bit for bit as enrolled (after normalisation). */
  templateVector(templateId: number): Float32Array;
  /** The identity's centroid (mean of its unit templates, renormalised). */
  centroid(id: string): Float32Array;
  /** Top-k identities by similarity, best first. */
  search(probe: ArrayLike<number>, options: SearchOptions): SearchHit[];
  /** Search plus the open-set decision at `threshold`. */
  identify(probe: ArrayLike<number>, options: IdentifyOptions): Identification;
  /** Picks up commits of other processes now (search does this itself); true when something changed. */
  refresh(): boolean;
  stats(): GalleryStats;
  /** The gallery as JSON Lines: a header line (model id, dimension), then one line per identity with its vectors. */
  exportLines(): Generator<string>;
  /** Imports an export; every line is checked before anything is written (one transaction). */
  importLines(lines: Iterable<string>): Promise<ImportResult>;
  close(): Promise<void>;
}

/** Names of galleries in one environment: letters, digits, `_` and `-`. */
export const GALLERY_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** The gallery used when none is named. */
export const DEFAULT_GALLERY_NAME = 'default';

/** Checks an identity id (1..256 characters, no control characters). */
export function checkIdentityId(id: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\u0000-\u001f]/.test(id)) {
    throw new FaceGateError('CONFIG_INVALID', `identity id must be 1 to 256 printable characters, got ${JSON.stringify(id)}`, {
      details: { id },
    });
  }
  return id;
}

/**
 * Validates an embedding (length `dim` when known, finite, non-zero) and returns it L2-normalised as float32.
 * GALLERY_INVALID_VECTOR otherwise.
 */
export function toUnitVector(v: ArrayLike<number>, dim: number | null, what = 'vector'): Float32Array {
  if (v === null || typeof v !== 'object' || typeof v.length !== 'number') {
    throw new FaceGateError('GALLERY_INVALID_VECTOR', `${what} is not an array of numbers`);
  }
  if (v.length === 0 || (dim !== null && v.length !== dim)) {
    throw new FaceGateError('GALLERY_INVALID_VECTOR', `${what} has length ${v.length}, expected ${dim ?? 'more than 0'}`, {
      details: { length: v.length, expected: dim },
    });
  }
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new FaceGateError('GALLERY_INVALID_VECTOR', `${what} has a non-finite value at index ${i}`, { details: { index: i } });
    }
    ss += x * x;
  }
  if (ss === 0) throw new FaceGateError('GALLERY_INVALID_VECTOR', `${what} is all zeros`);
  const inv = 1 / Math.sqrt(ss);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

/** Mean of unit vectors, renormalised (accumulated in float64). */
export function centroidOf(vectors: readonly Float32Array[]): Float32Array {
  const dim = vectors[0]!.length;
  const acc = new Float64Array(dim);
  for (const v of vectors) for (let i = 0; i < dim; i++) acc[i] += v[i]!;
  let ss = 0;
  for (let i = 0; i < dim; i++) ss += acc[i]! * acc[i]!;
  const out = new Float32Array(dim);
  // Opposite unit vectors can cancel exactly; the first template then stands for the identity.
  if (ss === 0) return Float32Array.from(vectors[0]!);
  const inv = 1 / Math.sqrt(ss);
  for (let i = 0; i < dim; i++) out[i] = acc[i]! * inv;
  return out;
}

/** The open-set decision over ranked hits. */
export function decide(hits: readonly SearchHit[], threshold: number): Identification {
  if (!Number.isFinite(threshold)) throw new FaceGateError('CONFIG_INVALID', `threshold must be a finite number, got ${threshold}`);
  const best = hits[0];
  const known = best !== undefined && best.similarity >= threshold;
  return { decision: known ? 'known' : 'unknown', match: known ? best : null, hits, threshold };
}
