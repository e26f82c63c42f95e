/**
 * The per-track recognition policy, pure: no models, no I/O, no clock. The pipeline feeds it quality-passing face
 * samples and gallery hits; it keeps the best N samples of each track, fuses them into one template, and decides
 * once per track: `identified` as soon as the fused template is clearly one enrolled person, else `unknown` when the
 * track ends. A per-identity cooldown keeps someone who stays in view (or whose track breaks up) from being announced
 * again.
 */
import { weightedMeanUnit } from '../core/vector.js';
import type { Box } from '../core/types.js';

/** Options of the decision policy. */
export interface DecisionOptions {
  /** Fused similarity at or above which a track is identified (cosine). Required: the engine's recognizer threshold. */
  threshold: number;
  /** Least gap between the best identity and the runner-up (0 when there is none), in similarity. Default 0.05. */
  minMargin?: number;
  /** Quality-passing samples a track needs before it may be identified. Default 2. */
  minSamples?: number;
  /** Samples kept per track for the fused template (the best by quality). Default 5. */
  maxSamples?: number;
  /**
   * Quality-passing samples after which an undecided track stops being embedded (it ends as `unknown`), bounding the
   * work spent on someone who is not enrolled. Default 12.
   */
  maxAttempts?: number;
  /** Quality-passing samples a track needs for an `unknown` event at its end (fewer: no event). Default 2. */
  minSamplesForUnknown?: number;
  /** No second `identified` event for a person seen (in any track) within this long, in milliseconds. Default 10000. */
  cooldownMs?: number;
}

/** Defaults of DecisionOptions (threshold has none). */
export const DECISION_DEFAULTS: Required<Omit<DecisionOptions, 'threshold'>> = {
  minMargin: 0.05,
  minSamples: 2,
  maxSamples: 5,
  maxAttempts: 12,
  minSamplesForUnknown: 2,
  cooldownMs: 10_000,
};

/** One quality-passing face of a track. */
export interface FaceSample {
  /** Unit embedding. */
  embedding: Float32Array;
  /** Quality score 0..1 (the gate's), the weight in the fused template. */
  quality: number;
  ptsMs: number;
  box: Box;
}

/** A gallery hit as the policy needs it (the gallery's SearchHit fits). */
export interface Candidate {
  id: string;
  name: string;
  similarity: number;
}

/** The once-per-track outcome. */
export interface TrackDecision {
  kind: 'identified' | 'unknown';
  trackId: number;
  /** The identity; null for `unknown`. */
  identity: { id: string; name: string } | null;
  /** Fused-template similarity to `identity`; for `unknown`, to the closest enrolled identity (null: empty gallery). */
  similarity: number | null;
  /** similarity minus the runner-up's; null when the gallery returned fewer than two identities. */
  margin: number | null;
  /** Quality of the best sample. */
  quality: number;
  /** The box of the best sample. */
  box: Box;
  /** Samples fused. */
  samples: number;
  /** ptsMs when the track started and when the decision was made. */
  firstSeenMs: number;
  decidedAtMs: number;
}

/** Why `decide` made no event. */
export type PendingReason = 'too-few-samples' | 'below-threshold' | 'ambiguous' | 'cooldown';

interface TrackState {
  id: number;
  firstSeenMs: number;
  samples: FaceSample[];
  attempts: number;
  decided: boolean;
  /** Identity the track was decided as (also when the cooldown suppressed its event). */
  identityId: string | null;
  lastCandidates: Candidate[];
}

/**
 * Holds the state of every live track and of the cooldowns.
 * @example
 * const policy = new DecisionPolicy({ threshold: engine.threshold });
 * if (policy.wantsSamples(track.id)) {
 *   const template = policy.addSample(track.id, track.firstSeenMs, sample);
 *   const out = policy.decide(track.id, gallery.search(template, { modelId, topK: 2 }), frame.ptsMs);
 * }
 */
export class DecisionPolicy {
  private readonly o: Required<DecisionOptions>;
  private readonly tracks = new Map<number, TrackState>();
  /** identity id -> ptsMs it was last seen in a track decided as that identity. */
  private readonly lastSeen = new Map<string, number>();
  /** Decisions the cooldown turned into no event. */
  suppressed = 0;

  constructor(options: DecisionOptions) {
    this.o = { ...DECISION_DEFAULTS, ...options };
  }

  get options(): Readonly<Required<DecisionOptions>> {
    return this.o;
  }

  /** True while a track is undecided and under its attempt budget: only then is it worth embedding. */
  wantsSamples(trackId: number): boolean {
    const s = this.tracks.get(trackId);
    return !s || (!s.decided && s.attempts < this.o.maxAttempts);
  }

  /** Marks a track as seen at `ptsMs` (every frame it is matched): keeps its identity's cooldown fresh. */
  seen(trackId: number, ptsMs: number): void {
    const s = this.tracks.get(trackId);
    if (s?.identityId) this.lastSeen.set(s.identityId, ptsMs);
  }

  /** Adds a quality-passing sample, keeping the best `maxSamples`; returns the fused template to search with. */
  addSample(trackId: number, firstSeenMs: number, sample: FaceSample): Float32Array {
    let s = this.tracks.get(trackId);
    if (!s) {
      s = { id: trackId, firstSeenMs, samples: [], attempts: 0, decided: false, identityId: null, lastCandidates: [] };
      this.tracks.set(trackId, s);
    }
    s.attempts++;
    s.samples.push(sample);
    s.samples.sort((a, b) => b.quality - a.quality);
    if (s.samples.length > this.o.maxSamples) s.samples.length = this.o.maxSamples;
    return fuseSamples(s.samples);
  }

  /**
   * Decides on the track's latest fused template given its gallery hits (best first). Returns the `identified`
   * decision once; otherwise the reason it is still pending (or `cooldown` when someone just announced is back).
   */
  decide(trackId: number, hits: readonly Candidate[], ptsMs: number): TrackDecision | PendingReason {
    const s = this.tracks.get(trackId);
    if (!s || s.decided) return 'too-few-samples';
    s.lastCandidates = hits.slice(0, 2);
    const best = hits[0];
    if (s.samples.length < this.o.minSamples) return 'too-few-samples';
    if (!best || best.similarity < this.o.threshold) return 'below-threshold';
    // with no runner-up the margin is to "nobody", whose similarity is about 0 for unrelated faces
    if (best.similarity - Math.max(0, hits[1]?.similarity ?? 0) < this.o.minMargin) return 'ambiguous';
    s.decided = true;
    s.identityId = best.id;
    const last = this.lastSeen.get(best.id);
    this.lastSeen.set(best.id, ptsMs);
    if (last !== undefined && ptsMs - last < this.o.cooldownMs) {
      this.suppressed++;
      return 'cooldown';
    }
    return this.outcome(s, 'identified', { id: best.id, name: best.name }, ptsMs);
  }

  /** The track ended: an `unknown` decision when it never was identified and had enough samples, else null. */
  endTrack(trackId: number, ptsMs: number): TrackDecision | null {
    const s = this.tracks.get(trackId);
    this.tracks.delete(trackId);
    if (!s || s.decided || s.samples.length < this.o.minSamplesForUnknown) return null;
    return this.outcome(s, 'unknown', null, ptsMs);
  }

  /** Tracks with state (undecided or decided and still alive). */
  get size(): number {
    return this.tracks.size;
  }

  private outcome(s: TrackState, kind: TrackDecision['kind'], identity: TrackDecision['identity'], ptsMs: number): TrackDecision {
    const top = s.samples[0]!;
    const [best, second] = s.lastCandidates;
    return {
      kind,
      trackId: s.id,
      identity,
      similarity: best ? best.similarity : null,
      margin: best && second ? Math.max(0, best.similarity - second.similarity) : null,
      quality: top.quality,
      box: { ...top.box },
      samples: s.samples.length,
      firstSeenMs: s.firstSeenMs,
      decidedAtMs: ptsMs,
    };
  }
}

/** The fused template: quality-weighted mean of unit embeddings, renormalised (a zero weight counts a little). */
export function fuseSamples(samples: readonly FaceSample[]): Float32Array {
  return weightedMeanUnit(
    samples.map((s) => s.embedding),
    samples.map((s) => Math.max(1e-3, s.quality)),
  );
}
