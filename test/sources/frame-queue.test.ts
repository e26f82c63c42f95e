import { describe, expect, it } from 'vitest';
import { backoffDelayMs, sleep } from '../../src/core/backoff.js';
import { FrameQueue } from '../../src/sources/frame-queue.js';

describe('FrameQueue', () => {
  it('drop-oldest keeps the newest items and counts the dropped ones', async () => {
    const q = new FrameQueue<number>({ capacity: 2 });
    for (let i = 1; i <= 5; i++) await q.push(i);
    expect(q.dropped).toBe(3);
    q.end();
    expect([await q.next(), await q.next(), await q.next()]).toEqual([4, 5, undefined]);
  });

  it('block makes the producer wait for room and drops nothing', async () => {
    const q = new FrameQueue<number>({ capacity: 1, overflow: 'block' });
    await q.push(1);
    let second = false;
    const p = q.push(2).then(() => (second = true));
    await sleep(10);
    expect(second).toBe(false);
    expect(await q.next()).toBe(1);
    await p;
    expect(second).toBe(true);
    expect(await q.next()).toBe(2);
    expect(q.dropped).toBe(0);
  });

  it('a waiting consumer wakes on push, on end, on abort; an end with an error throws after the queued items', async () => {
    const q = new FrameQueue<string>();
    const waiting = q.next();
    await q.push('a');
    expect(await waiting).toBe('a');
    const ac = new AbortController();
    const aborted = q.next(ac.signal);
    ac.abort();
    expect(await aborted).toBeUndefined();
    await q.push('b');
    q.end(new Error('camera gone'));
    expect(await q.next()).toBe('b');
    await expect(q.next()).rejects.toThrow('camera gone');
  });
});

describe('backoffDelayMs', () => {
  it('doubles from the initial delay up to the cap, with bounded jitter', () => {
    const o = { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(a, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const jittered = [0, 0.5, 0.999].map((r) => backoffDelayMs(3, { initialDelayMs: 100, jitter: 0.2 }, () => r));
    expect(jittered[0]).toBe(320);
    expect(jittered[1]).toBe(400);
    expect(jittered[2]).toBeLessThanOrEqual(480);
  });
});
