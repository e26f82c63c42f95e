import { describe, expect, it } from 'vitest';
import { l2normalize } from '../../src/core/vector.js';
import { DecisionPolicy, fuseSamples, type Candidate, type FaceSample } from '../../src/pipeline/decision.js';

const BOX = { x1: 0, y1: 0, x2: 50, y2: 50 };
function unit(seed: number, dim = 64): Float32Array {
  // deterministic pseudo-random direction per seed
  const v = new Float32Array(dim);
  let s = seed * 9301 + 49297;
  for (let i = 0; i < dim; i++) {
    s = (s * 9301 + 49297) % 233280;
    v[i] = s / 233280 - 0.5;
  }
  return l2normalize(v);
}
const sample = (embedding: Float32Array, quality: number, ptsMs = 0): FaceSample => ({ embedding, quality, ptsMs, box: BOX });
const hits = (...pairs: [string, number][]): Candidate[] => pairs.map(([id, similarity]) => ({ id, name: id.toUpperCase(), similarity }));

describe('fuseSamples', () => {
  it('is the quality-weighted mean of unit embeddings, renormalised', () => {
    const a = unit(1);
    const b = unit(2);
    const f = fuseSamples([sample(a, 0.9), sample(b, 0.1)]);
    let n = 0;
    let da = 0;
    let db = 0;
    for (let i = 0; i < f.length; i++) {
      n += f[i]! * f[i]!;
      da += f[i]! * a[i]!;
      db += f[i]! * b[i]!;
    }
    expect(n).toBeCloseTo(1, 5);
    expect(da).toBeGreaterThan(db); // the better face dominates
  });
});

describe('DecisionPolicy', () => {
  it('identifies once, after minSamples, when similarity and margin are enough; then stops asking for samples', () => {
    const p = new DecisionPolicy({ threshold: 0.4, minSamples: 2 });
    p.addSample(1, 0, sample(unit(1), 0.5));
    expect(p.decide(1, hits(['ann', 0.7]), 0)).toBe('too-few-samples');
    p.addSample(1, 0, sample(unit(1), 0.6, 100));
    const d = p.decide(1, hits(['ann', 0.7], ['bob', 0.2]), 100);
    expect(d).toMatchObject({ kind: 'identified', identity: { id: 'ann', name: 'ANN' }, similarity: 0.7, samples: 2, quality: 0.6, firstSeenMs: 0, decidedAtMs: 100 });
    expect((d as { margin: number }).margin).toBeCloseTo(0.5, 10);
    expect(p.wantsSamples(1)).toBe(false);
    expect(p.endTrack(1, 500)).toBeNull(); // decided tracks end silently
  });

  it('refuses an ambiguous or weak match, and reports unknown at the end of a track with enough samples', () => {
    const p = new DecisionPolicy({ threshold: 0.4, minSamples: 1, minMargin: 0.05 });
    p.addSample(1, 0, sample(unit(1), 0.5));
    expect(p.decide(1, hits(['ann', 0.5], ['bob', 0.48]), 0)).toBe('ambiguous');
    p.addSample(1, 0, sample(unit(1), 0.5));
    expect(p.decide(1, hits(['ann', 0.3], ['bob', 0.1]), 100)).toBe('below-threshold');
    const end = p.endTrack(1, 900);
    expect(end).toMatchObject({ kind: 'unknown', identity: null, similarity: 0.3, samples: 2 });
    expect(end!.margin).toBeCloseTo(0.2, 10);
  });

  it('a track with too few samples ends without an event', () => {
    const p = new DecisionPolicy({ threshold: 0.4, minSamplesForUnknown: 2 });
    p.addSample(3, 0, sample(unit(3), 0.5));
    p.decide(3, [], 0);
    expect(p.endTrack(3, 100)).toBeNull();
  });

  it('keeps the best maxSamples by quality and stops after maxAttempts', () => {
    const p = new DecisionPolicy({ threshold: 0.9, maxSamples: 2, maxAttempts: 3, minSamples: 1 });
    for (const q of [0.2, 0.9, 0.5]) {
      expect(p.wantsSamples(1)).toBe(true);
      p.addSample(1, 0, sample(unit(1), q));
      p.decide(1, hits(['ann', 0.5]), 0);
    }
    expect(p.wantsSamples(1)).toBe(false);
    expect(p.endTrack(1, 100)).toMatchObject({ kind: 'unknown', samples: 2, quality: 0.9 });
  });

  it('the cooldown keeps a person who stays in view from a second event, then lets a new visit through', () => {
    const p = new DecisionPolicy({ threshold: 0.4, minSamples: 1, cooldownMs: 1000 });
    p.addSample(1, 0, sample(unit(1), 0.5));
    expect(p.decide(1, hits(['ann', 0.8]), 0)).toMatchObject({ kind: 'identified' });
    p.seen(1, 600); // still in view at 600 ms, then the track breaks up
    p.endTrack(1, 700);
    p.addSample(2, 900, sample(unit(1), 0.5));
    expect(p.decide(2, hits(['ann', 0.8]), 900)).toBe('cooldown');
    expect(p.suppressed).toBe(1);
    p.endTrack(2, 1000);
    p.addSample(3, 5000, sample(unit(1), 0.5));
    expect(p.decide(3, hits(['ann', 0.8]), 5000)).toMatchObject({ kind: 'identified', trackId: 3 });
    // another person is not held back by ann's cooldown
    p.addSample(4, 5000, sample(unit(4), 0.5));
    expect(p.decide(4, hits(['bob', 0.8], ['ann', 0.2]), 5000)).toMatchObject({ kind: 'identified', identity: { id: 'bob' } });
  });
});
