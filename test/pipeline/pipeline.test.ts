/**
 * The acceptance run: the hamilton clip through the real engine, with Lin-Manuel Miranda enrolled from one photo.
 * He must be identified once per visit with a plausible similarity, and nobody else identified.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { enrollImages, listImages } from '../../src/enrollment.js';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { decodeImage } from '../../src/image/image.js';
import type { Gallery } from '../../src/gallery/gallery.js';
import { createPipeline, type EventInfo } from '../../src/pipeline/pipeline.js';
import type { FaceEvent } from '../../src/sinks/types.js';
import { createFfmpegSource } from '../../src/sources/index.js';
import { MODELS_DIR, facePath, have } from '../helpers/shared.js';
import { haveFfmpeg } from '../helpers/ffmpeg.js';

const FFMPEG = haveFfmpeg();

const CLIP = facePath('video/face_recognition__short_hamilton_clip.mp4');
const LIN = facePath('identities/face_recognition__lin_manuel_miranda');
const OTHER = facePath('identities/face_recognition__obama');

describe.skipIf(!have(CLIP, LIN, OTHER, MODELS_DIR) || !FFMPEG)('pipeline on the hamilton clip', () => {
  let engine: Engine;
  let gallery: Gallery;
  let dir: string;

  beforeAll(async () => {
    engine = await createEngine({ modelsDir: MODELS_DIR, intraOpThreads: 1 });
    dir = mkdtempSync(join(tmpdir(), 'facegate-pipeline-'));
    gallery = openGallery({ path: dir });
    // a second identity so "nobody else is identified" is tested against a real runner-up
    for (const [id, folder] of [['lin_manuel_miranda', LIN], ['obama', OTHER]] as const) {
      const r = await enrollImages(engine, gallery, { id, images: listImages(folder) });
      expect(r.enrolled).toBeGreaterThan(0);
    }
  });

  afterAll(async () => {
    await gallery?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('identifies him once per visit and nobody else', async () => {
    const events: { event: FaceEvent; info: EventInfo }[] = [];
    const pipeline = createPipeline({ engine, gallery, deviceId: 'test-door', faceCrop: true, onEvent: (event, info) => events.push({ event, info }) });
    const source = createFfmpegSource({ input: CLIP, fps: 10 });
    const summary = await pipeline.run(source);
    console.log(
      `frames ${summary.frames}, drops ${summary.drops}, tracks ${summary.tracks}, events ${JSON.stringify(summary.events)}, ` +
        `suppressed ${summary.suppressed}, faces ${summary.faces}/${summary.facesPassed} passed, fps ${summary.fps}`,
    );
    for (const { event, info } of events) {
      console.log(
        `  ${event.type} track ${event.trackId} ${event.identity?.id ?? '-'} sim ${event.similarity} margin ${event.margin} q ${event.quality} ` +
          `after ${info.streamLatencyMs} ms of stream`,
      );
    }
    expect(summary.sourceError).toBeUndefined();
    expect(summary.frames).toBeGreaterThanOrEqual(99);
    expect(summary.drops).toBe(0);
    const identified = events.filter((e) => e.event.type === 'identified');
    expect(identified.map((e) => e.event.identity?.id)).toEqual(['lin_manuel_miranda']);
    expect(identified[0]!.event.similarity!).toBeGreaterThan(engine.threshold);
    expect(identified[0]!.event.similarity!).toBeLessThan(0.95);
    // the attached crop is the best face of the track: a JPEG of the event's box
    const ev = identified[0]!.event;
    const crop = await decodeImage(Buffer.from(ev.faceJpegBase64!, 'base64'));
    expect(Math.abs(crop.width - (ev.box.x2 - ev.box.x1))).toBeLessThanOrEqual(2);
    expect(Math.abs(crop.height - (ev.box.y2 - ev.box.y1))).toBeLessThanOrEqual(2);
  });
});
