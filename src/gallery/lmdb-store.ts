/**
 * The gallery on LMDB (lmdb-js; the only importer besides the sinks' outbox). One environment (a directory) holds several
 * named galleries, each a set of sub-databases:
 *   `<name>/meta`        version counter, model id, dimension, id counters
 *   `<name>/ids`         SHA-256 of the identity id -> numeric identity key
 *   `<name>/identities`  identity key -> {id, name, metadata, times, template keys}
 *   `<name>/templates`   template key -> {identity key, model id, quality, time, source}
 *   `<name>/vectors`     template key -> float32 bytes (binary encoding: msgpack does not round-trip typed arrays)
 *   `<name>/centroids`   identity key -> float32 bytes
 *   `<name>/log`         version -> numeric keys touched by that commit (no ids, so erasure leaves nothing behind)
 * Every write is one transaction that bumps the version and appends a log entry; each process keeps an in-memory
 * search index and, before each search, replays the log entries after its own version (a full reload when it is
 * too far behind). LMDB's MVCC means readers never wait for the writer. Each write is one synchronous LMDB
 * transaction (a write in another process makes it wait for the lock; a throw inside aborts it whole).
 * Erasure: remove() zeroes every value of the identity in place before deleting it, then overwrites the file's free
 * pages and checks the file no longer holds the id or any of its vectors' bytes (see scrubFreePages).
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { asBinary, open, type Database, type RootDatabase } from 'lmdb';
import { FaceGateError, isFaceGateError } from '../core/errors.js';
import {
  DEFAULT_GALLERY_NAME,
  GALLERY_NAME_PATTERN,
  centroidOf,
  checkIdentityId,
  decide,
  toUnitVector,
  type EnrollInput,
  type EnrollResult,
  type Gallery,
  type GalleryStats,
  type Identification,
  type IdentifyOptions,
  type Identity,
  type ImportResult,
  type Metadata,
  type SearchHit,
  type SearchOptions,
  type TemplateInfo,
  type TemplateInput,
  type VectorFormat,
} from './gallery.js';
import { SearchIndex } from './vector-index.js';

export interface LmdbGalleryOptions {
  /** Directory of the LMDB environment; created when absent. A path that is a file fails (GALLERY_PATH_INVALID). */
  readonly path: string;
  /** Which gallery of the environment (letters, digits, `_`, `-`). Default 'default'. */
  readonly name?: string;
  /** In-memory search format: float32 (exact) or int8 (per-vector scale, 4x less memory). Default 'float32'. */
  readonly vectorFormat?: VectorFormat;
  /**
   * Maximum size of the environment in bytes (virtual address space, not disk). Default 64 GiB, room for about
   * 10 million 512-d templates.
   */
  readonly mapSizeBytes?: number;
}

/** Rounds of free-page overwriting after a remove before giving up (traces then go with later writes). */
const SCRUB_ROUNDS = 6;
/** Log entries kept for incremental refresh; a reader further behind reloads fully. */
const LOG_KEEP = 4096;
/** Sub-databases per gallery, and galleries per environment. */
const MAX_DBS = 7 * 32 + 4;
const EXPORT_FORMAT = 'facegate-gallery';
const EXPORT_VERSION = 1;

interface IdentityRecord {
  id: string;
  name: string;
  metadata: Metadata;
  createdAt: string;
  updatedAt: string;
  tids: number[];
}

interface TemplateRecord {
  ikey: number;
  modelId: string;
  quality: number;
  createdAt: string;
  source?: string;
}

interface LogEntry {
  /** Template keys added. */
  a: number[];
  /** Template keys deleted. */
  d: number[];
  /** Identity keys whose centroid changed or was deleted. */
  c: number[];
}

/** Float32 vector -> the exact bytes stored (a Buffer over the array's own byte range). */
function vectorBytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Stored bytes -> a fresh Float32Array (copied: LMDB buffers may be unaligned or reused). */
function bytesVector(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Whether the file holds any of the byte strings (read in chunks that overlap by the longest needle). */
function fileContainsAny(path: string, needles: readonly Buffer[]): boolean {
  if (needles.length === 0 || !existsSync(path)) return false;
  const overlap = Math.max(...needles.map((n) => n.length));
  const chunk = Buffer.alloc(16 * 1024 * 1024 + overlap);
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    let carry = 0;
    for (;;) {
      const n = readSync(fd, chunk, carry, chunk.length - carry, pos);
      if (n <= 0) return false;
      pos += n;
      const view = chunk.subarray(0, carry + n);
      for (const needle of needles) if (view.indexOf(needle) >= 0) return true;
      carry = Math.min(overlap, view.length);
      view.copyWithin(0, view.length - carry);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The key of an identity id in the ids database: its SHA-256, so the id itself is stored only inside values, which
 * remove() overwrites with zeros before deleting (LMDB can leave a deleted key's bytes in a page's free gap).
 */
function idKey(id: string): Buffer {
  return createHash('sha256').update(id, 'utf8').digest();
}

function nowIso(): string {
  return new Date().toISOString();
}

/** Opens (creating when needed) a named gallery in the LMDB environment at `options.path`. */
export function openGallery(options: LmdbGalleryOptions): Gallery {
  return LmdbGallery.open(options);
}

/** Names of the galleries in the environment at `path` (empty when there is none). */
export function listGalleries(path: string): string[] {
  checkPath(path, false);
  if (!existsSync(path)) return [];
  const env = open({ path, maxDbs: MAX_DBS, readOnly: false });
  try {
    const names: string[] = [];
    for (const key of env.getKeys()) {
      const k = typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString() : String(key);
      if (k.endsWith('/meta')) names.push(k.slice(0, -'/meta'.length));
    }
    return names.sort();
  } finally {
    void env.close();
  }
}

function checkPath(path: string, create: boolean): void {
  if (typeof path !== 'string' || path.length === 0) throw new FaceGateError('GALLERY_PATH_INVALID', 'gallery path is empty');
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) {
      throw new FaceGateError('GALLERY_PATH_INVALID', `gallery path ${path} is a file, not a directory`, { details: { path } });
    }
  } else if (create) {
    try {
      mkdirSync(path, { recursive: true });
    } catch (e) {
      throw new FaceGateError('GALLERY_PATH_INVALID', `cannot create gallery directory ${path}: ${(e as Error).message}`, {
        details: { path },
        cause: e,
      });
    }
  }
}

class LmdbGallery implements Gallery {
  readonly name: string;
  private readonly format: VectorFormat;
  private env: RootDatabase | null;
  private readonly meta: Database<unknown, string>;
  private readonly ids: Database<number, Buffer>;
  private readonly identities: Database<IdentityRecord, number>;
  private readonly templateDb: Database<TemplateRecord, number>;
  private readonly vectors: Database<Buffer, number>;
  private readonly centroids: Database<Buffer, number>;
  private readonly log: Database<LogEntry, number>;
  private readonly scratch: Database<Buffer, number>;
  private index: SearchIndex | null = null;
  private version = -1;
  private modelId: string | null = null;
  private dim: number | null = null;

  static open(options: LmdbGalleryOptions): LmdbGallery {
    const name = options.name ?? DEFAULT_GALLERY_NAME;
    if (typeof name !== 'string' || !GALLERY_NAME_PATTERN.test(name)) {
      throw new FaceGateError('CONFIG_INVALID', `gallery name must match ${GALLERY_NAME_PATTERN}, got ${JSON.stringify(name)}`);
    }
    const format = options.vectorFormat ?? 'float32';
    if (format !== 'float32' && format !== 'int8') {
      throw new FaceGateError('CONFIG_INVALID', `vectorFormat must be float32 or int8, got ${JSON.stringify(format)}`);
    }
    checkPath(options.path, true);
    let env: RootDatabase;
    try {
      env = open({
        path: options.path,
        maxDbs: MAX_DBS,
        mapSize: options.mapSizeBytes ?? 64 * 1024 ** 3,
        // Keep LMDB's zeroing of unused page space: erased data must not linger in new pages.
        noMemInit: false,
      });
    } catch (e) {
      throw new FaceGateError('GALLERY_PATH_INVALID', `cannot open gallery at ${options.path}: ${(e as Error).message}`, {
        details: { path: options.path },
        cause: e,
      });
    }
    return new LmdbGallery(env, options.path, name, format);
  }

  private constructor(env: RootDatabase, private readonly path: string, name: string, format: VectorFormat) {
    this.env = env;
    this.name = name;
    this.format = format;
    const db = (sub: string, o: Record<string, unknown>) => env.openDB({ name: `${name}/${sub}`, cache: false, ...o });
    this.meta = db('meta', { encoding: 'msgpack' }) as Database<unknown, string>;
    this.ids = db('ids', { encoding: 'msgpack', keyEncoding: 'binary' }) as Database<number, Buffer>;
    this.identities = db('identities', { encoding: 'msgpack', keyEncoding: 'uint32' }) as Database<IdentityRecord, number>;
    this.templateDb = db('templates', { encoding: 'msgpack', keyEncoding: 'uint32' }) as Database<TemplateRecord, number>;
    this.vectors = db('vectors', { encoding: 'binary', keyEncoding: 'uint32' }) as Database<Buffer, number>;
    this.centroids = db('centroids', { encoding: 'binary', keyEncoding: 'uint32' }) as Database<Buffer, number>;
    this.log = db('log', { encoding: 'msgpack', keyEncoding: 'uint32' }) as Database<LogEntry, number>;
    // Opened once, here with the others: re-opening databases later can hand out a stale handle.
    this.scratch = env.openDB({ name: '_scrub', encoding: 'binary', keyEncoding: 'uint32', cache: false }) as Database<Buffer, number>;
    this.refresh();
  }

  private live(): RootDatabase {
    if (!this.env) throw new FaceGateError('GALLERY_CLOSED', `gallery "${this.name}" is closed`);
    return this.env;
  }

  // ---------------------------------------------------------------- reads

  refresh(): boolean {
    const env = this.live();
    // Another process may have committed since this turn's read snapshot began.
    env.resetReadTxn();
    const v = (this.meta.get('version') as number | undefined) ?? 0;
    if (v === this.version) return false;
    this.modelId = (this.meta.get('modelId') as string | undefined) ?? null;
    this.dim = (this.meta.get('dim') as number | undefined) ?? null;
    const behind = v - this.version;
    if (this.version < 0 || behind < 0 || behind > LOG_KEEP || !this.index || this.log.get(this.version + 1) === undefined) {
      this.reloadAll();
    } else {
      for (let ver = this.version + 1; ver <= v; ver++) {
        const entry = this.log.get(ver);
        if (!entry) {
          this.reloadAll();
          break;
        }
        this.applyLog(entry);
      }
    }
    this.version = v;
    return true;
  }

  private reloadAll(): void {
    if (this.dim === null) {
      this.index = null;
      return;
    }
    if (!this.index || this.index.dim !== this.dim) {
      const count = (this.vectors.getStats() as { entryCount?: number }).entryCount ?? 0;
      this.index = new SearchIndex(this.dim, this.format, Math.max(1024, count));
    } else {
      this.index.clear();
    }
    const owner = new Map<number, number>();
    for (const { key, value } of this.identities.getRange({})) for (const t of value.tids) owner.set(t, key);
    // One scratch vector for the whole load (the index copies each row in).
    const scratch = new Float32Array(this.dim);
    const scratchBytes = new Uint8Array(scratch.buffer);
    for (const { key, value } of this.vectors.getRange({})) {
      const ikey = owner.get(key);
      if (ikey === undefined || value.byteLength !== scratchBytes.byteLength) continue;
      scratchBytes.set(value);
      this.index.addTemplate(key, ikey, scratch);
    }
    for (const { key, value } of this.centroids.getRange({})) this.index.setCentroid(key, bytesVector(value));
  }

  private applyLog(entry: LogEntry): void {
    if (!this.index) {
      if (this.dim === null) return;
      this.index = new SearchIndex(this.dim, this.format);
    }
    for (const t of entry.d) this.index.removeTemplate(t);
    for (const t of entry.a) {
      const bytes = this.vectors.getBinary(t);
      const rec = this.templateDb.get(t);
      if (bytes && rec) this.index.addTemplate(t, rec.ikey, bytesVector(bytes));
    }
    for (const c of entry.c) {
      const bytes = this.centroids.getBinary(c);
      this.index.setCentroid(c, bytes ? bytesVector(bytes) : null);
    }
  }

  private record(id: string): { ikey: number; rec: IdentityRecord } | undefined {
    const ikey = this.ids.get(idKey(id));
    if (ikey === undefined) return undefined;
    const rec = this.identities.get(ikey);
    return rec ? { ikey, rec } : undefined;
  }

  private toIdentity(rec: IdentityRecord): Identity {
    return {
      id: rec.id,
      name: rec.name,
      metadata: rec.metadata,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
      templateCount: rec.tids.length,
    };
  }

  get(id: string): Identity | undefined {
    this.live();
    const r = this.record(id);
    return r ? this.toIdentity(r.rec) : undefined;
  }

  list(): Identity[] {
    this.live();
    const out: Identity[] = [];
    for (const { value } of this.identities.getRange({})) out.push(this.toIdentity(value));
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private mustGet(id: string): { ikey: number; rec: IdentityRecord } {
    this.live();
    const r = this.record(id);
    if (!r) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no identity "${id}" in gallery "${this.name}"`, { details: { id } });
    return r;
  }

  templates(id: string): TemplateInfo[] {
    const { rec } = this.mustGet(id);
    return rec.tids.map((t) => {
      const tr = this.templateDb.get(t)!;
      return {
        templateId: t,
        identityId: rec.id,
        modelId: tr.modelId,
        quality: tr.quality,
        createdAt: tr.createdAt,
        ...(tr.source !== undefined ? { source: tr.source } : {}),
      };
    });
  }

  templateVector(templateId: number): Float32Array {
    this.live();
    const bytes = this.vectors.getBinary(templateId);
    if (!bytes) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no template ${templateId} in gallery "${this.name}"`);
    return bytesVector(bytes);
  }

  centroid(id: string): Float32Array {
    const { ikey } = this.mustGet(id);
    return bytesVector(this.centroids.getBinary(ikey)!);
  }

  search(probe: ArrayLike<number>, options: SearchOptions): SearchHit[] {
    this.live();
    const topK = options.topK ?? 5;
    const scoreBy = options.scoreBy ?? 'template';
    if (!Number.isInteger(topK) || topK < 1) throw new FaceGateError('CONFIG_INVALID', `topK must be a positive integer, got ${topK}`);
    if (scoreBy !== 'template' && scoreBy !== 'centroid') {
      throw new FaceGateError('CONFIG_INVALID', `scoreBy must be template or centroid, got ${JSON.stringify(scoreBy)}`);
    }
    if (typeof options.modelId !== 'string' || options.modelId === '') {
      throw new FaceGateError('CONFIG_INVALID', 'search needs the probe\'s recognizer modelId');
    }
    this.refresh();
    const unit = toUnitVector(probe, this.dim, 'probe');
    if (this.modelId !== null && this.modelId !== options.modelId) {
      throw new FaceGateError(
        'GALLERY_MODEL_MISMATCH',
        `gallery "${this.name}" holds templates of model "${this.modelId}", the probe is from "${options.modelId}": re-enrol with the current model`,
        { details: { galleryModelId: this.modelId, probeModelId: options.modelId } },
      );
    }
    if (!this.index) return [];
    const ranked = this.index.search(unit, topK, scoreBy);
    const hits: SearchHit[] = [];
    for (const r of ranked) {
      const rec = this.identities.get(r.identityKey);
      if (!rec) continue;
      hits.push({
        id: rec.id,
        name: rec.name,
        similarity: r.similarity,
        ...(r.templateKey >= 0 ? { templateId: r.templateKey } : {}),
      });
    }
    return hits;
  }

  identify(probe: ArrayLike<number>, options: IdentifyOptions): Identification {
    if (typeof options.threshold !== 'number') throw new FaceGateError('CONFIG_INVALID', 'identify needs a numeric threshold');
    return decide(this.search(probe, options), options.threshold);
  }

  stats(): GalleryStats {
    this.refresh();
    return {
      name: this.name,
      identities: (this.identities.getStats() as { entryCount: number }).entryCount,
      templates: (this.vectors.getStats() as { entryCount: number }).entryCount,
      modelId: this.modelId,
      dim: this.dim,
      version: this.version,
      vectorFormat: this.format,
    };
  }

  // ---------------------------------------------------------------- writes

  /**
   * Runs `fn` in one abortable (synchronous) write transaction that also bumps the version and appends the log entry `fn`
   * fills; a throw inside aborts everything. Then refreshes the in-memory index.
   */
  private async write<T>(fn: (log: LogEntry) => T): Promise<T> {
    const env = this.live();
    const result = env.transactionSync(() => {
      const log: LogEntry = { a: [], d: [], c: [] };
      const out = fn(log);
      const v = ((this.meta.get('version') as number | undefined) ?? 0) + 1;
      this.meta.putSync('version', v);
      this.log.putSync(v, log);
      if (v > LOG_KEEP) this.log.removeSync(v - LOG_KEEP);
      return out as unknown;
    });
    if (this.env) this.refresh();
    return result as T;
  }

  private nextKey(counter: 'nextTid' | 'nextIkey'): number {
    const k = ((this.meta.get(counter) as number | undefined) ?? 0) + 1;
    this.meta.putSync(counter, k);
    return k;
  }

  /** Validates templates before any write: dimension, finiteness, quality. */
  private prepare(templates: readonly TemplateInput[], dim: number | null, exact: boolean): Float32Array[] {
    if (!Array.isArray(templates) || templates.length === 0) {
      throw new FaceGateError('GALLERY_INVALID_VECTOR', 'an enrolment needs at least one template');
    }
    const d = dim ?? (templates[0]?.vector?.length as number | undefined) ?? null;
    return templates.map((t, i) => {
      if (!t || typeof t !== 'object') throw new FaceGateError('GALLERY_INVALID_VECTOR', `template ${i} is not an object with a vector`);
      if (t.quality !== undefined && !(typeof t.quality === 'number' && t.quality >= 0 && t.quality <= 1)) {
        throw new FaceGateError('CONFIG_INVALID', `template ${i}: quality must be in [0, 1], got ${t.quality}`);
      }
      const unit = toUnitVector(t.vector, d, `template ${i} vector`);
      if (!exact) return unit;
      // Imports keep the exported bytes exactly (already unit length).
      const v = Float32Array.from(t.vector);
      let ss = 0;
      for (let j = 0; j < v.length; j++) ss += v[j]! * v[j]!;
      if (Math.abs(Math.sqrt(ss) - 1) > 1e-3) throw new FaceGateError('GALLERY_INVALID_VECTOR', `template ${i} vector is not unit length`);
      return v;
    });
  }

  private checkModel(modelId: string): void {
    if (typeof modelId !== 'string' || modelId === '') throw new FaceGateError('CONFIG_INVALID', 'enrolment needs the recognizer modelId');
    const current = (this.meta.get('modelId') as string | undefined) ?? null;
    if (current !== null && current !== modelId) {
      throw new FaceGateError(
        'GALLERY_MODEL_MISMATCH',
        `gallery "${this.name}" holds templates of model "${current}", cannot add templates of "${modelId}": re-enrol everyone with one model`,
        { details: { galleryModelId: current, modelId } },
      );
    }
  }

  /** The body of an enrolment inside a transaction (shared with import). */
  private enrollInTxn(input: EnrollInput, vectors: Float32Array[], log: LogEntry, times?: { createdAt: string; updatedAt: string }): EnrollResult {
    this.checkModel(input.modelId);
    const dim = (this.meta.get('dim') as number | undefined) ?? null;
    if (dim !== null && vectors[0]!.length !== dim) {
      throw new FaceGateError('GALLERY_INVALID_VECTOR', `vectors have length ${vectors[0]!.length}, the gallery holds ${dim}`);
    }
    const now = nowIso();
    const existing = this.record(input.id);
    let ikey: number;
    let rec: IdentityRecord;
    if (existing) {
      ikey = existing.ikey;
      rec = { ...existing.rec, tids: [...existing.rec.tids], updatedAt: now };
      if (input.mode === 'replace') {
        for (const t of rec.tids) {
          this.templateDb.removeSync(t);
          this.vectors.removeSync(t);
          log.d.push(t);
        }
        rec.tids = [];
      }
    } else {
      ikey = this.nextKey('nextIkey');
      rec = { id: input.id, name: input.id, metadata: {}, createdAt: now, updatedAt: now, tids: [] };
      this.ids.putSync(idKey(input.id), ikey);
    }
    if (input.name !== undefined) rec.name = input.name;
    if (input.metadata !== undefined) rec.metadata = input.metadata;
    if (times) Object.assign(rec, times);
    const templateIds: number[] = [];
    vectors.forEach((v, i) => {
      const t = input.templates[i]!;
      const tid = this.nextKey('nextTid');
      const tr: TemplateRecord = { ikey, modelId: input.modelId, quality: t.quality ?? 1, createdAt: t.createdAt ?? now };
      if (t.source !== undefined) tr.source = t.source;
      this.templateDb.putSync(tid, tr);
      this.vectors.putSync(tid, vectorBytes(v));
      rec.tids.push(tid);
      templateIds.push(tid);
      log.a.push(tid);
    });
    const all = rec.tids.map((t) => bytesVector(this.vectors.getBinary(t)!));
    this.centroids.putSync(ikey, vectorBytes(centroidOf(all)));
    log.c.push(ikey);
    this.identities.putSync(ikey, rec);
    if (dim === null) this.meta.putSync('dim', vectors[0]!.length);
    if (!this.meta.get('modelId')) this.meta.putSync('modelId', input.modelId);
    return { identity: this.toIdentity(rec), templateIds, created: !existing };
  }

  private checkEnrollInput(input: EnrollInput): void {
    if (!input || typeof input !== 'object') throw new FaceGateError('CONFIG_INVALID', 'enroll needs an input object');
    checkIdentityId(input.id);
    if (input.name !== undefined && (typeof input.name !== 'string' || input.name.length > 1024)) {
      throw new FaceGateError('CONFIG_INVALID', 'name must be a string of at most 1024 characters');
    }
    if (input.metadata !== undefined && (input.metadata === null || typeof input.metadata !== 'object' || Array.isArray(input.metadata))) {
      throw new FaceGateError('CONFIG_INVALID', 'metadata must be a plain object');
    }
    if (input.mode !== undefined && input.mode !== 'add' && input.mode !== 'replace') {
      throw new FaceGateError('CONFIG_INVALID', `mode must be add or replace, got ${JSON.stringify(input.mode)}`);
    }
  }

  async enroll(input: EnrollInput): Promise<EnrollResult> {
    this.live();
    this.checkEnrollInput(input);
    this.refresh();
    this.checkModel(input.modelId);
    const vectors = this.prepare(input.templates, this.dim, false);
    return this.write((log) => this.enrollInTxn(input, vectors, log));
  }

  async update(id: string, changes: { name?: string; metadata?: Metadata }): Promise<Identity> {
    this.mustGet(id);
    return this.write(() => {
      const r = this.record(id);
      if (!r) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no identity "${id}" in gallery "${this.name}"`, { details: { id } });
      const rec: IdentityRecord = { ...r.rec, updatedAt: nowIso() };
      if (changes.name !== undefined) rec.name = changes.name;
      if (changes.metadata !== undefined) rec.metadata = changes.metadata;
      this.identities.putSync(r.ikey, rec);
      return this.toIdentity(rec);
    });
  }

  async remove(id: string): Promise<void> {
    const { ikey, rec } = this.mustGet(id);
    // What must not survive anywhere in the file: the id, and windows of every vector of the identity.
    const needles = [Buffer.from(id, 'utf8')];
    const windows = (b: Uint8Array | undefined): void => {
      if (!b) return;
      for (let off = 0; off + 32 <= b.byteLength; off += 256) needles.push(Buffer.from(b.subarray(off, off + 32)));
    };
    for (const t of rec.tids) windows(this.vectors.getBinary(t));
    windows(this.centroids.getBinary(ikey));
    await this.write((log) => {
      const r = this.record(id);
      if (!r) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no identity "${id}" in gallery "${this.name}"`, { details: { id } });
      // Overwrite every value with zeros of its own length first (in place in the page), then delete them all:
      // a deleted node's bytes, and the old places of nodes shifted by a delete, stay in the page's free gap.
      const doomed: [Database<unknown, number>, number, boolean][] = [
        ...r.rec.tids.flatMap((t): [Database<unknown, number>, number, boolean][] => [
          [this.templateDb as Database<unknown, number>, t, false],
          [this.vectors as Database<unknown, number>, t, true],
        ]),
        [this.centroids as Database<unknown, number>, r.ikey, true],
        [this.identities as Database<unknown, number>, r.ikey, false],
      ];
      for (const [db, key, raw] of doomed) {
        const old = db.getBinary(key);
        if (old) db.putSync(key, raw ? Buffer.alloc(old.length) : asBinary(Buffer.alloc(old.length)));
      }
      for (const [db, key] of doomed) db.removeSync(key);
      log.d.push(...r.rec.tids);
      this.ids.removeSync(idKey(id));
      log.c.push(r.ikey);
    });
    await this.scrubFreePages(needles);
  }

  /**
   * LMDB is copy-on-write: pages that held an erased identity (and older copies of pages that mentioned it) go to
   * the free list with their bytes intact. To erase every trace, overwrite free pages: write scratch values of just
   * over half a page (each takes a page of its own, zero-filled around the value) in one transaction and delete
   * them in the next, then scan the file for the erased bytes; repeat, with more scratch each round, until none is
   * left. Pages still held by another process's open read snapshot are overwritten by a later remove.
   */
  private async scrubFreePages(needles: readonly Buffer[]): Promise<void> {
    const env = this.live();
    const scratch = this.scratch;
    const pageSize = (env.getStats() as { pageSize: number }).pageSize;
    const value = Buffer.alloc(pageSize - 64);
    for (let round = 1; round <= SCRUB_ROUNDS; round++) {
      env.resetReadTxn();
      const stats = env.getStats() as { lastPageNumber: number };
      // The first round covers the estimated free pages; later rounds add a growing share of the whole file.
      const pages = this.freePages() + 8 + Math.floor(((round - 1) * (stats.lastPageNumber + 1)) / 4);
      env.transactionSync(() => {
        for (let i = 0; i < pages; i++) scratch.putSync(i, value);
      });
      env.transactionSync(() => {
        for (let i = 0; i < pages; i++) scratch.removeSync(i);
      });
      env.resetReadTxn();
      if (!fileContainsAny(join(this.path, 'data.mdb'), needles)) return;
    }
  }

  /**
   * Pages of the file not used by this gallery's trees (the free list, plus other galleries' pages, which only
   * makes the scrub write a little more scratch than needed).
   */
  private freePages(): number {
    type Stat = { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    const pagesOf = (s: Stat): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    const env = this.live();
    const root = env.getStats() as Stat & { lastPageNumber: number; free: Stat };
    let used = 2 + pagesOf(root) + pagesOf(root.free);
    for (const db of [this.meta, this.ids, this.identities, this.templateDb, this.vectors, this.centroids, this.log, this.scratch]) {
      used += pagesOf(db.getStats() as Stat);
    }
    return Math.max(0, root.lastPageNumber + 1 - used);
  }

  // ---------------------------------------------------------------- export / import

  *exportLines(): Generator<string> {
    this.refresh();
    const list = this.list();
    yield JSON.stringify({
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      gallery: this.name,
      modelId: this.modelId,
      dim: this.dim,
      identities: list.length,
    });
    for (const identity of list) {
      const { rec } = this.mustGet(identity.id);
      yield JSON.stringify({
        id: rec.id,
        name: rec.name,
        metadata: rec.metadata,
        createdAt: rec.createdAt,
        updatedAt: rec.updatedAt,
        templates: rec.tids.map((t) => {
          const tr = this.templateDb.get(t)!;
          return {
            modelId: tr.modelId,
            quality: tr.quality,
            createdAt: tr.createdAt,
            ...(tr.source !== undefined ? { source: tr.source } : {}),
            vector: Buffer.from(this.vectors.getBinary(t)!).toString('base64'),
          };
        }),
      });
    }
  }

  async importLines(lines: Iterable<string>): Promise<ImportResult> {
    this.live();
    this.refresh();
    const bad = (line: number, why: string): FaceGateError =>
      new FaceGateError('GALLERY_IMPORT_INVALID', `export line ${line}: ${why}`, { details: { line } });
    let header: { modelId: string | null; dim: number | null } | null = null;
    const inputs: { input: EnrollInput; vectors: Float32Array[]; times?: { createdAt: string; updatedAt: string } }[] = [];
    let n = 0;
    for (const raw of lines) {
      n++;
      if (raw.trim() === '') continue;
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw bad(n, 'not valid JSON');
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw bad(n, 'not a JSON object');
      if (!header) {
        if (obj.format !== EXPORT_FORMAT || obj.version !== EXPORT_VERSION) throw bad(n, `not a ${EXPORT_FORMAT} v${EXPORT_VERSION} header`);
        if (obj.modelId !== null && typeof obj.modelId !== 'string') throw bad(n, 'modelId must be a string');
        if (obj.dim !== null && !(Number.isInteger(obj.dim) && (obj.dim as number) > 0)) throw bad(n, 'dim must be a positive integer');
        header = { modelId: obj.modelId as string | null, dim: obj.dim as number | null };
        if (header.modelId !== null) {
          try {
            this.checkModel(header.modelId);
          } catch (e) {
            if (isFaceGateError(e, 'GALLERY_MODEL_MISMATCH')) throw e;
            throw bad(n, (e as Error).message);
          }
        }
        if (this.dim !== null && header.dim !== null && header.dim !== this.dim) throw bad(n, `dim ${header.dim} differs from the gallery's ${this.dim}`);
        continue;
      }
      try {
        checkIdentityId(obj.id);
        if (typeof obj.name !== 'string') throw new Error('name must be a string');
        if (!obj.metadata || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) throw new Error('metadata must be an object');
        if (!Array.isArray(obj.templates) || obj.templates.length === 0) throw new Error('templates must be a non-empty array');
        const templates: TemplateInput[] = (obj.templates as Record<string, unknown>[]).map((t, i) => {
          if (!t || typeof t !== 'object') throw new Error(`template ${i} is not an object`);
          if (t.modelId !== header!.modelId) throw new Error(`template ${i} has model ${String(t.modelId)}, the header ${String(header!.modelId)}`);
          if (typeof t.vector !== 'string') throw new Error(`template ${i} vector must be base64`);
          const bytes = Buffer.from(t.vector, 'base64');
          if (bytes.byteLength === 0 || bytes.byteLength % 4 !== 0 || (header!.dim !== null && bytes.byteLength !== header!.dim * 4)) {
            throw new Error(`template ${i} vector has ${bytes.byteLength} bytes, expected ${(header!.dim ?? 0) * 4}`);
          }
          if (typeof t.quality !== 'number') throw new Error(`template ${i} quality must be a number`);
          return {
            vector: bytesVector(bytes),
            quality: t.quality,
            ...(typeof t.createdAt === 'string' ? { createdAt: t.createdAt } : {}),
            ...(typeof t.source === 'string' ? { source: t.source } : {}),
          };
        });
        const input: EnrollInput = {
          id: obj.id as string,
          name: obj.name,
          metadata: obj.metadata as Metadata,
          modelId: header.modelId!,
          templates,
          mode: 'replace',
        };
        const times =
          typeof obj.createdAt === 'string' && typeof obj.updatedAt === 'string' ? { createdAt: obj.createdAt, updatedAt: obj.updatedAt } : undefined;
        inputs.push({ input, vectors: this.prepare(templates, header.dim ?? this.dim, true), ...(times ? { times } : {}) });
      } catch (e) {
        throw bad(n, (e as Error).message);
      }
    }
    if (!header) throw bad(n, 'empty export (no header line)');
    if (inputs.length === 0) return { identities: 0, templates: 0 };
    return this.write((log) => {
      let templates = 0;
      for (const { input, vectors, times } of inputs) {
        this.enrollInTxn(input, vectors, log, times);
        templates += vectors.length;
      }
      return { identities: inputs.length, templates };
    });
  }

  async close(): Promise<void> {
    const env = this.env;
    if (!env) return;
    this.env = null;
    this.index = null;
    await env.close();
  }
}
