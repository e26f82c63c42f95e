/**
 * A SORT-like tracker: each track predicts its box with a constant-velocity model, detections are associated to the
 * predictions by IoU (greedy, best pairs first), unmatched detections start tracks and tracks unseen for `maxAgeMs`
 * end. Time is the frames' `ptsMs`, so dropped frames only widen the prediction step.
 */
import type { Box } from '../core/types.js';
import { iou } from '../core/geometry.js';

/** Options of the tracker. */
export interface TrackerOptions {
  /** Least IoU between a track's predicted box and a detection for them to match, 0..1. Default 0.2. */
  minIou?: number;
  /** A track not matched for this long ends, in milliseconds. Default 1000. */
  maxAgeMs?: number;
  /** Weight of the newest velocity measurement in the smoothed velocity, 0..1. Default 0.5. */
  velocitySmoothing?: number;
  /** The prediction step is capped at this, in milliseconds, so a long gap does not fling a box away. Default 500. */
  maxPredictMs?: number;
}

/** Defaults of TrackerOptions. */
export const TRACKER_DEFAULTS: Required<TrackerOptions> = { minIou: 0.2, maxAgeMs: 1000, velocitySmoothing: 0.5, maxPredictMs: 500 };

/** One tracked face. */
export interface Track {
  /** Unique per tracker, increasing from 1. */
  readonly id: number;
  /** The last detected box. */
  box: Box;
  /** Box change per millisecond (x1, y1, x2, y2). */
  velocity: [number, number, number, number];
  /** ptsMs of the first and of the latest matched detection. */
  readonly firstSeenMs: number;
  lastSeenMs: number;
  /** Number of detections matched so far. */
  hits: number;
}

/** What one `update` did. */
export interface TrackerUpdate<T> {
  /** Every detection with the track it now belongs to (new or continued), in detection order. */
  assigned: { track: Track; detection: T; isNew: boolean }[];
  /** Tracks that ended at this update (unseen for longer than maxAgeMs). */
  ended: Track[];
}

/** The box a track is expected at, `atMs`. */
export function predictBox(track: Track, atMs: number, maxPredictMs = TRACKER_DEFAULTS.maxPredictMs): Box {
  const dt = Math.min(Math.max(0, atMs - track.lastSeenMs), maxPredictMs);
  const [a, b, c, d] = track.velocity;
  return { x1: track.box.x1 + a * dt, y1: track.box.y1 + b * dt, x2: track.box.x2 + c * dt, y2: track.box.y2 + d * dt };
}

/**
 * @example
 * const tracker = new Tracker();
 * const { assigned, ended } = tracker.update(faces, frame.ptsMs);
 */
export class Tracker<T extends { box: Box } = { box: Box }> {
  private readonly o: Required<TrackerOptions>;
  private tracks: Track[] = [];
  private nextId = 1;

  constructor(options: TrackerOptions = {}) {
    this.o = { ...TRACKER_DEFAULTS, ...options };
  }

  /** Tracks alive now. */
  get active(): readonly Track[] {
    return this.tracks;
  }

  /** Number of tracks started so far. */
  get started(): number {
    return this.nextId - 1;
  }

  /** Associates the detections of the frame at `ptsMs` with the tracks. */
  update(detections: readonly T[], ptsMs: number): TrackerUpdate<T> {
    const pairs: { t: number; d: number; iou: number }[] = [];
    const predicted = this.tracks.map((t) => predictBox(t, ptsMs, this.o.maxPredictMs));
    predicted.forEach((p, t) => {
      detections.forEach((det, d) => {
        const v = iou(p, det.box);
        if (v >= this.o.minIou) pairs.push({ t, d, iou: v });
      });
    });
    pairs.sort((a, b) => b.iou - a.iou);
    const trackTaken = new Uint8Array(this.tracks.length);
    const detTrack = new Array<{ track: Track; isNew: boolean } | undefined>(detections.length);
    for (const p of pairs) {
      if (trackTaken[p.t] || detTrack[p.d]) continue;
      trackTaken[p.t] = 1;
      const track = this.tracks[p.t]!;
      this.observe(track, detections[p.d]!.box, ptsMs);
      detTrack[p.d] = { track, isNew: false };
    }
    const ended: Track[] = [];
    const alive: Track[] = [];
    this.tracks.forEach((t, i) => {
      if (!trackTaken[i] && ptsMs - t.lastSeenMs > this.o.maxAgeMs) ended.push(t);
      else alive.push(t);
    });
    this.tracks = alive;
    const assigned = detections.map((detection, d) => {
      let a = detTrack[d];
      if (!a) {
        const track: Track = { id: this.nextId++, box: { ...detection.box }, velocity: [0, 0, 0, 0], firstSeenMs: ptsMs, lastSeenMs: ptsMs, hits: 1 };
        this.tracks.push(track);
        a = { track, isNew: true };
      }
      return { track: a.track, detection, isNew: a.isNew };
    });
    return { assigned, ended };
  }

  /** Ends every track (the source ended) and returns them. */
  flush(): Track[] {
    const all = this.tracks;
    this.tracks = [];
    return all;
  }

  private observe(track: Track, box: Box, ptsMs: number): void {
    const dt = ptsMs - track.lastSeenMs;
    if (dt > 0) {
      const measured: [number, number, number, number] = [
        (box.x1 - track.box.x1) / dt,
        (box.y1 - track.box.y1) / dt,
        (box.x2 - track.box.x2) / dt,
        (box.y2 - track.box.y2) / dt,
      ];
      const a = track.hits === 1 ? 1 : this.o.velocitySmoothing;
      track.velocity = track.velocity.map((v, i) => a * measured[i]! + (1 - a) * v) as [number, number, number, number];
    }
    track.box = { ...box };
    track.lastSeenMs = ptsMs;
    track.hits++;
  }
}
