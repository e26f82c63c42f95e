/**
 * Event sinks: the cost of the durable outbox and the delivery latency over a real broker.
 *   - outbox append (LMDB commit) latency, one at a time and as a burst
 *   - MQTT: write -> received by a QoS 1 subscriber, one event at a time (what one person at a door sees)
 *   - MQTT: a burst of events written back to back, until the last is received (events/s)
 *   - replay: events that piled up while the broker was down, drained after it comes back (events/s)
 * Needs Debian's mosquitto (`apt-get install mosquitto`); it is started on a free loopback port and stopped after.
 * `npm run bench -- sinks`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { buildEvent } from '../src/sinks/event.js';
import { createMqttSink } from '../src/sinks/mqtt.js';
import { Outbox } from '../src/sinks/outbox.js';
import type { FaceEvent } from '../src/sinks/types.js';
import { fmtMs, median, percentile } from './stats.js';

const DEVICE = 'bench-1';

function event(i: number): FaceEvent {
  return buildEvent({ type: 'identified', deviceId: DEVICE, trackId: i, identity: { id: 'lin', name: 'Lin-Manuel Miranda' }, similarity: 0.61, margin: 0.3, quality: 0.8, box: { x1: 100, y1: 50, x2: 180, y2: 170 } });
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startBroker(dir: string, port: number): Promise<ChildProcess> {
  const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p))!;
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\nuser ${userInfo().username}\nlog_dest none\nmax_queued_messages 100000\n`);
  const child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = tcpConnect({ host: '127.0.0.1', port }).once('connect', () => (s.destroy(), r(true))).once('error', () => r(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('mosquitto did not start');
}

async function stopBroker(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'facegate-bench-sinks-'));
  try {
    // 1. outbox append
    const outbox = Outbox.open({ path: join(dir, 'outbox-bench') });
    const payload = JSON.stringify(event(0));
    const single: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = now();
      await outbox.append('t', payload);
      single.push(now() - t0);
    }
    const burstN = 5000;
    const t0 = now();
    await Promise.all(Array.from({ length: burstN }, () => outbox.append('t', payload)));
    const burstMs = now() - t0;
    await outbox.close();
    console.log(`payload ${payload.length} bytes (no face crop)`);
    console.log('| measure | median | p95 | n |');
    console.log('|---|---|---|---|');
    console.log(`| outbox append, one at a time (LMDB commit) | ${fmtMs(median(single))} ms | ${fmtMs(percentile(single, 95))} ms | 500 |`);
    console.log(`| outbox append, burst | ${Math.round(burstN / (burstMs / 1000))} events/s | | ${burstN} |`);

    const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
    if (!bin) {
      console.log('mosquitto is not installed: MQTT rows skipped (apt-get install mosquitto)');
      return;
    }
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    let broker = await startBroker(dir, port);
    const sub = await connectAsync(url, { clientId: 'bench-sub', clean: false, reconnectPeriod: 100 });
    sub.on('error', () => undefined);
    const arrived = new Map<string, number>();
    let onArrive: (() => void) | null = null;
    sub.on('message', (_t, p) => {
      const id = (JSON.parse(p.toString()) as { eventId?: string }).eventId;
      if (id && !arrived.has(id)) arrived.set(id, now());
      onArrive?.();
    });
    await sub.subscribeAsync(`facegate/${DEVICE}/events/#`, { qos: 1 });
    const waitAll = (ids: string[]): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (ids.every((id) => arrived.has(id))) {
            onArrive = null;
            resolve();
          }
        };
        onArrive = check;
        check();
      });

    // 2. one event at a time
    const sink = createMqttSink({ url, deviceId: DEVICE, outboxPath: join(dir, 'outbox-mqtt'), reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
    await new Promise((r) => setTimeout(r, 300));
    const lat: number[] = [];
    for (let i = 0; i < 300; i++) {
      const e = event(i);
      const ts = now();
      await sink.write(e);
      await waitAll([e.eventId]);
      if (i >= 20) lat.push(arrived.get(e.eventId)! - ts);
    }
    console.log(`| MQTT write -> received by a QoS 1 subscriber | ${fmtMs(median(lat))} ms | ${fmtMs(percentile(lat, 95))} ms | ${lat.length} |`);

    // 3. burst
    const burst = Array.from({ length: 2000 }, (_, i) => event(i));
    const tb = now();
    for (const e of burst) await sink.write(e);
    await waitAll(burst.map((e) => e.eventId));
    const burstDeliverMs = now() - tb;
    console.log(`| MQTT burst, written back to back until the last is received | ${Math.round(burst.length / (burstDeliverMs / 1000))} events/s | | ${burst.length} |`);

    // 4. replay after an outage
    await stopBroker(broker);
    const piled = Array.from({ length: 2000 }, (_, i) => event(i));
    for (const e of piled) await sink.write(e);
    const pending = sink.stats().pending;
    broker = await startBroker(dir, port);
    const tr = now();
    await sink.flush(120_000);
    const drainMs = now() - tr;
    await waitAll(piled.map((e) => e.eventId));
    const receivedMs = now() - tr;
    console.log(`| replay of ${pending} events after the broker returns (broker restart -> outbox empty) | ${Math.round(pending / (drainMs / 1000))} events/s | | ${pending} |`);
    console.log(`| same, until the subscriber (reconnecting every 100 ms) has them all | ${fmtMs(receivedMs)} ms | | ${pending} |`);
    const stats = sink.stats();
    console.log(`counters: ${JSON.stringify(stats)}`);
    await sink.close();
    await sub.endAsync(true);
    await stopBroker(broker);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
