/**
 * `facegate run --config FILE`: the kiosk's long-running job. Source -> pipeline -> sinks until the source ends or
 * SIGINT/SIGTERM; then the open tracks are decided, the sinks flushed (bounded), `offline` published, and everything
 * closed; exit 0. Every config field is also a flag of the same dotted name, and flags win over the file.
 */
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { FaceGateError } from '../../core/errors.js';
import { createEngine } from '../../engine.js';
import type { QualityGateConfig, QualityPreset } from '../../face/quality.js';
import { QUALITY_PRESETS } from '../../face/quality.js';
import { openGallery } from '../../gallery/lmdb-store.js';
import { packageRoot } from '../../models/manifest.js';
import { createPipeline } from '../../pipeline/pipeline.js';
import type { DecisionOptions } from '../../pipeline/decision.js';
import { buildStatus } from '../../sinks/event.js';
import { createConsoleSink } from '../../sinks/console.js';
import { createMqttSink } from '../../sinks/mqtt.js';
import { createWebhookSink } from '../../sinks/webhook.js';
import type { EventSink } from '../../sinks/types.js';
import { openSource, type SourceStatus } from '../../sources/index.js';
import { bool, parse, printJsonLine, str, type Command } from '../common.js';
import { applyFlags, configFlagOptions, configUsage, getField, loadConfigFile, requireFields, type RunConfig } from '../config.js';
import { closeAll, summaryLine } from '../live.js';
import { createSystemdNotifier } from '../systemd-notify.js';

const usage = `facegate run --config FILE [--<field> VALUE]...

Runs the live pipeline: frames from a camera, stream, file or folder; faces tracked, gated, embedded and matched
against the gallery; one event per person on MQTT (and/or stdout, a webhook). Stops on SIGINT/SIGTERM after
flushing the sinks (exit 0). The config file is JSON (.json) or YAML; each field is also a flag, flags win.

example config (YAML):
  deviceId: door-1
  source: { input: /dev/video0, fps: 10 }
  gallery: { path: /var/lib/facegate/gallery }
  mqtt: { url: mqtt://broker.local:1883 }

fields (flag = --<field>):
${configUsage()}

  --config FILE                    the configuration file
  --models DIR                     models directory (same as --engine.modelsDir)
  --json                           progress and the summary as JSON Lines on stderr/stdout`;

function qualityConfig(config: RunConfig): QualityGateConfig {
  const preset = (getField<string>(config, 'quality.preset') ?? 'passive') as QualityPreset;
  const overrides: Partial<QualityGateConfig> = {};
  for (const k of ['minInterOcularPx', 'maxYawDeg', 'minScore'] as const) {
    const v = getField<number>(config, `quality.${k}`);
    if (v !== undefined) overrides[k] = v;
  }
  return { ...QUALITY_PRESETS[preset], ...overrides };
}

function pick<T extends object>(config: RunConfig, section: string, keys: readonly (keyof T & string)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) {
    const v = getField(config, `${section}.${k}`);
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

export const command: Command = {
  name: 'run',
  summary: 'run the live pipeline from a config file (camera/stream/file -> MQTT events)',
  usage,
  async run(argv) {
    const args = parse(argv, { config: { type: 'string' }, ...configFlagOptions() });
    const file = str(args, 'config');
    const fromFile = file ? loadConfigFile(file) : {};
    const config = applyFlags(fromFile, args.values);
    const modelsFlag = str(args, 'models');
    if (modelsFlag && getField(config, 'engine.modelsDir') === undefined) config.engine = { ...(config.engine as RunConfig | undefined), modelsDir: modelsFlag };
    requireFields(config, ['source.input', 'gallery.path']);
    const json = bool(args, 'json');
    const deviceId = getField<string>(config, 'deviceId') ?? (hostname().replace(/[^A-Za-z0-9_.:-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128) || 'facegate');
    const say = (line: string, obj?: Record<string, unknown>): void => {
      if (json) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...(obj ?? { msg: line }) })}\n`);
      else process.stderr.write(`${line}\n`);
    };
    // Under systemd (Type=notify): READY=1, WATCHDOG=1 while frames move, STATUS=, STOPPING=1; elsewhere a no-op.
    const notifier = createSystemdNotifier({ warn: (line) => say(line) });

    const closers: (() => Promise<unknown>)[] = [];
    const abort = new AbortController();
    let signalled = '';
    const onSignal = (sig: NodeJS.Signals): void => {
      signalled = sig;
      notifier.stopping();
      say(`received ${sig}: finishing open tracks and flushing events`);
      abort.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const engine = await createEngine({
        ...pick(config, 'engine', ['modelsDir', 'detector', 'recognizer', 'device', 'precision']),
        intraOpThreads: getField<number>(config, 'engine.threads') ?? 0,
        // One line per model: which provider and precision it really runs on (the journal's record of the box).
        logger: { info: (msg: string) => say(`engine  ${msg}`), warn: (msg: string) => say(`warning ${msg}`) },
      } as Parameters<typeof createEngine>[0]);
      closers.unshift(() => engine.close());
      const galleryPath = resolve(getField<string>(config, 'gallery.path')!);
      const gallery = openGallery({ path: galleryPath, ...(getField<string>(config, 'gallery.name') ? { name: getField<string>(config, 'gallery.name')! } : {}) });
      closers.unshift(() => gallery.close());
      const gstats = gallery.stats();
      if (gstats.identities === 0) say(`warning: gallery ${galleryPath} is empty: every person will be unknown`);

      const sinks: EventSink[] = [];
      const version = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;
      const models = { detector: engine.detectorId, recognizer: engine.recognizerId };
      const mqttUrl = getField<string>(config, 'mqtt.url');
      if (mqttUrl) {
        const tls = {
          ...(getField<string>(config, 'mqtt.caFile') ? { caPath: getField<string>(config, 'mqtt.caFile')! } : {}),
          ...(getField<string>(config, 'mqtt.certFile') ? { certPath: getField<string>(config, 'mqtt.certFile')! } : {}),
          ...(getField<string>(config, 'mqtt.keyFile') ? { keyPath: getField<string>(config, 'mqtt.keyFile')! } : {}),
          ...(getField<boolean>(config, 'mqtt.rejectUnauthorized') !== undefined ? { rejectUnauthorized: getField<boolean>(config, 'mqtt.rejectUnauthorized')! } : {}),
        };
        const password = getField<string>(config, 'mqtt.password') ?? process.env.FACEGATE_MQTT_PASSWORD;
        const sink = createMqttSink({
          url: mqttUrl,
          deviceId,
          outboxPath: resolve(getField<string>(config, 'mqtt.outboxPath') ?? join(dirname(galleryPath), 'outbox')),
          ...pick(config, 'mqtt', ['topicPrefix', 'clientId', 'username', 'outboxMaxEvents']),
          ...(password ? { password } : {}),
          ...(Object.keys(tls).length ? { tls } : {}),
          version,
          models,
          onStatus: (s) => say(`mqtt ${s.state}${s.error ? `: ${s.error.message}` : ''}${s.retryInMs !== undefined ? ` (retry in ${s.retryInMs} ms)` : ''}`, { kind: 'sink', ...s }),
        });
        sinks.push(sink);
        closers.unshift(() => sink.close());
      }
      const webhookUrl = getField<string>(config, 'webhook.url');
      if (webhookUrl) {
        const sink = createWebhookSink({
          url: webhookUrl,
          ...pick(config, 'webhook', ['timeoutMs']),
          outboxPath: resolve(getField<string>(config, 'webhook.outboxPath') ?? join(dirname(galleryPath), 'webhook-outbox')),
          onStatus: (s) => say(`webhook ${s.state}${s.error ? `: ${s.error.message}` : ''}`, { kind: 'sink', ...s }),
        });
        sinks.push(sink);
        closers.unshift(() => sink.close());
      }
      // JSON Lines on stdout: the simplest integration (pipe into anything), and the default with no other sink
      if (getField<boolean>(config, 'events.console') ?? sinks.length === 0) {
        const sink = createConsoleSink({ includeStatus: false });
        sinks.push(sink);
        closers.unshift(() => sink.close());
      }

      let lastSourceState = '';
      const sourceListeners: ((s: SourceStatus) => void)[] = [];
      const reportSource = (s: SourceStatus): void => {
        for (const l of sourceListeners) l(s);
        if (s.state === lastSourceState && s.state === 'streaming') return;
        lastSourceState = s.state;
        say(`source ${s.source}: ${s.state}${s.error ? `: ${s.error.message}` : ''}${s.retryInMs !== undefined ? ` (retry in ${s.retryInMs} ms)` : ''}`, { kind: 'source', ...s });
        // integrators see a camera outage on the retained status topic
        const status = buildStatus('online', deviceId, { version, models, details: { source: s } });
        for (const sink of sinks) void sink.status?.(status).catch(() => undefined);
      };
      const reconnect = {
        ...(getField<number>(config, 'source.reconnectInitialDelayMs') !== undefined ? { initialDelayMs: getField<number>(config, 'source.reconnectInitialDelayMs')! } : {}),
        ...(getField<number>(config, 'source.reconnectMaxDelayMs') !== undefined ? { maxDelayMs: getField<number>(config, 'source.reconnectMaxDelayMs')! } : {}),
        ...(getField<number>(config, 'source.reconnectMaxAttempts') !== undefined ? { maxAttempts: getField<number>(config, 'source.reconnectMaxAttempts')! } : {}),
      };
      const source = openSource(getField<string>(config, 'source.input')!, {
        fps: getField<number>(config, 'source.fps') ?? 10,
        ...pick(config, 'source', ['maxWidthPx', 'realtime', 'loop', 'queueSize', 'stallTimeoutMs', 'inputArgs']),
        reconnect,
        onStatus: reportSource,
      });
      closers.unshift(() => source.close());

      const minFacePx = getField<number>(config, 'engine.minFacePx');
      const scoreThreshold = getField<number>(config, 'engine.scoreThreshold');
      const pipeline = createPipeline({
        engine,
        gallery,
        sinks,
        deviceId,
        quality: qualityConfig(config),
        detect: { ...(minFacePx !== undefined ? { minFacePx } : {}), ...(scoreThreshold !== undefined ? { scoreThreshold } : {}) },
        tracker: pick(config, 'tracker', ['minIou', 'maxAgeMs']),
        decision: pick<DecisionOptions>(config, 'decision', ['threshold', 'minMargin', 'minSamples', 'maxSamples', 'maxAttempts', 'cooldownMs']),
        faceCrop: getField<boolean>(config, 'events.faceCrop') ?? false,
        onEvent: (e, info) =>
          say(`event ${e.type} track ${e.trackId} ${e.identity?.name ?? ''} similarity ${e.similarity ?? '-'} (${info.latencyMs} ms after first sight)`, {
            kind: 'event',
            eventId: e.eventId,
            type: e.type,
            trackId: e.trackId,
          }),
        onError: (e) => say(`warning: ${e.message}`, { kind: 'error', message: e.message }),
      });
      // counters on the retained status topic, so a back end sees a kiosk that runs but sees nobody
      const statusIntervalMs = getField<number>(config, 'statusIntervalMs') ?? 60_000;
      let lastSource: SourceStatus | undefined;
      const ticker =
        statusIntervalMs > 0
          ? setInterval(() => {
              const st = pipeline.stats();
              const counters = { frames: st.frames, drops: st.drops, tracks: st.tracks, events: st.events, fps: st.fps };
              say(`stats ${summaryLine(st)}`, { kind: 'stats', ...counters });
              const status = buildStatus('online', deviceId, { version, models, details: { ...(lastSource ? { source: lastSource } : {}), counters } });
              for (const sink of sinks) void sink.status?.(status).catch(() => undefined);
            }, statusIntervalMs)
          : undefined;
      ticker?.unref();
      closers.unshift(async () => clearInterval(ticker));
      sourceListeners.push((s) => (lastSource = s));
      say(`running: device ${deviceId}, source ${source.name}, gallery ${galleryPath} (${gstats.identities} identities), sinks ${sinks.map((s) => s.name).join(', ')}`);
      // Frames moving, or the source waiting out its own reconnect backoff, count as progress; a loop stuck in a
      // model call or a sink stops the pings and systemd restarts the process.
      let framesAtLastTick = -1;
      notifier.ready(`running: source ${source.name}, ${gstats.identities} identities`);
      notifier.startHeartbeat({
        isProgressing: () => {
          const frames = pipeline.stats().frames;
          const moved = frames !== framesAtLastTick;
          framesAtLastTick = frames;
          return moved || (lastSource !== undefined && lastSource.state !== 'streaming');
        },
        status: () => {
          const st = pipeline.stats();
          return `${lastSource?.state ?? 'starting'}: ${st.frames} frames, ${st.fps} fps, ${st.tracks} tracks, ${st.events.identified} identified, ${st.events.unknown} unknown`;
        },
      });
      const summary = await pipeline.run(source, abort.signal);
      notifier.stopping();
      const timeoutMs = getField<number>(config, 'shutdownTimeoutMs') ?? 5000;
      const flushed = await Promise.all(sinks.map((s) => s.flush(timeoutMs).catch(() => false)));
      if (flushed.some((ok) => !ok)) say(`some events are still in the outbox; they are sent on the next start`);
      if (json) printJsonLine({ kind: 'summary', ...summary, signal: signalled || undefined });
      else say(`summary ${summaryLine(summary)}`);
      if (summary.sourceError && !signalled) {
        throw new FaceGateError('SOURCE_FAILED', summary.sourceError.message);
      }
      return 0;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      await notifier.close();
      await closeAll(closers);
    }
  },
};
