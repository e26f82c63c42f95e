/**
 * The MQTT sink against a real mosquitto on a loopback port: topics and payloads, the retained status and last will,
 * a broker that is down at start, an outage mid-stream, and a publishing process killed with SIGKILL and restarted.
 * Subscribers count events by eventId: none may be lost; duplicates are what QoS 1 allows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, buildStatus, checkEvent } from '../../src/sinks/event.js';
import { createMqttSink, type MqttSink } from '../../src/sinks/mqtt.js';
import type { FaceEvent, SinkStatus } from '../../src/sinks/types.js';
import { haveMosquitto, haveOpenssl, makeTestCertificates, startMosquitto, subscribe, type Broker, type TestCertificates, type TestSubscriber } from '../helpers/mosquitto.js';
import { REPO_ROOT } from '../helpers/shared.js';

const DEVICE = 'door-1';
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'facegate-outbox-'));
  dirs.push(d);
  return d;
}

function makeEvent(i: number): FaceEvent {
  const known = i % 4 !== 0;
  return buildEvent({
    type: known ? 'identified' : 'unknown',
    deviceId: DEVICE,
    trackId: i,
    identity: known ? { id: 'lin', name: 'Lin-Manuel Miranda' } : null,
    similarity: known ? 0.55 + (i % 10) / 100 : 0.21,
    margin: known ? 0.25 : null,
    quality: 0.7,
    box: { x1: 100 + i, y1: 50, x2: 180 + i, y2: 150 },
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** First-arrival order of eventIds: replays must keep the original order. */
function firstArrivals(sub: TestSubscriber): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of sub.events()) {
    const id = m.json.eventId as string;
    if (!seen.has(id)) out.push(id);
    seen.add(id);
  }
  return out;
}

function lossReport(label: string, sent: string[], sub: TestSubscriber, extra: object = {}): { lost: string[]; duplicates: number } {
  const counts = sub.countsByEventId();
  const lost = sent.filter((id) => !counts.has(id));
  const duplicates = [...counts.values()].reduce((a, c) => a + c - 1, 0);
  console.log(`${label}: sent ${sent.length}, received ${counts.size} distinct, lost ${lost.length}, duplicates ${duplicates}`, extra);
  return { lost, duplicates };
}

describe.skipIf(!haveMosquitto())('mqtt sink with a real mosquitto', () => {
  let broker: Broker;
  const open: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
    if (!broker.running) await broker.start();
  });
  afterAll(async () => {
    await broker?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('publishes events on events/<type> (QoS 1) and a retained online status, offline on close', async () => {
    const sub = await subscribe(broker.url, `facegate/${DEVICE}/#`);
    open.push(sub);
    const statuses: SinkStatus[] = [];
    const sink = createMqttSink({
      url: broker.url,
      deviceId: DEVICE,
      outboxPath: tempDir(),
      version: '0.1.0',
      models: { detector: 'scrfd', recognizer: 'arcface' },
      onStatus: (s) => statuses.push(s),
    });
    const events = [makeEvent(1), makeEvent(4)];
    for (const e of events) await sink.write(e);
    expect(await sink.flush(10_000)).toBe(true);
    await sub.waitFor((ms) => ms.filter((m) => m.json.eventId).length >= 2 && ms.some((m) => m.json.state === 'online'));

    const got = sub.events();
    expect(got.map((m) => m.topic)).toEqual([`facegate/${DEVICE}/events/identified`, `facegate/${DEVICE}/events/unknown`]);
    expect(got.map((m) => checkEvent(m.json))).toEqual(events);
    const online = sub.messages.find((m) => m.json.state === 'online')!;
    expect(online.topic).toBe(`facegate/${DEVICE}/status`);
    expect(online.json).toMatchObject({ schema: 'facegate.status/v1', deviceId: DEVICE, version: '0.1.0', models: { detector: 'scrfd', recognizer: 'arcface' } });
    expect(sink.stats()).toEqual({ published: 2, pending: 0, dropped: 0, redelivered: 0, failures: 0 });
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'connected']);

    // the pipeline updates the retained status (source state, counters)
    await sink.status(buildStatus('online', DEVICE, { version: '0.1.0', details: { source: 'streaming' } }));
    await sub.waitFor((ms) => ms.some((m) => (m.json.details as { source?: string } | undefined)?.source === 'streaming'));

    await sink.close();
    await sub.waitFor((ms) => ms.some((m) => m.json.state === 'offline'));
    // A late subscriber sees the retained status: the device is offline.
    const late = await subscribe(broker.url, `facegate/${DEVICE}/status`);
    open.push(late);
    await late.waitFor((ms) => ms.length > 0);
    expect(late.messages[0]).toMatchObject({ retain: true, json: { state: 'offline', deviceId: DEVICE } });
  });

  it('does not fail when the broker is down at start: reports SINK_FAILED, retries with backoff, then delivers all', async () => {
    // The integrator's subscriber has a persistent session, so the broker queues for it what arrives while it reconnects.
    const sub = await subscribe(broker.url, `facegate/${DEVICE}/events/#`);
    open.push(sub);
    await broker.stop();
    const statuses: SinkStatus[] = [];
    // credentials in the URL work, and never appear in status messages
    const url = broker.url.replace('mqtt://', 'mqtt://kiosk:hunter2@');
    const sink = createMqttSink({ url, deviceId: DEVICE, outboxPath: tempDir(), reconnect: { initialDelayMs: 100, maxDelayMs: 800 }, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    const events = Array.from({ length: 10 }, (_, i) => makeEvent(i + 1));
    for (const e of events) await sink.write(e);
    await sleep(1500);
    expect(sink.connected).toBe(false);
    expect(sink.stats()).toMatchObject({ published: 0, pending: 10 });
    const retries = statuses.filter((s) => s.state === 'retrying');
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries[0]!.error).toMatchObject({ code: 'SINK_FAILED', message: expect.stringContaining('ECONNREFUSED') });
    expect(JSON.stringify(statuses)).not.toContain('hunter2');
    // exponential: the third wait is about four times the first (+/-20% jitter each), or at the cap
    expect(retries[2]!.retryInMs!).toBeGreaterThan(Math.min(800 * 0.8, retries[0]!.retryInMs! * 2));

    await broker.start();
    expect(await sink.flush(15_000)).toBe(true);
    await sub.waitFor(() => sub.countsByEventId().size >= events.length);
    const { lost } = lossReport('down at start', events.map((e) => e.eventId), sub, sink.stats());
    expect(lost).toEqual([]);
    expect(firstArrivals(sub)).toEqual(events.map((e) => e.eventId));
    // every failed attempt was reported (counted now: more may have failed before the broker was back)
    expect(sink.stats()).toMatchObject({ published: 10, pending: 0, dropped: 0, failures: statuses.filter((s) => s.state === 'retrying').length });
  });

  it('bounds the outbox while the broker is down: drops the oldest and counts them', async () => {
    const sub = await subscribe(broker.url, `facegate/${DEVICE}/events/#`);
    open.push(sub);
    await broker.stop();
    const sink = createMqttSink({ url: broker.url, deviceId: DEVICE, outboxPath: tempDir(), outboxMaxEvents: 5, reconnect: { initialDelayMs: 100, maxDelayMs: 300 } });
    open.push(sink);
    const events = Array.from({ length: 8 }, (_, i) => makeEvent(i + 1));
    for (const e of events) await sink.write(e);
    expect(sink.stats()).toMatchObject({ pending: 5, dropped: 3, published: 0 });
    await broker.start();
    expect(await sink.flush(15_000)).toBe(true);
    await sub.waitFor(() => sub.countsByEventId().size >= 5);
    expect(firstArrivals(sub)).toEqual(events.slice(3).map((e) => e.eventId));
    expect(sink.stats()).toMatchObject({ published: 5, pending: 0, dropped: 3 });
  });

  it('loses nothing when the broker stops mid-stream and comes back on the same port', async () => {
    const sub = await subscribe(broker.url, `facegate/${DEVICE}/events/#`);
    open.push(sub);
    const statuses: SinkStatus[] = [];
    const sink = createMqttSink({ url: broker.url, deviceId: DEVICE, outboxPath: tempDir(), reconnect: { initialDelayMs: 100, maxDelayMs: 400 }, onStatus: (s) => statuses.push(s) });
    open.push(sink);
    const sent: string[] = [];
    let pendingAtRestart = 0;
    for (let i = 1; i <= 150; i++) {
      const e = makeEvent(i);
      await sink.write(e);
      sent.push(e.eventId);
      if (i === 50) await broker.stop();
      if (i === 100) {
        pendingAtRestart = sink.stats().pending;
        await broker.start();
      }
      await sleep(broker.running ? 10 : 30); // the broker is away for about 1.5 s
    }
    expect(await sink.flush(20_000)).toBe(true);
    await sub.waitFor(() => sub.countsByEventId().size >= sent.length);
    const { lost } = lossReport('outage', sent, sub, { pendingAtRestart, ...sink.stats() });
    expect(lost).toEqual([]);
    expect(pendingAtRestart).toBeGreaterThanOrEqual(50); // the outage really held events back
    expect(firstArrivals(sub)).toEqual(sent);
    expect(sink.stats()).toMatchObject({ published: expect.any(Number), pending: 0, dropped: 0 });
    expect(sink.stats().published).toBeGreaterThanOrEqual(150);
    expect(statuses.some((s) => s.state === 'retrying' && s.error?.code === 'SINK_FAILED')).toBe(true);
  });

  it('replays the outbox in order after the publishing process is killed with SIGKILL', async () => {
    const sub = await subscribe(broker.url, `facegate/${DEVICE}/#`);
    open.push(sub);
    const outboxPath = tempDir();
    const fixture = join(REPO_ROOT, 'test', 'sinks', 'fixtures', 'publisher.mjs');
    const run = (count: number, hold: boolean): { child: ChildProcess; stored: string[]; lines: string[]; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [fixture, JSON.stringify({ url: broker.url, deviceId: DEVICE, outboxPath, count, intervalMs: 15, hold })], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const lines: string[] = [];
      const stored: string[] = [];
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const l of parts) {
          lines.push(l);
          if (l.startsWith('stored ')) stored.push(l.slice(7));
        }
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, stored, lines, exited };
    };
    const waitUntil = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    };

    // Run 1: killed with SIGKILL while connected and publishing (events in flight, PUBACKs outstanding).
    const first = run(200, true);
    await waitUntil(() => first.stored.length >= 25, '25 stored events');
    first.child.kill('SIGKILL');
    await first.exited;

    // Run 2: replays what run 1 left, publishes more; the broker goes away (events pile up in the outbox), then
    // this process is SIGKILLed too.
    const second = run(200, true);
    await waitUntil(() => second.stored.length >= 15, '15 stored events');
    await broker.stop();
    await waitUntil(() => second.stored.length >= 55, '55 stored events');
    second.child.kill('SIGKILL');
    await second.exited;
    await broker.start();

    // Run 3: same outbox, 20 new events; it replays the 40 or so left behind first, then stays up until killed.
    const third = run(20, true);
    await waitUntil(() => third.lines.some((l) => l.startsWith('flushed ')), 'the third run to flush');
    const stats = JSON.parse(third.lines.find((l) => l.startsWith('flushed '))!.slice(8)) as Record<string, number | boolean>;
    const sent = [...first.stored, ...second.stored, ...third.stored];
    await sub.waitFor(() => sub.countsByEventId().size >= sent.length);
    // Killed while connected: the broker publishes the retained `offline` last will.
    third.child.kill('SIGKILL');
    await third.exited;
    await sub.waitFor((ms) => ms.some((m) => m.topic.endsWith('/status') && m.json.state === 'offline'));

    const { lost } = lossReport('sigkill', sent, sub, stats);
    expect(lost).toEqual([]);
    expect(stats).toMatchObject({ ok: true, pending: 0, dropped: 0 });
    expect(stats.redelivered).toBeGreaterThanOrEqual(second.stored.length - 15 - 5); // the outbox left by run 2
    const order = firstArrivals(sub).filter((id) => sent.includes(id));
    expect(order).toEqual(sent);
  });
});

describe.skipIf(!haveMosquitto() || !haveOpenssl())('mqtt sink over TLS with a client certificate and a password', () => {
  let broker: Broker;
  let certs: TestCertificates;
  const users = { kiosk: 's3cret' };
  beforeAll(async () => {
    certs = makeTestCertificates(tempDir());
    broker = await startMosquitto({ tls: certs, users });
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('delivers with the right CA, client certificate and password', async () => {
    const sink = createMqttSink({
      url: broker.url,
      deviceId: DEVICE,
      outboxPath: tempDir(),
      username: 'kiosk',
      password: 's3cret',
      tls: { caPath: certs.caPath, certPath: certs.clientCertPath, keyPath: certs.clientKeyPath },
    });
    await sink.write(makeEvent(1));
    expect(await sink.flush(10_000)).toBe(true);
    expect(sink.stats()).toMatchObject({ published: 1, pending: 0, failures: 0 });
    await sink.close();
  });

  it('reports SINK_FAILED, keeps the event and retries on a wrong password or an unknown CA', async () => {
    const cases = [
      { password: 'wrong', tls: { caPath: certs.caPath, certPath: certs.clientCertPath, keyPath: certs.clientKeyPath }, expect: /authori[sz]ed|password/i },
      { password: 's3cret', tls: { certPath: certs.clientCertPath, keyPath: certs.clientKeyPath }, expect: /certificate/i },
    ];
    for (const c of cases) {
      const statuses: SinkStatus[] = [];
      const sink = createMqttSink({ url: broker.url, deviceId: DEVICE, outboxPath: tempDir(), username: 'kiosk', password: c.password, tls: c.tls, reconnect: { initialDelayMs: 100 }, onStatus: (s) => statuses.push(s) });
      await sink.write(makeEvent(2));
      for (let t = 0; t < 200 && !statuses.some((s) => s.state === 'retrying'); t++) await sleep(50);
      expect(await sink.flush(300)).toBe(false);
      const retry = statuses.find((s) => s.state === 'retrying');
      expect(retry?.error?.code).toBe('SINK_FAILED');
      expect(retry?.error?.message).toMatch(c.expect);
      expect(sink.stats()).toMatchObject({ published: 0, pending: 1 });
      await sink.close();
    }
  });
});

describe('mqtt sink options', () => {
  it('rejects bad options with a coded error naming the field', () => {
    const base = { url: 'mqtt://127.0.0.1:1', deviceId: DEVICE, outboxPath: tempDir() };
    const bad: [Partial<typeof base> & Record<string, unknown>, string][] = [
      [{ url: 'not a url' }, 'mqtt.url'],
      [{ url: 'http://x' }, 'mqtt.url'],
      [{ deviceId: 'a/b' }, 'mqtt.deviceId'],
      [{ topicPrefix: 'x/#/' }, 'mqtt.topicPrefix'],
      [{ maxInFlight: 0 }, 'mqtt.maxInFlight'],
    ];
    for (const [patch, field] of bad) {
      let err: unknown;
      try {
        createMqttSink({ ...base, ...patch } as Parameters<typeof createMqttSink>[0]);
      } catch (e) {
        err = e;
      }
      expect(err, field).toMatchObject({ code: 'CONFIG_INVALID', details: { field } });
    }
    expect(() => createMqttSink({ ...base, url: 'mqtts://127.0.0.1:1', tls: { caPath: '/nonexistent/ca.pem' } })).toThrow(
      expect.objectContaining({ code: 'FILE_NOT_FOUND' }),
    );
  });

  it('rejects an invalid event, and writes after close, with coded errors (the broker being unreachable is not one)', async () => {
    const sink = createMqttSink({ url: 'mqtt://127.0.0.1:1', deviceId: DEVICE, outboxPath: tempDir(), reconnect: { initialDelayMs: 50 } });
    await expect(sink.write({ ...makeEvent(1), similarity: 7 })).rejects.toMatchObject({ code: 'CONFIG_INVALID', details: { field: 'similarity' } });
    await sink.write(makeEvent(2));
    expect(sink.stats()).toMatchObject({ pending: 1, published: 0 });
    await sink.close();
    await expect(sink.write(makeEvent(3))).rejects.toMatchObject({ code: 'SINK_FAILED' });
  });
});
