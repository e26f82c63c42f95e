/**
 * The durable outbox of the event sinks: an ordered queue on LMDB. An event is appended (and committed) before any
 * attempt to deliver it, and removed only once delivery is acknowledged (MQTT PUBACK, a 2xx webhook answer), so a
 * broker outage or a process killed with SIGKILL loses nothing: the next run replays the queue oldest first.
 *
 * Why LMDB (lmdb-js, also the gallery's store): it is already a dependency, commits are crash-safe (copy-on-write
 * B-tree, no recovery step), keys are ordered (sequence numbers give replay order for free), and lmdb-js commits
 * asynchronously off the event loop, so the camera loop never waits for a disk sync. A commit is visible (and
 * survives a process kill) when `append` resolves; the OS flush to disk follows right after (overlappingSync).
 * Appends and removals issued in the same moment are written in one transaction, so a burst costs about one sync.
 * This file imports lmdb itself rather than going through src/gallery: the gallery store's API is about identities,
 * and a separate environment keeps event writes from contending with enrolment for LMDB's single writer lock.
 *
 * The queue is bounded: when `maxEvents` entries are waiting, appending drops the oldest one and counts it.
 * One process at a time should own an outbox directory (two would both replay it).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { FaceGateError } from '../core/errors.js';

export interface OutboxOptions {
  /** Directory of the LMDB environment; created when absent. A path that is a file fails (CONFIG_INVALID). */
  readonly path: string;
  /** Most entries kept; appending beyond it drops the oldest (counted in `dropped`). Default 100000. */
  readonly maxEvents?: number;
  /** Initial size of the memory map in bytes (address space, not disk); lmdb-js grows it when full. Default 1 GiB. */
  readonly mapSizeBytes?: number;
}

/** One queued message. */
export interface OutboxEntry {
  /** Position in the queue: increasing, never reused within an outbox directory. */
  readonly seq: number;
  /** Where it goes (an MQTT topic, a URL path: the sink decides). */
  readonly topic: string;
  /** The serialised message (JSON text). */
  readonly payload: string;
  /** True when the entry was already in the outbox when this process opened it (it is a replay). */
  readonly fromEarlierRun: boolean;
}

/** Counters of an outbox since it was opened. */
export interface OutboxStats {
  /** Entries waiting now. */
  pending: number;
  /** Entries appended by this process. */
  appended: number;
  /** Entries removed after delivery by this process. */
  removed: number;
  /** Entries dropped (oldest first) because the outbox was full. */
  dropped: number;
  /** Entries that were waiting when the outbox was opened (left by an earlier run). */
  recovered: number;
}

type AppendOp = { kind: 'append'; topic: string; payload: string; resolve: (e: OutboxEntry) => void; reject: (e: unknown) => void };
type RemoveOp = { kind: 'remove'; seq: number; resolve: () => void; reject: (e: unknown) => void };
type WriteOp = AppendOp | RemoveOp;

interface StoredEntry {
  topic: string;
  payload: string;
}

export const OUTBOX_DEFAULTS = {
  maxEvents: 100_000,
  mapSizeBytes: 1024 ** 3,
} as const;

/** A bounded, ordered, crash-safe queue of messages on LMDB. Open with `Outbox.open`; `close()` when done. */
export class Outbox implements MessageQueue {
  readonly path: string;
  readonly maxEvents: number;
  private readonly root: RootDatabase;
  private readonly db: Database<StoredEntry, number>;
  private nextSeq: number;
  /** Entries with seq below this were written by an earlier run. */
  private readonly firstSeqOfRun: number;
  private count: number;
  private closed = false;
  private readonly counters = { appended: 0, removed: 0, dropped: 0, recovered: 0 };
  /** Writes waiting for the next transaction. */
  private ops: WriteOp[] = [];
  /** The running batch writer, while there is one. */
  private writing: Promise<void> | null = null;

  private constructor(path: string, maxEvents: number, root: RootDatabase) {
    this.path = path;
    this.maxEvents = maxEvents;
    this.root = root;
    this.db = root.openDB<StoredEntry, number>({ name: 'outbox', encoding: 'msgpack', keyEncoding: 'ordered-binary' });
    let last = 0;
    for (const key of this.db.getKeys({ reverse: true, limit: 1 })) last = key;
    this.nextSeq = last + 1;
    this.firstSeqOfRun = this.nextSeq;
    this.count = this.db.getCount();
    this.counters.recovered = this.count;
  }

  /** Opens (or creates) the outbox at `options.path`. Throws CONFIG_INVALID for a bad path or bound. */
  static open(options: OutboxOptions): Outbox {
    const maxEvents = options.maxEvents ?? OUTBOX_DEFAULTS.maxEvents;
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new FaceGateError('CONFIG_INVALID', `outbox.maxEvents must be a positive integer, got ${String(maxEvents)}`, { details: { field: 'outbox.maxEvents' } });
    }
    if (typeof options.path !== 'string' || options.path === '') {
      throw new FaceGateError('CONFIG_INVALID', 'outbox.path must name a directory', { details: { field: 'outbox.path' } });
    }
    if (existsSync(options.path) && !statSync(options.path).isDirectory()) {
      throw new FaceGateError('CONFIG_INVALID', `outbox.path ${options.path} is a file; it must name a directory`, { details: { field: 'outbox.path', path: options.path } });
    }
    let root: RootDatabase;
    try {
      mkdirSync(options.path, { recursive: true });
      root = open({ path: options.path, maxDbs: 4, mapSize: options.mapSizeBytes ?? OUTBOX_DEFAULTS.mapSizeBytes });
    } catch (e) {
      throw new FaceGateError('CONFIG_INVALID', `outbox.path ${options.path} cannot be opened: ${(e as Error).message}`, { cause: e, details: { field: 'outbox.path', path: options.path } });
    }
    return new Outbox(options.path, maxEvents, root);
  }

  /**
   * Appends a message; resolves with its entry once it is committed. When the outbox is full, the oldest entries
   * are removed in the same transaction and counted as dropped. Appends and removals issued together share one
   * transaction (one disk sync), so a burst costs about as much as a single event.
   */
  append(topic: string, payload: string): Promise<OutboxEntry> {
    if (this.closed) return Promise.reject(new FaceGateError('SINK_FAILED', `outbox ${this.path} was used after close()`));
    return new Promise((resolve, reject) => this.enqueue({ kind: 'append', topic, payload, resolve, reject }));
  }

  /** Up to `limit` waiting entries with seq > `afterSeq`, oldest first (committed entries only). */
  peek(limit: number, afterSeq = 0): OutboxEntry[] {
    if (this.closed) return [];
    const out: OutboxEntry[] = [];
    for (const { key, value } of this.db.getRange({ start: afterSeq + 1, limit })) {
      out.push({ seq: key, topic: value.topic, payload: value.payload, fromEarlierRun: key < this.firstSeqOfRun });
    }
    return out;
  }

  /** Removes a delivered entry; resolves once committed. Removing an entry that is gone (dropped) is a no-op. */
  remove(seq: number): Promise<void> {
    // After close() the entry simply stays for the next run (a redelivery, never a loss).
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => this.enqueue({ kind: 'remove', seq, resolve, reject }));
  }

  /** Entries waiting now (committed). */
  size(): number {
    return this.count;
  }

  stats(): OutboxStats {
    return { pending: this.count, ...this.counters };
  }

  /** Waits for queued writes to commit, then closes the environment. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    await this.root.close();
  }

  private enqueue(op: WriteOp): void {
    this.ops.push(op);
    this.writing ??= this.drain();
  }

  /** Writes the queued operations in order, one transaction per batch, until none are left. */
  private async drain(): Promise<void> {
    // Let the current event turn queue more writes into this batch.
    await Promise.resolve();
    // `writing` is cleared in the same synchronous step as the last check for queued ops, before any caller
    // resumed by a resolved op can enqueue again (else its op would wait for a writer that is gone).
    while (this.ops.length > 0) {
      const batch = this.ops.splice(0);
      try {
        await this.writeBatch(batch);
      } catch (e) {
        const err = new FaceGateError('SINK_FAILED', `outbox ${this.path}: write failed: ${(e as Error).message}`, { cause: e });
        for (const op of batch) op.reject(err);
      }
    }
    this.writing = null;
  }

  /** One transaction: removals, drops beyond the bound, then appends; resolves the batch's ops once committed. */
  private async writeBatch(batch: WriteOp[]): Promise<void> {
    const puts = new Map<number, StoredEntry>();
    const removes = new Set<number>();
    const appended: [AppendOp, OutboxEntry][] = [];
    let removed = 0;
    for (const op of batch) {
      if (op.kind === 'append') {
        const entry: OutboxEntry = { seq: this.nextSeq++, topic: op.topic, payload: op.payload, fromEarlierRun: false };
        puts.set(entry.seq, { topic: op.topic, payload: op.payload });
        appended.push([op, entry]);
      } else if (puts.delete(op.seq)) {
        removed++;
      } else if (!removes.has(op.seq) && this.db.doesExist(op.seq)) {
        removes.add(op.seq);
        removed++;
      }
    }
    // Drop the oldest beyond the bound: committed entries first, then (a burst larger than the bound) new ones.
    let excess = this.count + puts.size - removes.size - this.maxEvents;
    const victims: number[] = [];
    let droppedNew = 0;
    if (excess > 0) {
      for (const key of this.db.getKeys()) {
        if (excess === 0) break;
        if (removes.has(key)) continue;
        victims.push(key);
        excess--;
      }
      for (const key of [...puts.keys()]) {
        if (excess === 0) break;
        puts.delete(key);
        droppedNew++;
        excess--;
      }
    }
    await this.db.transaction(() => {
      for (const key of removes) this.db.removeSync(key);
      for (const key of victims) this.db.removeSync(key);
      for (const [key, value] of puts) this.db.putSync(key, value);
    });
    this.count += puts.size - removes.size - victims.length;
    this.counters.appended += appended.length;
    this.counters.removed += removed;
    this.counters.dropped += victims.length + droppedNew;
    for (const op of batch) if (op.kind === 'remove') op.resolve();
    for (const [op, entry] of appended) op.resolve(entry);
  }
}

/** What a sink needs of a queue: the LMDB `Outbox`, or the in-memory `MemoryOutbox` where durability is not asked for. */
export interface MessageQueue {
  append(topic: string, payload: string): Promise<OutboxEntry>;
  peek(limit: number, afterSeq?: number): OutboxEntry[];
  remove(seq: number): Promise<void>;
  size(): number;
  stats(): OutboxStats;
  close(): Promise<void>;
}

/**
 * The same bounded ordered queue in memory: survives outages of the receiver but not a restart of the process.
 * Used by the webhook sink when no outbox path is configured.
 */
export class MemoryOutbox implements MessageQueue {
  private readonly entries: OutboxEntry[] = [];
  private nextSeq = 1;
  private readonly counters = { appended: 0, removed: 0, dropped: 0, recovered: 0 };

  /** @param maxEvents most entries kept; beyond it the oldest are dropped. Default 100000. */
  constructor(readonly maxEvents: number = OUTBOX_DEFAULTS.maxEvents) {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new FaceGateError('CONFIG_INVALID', `outbox.maxEvents must be a positive integer, got ${String(maxEvents)}`, { details: { field: 'outbox.maxEvents' } });
    }
  }

  append(topic: string, payload: string): Promise<OutboxEntry> {
    const entry: OutboxEntry = { seq: this.nextSeq++, topic, payload, fromEarlierRun: false };
    this.entries.push(entry);
    this.counters.appended++;
    while (this.entries.length > this.maxEvents) {
      this.entries.shift();
      this.counters.dropped++;
    }
    return Promise.resolve(entry);
  }

  peek(limit: number, afterSeq = 0): OutboxEntry[] {
    return this.entries.filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  remove(seq: number): Promise<void> {
    const i = this.entries.findIndex((e) => e.seq === seq);
    if (i >= 0) {
      this.entries.splice(i, 1);
      this.counters.removed++;
    }
    return Promise.resolve();
  }

  size(): number {
    return this.entries.length;
  }

  stats(): OutboxStats {
    return { pending: this.entries.length, ...this.counters };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
