/**
 * The webhook sink: each event is POSTed as JSON (Node's fetch) to one URL, one at a time and in order. A receiver
 * that is down, slow or answering 5xx is retried with exponential backoff (honouring `Retry-After`), each failure
 * reported as SINK_FAILED; nothing is dropped for it. With `outboxPath` the queue is the durable LMDB outbox, so
 * events also survive a restart; without it they survive receiver outages only.
 * Every request carries `Idempotency-Key: <eventId>`, so a receiver can ignore a repeat (a request whose answer was
 * lost is sent again).
 */
import { FaceGateError } from '../core/errors.js';
import { backoffDelayMs, sleep } from '../core/backoff.js';
import type { ReconnectOptions } from '../core/backoff.js';
import { checkEvent } from './event.js';
import { MemoryOutbox, Outbox, type MessageQueue, type OutboxEntry } from './outbox.js';
import type { CommonSinkOptions, EventSink, FaceEvent, SinkStats } from './types.js';

export interface WebhookSinkOptions extends CommonSinkOptions {
  /** The receiver, `http://` or `https://`. Required. */
  url: string;
  /** Extra request headers (e.g. `Authorization`). Default none. */
  headers?: Record<string, string>;
  /** Time allowed for one request, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Backoff between failed attempts. Default 500 ms doubling to 30 s, +/-20% jitter, never giving up. */
  retry?: Omit<ReconnectOptions, 'maxAttempts'>;
  /** Directory of a durable outbox (LMDB); events then survive a restart. Default: an in-memory queue. */
  outboxPath?: string;
  /** Most undelivered events kept; beyond it the oldest are dropped and counted. Default 100000. */
  outboxMaxEvents?: number;
}

/**
 * Answers that will never succeed however often the same payload is sent: the event is dropped (counted) rather
 * than blocking the queue. Auth and routing errors (401, 403, 404) are retried: fixing the receiver's configuration
 * should deliver what waited.
 */
const PERMANENT = new Set([400, 405, 410, 413, 415, 422]);

function configError(field: string, message: string, value?: unknown): FaceGateError {
  return new FaceGateError('CONFIG_INVALID', `webhook.${field}: ${message}`, { details: { field: `webhook.${field}`, value } });
}

/**
 * Starts the delivery loop in the background and returns at once. Throws CONFIG_INVALID for bad options.
 * @example const sink = createWebhookSink({ url: 'https://backend.example/facegate', headers: { authorization: 'Bearer ...' } });
 */
export function createWebhookSink(options: WebhookSinkOptions): EventSink {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw configError('url', `must be an http(s) URL, got ${JSON.stringify(options.url)}`, options.url);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError('url', `must be http or https, got ${url.protocol}`, options.url);
  // fetch refuses URLs with credentials: send them as HTTP Basic auth instead, and never show them in messages.
  const basicAuth = url.username || url.password ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` : null;
  url.username = '';
  url.password = '';
  const shownUrl = `${url.origin}${url.pathname}`;
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!(timeoutMs > 0)) throw configError('timeoutMs', 'must be > 0', timeoutMs);
  const name = options.name ?? 'webhook';
  const queue: MessageQueue = options.outboxPath
    ? Outbox.open({ path: options.outboxPath, ...(options.outboxMaxEvents !== undefined ? { maxEvents: options.outboxMaxEvents } : {}) })
    : new MemoryOutbox(options.outboxMaxEvents);
  const counters = { published: 0, redelivered: 0, failures: 0, rejected: 0 };
  const stop = new AbortController();
  let closed = false;
  let wake: (() => void) | null = null;
  const idleWaiters = new Set<() => void>();
  const report = (s: Parameters<NonNullable<CommonSinkOptions['onStatus']>>[0]): void => {
    try {
      options.onStatus?.(s);
    } catch {
      // a failing status callback must not stop delivery
    }
  };

  /** One POST; resolves with what to do next. */
  async function post(entry: OutboxEntry, eventId: string): Promise<{ ok: true } | { ok: false; permanent: boolean; message: string; retryAfterMs?: number }> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': eventId, ...(basicAuth ? { authorization: basicAuth } : {}), ...options.headers },
        body: entry.payload,
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection is reused
      if (res.ok) return { ok: true };
      const retryAfterS = Number(res.headers.get('retry-after'));
      return {
        ok: false,
        permanent: PERMANENT.has(res.status),
        message: `HTTP ${res.status} ${res.statusText}`,
        ...(Number.isFinite(retryAfterS) && retryAfterS > 0 ? { retryAfterMs: retryAfterS * 1000 } : {}),
      };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      return { ok: false, permanent: false, message: err.cause?.code ?? err.cause?.message ?? err.message };
    }
  }

  async function loop(): Promise<void> {
    let attempt = 0;
    let lastSeq = -1;
    while (!closed) {
      const entry = queue.peek(1)[0];
      if (!entry) {
        for (const w of [...idleWaiters]) w();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (entry.seq === lastSeq || entry.fromEarlierRun) counters.redelivered++;
      lastSeq = entry.seq;
      let eventId: string;
      try {
        eventId = (JSON.parse(entry.payload) as FaceEvent).eventId;
      } catch (e) {
        // A damaged outbox entry must not stop delivery of the rest: drop it, count it and go on.
        await queue.remove(entry.seq);
        counters.failures++;
        report({ sink: name, state: 'connected', attempt: 0, error: { code: 'SINK_FAILED', message: `${shownUrl}: outbox entry ${entry.seq} is not valid JSON and was dropped: ${(e as Error).message}` } });
        continue;
      }
      const r = await post(entry, eventId);
      if (closed) return;
      if (r.ok || r.permanent) {
        await queue.remove(entry.seq);
        if (r.ok) counters.published++;
        else {
          counters.rejected++;
          counters.failures++;
          report({ sink: name, state: 'connected', attempt: 0, error: { code: 'SINK_FAILED', message: `${shownUrl}: ${r.message}: event ${eventId} rejected and dropped` } });
        }
        if (attempt > 0) report({ sink: name, state: 'connected', attempt: 0 });
        attempt = 0;
        continue;
      }
      attempt++;
      counters.failures++;
      const retryInMs = Math.max(backoffDelayMs(attempt, options.retry ?? {}), Math.min(r.retryAfterMs ?? 0, options.retry?.maxDelayMs ?? 30_000));
      report({ sink: name, state: 'retrying', attempt, retryInMs, error: { code: 'SINK_FAILED', message: `${shownUrl}: ${r.message}` } });
      await sleep(retryInMs, stop.signal);
    }
  }

  const running = loop().catch((e: unknown) => {
    // Only a broken queue gets here (the disk under the outbox); report it rather than crash the process.
    report({ sink: name, state: 'closed', attempt: 0, error: { code: 'SINK_FAILED', message: `${name}: ${(e as Error).message}` } });
  });

  return {
    name,
    async write(event: FaceEvent) {
      if (closed) throw new FaceGateError('SINK_FAILED', `${name}: write after close()`);
      checkEvent(event);
      await queue.append(url.pathname, JSON.stringify(event));
      wake?.();
    },
    stats(): SinkStats {
      const q = queue.stats();
      return { published: counters.published, pending: q.pending, dropped: q.dropped + counters.rejected, redelivered: counters.redelivered, failures: counters.failures };
    },
    flush(flushTimeoutMs = 10_000) {
      if (queue.size() === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve(queue.size() === 0);
        };
        const timer = setTimeout(done, flushTimeoutMs);
        idleWaiters.add(done);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      stop.abort();
      wake?.();
      await running;
      for (const w of [...idleWaiters]) w();
      await queue.close();
      report({ sink: name, state: 'closed', attempt: 0 });
    },
  };
}
