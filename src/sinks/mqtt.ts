/**
 * The MQTT sink (mqtt.js; this file is its only importer). Topics under `topicPrefix` (default
 * `facegate/<deviceId>/`):
 *   `events/identified`, `events/unknown`  one `facegate.event/v1` JSON per decision, QoS 1, not retained
 *   `status`                               retained `facegate.status/v1`: `online` on connect, `offline` as last will
 * Every event goes through the durable outbox (outbox.ts): appended before it is published, removed on PUBACK. On
 * every (re)connection the outbox is replayed oldest first, so an outage or a restart loses nothing; an event whose
 * PUBACK was lost is sent again (QoS 1 "at least once"), and subscribers de-duplicate by `eventId`.
 * Reconnection is ours, not mqtt.js's: a fresh client per attempt with exponential backoff and jitter, each failure
 * reported as a `retrying` status with code SINK_FAILED. A broker that is down, even at start, is never an exception.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { FaceGateError } from '../core/errors.js';
import { backoffDelayMs, sleep } from '../core/backoff.js';
import type { ReconnectOptions } from '../core/backoff.js';
import { buildStatus, checkDeviceId, checkEvent } from './event.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import type { CommonSinkOptions, DeviceStatus, EventSink, FaceEvent, SinkStats, SinkStatus } from './types.js';

/** TLS settings; used with an `mqtts://` URL. */
export interface MqttTlsOptions {
  /** PEM file of the CA that signed the broker's certificate. Default: the system's CAs. */
  caPath?: string;
  /** PEM file of this device's client certificate (mutual TLS). Default: none. */
  certPath?: string;
  /** PEM file of the client certificate's private key. Default: none. */
  keyPath?: string;
  /** Refuse a broker whose certificate does not verify. Default true; false only for testing. */
  rejectUnauthorized?: boolean;
}

export interface MqttSinkOptions extends CommonSinkOptions {
  /** Broker URL: `mqtt://host:1883`, `mqtts://host:8883` (TLS), `ws://`/`wss://`. Required. */
  url: string;
  /** This device's id: the default topic prefix and the status payload. Letters, digits, `_ . : -`. Required. */
  deviceId: string;
  /** Directory of the durable outbox (LMDB). Required: without it a restart would lose undelivered events. */
  outboxPath: string;
  /** Most undelivered events kept; beyond it the oldest are dropped and counted. Default 100000. */
  outboxMaxEvents?: number;
  /** Prefix of every topic, ending in `/`. Default `facegate/<deviceId>/`. */
  topicPrefix?: string;
  /** MQTT client id. Default `facegate-<deviceId>`. */
  clientId?: string;
  /** Broker user name. Default: none (anonymous). */
  username?: string;
  /** Broker password. Default: none. */
  password?: string;
  /** TLS files and verification, for `mqtts://`. */
  tls?: MqttTlsOptions;
  /** Keep-alive interval, in seconds: how fast a silently dead connection is noticed. Default 30. */
  keepaliveS?: number;
  /** Time allowed for one connection attempt, in milliseconds. Default 10000. */
  connectTimeoutMs?: number;
  /** Backoff between connection attempts. Default 500 ms doubling to 30 s, +/-20% jitter, never giving up. */
  reconnect?: Omit<ReconnectOptions, 'maxAttempts'>;
  /** Events published but not yet acknowledged, at most. Default 20 (mosquitto's default in-flight window). */
  maxInFlight?: number;
  /** facegate's version, in the retained `online` status. Default: none. */
  version?: string;
  /** Model ids by role, in the retained `online` status. Default: none. */
  models?: Record<string, string>;
}

/** The MQTT sink: an EventSink plus its topics and outbox. */
export interface MqttSink extends EventSink {
  /** The topics it publishes to. */
  readonly topics: { identified: string; unknown: string; status: string };
  /** True while connected to the broker. */
  readonly connected: boolean;
  /** Publishes a retained status (`online` with details); replaces the one sent on connect. */
  status(status: DeviceStatus): Promise<void>;
}

function readPem(path: string | undefined, field: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `${field}: cannot read ${path}: ${(e as Error).message}`, { cause: e, details: { field, path } });
  }
}

/** Resolves when `work` does or after `ms`, whichever is first; the timer never outlives it (no exit delay). */
async function bounded(work: Promise<void>, ms: number): Promise<void> {
  const stop = new AbortController();
  await Promise.race([work, sleep(ms, stop.signal)]);
  stop.abort();
}

function configError(field: string, message: string, value?: unknown): FaceGateError {
  return new FaceGateError('CONFIG_INVALID', `mqtt.${field}: ${message}`, { details: { field: `mqtt.${field}`, value } });
}

/**
 * Opens the outbox and starts connecting in the background; returns at once. Throws CONFIG_INVALID for bad options
 * and FILE_NOT_FOUND for unreadable TLS files, never for an unreachable broker.
 * @example const sink = createMqttSink({ url: 'mqtt://127.0.0.1:1883', deviceId: 'door-1', outboxPath: './outbox' });
 */
export function createMqttSink(options: MqttSinkOptions): MqttSink {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw configError('url', `must be a broker URL like mqtt://host:1883, got ${JSON.stringify(options.url)}`, options.url);
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw configError('url', `protocol must be mqtt, mqtts, ws or wss, got ${url.protocol}`, options.url);
  }
  const deviceId = checkDeviceId(options.deviceId, 'mqtt.deviceId');
  const prefix = options.topicPrefix ?? `facegate/${deviceId}/`;
  if (!prefix.endsWith('/') || /[#+\u0000]/.test(prefix)) throw configError('topicPrefix', "must end in '/' and contain no '#', '+' or NUL", prefix);
  const maxInFlight = options.maxInFlight ?? 20;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw configError('maxInFlight', 'must be a positive integer', maxInFlight);
  const keepaliveS = options.keepaliveS ?? 30;
  if (!(keepaliveS >= 0)) throw configError('keepaliveS', 'must be >= 0', keepaliveS);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!(connectTimeoutMs > 0)) throw configError('connectTimeoutMs', 'must be > 0', connectTimeoutMs);
  const tls = options.tls ?? {};
  const clientOptions: IClientOptions = {
    clientId: options.clientId ?? `facegate-${deviceId}`,
    // The outbox is the session state that matters; a clean session keeps the broker from holding stale state.
    clean: true,
    // MQTT 3.1.1: what every broker speaks; nothing here needs MQTT 5 features.
    protocolVersion: 4,
    keepalive: keepaliveS,
    connectTimeout: connectTimeoutMs,
    reconnectPeriod: 0,
    ca: readPem(tls.caPath, 'mqtt.tls.caPath'),
    cert: readPem(tls.certPath, 'mqtt.tls.certPath'),
    key: readPem(tls.keyPath, 'mqtt.tls.keyPath'),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
  if (options.username !== undefined) clientOptions.username = options.username;
  if (options.password !== undefined) clientOptions.password = options.password;
  const outbox = Outbox.open({ path: options.outboxPath, ...(options.outboxMaxEvents !== undefined ? { maxEvents: options.outboxMaxEvents } : {}) });
  return new MqttSinkImpl(options, clientOptions, deviceId, prefix, maxInFlight, outbox);
}

class MqttSinkImpl implements MqttSink {
  readonly name: string;
  readonly topics: { identified: string; unknown: string; status: string };
  /** The broker URL without a password, for status messages and logs. */
  private readonly displayUrl: string;
  private client: MqttClient | null = null;
  /** Bumped per connection attempt; callbacks of an older client are ignored. */
  private generation = 0;
  private isConnected = false;
  private closing = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastError: Error | null = null;
  /** Entries handed to the current client and not yet acknowledged. */
  private readonly inFlight = new Map<number, OutboxEntry>();
  /** Highest seq handed to the current client; the pump continues after it. */
  private lastSentSeq = 0;
  /** Acknowledged entries whose removal from the outbox is still committing (not to be sent again). */
  private readonly acked = new Set<number>();
  /** Seqs sent on an earlier connection of this process (a resend counts as redelivered). */
  private readonly sentBefore = new Set<number>();
  private onlineStatus: DeviceStatus;
  /** Version and models, repeated in every status message. */
  private readonly info: { version?: string; models?: Record<string, string> };
  private readonly counters = { published: 0, redelivered: 0, failures: 0 };
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    private readonly options: MqttSinkOptions,
    private readonly clientOptions: IClientOptions,
    private readonly deviceId: string,
    prefix: string,
    private readonly maxInFlight: number,
    private readonly outbox: Outbox,
  ) {
    this.name = options.name ?? 'mqtt';
    const shown = new URL(options.url);
    this.displayUrl = `${shown.protocol}//${shown.host}${shown.pathname === '/' ? '' : shown.pathname}`;
    this.topics = { identified: `${prefix}events/identified`, unknown: `${prefix}events/unknown`, status: `${prefix}status` };
    this.info = { ...(options.version !== undefined ? { version: options.version } : {}), ...(options.models ? { models: options.models } : {}) };
    this.onlineStatus = buildStatus('online', deviceId, this.info);
    this.connect();
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async write(event: FaceEvent): Promise<void> {
    if (this.closing) throw new FaceGateError('SINK_FAILED', `${this.name}: write after close()`);
    checkEvent(event);
    await this.outbox.append(this.topics[event.type], JSON.stringify(event));
    this.pump();
  }

  async status(status: DeviceStatus): Promise<void> {
    if (this.closing) return;
    this.onlineStatus = status;
    const client = this.client;
    if (!this.isConnected || !client) return; // sent on the next connect
    // Bounded: a connection that drops mid-publish may never call back, and the pipeline must not wait on it.
    await bounded(new Promise<void>((resolve) => client.publish(this.topics.status, JSON.stringify(status), { qos: 1, retain: true }, () => resolve())), 2000);
  }

  stats(): SinkStats {
    const o = this.outbox.stats();
    return { published: this.counters.published, pending: o.pending, dropped: o.dropped, redelivered: this.counters.redelivered, failures: this.counters.failures };
  }

  flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.outbox.size() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve(this.outbox.size() === 0);
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.generation++;
    const client = this.client;
    this.client = null;
    if (client) {
      if (this.isConnected) {
        // A clean disconnect suppresses the last will, so say `offline` ourselves (bounded wait).
        await bounded(new Promise<void>((resolve) => client.publish(this.topics.status, this.offlinePayload(), { qos: 1, retain: true }, () => resolve())), 2000);
      }
      await bounded(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), 2000);
      client.end(true);
    }
    this.isConnected = false;
    for (const w of [...this.idleWaiters]) w();
    await this.outbox.close();
    this.report({ sink: this.name, state: 'closed', attempt: 0 });
  }

  private offlinePayload(): string {
    return JSON.stringify(buildStatus('offline', this.deviceId, this.info));
  }

  private report(status: SinkStatus): void {
    try {
      this.options.onStatus?.(status);
    } catch {
      // a failing status callback must not break delivery
    }
  }

  private connect(): void {
    if (this.closing) return;
    const gen = ++this.generation;
    this.lastError = null;
    this.report({ sink: this.name, state: 'connecting', attempt: this.attempt });
    let client: MqttClient;
    try {
      client = connect(this.options.url, {
        ...this.clientOptions,
        // The will is registered at connect, so its `time` is when this connection began.
        will: { topic: this.topics.status, payload: Buffer.from(this.offlinePayload()), qos: 1, retain: true },
      });
    } catch (e) {
      // mqtt.js can throw synchronously (a transport it cannot build): a failed attempt like any other
      this.lastError = e as Error;
      this.scheduleRetry();
      return;
    }
    this.client = client;
    client.on('error', (err) => {
      // mqtt.js emits 'error' then 'close'; remember why for the status report
      if (gen === this.generation) this.lastError = err;
    });
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.isConnected = true;
      this.attempt = 0;
      this.lastSentSeq = 0;
      this.report({ sink: this.name, state: 'connected', attempt: 0 });
      client.publish(this.topics.status, JSON.stringify(this.onlineStatus), { qos: 1, retain: true }, () => undefined);
      this.pump();
    });
    client.on('close', () => {
      if (gen !== this.generation) return;
      this.disconnected(client);
    });
  }

  private disconnected(client: MqttClient): void {
    this.generation++;
    this.isConnected = false;
    for (const seq of this.inFlight.keys()) this.sentBefore.add(seq);
    this.inFlight.clear();
    client.removeAllListeners('close');
    client.on('error', () => undefined);
    client.end(true);
    if (this.client === client) this.client = null;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closing) return;
    this.attempt++;
    this.counters.failures++;
    const retryInMs = backoffDelayMs(this.attempt, this.options.reconnect ?? {});
    const message = this.lastError?.message ?? 'connection closed';
    this.report({ sink: this.name, state: 'retrying', attempt: this.attempt, retryInMs, error: { code: 'SINK_FAILED', message: `${this.displayUrl}: ${message}` } });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, retryInMs);
  }

  /** Hands waiting outbox entries to the client, oldest first, keeping at most maxInFlight unacknowledged. */
  private pump(): void {
    const client = this.client;
    if (!this.isConnected || !client || this.closing) return;
    const gen = this.generation;
    while (this.inFlight.size < this.maxInFlight) {
      const batch = this.outbox.peek(this.maxInFlight - this.inFlight.size, this.lastSentSeq);
      if (batch.length === 0) return;
      for (const entry of batch) {
        this.lastSentSeq = entry.seq;
        if (this.acked.has(entry.seq)) continue;
        if (entry.fromEarlierRun || this.sentBefore.has(entry.seq)) this.counters.redelivered++;
        this.inFlight.set(entry.seq, entry);
        client.publish(entry.topic, entry.payload, { qos: 1 }, (err) => this.onAck(gen, client, entry, err));
      }
    }
  }

  private onAck(gen: number, client: MqttClient, entry: OutboxEntry, err: Error | undefined): void {
    if (gen !== this.generation) return; // an old connection: the entry is resent on the current one
    this.inFlight.delete(entry.seq);
    if (err) {
      // Not acknowledged: drop this connection, so the reconnect replays from the oldest waiting entry.
      this.lastError = err;
      this.disconnected(client);
      return;
    }
    this.sentBefore.delete(entry.seq);
    this.counters.published++;
    this.acked.add(entry.seq);
    this.outbox
      .remove(entry.seq)
      .catch(() => undefined) // only fails after close(); the entry is then replayed next run
      .finally(() => {
        this.acked.delete(entry.seq);
        if (this.outbox.size() === 0) for (const w of [...this.idleWaiters]) w();
      });
    this.pump();
  }
}
