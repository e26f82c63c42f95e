import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import { decodeImage } from '../../src/image/image.js';
import { createDetector } from '../../src/models/detector.js';
import { createLivenessModel, livenessCropBox, type LivenessModel } from '../../src/models/liveness.js';
import { findModel, loadManifest, requireModel } from '../../src/models/manifest.js';
import type { Detector } from '../../src/models/types.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

describe('livenessCropBox', () => {
  it('widens the box about its centre by the scale', () => {
    const b = livenessCropBox({ x1: 400, y1: 400, x2: 500, y2: 520 }, 2000, 2000, 2.7);
    expect(b.x2 - b.x1).toBeCloseTo(270, 6);
    expect(b.y2 - b.y1).toBeCloseTo(324, 6);
    expect((b.x1 + b.x2) / 2).toBeCloseTo(450, 6);
    expect((b.y1 + b.y2) / 2).toBeCloseTo(460, 6);
  });

  it('shrinks the scale to fit and shifts the crop inside the image', () => {
    const b = livenessCropBox({ x1: 0, y1: 10, x2: 100, y2: 150 }, 200, 200, 2.7);
    expect(b.x1).toBeGreaterThanOrEqual(0);
    expect(b.y1).toBeGreaterThanOrEqual(0);
    expect(b.x2).toBeLessThanOrEqual(200);
    expect(b.y2).toBeLessThanOrEqual(200);
    // 199 / 140 is the largest scale that keeps the box's height inside the image.
    expect(b.y2 - b.y1).toBeCloseTo(199, 6);
  });
});

describe.skipIf(!have(MODELS_DIR, facePath('quality/spoof/insightface__rgb_fake.jpg')))('antispoof_faceplugin_128 on real photos', () => {
  const manifest = loadManifest();
  let detector: Detector;
  let live: LivenessModel;
  beforeAll(async () => {
    const det = findModel(manifest, 'det_500m');
    detector = await createDetector(det, await requireModel(MODELS_DIR, det), { intraOpThreads: 1 });
    const entry = findModel(manifest, 'antispoof_faceplugin_128');
    live = await createLivenessModel(entry, await requireModel(MODELS_DIR, entry), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await detector?.close();
    await live?.close();
  });

  async function liveScore(rel: string): Promise<number> {
    const img = await decodeImage(facePath(rel));
    const faces = await detector.detect(img);
    expect(faces.length).toBeGreaterThan(0);
    const [p] = await live.check(img, [faces[0]!]);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThanOrEqual(1);
    return p!;
  }

  it('scores the one presentation attack in the data as a spoof and two clean portraits as live', async () => {
    const spoof = await liveScore('quality/spoof/insightface__rgb_fake.jpg');
    const astronaut = await liveScore('quality/clean_single_face/skimage__astronaut.png');
    const obama = await liveScore('quality/resolution_ladder/face_recognition__obama-720p.jpg');
    console.log(`live probability: screen photo ${spoof.toFixed(3)}, astronaut ${astronaut.toFixed(3)}, obama-720p ${obama.toFixed(3)}`);
    expect(spoof).toBeLessThan(0.1);
    expect(astronaut).toBeGreaterThan(0.9);
    expect(obama).toBeGreaterThan(0.9);
  });

  it('returns one score per face and none for no faces', async () => {
    const img = await decodeImage(facePath('quality/clean_single_face/skimage__astronaut.png'));
    expect(await live.check(img, [])).toEqual([]);
    const faces = await detector.detect(img);
    expect(await live.check(img, [faces[0]!, faces[0]!])).toHaveLength(2);
  });

  it('refuses a manifest entry that is not a liveness model', async () => {
    const rec = findModel(manifest, 'mobilefacenet512_faceplugin');
    let err: unknown;
    try {
      await createLivenessModel(rec, await requireModel(MODELS_DIR, rec));
    } catch (e) {
      err = e;
    }
    expect(isFaceGateError(err, 'MODEL_INCOMPATIBLE')).toBe(true);
  });
});
