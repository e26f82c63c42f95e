/** The webhook sink against a real local HTTP server that fails, recovers, rejects and comes and goes. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildEvent, checkEvent } from '../../src/sinks/event.js';
import type { FaceEvent, SinkStatus } from '../../src/sinks/types.js';
import { createWebhookSink } from '../../src/sinks/webhook.js';
import { freePort } from '../helpers/mosquitto.js';

interface Request {
  body: FaceEvent;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  status: number;
}

/** A receiver whose answer to request n (0-based) is `answer(n)`: a status code, or [code, headers]. */
async function receiver(answer: (n: number) => number | [number, Record<string, string>], port?: number): Promise<{ url: string; port: number; requests: Request[]; close(): Promise<void> }> {
  const requests: Request[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const a = answer(requests.length);
      const [status, headers] = typeof a === 'number' ? [a, {}] : a;
      requests.push({ body: JSON.parse(body) as FaceEvent, idempotencyKey: req.headers['idempotency-key'] as string | undefined, authorization: req.headers.authorization, status });
      res.writeHead(status, headers).end(status < 300 ? '{"ok":true}' : 'error');
    });
  });
  const p = port ?? (await freePort());
  await new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${p}/hooks/facegate`,
    port: p,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function makeEvent(i: number): FaceEvent {
  return buildEvent({ type: 'identified', deviceId: 'door-1', trackId: i, identity: { id: 'lin', name: 'Lin-Manuel Miranda' }, similarity: 0.6, margin: 0.2, quality: 0.8, box: { x1: 1, y1: 2, x2: 30, y2: 40 } });
}

const open: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const retry = { initialDelayMs: 50, maxDelayMs: 200 };

describe('webhook sink', () => {
  it('POSTs each event as JSON with its eventId as Idempotency-Key, and retries 500s with backoff in order', async () => {
    const server = await receiver((n) => (n < 3 ? 500 : 200));
    open.push(server);
    const statuses: SinkStatus[] = [];
    const sink = createWebhookSink({ url: server.url, headers: { authorization: 'Bearer t0ken' }, retry, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    const events = Array.from({ length: 5 }, (_, i) => makeEvent(i + 1));
    for (const e of events) await sink.write(e);
    expect(await sink.flush(10_000)).toBe(true);

    const delivered = server.requests.filter((r) => r.status === 200);
    expect(delivered.map((r) => checkEvent(r.body))).toEqual(events);
    expect(server.requests.slice(0, 4).map((r) => r.body.eventId)).toEqual(Array(4).fill(events[0]!.eventId)); // retried in place
    expect(server.requests.every((r) => r.idempotencyKey === r.body.eventId && r.authorization === 'Bearer t0ken')).toBe(true);
    expect(sink.stats()).toEqual({ published: 5, pending: 0, dropped: 0, redelivered: 3, failures: 3 });
    const retries = statuses.filter((s) => s.state === 'retrying');
    expect(retries.map((s) => s.error?.code)).toEqual(['SINK_FAILED', 'SINK_FAILED', 'SINK_FAILED']);
    expect(retries[0]!.error!.message).toContain('HTTP 500');
    expect(retries.map((s) => s.attempt)).toEqual([1, 2, 3]);
  });

  it('waits for a receiver that is down, and keeps events across a restart with a durable outbox', async () => {
    const port = await freePort();
    const outboxPath = mkdtempSync(join(tmpdir(), 'facegate-webhook-'));
    dirs.push(outboxPath);
    const url = `http://127.0.0.1:${port}/hooks`;
    const statuses: SinkStatus[] = [];
    const first = createWebhookSink({ url, outboxPath, retry, onStatus: (s) => statuses.push(s) });
    const events = Array.from({ length: 4 }, (_, i) => makeEvent(i + 1));
    for (const e of events) await first.write(e);
    expect(await first.flush(500)).toBe(false);
    expect(first.stats()).toMatchObject({ published: 0, pending: 4 });
    expect(statuses.find((s) => s.state === 'retrying')?.error?.message).toContain('ECONNREFUSED');
    await first.close();

    const server = await receiver(() => 200, port);
    open.push(server);
    const second = createWebhookSink({ url, outboxPath, retry });
    open.push(second);
    expect(await second.flush(10_000)).toBe(true);
    expect(server.requests.map((r) => r.body.eventId)).toEqual(events.map((e) => e.eventId));
    expect(second.stats()).toMatchObject({ published: 4, pending: 0, redelivered: 4 });
  });

  it('drops an event the receiver rejects as malformed (422), counts it, and goes on', async () => {
    const server = await receiver((n) => (n === 0 ? 422 : 200));
    open.push(server);
    const statuses: SinkStatus[] = [];
    const sink = createWebhookSink({ url: server.url, retry, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    for (let i = 1; i <= 3; i++) await sink.write(makeEvent(i));
    expect(await sink.flush(10_000)).toBe(true);
    expect(server.requests.map((r) => r.status)).toEqual([422, 200, 200]);
    expect(sink.stats()).toMatchObject({ published: 2, dropped: 1, failures: 1 });
    expect(statuses.some((s) => s.error?.message.includes('HTTP 422'))).toBe(true);
  });

  it('honours Retry-After on 503', async () => {
    const server = await receiver((n) => (n === 0 ? [503, { 'retry-after': '1' }] : 200));
    open.push(server);
    const statuses: SinkStatus[] = [];
    const sink = createWebhookSink({ url: server.url, retry: { initialDelayMs: 50, maxDelayMs: 5000 }, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    await sink.write(makeEvent(1));
    expect(await sink.flush(10_000)).toBe(true);
    expect(statuses.find((s) => s.state === 'retrying')!.retryInMs).toBeGreaterThanOrEqual(1000);
  });

  it('sends credentials in the URL as Basic auth and keeps them out of status messages', async () => {
    const server = await receiver((n) => (n === 0 ? 503 : 200));
    open.push(server);
    const statuses: SinkStatus[] = [];
    const sink = createWebhookSink({ url: server.url.replace('http://', 'http://kiosk:hunter2@'), retry, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    await sink.write(makeEvent(1));
    expect(await sink.flush(10_000)).toBe(true);
    expect(server.requests[1]!.authorization).toBe(`Basic ${Buffer.from('kiosk:hunter2').toString('base64')}`);
    expect(statuses.length).toBeGreaterThan(0);
    expect(JSON.stringify(statuses)).not.toContain('hunter2');
  });

  it('rejects bad options and bad events with coded errors', async () => {
    expect(() => createWebhookSink({ url: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: expect.objectContaining({ field: 'webhook.url' }) }));
    const sink = createWebhookSink({ url: 'http://127.0.0.1:9/x', retry });
    await expect(sink.write({ ...makeEvent(1), quality: 2 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await sink.close();
    await expect(sink.write(makeEvent(1))).rejects.toMatchObject({ code: 'SINK_FAILED' });
  });
});
