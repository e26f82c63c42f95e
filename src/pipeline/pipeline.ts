/**
 * The live loop: source -> detect -> track -> quality gate -> embed -> gallery search -> per-track decision -> sinks.
 * One frame at a time; the source's latest-frame queue absorbs the difference between camera and engine speed.
 * Per-frame problems (a failed inference, a sink that rejects) are counted and reported, never thrown: the loop
 * ends only when the source ends, fails for good, or the signal aborts.
 */
import { FaceGateError, toFaceGateError } from '../core/errors.js';
import { clipBox } from '../core/geometry.js';
import type { DetectedFace, RgbImage } from '../core/types.js';
import type { Engine } from '../engine.js';
import { alignFace } from '../face/align.js';
import { gateFace, measureFace, QUALITY_PRESETS, type QualityGateConfig, type QualityPreset, type QualityResult } from '../face/quality.js';
import type { Gallery } from '../gallery/gallery.js';
import { cropImage, encodeJpeg } from '../image/image.js';
import type { DetectOptions } from '../models/types.js';
import { buildEvent } from '../sinks/event.js';
import type { EventSink, FaceEvent } from '../sinks/types.js';
import type { Frame, FrameSource } from '../sources/types.js';
import { DecisionPolicy, type DecisionOptions, type TrackDecision } from './decision.js';
import { Tracker, type Track, type TrackerOptions } from './tracker.js';

/** What the pipeline needs of the engine (an `Engine` fits). */
export type PipelineEngine = Pick<Engine, 'detect' | 'embedFaces' | 'recognizerId' | 'threshold'>;
/** What the pipeline needs of the gallery (a `Gallery` fits). */
export type PipelineGallery = Pick<Gallery, 'search'>;

/** Options of a pipeline. */
export interface PipelineOptions {
  /** The face engine. Required. */
  engine: PipelineEngine;
  /** The gallery searched for each track's fused template. Required. */
  gallery: PipelineGallery;
  /** Where events go. Default: none (use `onEvent`). */
  sinks?: readonly EventSink[];
  /** The device id in events. Default `facegate`. */
  deviceId?: string;
  /** Detection settings per frame. Default: the engine's, with `minFacePx` 24. */
  detect?: DetectOptions;
  /** The quality gate: a preset name or full limits. Default `passive` (a camera people walk past). */
  quality?: QualityPreset | QualityGateConfig;
  /** Tracker settings. Default: see TRACKER_DEFAULTS. */
  tracker?: TrackerOptions;
  /** Decision policy. Default: see DECISION_DEFAULTS, with the engine's threshold. */
  decision?: Partial<DecisionOptions>;
  /** Attach a JPEG of the best face to each event. Default false (privacy, payload size). */
  faceCrop?: boolean;
  /** Called with each event after it was handed to the sinks. */
  onEvent?: (event: FaceEvent, info: EventInfo) => void;
  /** Called after each processed frame (for progress). */
  onFrame?: (stats: PipelineStats) => void;
  /** Called with per-frame errors (inference or sink failures) that the loop survived. */
  onError?: (error: Error) => void;
}

/** Facts about an event the payload does not carry (for logs, tests and benchmarks). */
export interface EventInfo {
  decision: TrackDecision;
  /** Wall-clock milliseconds from the track's first frame arriving to the event being handed to the sinks. */
  latencyMs: number;
  /** Stream milliseconds from the track's first frame to the decision frame. */
  streamLatencyMs: number;
}

/** Per-stage wall-clock latency in milliseconds (median and 95th percentile over the last 2000 frames). */
export interface StageLatency {
  medianMs: number;
  p95Ms: number;
  count: number;
}

/** Counters and latencies of a run. */
export interface PipelineStats {
  /** Frames processed. */
  frames: number;
  /** Frames the source dropped because the pipeline was behind. */
  drops: number;
  /** Faces detected, passing the quality gate, and embedded. */
  faces: number;
  facesPassed: number;
  embeddings: number;
  /** Tracks started. */
  tracks: number;
  /** Events handed to the sinks, by type. */
  events: { identified: number; unknown: number };
  /** Identified decisions the per-identity cooldown kept quiet. */
  suppressed: number;
  /** Per-frame failures the loop survived (inference errors, sink rejections). */
  errors: number;
  /** Wall-clock run time so far and processed frames per second. */
  elapsedMs: number;
  fps: number;
  /** Per-stage latency: detect, quality, embed, search, decide (tracking + policy), sink, and the whole frame. */
  latency: Record<'detect' | 'quality' | 'embed' | 'search' | 'decide' | 'sink' | 'frame', StageLatency>;
  /** Time from a face's first frame to its event: wall-clock and stream milliseconds, median over events. */
  timeToEvent: { medianMs: number; medianStreamMs: number; count: number };
}

/** A running pipeline. */
export interface Pipeline {
  /**
   * Processes `source` until it ends, fails for good, or `signal` aborts; then ends the open tracks (their
   * `unknown` events included) and resolves with the final counters. It never rejects for per-frame problems;
   * a source that gives up is in `sourceError`.
   */
  run(source: FrameSource, signal?: AbortSignal): Promise<PipelineStats & { sourceError?: { code: string; message: string } }>;
  /** Counters so far. */
  stats(): PipelineStats;
}

const STAGES = ['detect', 'quality', 'embed', 'search', 'decide', 'sink', 'frame'] as const;
const WINDOW = 2000;

/** Per-stage latencies over the last WINDOW samples, in fixed ring buffers (no per-frame allocation or splicing). */
class Latencies {
  private readonly rings = new Map<string, { values: Float64Array; next: number; count: number }>();
  add(stage: string, ms: number): void {
    let r = this.rings.get(stage);
    if (!r) this.rings.set(stage, (r = { values: new Float64Array(WINDOW), next: 0, count: 0 }));
    r.values[r.next] = ms;
    r.next = (r.next + 1) % WINDOW;
    r.count = Math.min(WINDOW, r.count + 1);
  }
  summary(stage: string): StageLatency {
    const r = this.rings.get(stage);
    if (!r || r.count === 0) return { medianMs: 0, p95Ms: 0, count: 0 };
    const v = r.values.slice(0, r.count).sort();
    const at = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]!;
    return { medianMs: round2(at(0.5)), p95Ms: round2(at(0.95)), count: v.length };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

const now = (): number => performance.now();

/**
 * @example
 * const pipeline = createPipeline({ engine, gallery, sinks: [mqtt], deviceId: 'door-1' });
 * const summary = await pipeline.run(openSource('/dev/video0', { fps: 10 }), abort.signal);
 */
export function createPipeline(options: PipelineOptions): Pipeline {
  const deviceId = options.deviceId ?? 'facegate';
  const sinks = options.sinks ?? [];
  const gate: QualityGateConfig | undefined =
    typeof options.quality === 'object' ? options.quality : QUALITY_PRESETS[options.quality ?? 'passive'];
  if (!gate) {
    throw new FaceGateError('CONFIG_INVALID', `unknown quality preset "${String(options.quality)}" (expected ${Object.keys(QUALITY_PRESETS).join(' or ')})`, {
      details: { field: 'quality', value: options.quality },
    });
  }
  const detectOptions: DetectOptions = { minFacePx: 24, ...options.detect };
  const tracker = new Tracker<DetectedFace>(options.tracker);
  const policy = new DecisionPolicy({ threshold: options.engine.threshold, ...options.decision });
  const lat = new Latencies();
  const firstArrival = new Map<number, number>();
  // Time to event, over the last WINDOW events (a 24/7 run must not grow these without bound).
  const eventLat = new Latencies();
  const counters = { frames: 0, faces: 0, facesPassed: 0, embeddings: 0, identified: 0, unknown: 0, errors: 0 };
  let source: FrameSource | undefined;
  let startedAt = 0;

  const fail = (e: unknown): void => {
    counters.errors++;
    try {
      options.onError?.(toFaceGateError(e));
    } catch {
      // a throwing listener must not stop the loop
    }
  };

  function stats(): PipelineStats {
    const elapsedMs = startedAt ? Date.now() - startedAt : 0;
    const latency = Object.fromEntries(STAGES.map((s) => [s, lat.summary(s)])) as PipelineStats['latency'];
    return {
      frames: counters.frames,
      drops: source?.stats().framesDropped ?? 0,
      faces: counters.faces,
      facesPassed: counters.facesPassed,
      embeddings: counters.embeddings,
      tracks: tracker.started,
      events: { identified: counters.identified, unknown: counters.unknown },
      suppressed: policy.suppressed,
      errors: counters.errors,
      elapsedMs,
      fps: elapsedMs > 0 ? round2((counters.frames * 1000) / elapsedMs) : 0,
      latency,
      timeToEvent: { medianMs: eventLat.summary('wall').medianMs, medianStreamMs: eventLat.summary('stream').medianMs, count: eventLat.summary('wall').count },
    };
  }

  /** With faceCrop: the crop of each live track's best face so far (the face the event describes). */
  const bestCrops = new Map<number, { quality: number; crop: RgbImage }>();

  async function keepCrop(trackId: number, quality: number, img: RgbImage, face: DetectedFace): Promise<void> {
    const held = bestCrops.get(trackId);
    if (held && held.quality >= quality) return;
    try {
      bestCrops.set(trackId, { quality, crop: await cropImage(img, clipBox(face.box, img.width, img.height)) });
    } catch (e) {
      fail(e);
    }
  }

  async function emit(decision: TrackDecision): Promise<void> {
    let faceJpeg: Uint8Array | undefined;
    const held = bestCrops.get(decision.trackId);
    if (options.faceCrop && held) {
      try {
        faceJpeg = await encodeJpeg(held.crop, 85);
      } catch (e) {
        fail(e);
      }
    }
    const event = buildEvent({
      type: decision.kind,
      deviceId,
      trackId: decision.trackId,
      identity: decision.identity,
      similarity: decision.similarity,
      margin: decision.margin,
      quality: decision.quality,
      box: decision.box,
      ...(faceJpeg ? { faceJpeg } : {}),
    });
    const t0 = now();
    // sinks only store the event here (outbox); delivery is theirs, so one slow sink does not hold the others
    const results = await Promise.allSettled(sinks.map((s) => s.write(event)));
    for (const r of results) if (r.status === 'rejected') fail(r.reason);
    lat.add('sink', now() - t0);
    if (decision.kind === 'identified') counters.identified++;
    else counters.unknown++;
    const first = firstArrival.get(decision.trackId);
    const latencyMs = first === undefined ? 0 : Date.now() - first;
    const streamLatencyMs = decision.decidedAtMs - decision.firstSeenMs;
    eventLat.add('wall', latencyMs);
    eventLat.add('stream', streamLatencyMs);
    try {
      options.onEvent?.(event, { decision, latencyMs, streamLatencyMs });
    } catch {
      // listener errors stay with the listener
    }
  }

  async function endTracks(tracks: readonly Track[], ptsMs: number): Promise<void> {
    for (const t of tracks) {
      const d = policy.endTrack(t.id, ptsMs);
      if (d) await emit(d);
      firstArrival.delete(t.id);
      bestCrops.delete(t.id);
    }
  }

  async function processFrame(frame: Frame): Promise<void> {
    const tFrame = now();
    const img = frame.image;
    let faces: DetectedFace[];
    try {
      const t0 = now();
      faces = await options.engine.detect(img, detectOptions);
      lat.add('detect', now() - t0);
    } catch (e) {
      fail(e);
      faces = [];
    }
    counters.faces += faces.length;

    let t0 = now();
    const { assigned, ended } = tracker.update(faces, frame.ptsMs);
    const candidates: { track: Track; face: DetectedFace; quality: QualityResult; aligned: RgbImage }[] = [];
    for (const a of assigned) {
      if (a.isNew) firstArrival.set(a.track.id, frame.receivedAtMs);
      policy.seen(a.track.id, frame.ptsMs);
    }
    let decideMs = now() - t0;
    await endTracks(ended, frame.ptsMs);

    t0 = now();
    for (const a of assigned) {
      if (!policy.wantsSamples(a.track.id)) continue;
      // Aligned once: the gate measures this crop and the recognizer embeds it.
      const aligned = alignFace(img, a.detection.landmarks, 112).crop;
      const quality = gateFace(measureFace(img, a.detection, { aligned }), gate);
      if (quality.pass) candidates.push({ track: a.track, face: a.detection, quality, aligned });
    }
    lat.add('quality', now() - t0);
    counters.facesPassed += candidates.length;

    if (candidates.length > 0) {
      let embedded: Awaited<ReturnType<PipelineEngine['embedFaces']>> = [];
      try {
        t0 = now();
        embedded = await options.engine.embedFaces(img, candidates.map((c) => c.face), { crops: candidates.map((c) => c.aligned) });
        lat.add('embed', now() - t0);
        counters.embeddings += embedded.length;
      } catch (e) {
        fail(e);
      }
      let searchMs = 0;
      for (let i = 0; i < embedded.length; i++) {
        const c = candidates[i]!;
        t0 = now();
        const template = policy.addSample(c.track.id, c.track.firstSeenMs, {
          embedding: embedded[i]!.embedding,
          quality: c.quality.score,
          ptsMs: frame.ptsMs,
          box: c.face.box,
        });
        decideMs += now() - t0;
        let hits: ReturnType<PipelineGallery['search']> = [];
        t0 = now();
        try {
          hits = options.gallery.search(template, { modelId: options.engine.recognizerId, topK: 2 });
        } catch (e) {
          fail(e);
        }
        searchMs += now() - t0;
        t0 = now();
        const d = policy.decide(c.track.id, hits, frame.ptsMs);
        decideMs += now() - t0;
        if (options.faceCrop) await keepCrop(c.track.id, c.quality.score, img, c.face);
        if (typeof d === 'object') await emit(d);
      }
      lat.add('search', searchMs);
    }
    lat.add('decide', decideMs);
    counters.frames++;
    lat.add('frame', now() - tFrame);
    try {
      options.onFrame?.(stats());
    } catch {
      // progress display errors do not stop the loop
    }
  }

  return {
    stats,
    async run(src, signal) {
      source = src;
      startedAt = Date.now();
      let lastPtsMs = 0;
      let sourceError: { code: string; message: string } | undefined;
      try {
        for await (const frame of src.frames(signal)) {
          lastPtsMs = frame.ptsMs;
          await processFrame(frame);
          if (signal?.aborted) break;
        }
      } catch (e) {
        const err = toFaceGateError(e, 'SOURCE_FAILED');
        sourceError = { code: err.code, message: err.message };
      }
      await endTracks(tracker.flush(), lastPtsMs);
      return sourceError ? { ...stats(), sourceError } : stats();
    },
  };
}
