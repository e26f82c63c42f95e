import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/core/types.js';
import { Tracker, predictBox } from '../../src/pipeline/tracker.js';

const box = (x: number, y: number, s = 60): { box: Box } => ({ box: { x1: x, y1: y, x2: x + s, y2: y + s } });

describe('Tracker', () => {
  it('keeps one id for a face moving steadily, even when it moves further than its width between frames', () => {
    const t = new Tracker();
    const ids = new Set<number>();
    // 40 px per 100 ms: at 10 fps consecutive boxes overlap with IoU 0.2; with 3 frames dropped (400 ms gap) they do
    // not overlap at all, and only the velocity prediction keeps the track
    const times = [0, 100, 200, 300, 700, 800];
    for (const ms of times) {
      const { assigned } = t.update([box(0.4 * ms, 50)], ms);
      ids.add(assigned[0]!.track.id);
    }
    expect([...ids]).toEqual([1]);
    expect(t.active[0]!.velocity[0]).toBeCloseTo(0.4, 5);
  });

  it('separates two faces and ends a track unseen for longer than maxAgeMs', () => {
    const t = new Tracker({ maxAgeMs: 300 });
    const first = t.update([box(0, 0), box(300, 0)], 0);
    expect(first.assigned.map((a) => a.track.id)).toEqual([1, 2]);
    expect(first.assigned.every((a) => a.isNew)).toBe(true);
    const second = t.update([box(305, 2), box(3, 1)], 100); // order swapped: association is by overlap, not order
    expect(second.assigned.map((a) => a.track.id)).toEqual([2, 1]);
    t.update([box(6, 2)], 200);
    t.update([box(9, 2)], 400);
    const later = t.update([box(12, 2)], 500);
    expect(later.ended.map((tr) => tr.id)).toEqual([2]);
    expect(t.active.map((tr) => tr.id)).toEqual([1]);
    expect(t.flush().map((tr) => tr.id)).toEqual([1]);
    expect(t.started).toBe(2);
  });

  it('starts a new track for a face appearing elsewhere', () => {
    const t = new Tracker();
    t.update([box(0, 0)], 0);
    const { assigned } = t.update([box(400, 300)], 100);
    expect(assigned[0]).toMatchObject({ isNew: true });
    expect(assigned[0]!.track.id).toBe(2);
  });

  it('caps the prediction step so a long gap does not fling the box away', () => {
    const t = new Tracker({ maxPredictMs: 200 });
    t.update([box(0, 0)], 0);
    t.update([box(10, 0)], 100);
    const p = predictBox(t.active[0]!, 10_000, 200);
    expect(p.x1).toBeCloseTo(10 + 0.1 * 200, 5);
  });
});
