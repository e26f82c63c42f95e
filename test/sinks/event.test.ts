/** The facegate.event/v1 builder and checker, against the JSON Schema file an integrator reads. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeJpeg } from '../../src/image/image.js';
import { buildEvent, buildStatus, checkEvent } from '../../src/sinks/event.js';
import type { FaceEvent } from '../../src/sinks/types.js';
import { validate, type Schema } from '../helpers/json-schema.js';
import { REPO_ROOT } from '../helpers/shared.js';

const EVENT_SCHEMA = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'event.v1.schema.json'), 'utf8')) as Schema;
const STATUS_SCHEMA = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'status.v1.schema.json'), 'utf8')) as Schema;

const identified = {
  type: 'identified' as const,
  deviceId: 'door-1',
  trackId: 7,
  identity: { id: 'lin', name: 'Lin-Manuel Miranda' },
  similarity: 0.612345678,
  margin: 0.3012345,
  quality: 0.81234567,
  box: { x1: 100.04, y1: 50.06, x2: 180.5, y2: 170.44 },
  time: Date.UTC(2026, 10, 29, 3, 4, 5, 678),
};

describe('buildEvent', () => {
  it('fills in schema, a UUID eventId and the ISO time, and rounds numbers', () => {
    const e = buildEvent(identified);
    expect(e).toEqual({
      schema: 'facegate.event/v1',
      type: 'identified',
      eventId: e.eventId,
      time: '2026-11-29T03:04:05.678Z',
      deviceId: 'door-1',
      trackId: 7,
      identity: { id: 'lin', name: 'Lin-Manuel Miranda' },
      similarity: 0.6123,
      margin: 0.3012,
      quality: 0.8123,
      box: { x1: 100, y1: 50.1, x2: 180.5, y2: 170.4 },
    });
    expect(e.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(buildEvent(identified).eventId).not.toBe(e.eventId);
    expect('faceJpegBase64' in e).toBe(false); // face crops are off unless the pipeline passes one
  });

  it('produces payloads the JSON Schema accepts, with and without a face crop', async () => {
    const pixels = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 37) % 256);
    const jpeg = await encodeJpeg({ data: pixels, width: 16, height: 16, channels: 3 });
    const events: FaceEvent[] = [
      buildEvent(identified),
      buildEvent({ type: 'unknown', deviceId: 'door-1', trackId: 8, similarity: 0.2, quality: 0.5, box: identified.box }),
      buildEvent({ type: 'unknown', deviceId: 'door-1', trackId: 9, quality: 0.5, box: identified.box }),
      buildEvent({ ...identified, faceJpeg: jpeg }),
    ];
    for (const e of events) expect(validate(EVENT_SCHEMA, JSON.parse(JSON.stringify(e)))).toEqual([]);
    const crop = Buffer.from(events[3]!.faceJpegBase64!, 'base64');
    expect([crop[0], crop[1]]).toEqual([0xff, 0xd8]); // a JPEG
  });

  it('rejects bad input with CONFIG_INVALID naming the field, and the schema rejects the same payloads', () => {
    const good = JSON.parse(JSON.stringify(buildEvent(identified))) as Record<string, unknown>;
    const cases: [Record<string, unknown>, string][] = [
      [{ schema: 'facegate.event/v2' }, 'schema'],
      [{ type: 'maybe' }, 'type'],
      [{ eventId: 'abc' }, 'eventId'],
      [{ time: 'yesterday' }, 'time'],
      [{ deviceId: 'a/b' }, 'event.deviceId'],
      [{ trackId: -1 }, 'trackId'],
      [{ identity: null }, 'identity'],
      [{ type: 'unknown' }, 'identity'],
      [{ similarity: 1.5 }, 'similarity'],
      [{ margin: -0.1 }, 'margin'],
      [{ quality: Number.NaN }, 'quality'],
      [{ box: { x1: 0, y1: 0, x2: 1 } }, 'box'],
      [{ extra: 1 }, 'extra'],
      [{ faceJpegBase64: 'not base64!' }, 'faceJpegBase64'],
    ];
    for (const [patch, field] of cases) {
      const bad = { ...good, ...patch };
      expect(() => checkEvent(bad), field).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', details: expect.objectContaining({ field }) }));
      if (!Number.isNaN(patch.quality)) expect(validate(EVENT_SCHEMA, bad).length, field).toBeGreaterThan(0);
    }
    expect(checkEvent(good)).toEqual(good);
  });
});

describe('buildStatus', () => {
  it('matches the status schema', () => {
    const online = buildStatus('online', 'door-1', { version: '0.1.0', models: { detector: 'scrfd' }, details: { source: 'streaming' } });
    expect(online).toMatchObject({ schema: 'facegate.status/v1', state: 'online', deviceId: 'door-1', version: '0.1.0' });
    expect(validate(STATUS_SCHEMA, online)).toEqual([]);
    expect(validate(STATUS_SCHEMA, buildStatus('offline', 'door-1'))).toEqual([]);
    expect(() => buildStatus('online', 'bad id')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
