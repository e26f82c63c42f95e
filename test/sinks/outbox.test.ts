/** The durable outbox (LMDB) and its in-memory twin: order, bound with drop-oldest, and survival across reopen. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryOutbox, Outbox, type MessageQueue } from '../../src/sinks/outbox.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'facegate-outbox-test-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const kinds: [string, (maxEvents?: number) => MessageQueue][] = [
  ['Outbox (LMDB)', (maxEvents) => Outbox.open({ path: tempDir(), ...(maxEvents ? { maxEvents } : {}) })],
  ['MemoryOutbox', (maxEvents) => new MemoryOutbox(maxEvents)],
];

describe.each(kinds)('%s', (_, make) => {
  it('keeps entries in append order until removed', async () => {
    const q = make();
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) seqs.push((await q.append(`t/${i % 2}`, `{"i":${i}}`)).seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(q.peek(3).map((e) => e.payload)).toEqual(['{"i":0}', '{"i":1}', '{"i":2}']);
    expect(q.peek(2, seqs[4]).map((e) => e.payload)).toEqual(['{"i":5}', '{"i":6}']);
    await q.remove(seqs[0]!);
    await q.remove(seqs[2]!);
    await q.remove(seqs[2]!); // removing twice is a no-op
    expect(q.peek(3).map((e) => e.payload)).toEqual(['{"i":1}', '{"i":3}', '{"i":4}']);
    expect(q.stats()).toEqual({ pending: 8, appended: 10, removed: 2, dropped: 0, recovered: 0 });
    await q.close();
  });

  it('drops the oldest entries beyond maxEvents and counts them', async () => {
    const q = make(5);
    for (let i = 0; i < 8; i++) await q.append('t', String(i));
    expect(q.size()).toBe(5);
    expect(q.peek(10).map((e) => e.payload)).toEqual(['3', '4', '5', '6', '7']);
    expect(q.stats()).toMatchObject({ pending: 5, appended: 8, dropped: 3 });
    await q.close();
  });

  it('rejects a bound that is not a positive integer', () => {
    expect(() => make(-1)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('Outbox (LMDB) durability', () => {
  it('replays what was left, oldest first, after a reopen, and keeps numbering after it', async () => {
    const path = tempDir();
    const a = Outbox.open({ path });
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await a.append('t', `a${i}`));
    await a.remove(first[1]!.seq);
    await a.close();

    const b = Outbox.open({ path });
    const left = b.peek(10);
    expect(left.map((e) => e.payload)).toEqual(['a0', 'a2', 'a3', 'a4']);
    expect(left.every((e) => e.fromEarlierRun)).toBe(true);
    expect(b.stats()).toMatchObject({ pending: 4, recovered: 4, appended: 0 });
    const next = await b.append('t', 'b0');
    expect(next.seq).toBeGreaterThan(first[4]!.seq);
    expect(b.peek(10).map((e) => [e.payload, e.fromEarlierRun])).toEqual([
      ['a0', true], ['a2', true], ['a3', true], ['a4', true], ['b0', false],
    ]);
    await b.close();
  });

  it('appends in order when many appends are in flight at once', async () => {
    const q = Outbox.open({ path: tempDir(), maxEvents: 50 });
    await Promise.all(Array.from({ length: 80 }, (_, i) => q.append('t', String(i))));
    expect(q.peek(100).map((e) => Number(e.payload))).toEqual(Array.from({ length: 50 }, (_, i) => i + 30));
    expect(q.stats()).toMatchObject({ pending: 50, dropped: 30 });
    await q.close();
  });

  it('refuses a path that is a file with CONFIG_INVALID', () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    expect(() => Outbox.open({ path: file })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: expect.objectContaining({ field: 'outbox.path' }) }));
  });
});
