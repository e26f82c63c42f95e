/** `facegate run`: config checking, the clip through to MQTT, graceful shutdown, and a failing source. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { enrollImages, listImages } from '../../src/enrollment.js';
import { CLI, jsonLines, runCli } from '../helpers/cli.js';
import { MODELS_DIR, REPO_ROOT, facePath, have } from '../helpers/shared.js';
import { haveFfmpeg } from '../helpers/ffmpeg.js';
import { haveMosquitto, startMosquitto, subscribe } from '../helpers/mosquitto.js';

const FFMPEG = haveFfmpeg();

const CLIP = facePath('video/face_recognition__short_hamilton_clip.mp4');
const LIN = facePath('identities/face_recognition__lin_manuel_miranda');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'facegate-run-test-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('facegate run: configuration errors name the field', () => {
  it('a value of the wrong type', async () => {
    const cfg = write('bad-type.yaml', 'source:\n  input: clip.mp4\n  fps: fast\ngallery:\n  path: /tmp/g\n');
    const r = await runCli(['run', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[CONFIG_INVALID\]: .*bad-type\.yaml: source\.fps must be a number, got "fast"/);
  });

  it('an unknown field, with the likely intended one', async () => {
    const cfg = write('typo.json', JSON.stringify({ source: { input: 'x.mp4', fsp: 10 }, gallery: { path: '/tmp/g' } }));
    const r = await runCli(['run', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/source\.fsp is not a known option \(did you mean source\.fps\?\)/);
  });

  it('a value out of range given as a flag', async () => {
    const r = await runCli(['run', '--source.input', 'x.mp4', '--gallery.path', '/tmp/g', '--decision.minSamples', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--decision\.minSamples: decision\.minSamples must be >= 1, got 0/);
  });

  it('a file that is not YAML, and a missing required field', async () => {
    const bad = write('broken.yaml', 'source: [unclosed\n');
    expect((await runCli(['run', '--config', bad])).stderr).toMatch(/CONFIG_INVALID.*broken\.yaml: not valid YAML/);
    const r = await runCli(['run', '--source.input', 'x.mp4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/gallery\.path is required/);
  });
});

describe.skipIf(!have(CLIP, LIN, MODELS_DIR) || !FFMPEG)('facegate run on the hamilton clip', () => {
  let galleryPath: string;
  let broker: Aedes;
  let server: Server;
  let url: string;
  const received: { topic: string; payload: Record<string, unknown>; retain: boolean }[] = [];

  beforeAll(async () => {
    galleryPath = join(dir, 'gallery');
    const engine = await createEngine({ modelsDir: MODELS_DIR, intraOpThreads: 1 });
    const gallery = openGallery({ path: galleryPath });
    await enrollImages(engine, gallery, { id: 'lin_manuel_miranda', name: 'Lin-Manuel Miranda', images: listImages(LIN) });
    await gallery.close();
    await engine.close();
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise<void>((ok) =>
      broker.subscribe(
        'facegate/#',
        (packet, done) => {
          received.push({ topic: packet.topic, payload: JSON.parse(packet.payload.toString()), retain: packet.retain });
          done();
        },
        ok,
      ),
    );
  });

  afterAll(async () => {
    await new Promise<void>((ok) => (broker ? broker.close(() => ok()) : ok()));
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  });

  it('publishes his identified event over MQTT and to a webhook, and prints events on stdout', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const posted: Record<string, unknown>[] = [];
    const hook = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        posted.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((ok) => hook.listen(0, '127.0.0.1', ok));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`;
    const cfg = write(
      'door.yaml',
      [
        'deviceId: door-1',
        `source: { input: "${CLIP}", fps: 10 }`,
        `gallery: { path: "${galleryPath}" }`,
        `mqtt: { url: "${url}", outboxPath: "${join(dir, 'outbox-1')}" }`,
        `webhook: { url: "${hookUrl}", outboxPath: "${join(dir, 'webhook-1')}" }`,
        'events: { console: true }',
        'engine: { threads: 1 }',
      ].join('\n'),
    );
    const r = await runCli(['run', '--config', cfg, '--json']);
    await new Promise<void>((ok) => hook.close(() => ok()));
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const out = jsonLines(r.stdout);
    const events = out.filter((l) => l.schema === 'facegate.event/v1');
    const summary = out.find((l) => l.kind === 'summary') as { frames: number; drops: number; tracks: number; events: Record<string, number> };
    console.log(`run: tracks ${summary.tracks}, drops ${summary.drops}, events ${JSON.stringify(summary.events)}`);
    expect(events.filter((e) => e.type === 'identified').map((e) => (e.identity as { id: string }).id)).toEqual(['lin_manuel_miranda']);
    const onMqtt = received.filter((m) => m.topic === 'facegate/door-1/events/identified');
    expect(onMqtt.map((m) => m.payload.eventId)).toEqual(events.filter((e) => e.type === 'identified').map((e) => e.eventId));
    expect(posted.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
    const status = received.filter((m) => m.topic === 'facegate/door-1/status').map((m) => m.payload.state);
    expect(status[0]).toBe('online');
    expect(status.at(-1)).toBe('offline');
  });

  it('stops on SIGTERM: decides open tracks, flushes, publishes offline, exits 0', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--source.input', CLIP, '--source.loop', '--source.realtime', '--gallery.path', galleryPath, '--mqtt.url', url, '--deviceId', 'door-2',
        '--mqtt.outboxPath', join(dir, 'outbox-2'), '--engine.threads', '1', '--json'],
      { cwd: REPO_ROOT, env: { ...process.env, FACEGATE_MODELS: MODELS_DIR }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    // A child that dies before streaming fails the test at once, with its stderr, instead of a timeout.
    const streaming = new Promise<void>((ok, fail) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/"state":"streaming"/.test(stderr)) ok();
      });
      child.once('close', (c) => fail(new Error(`facegate run exited (${c}) before streaming:\n${stderr.slice(-2000)}`)));
    });
    await streaming;
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(code, stderr.slice(-2000)).toBe(0);
    const summary = jsonLines(stdout).find((l) => l.kind === 'summary') as { frames: number; signal: string };
    expect(summary.signal).toBe('SIGTERM');
    expect(summary.frames).toBeGreaterThan(0);
    const status = received.filter((m) => m.topic === 'facegate/door-2/status').map((m) => m.payload.state);
    expect(status.at(-1)).toBe('offline');
  });

  it('a missing source is retried with backoff and reported, then ends with SOURCE_FAILED, not a crash', async () => {
    const r = await runCli(['run', '--source.input', join(dir, 'no-such-clip.mp4'), '--gallery.path', galleryPath,
      '--source.reconnectInitialDelayMs', '100', '--source.reconnectMaxAttempts', '3', '--json', '--mqtt.url', url, '--deviceId', 'door-3',
      '--mqtt.outboxPath', join(dir, 'outbox-3')]);
    expect(r.code).toBe(1);
    const states = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { kind?: string; state?: string; retryInMs?: number })
      .filter((l) => l.kind === 'source').map((l) => l.state);
    expect(states).toEqual(['connecting', 'reconnecting', 'reconnecting', 'reconnecting', 'reconnecting', 'failed']);
    expect(r.stderr).toMatch(/error\[SOURCE_FAILED\].*gave up after 3 failed attempts.*no such file/);
    // the outage is visible to the integrator on the retained status topic
    const sourceStates = received
      .filter((m) => m.topic === 'facegate/door-3/status' && m.payload.state === 'online')
      .map((m) => (m.payload.details as { source?: { state: string } } | undefined)?.source?.state);
    expect(sourceStates.some((st) => st === 'reconnecting' || st === 'failed')).toBe(true);
  });
});

describe.skipIf(!have(CLIP, LIN, MODELS_DIR) || !FFMPEG || !haveMosquitto())('facegate run through a broker outage and a SIGKILL', () => {
  it('an event made while the broker is down survives the process being killed and reaches the subscriber after restart', async () => {
    const galleryPath = join(dir, 'gallery-outage');
    const engine = await createEngine({ modelsDir: MODELS_DIR, intraOpThreads: 1 });
    const gallery = openGallery({ path: galleryPath });
    await enrollImages(engine, gallery, { id: 'lin_manuel_miranda', images: listImages(LIN) });
    await gallery.close();
    await engine.close();
    const broker = await startMosquitto();
    const sub = await subscribe(broker.url, 'facegate/door-9/#');
    await broker.stop(); // the broker is down when facegate starts
    const args = ['run', '--source.input', CLIP, '--gallery.path', galleryPath, '--mqtt.url', broker.url, '--deviceId', 'door-9',
      '--mqtt.outboxPath', join(dir, 'outbox-9'), '--events.console', '--engine.threads', '1', '--shutdownTimeoutMs', '500', '--json'];
    try {
      // run 1: loops the clip in real time; killed with SIGKILL once its identified event is in the outbox
      const first = spawn(process.execPath, [CLI, ...args, '--source.loop', '--source.realtime'], {
        cwd: REPO_ROOT,
        env: { ...process.env, FACEGATE_MODELS: MODELS_DIR },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // the stderr event line is written after every sink took the event (MQTT: committed to the outbox)
      let err1 = '';
      const firstEvent = new Promise<string>((ok) =>
        first.stderr.on('data', (d) => {
          err1 += d;
          const ev = jsonLines(err1.slice(0, err1.lastIndexOf('\n') + 1)).find((l) => l.kind === 'event' && l.type === 'identified');
          if (ev) ok(ev.eventId as string);
        }),
      );
      const lostWithTheProcess = await firstEvent;
      first.kill('SIGKILL');
      await new Promise((ok) => first.once('close', ok));

      // run 2: the broker is back; the outbox left by run 1 is replayed, then its own events follow
      await broker.start();
      const r = await runCli(args);
      expect(r.code, r.stderr.slice(-1500)).toBe(0);
      const own = jsonLines(r.stdout).filter((l) => l.schema === 'facegate.event/v1').map((l) => l.eventId as string);
      const expected = [lostWithTheProcess, ...own];
      await sub.waitFor(() => expected.every((id) => sub.countsByEventId().has(id)), 20_000).catch(() => undefined);
      console.log(`outage: ${expected.length} event(s) expected, received ${JSON.stringify([...sub.countsByEventId()])}, expected ${JSON.stringify(expected)}`);
      expect(expected.every((id) => sub.countsByEventId().has(id))).toBe(true);
    } finally {
      await sub.close();
      await broker.close();
    }
  });
});
