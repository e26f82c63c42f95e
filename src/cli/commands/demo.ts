/**
 * `facegate demo`: the whole live pipeline on embedded defaults. An in-process MQTT broker (aedes), a temporary
 * gallery enrolled from sample photos, a sample video through ffmpeg; every event is printed as the broker delivers
 * it to a subscriber, so what you see has gone through the MQTT sink and its outbox. Temporary files are removed.
 */
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Aedes } from 'aedes';
import { FaceGateError } from '../../core/errors.js';
import { createEngine } from '../../engine.js';
import { openGallery } from '../../gallery/lmdb-store.js';
import { packageRoot } from '../../models/manifest.js';
import { createPipeline } from '../../pipeline/pipeline.js';
import { createMqttSink } from '../../sinks/mqtt.js';
import { createFfmpegSource } from '../../sources/index.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';
import { closeAll, enrolFolder, summaryLine } from '../live.js';

const SAMPLE_VIDEO = 'data/faces/video/face_recognition__short_hamilton_clip.mp4';
const SAMPLE_IDENTITY = 'data/faces/identities/face_recognition__lin_manuel_miranda';
const DEVICE_ID = 'demo';

const usage = `facegate demo [--video FILE] [--enrol DIR]... [options]

Runs the live pipeline end to end on a sample: an in-process MQTT broker, a temporary gallery enrolled from photo
folders (one identity per folder, named after it), and a video decoded by ffmpeg. Prints each event as an MQTT
subscriber receives it, then a summary (frames, drops, tracks, events). Needs ffmpeg on PATH.

With ../shared beside the package it uses ${SAMPLE_VIDEO}
and enrols ${SAMPLE_IDENTITY}.

options:
  --video FILE        video file, rtsp:// URL or /dev/videoN (default: the sample clip)
  --enrol DIR         a folder of photos of one person; repeatable (default: the sample identity)
  --fps N             frames per second taken from the video (default 10)
  --max-width PX      frames are scaled down to this width (default 640)
  --realtime          read the file at its own speed, dropping frames when the engine is behind (default: every frame)
  --threads N         onnxruntime threads per operator (default 0: one per core)
  --precision P       int8 | fp32 | auto (default auto: INT8 models from \`npm run quantize\` when present)
  --models DIR        models directory (default FACEGATE_MODELS, then ../shared/models)
  --json              JSON Lines: {"kind":"event",...} per event and a final {"kind":"summary",...}
  --verbose           stack traces on errors`;

function sharedDir(): string {
  return resolve(packageRoot(), '..', 'shared');
}

export const command: Command = {
  name: 'demo',
  summary: 'run the live pipeline on a sample video with an in-process MQTT broker',
  usage,
  async run(argv) {
    const args = parse(argv, {
      video: { type: 'string' },
      enrol: { type: 'string', multiple: true },
      fps: { type: 'string' },
      'max-width': { type: 'string' },
      realtime: { type: 'boolean' },
      threads: { type: 'string' },
      precision: { type: 'string' },
    });
    const json = bool(args, 'json');
    const fps = numberFlag(str(args, 'fps'), 'fps', 10);
    const maxWidthPx = numberFlag(str(args, 'max-width'), 'max-width', 640);
    const threads = numberFlag(str(args, 'threads'), 'threads', 0);
    const precision = str(args, 'precision') ?? 'auto';
    if (!['int8', 'fp32', 'auto'].includes(precision)) throw new FaceGateError('USAGE', `--precision must be int8, fp32 or auto, got "${precision}"`);
    if (!(fps > 0 && fps <= 240)) throw new FaceGateError('USAGE', `--fps must be in (0, 240], got ${fps}`);
    const video = str(args, 'video') ?? join(sharedDir(), SAMPLE_VIDEO);
    const enrolValue = args.values.enrol;
    const enrol = Array.isArray(enrolValue) && enrolValue.length ? enrolValue.map(String) : [join(sharedDir(), SAMPLE_IDENTITY)];
    if (!str(args, 'video') && !existsSync(video)) {
      throw new FaceGateError('FILE_NOT_FOUND', `the sample video ${video} is not there (../shared is missing)`, {
        details: { path: video, hint: 'pass --video FILE and --enrol DIR' },
      });
    }
    const log = (line: string): void => {
      if (!json) process.stdout.write(`${line}\n`);
    };

    const tmp = mkdtempSync(join(tmpdir(), 'facegate-demo-'));
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const closers: (() => Promise<unknown> | unknown)[] = [];
    try {
      // 1. the broker, on a free loopback port
      const broker = await Aedes.createBroker();
      const server = createServer(broker.handle);
      await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
      closers.push(() => new Promise<void>((ok) => broker.close(() => ok())), () => new Promise<void>((ok) => server.close(() => ok())));
      const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
      log(`broker  ${url} (in-process)`);

      // 2. a subscriber on the broker itself: what it prints has been published over MQTT
      const received = new Set<string>();
      let statusSeen = 0;
      await new Promise<void>((ok) =>
        broker.subscribe(
          `facegate/${DEVICE_ID}/#`,
          (packet, done) => {
            const text = packet.payload.toString();
            if (packet.topic.endsWith('/status')) {
              statusSeen++;
              try {
                const st = JSON.parse(text) as { state: string; version?: string; models?: Record<string, string> };
                if (json) printJsonLine({ kind: 'status', topic: packet.topic, status: st });
                else log(`status  ${packet.topic}  ${st.state}${st.models ? `  models ${Object.values(st.models).join(' + ')}` : ''}`);
              } catch {
                // a status that is not JSON is not ours to show
              }
            } else {
              try {
                const event = JSON.parse(text) as { eventId: string; type: string; trackId: number; identity: { name: string } | null; similarity: number | null; margin: number | null; quality: number };
                if (!received.has(event.eventId)) {
                  received.add(event.eventId);
                  if (json) printJsonLine({ kind: 'event', topic: packet.topic, event });
                  else {
                    const who = event.identity ? event.identity.name : 'unknown person';
                    log(`event   ${packet.topic}  track ${event.trackId}: ${who}  similarity ${event.similarity ?? '-'}  margin ${event.margin ?? '-'}  quality ${event.quality}`);
                  }
                }
              } catch {
                log(`event   ${packet.topic}  (not JSON) ${text.slice(0, 120)}`);
              }
            }
            done();
          },
          ok,
        ),
      );

      // 3. engine and a temporary gallery
      const engine = await createEngine({
        ...(str(args, 'models') ? { modelsDir: str(args, 'models') } : {}),
        intraOpThreads: threads,
        precision: precision as 'int8' | 'fp32' | 'auto',
      });
      closers.unshift(() => engine.close());
      const gallery = openGallery({ path: join(tmp, 'gallery') });
      closers.unshift(() => gallery.close());
      for (const dir of enrol) {
        const r = await enrolFolder(engine, gallery, dir);
        log(`enrol   ${r.name} (id ${r.id}) from ${r.photos} photo(s)`);
      }

      // 4. the MQTT sink, its outbox in the temp dir
      const version = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;
      const sink = createMqttSink({
        url,
        deviceId: DEVICE_ID,
        outboxPath: join(tmp, 'outbox'),
        version,
        models: { detector: engine.detectorId, recognizer: engine.recognizerId },
      });
      closers.unshift(() => sink.close());

      // 5. the video through the pipeline
      log(`video   ${video} at ${fps} fps, <= ${maxWidthPx} px wide${bool(args, 'realtime') ? ', real time' : ''}`);
      const source = createFfmpegSource({
        input: video,
        fps,
        maxWidthPx,
        realtime: bool(args, 'realtime'),
        reconnect: { maxAttempts: 3 },
        onStatus: (s) => {
          if (s.state === 'reconnecting' || s.state === 'failed') log(`source  ${s.state}${s.error ? `: ${s.error.message}` : ''}`);
        },
      });
      closers.unshift(() => source.close());
      const pipeline = createPipeline({ engine, gallery, sinks: [sink], deviceId: DEVICE_ID });
      const summary = await pipeline.run(source, abort.signal);
      const delivered = await sink.flush(5_000);
      // delivery to the subscriber may trail the PUBACK by a few ticks: wait for it (bounded)
      const made = summary.events.identified + summary.events.unknown;
      for (let waitedMs = 0; received.size < made && waitedMs < 3000; waitedMs += 20) await new Promise((r) => setTimeout(r, 20));
      const mqtt = sink.stats();
      if (json) {
        printJsonLine({ kind: 'summary', ...summary, mqtt: { ...mqtt, received: received.size, statusMessages: statusSeen, allDelivered: delivered } });
      } else {
        log(`summary ${summaryLine(summary)}`);
        log(`mqtt    ${mqtt.published} published, ${received.size} received by the subscriber, ${mqtt.pending} pending`);
        if (summary.sourceError) log(`source  gave up: ${summary.sourceError.message}`);
      }
      return summary.sourceError ? 1 : 0;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      await closeAll(closers);
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};
