/** The console sink (JSON Lines) and the fan-out of one write to several sinks. */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createConsoleSink } from '../../src/sinks/console.js';
import { buildEvent, buildStatus, checkEvent } from '../../src/sinks/event.js';
import { createFanoutSink } from '../../src/sinks/fanout.js';
import type { SinkStatus } from '../../src/sinks/types.js';

function makeEvent(i: number, faceJpeg?: Uint8Array) {
  return buildEvent({ type: 'unknown', deviceId: 'door-1', trackId: i, similarity: 0.2, quality: 0.6, box: { x1: 0, y1: 0, x2: 10, y2: 10 }, ...(faceJpeg ? { faceJpeg } : {}) });
}

function collect(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, lines: () => text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('console sink', () => {
  it('writes one JSON object per line, events and status, without the face crop by default', async () => {
    const out = collect();
    const sink = createConsoleSink({ stream: out.stream });
    const a = makeEvent(1);
    const b = makeEvent(2, new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
    await sink.write(a);
    await sink.status!(buildStatus('online', 'door-1', { version: '0.1.0' }));
    await sink.write(b);
    const lines = out.lines();
    expect(lines).toHaveLength(3);
    expect(checkEvent(lines[0])).toEqual(a);
    expect(lines[1]).toMatchObject({ schema: 'facegate.status/v1', state: 'online' });
    const { faceJpegBase64: _crop, ...bWithoutCrop } = b;
    expect(lines[2]).toEqual(bWithoutCrop);
    expect(sink.stats()).toMatchObject({ published: 3, pending: 0, failures: 0 });

    const withCrop = collect();
    const sink2 = createConsoleSink({ stream: withCrop.stream, includeFaceCrop: true });
    await sink2.write(b);
    expect(withCrop.lines()[0]!.faceJpegBase64).toBe('/9j/2Q==');
  });

  it('reports a broken stream as SINK_FAILED instead of throwing', async () => {
    const statuses: SinkStatus[] = [];
    const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    const sink = createConsoleSink({ stream: broken, onStatus: (s) => statuses.push(s) });
    await sink.write(makeEvent(1));
    await new Promise((r) => setImmediate(r));
    await sink.write(makeEvent(2));
    expect(statuses[0]).toMatchObject({ state: 'retrying', error: { code: 'SINK_FAILED' } });
    expect(sink.stats().failures).toBe(1);
  });
});

describe('fanout sink', () => {
  it('hands each event to every sink and sums their counters', async () => {
    const a = collect();
    const b = collect();
    const fan = createFanoutSink([createConsoleSink({ stream: a.stream, name: 'a' }), createConsoleSink({ stream: b.stream, name: 'b' })]);
    expect(fan.name).toBe('a+b');
    const e = makeEvent(1);
    await fan.write(e);
    expect(a.lines()).toEqual([e]);
    expect(b.lines()).toEqual([e]);
    expect(fan.stats()).toMatchObject({ published: 2 });
    expect(await fan.flush(100)).toBe(true);
    await fan.close();
    await expect(fan.write(e)).rejects.toMatchObject({ code: 'SINK_FAILED' });
  });
});
