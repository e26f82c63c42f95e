import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/image.js';
import { createDetector } from '../../src/models/detector.js';
import { findModel, loadManifest, requireModel } from '../../src/models/manifest.js';
import type { Detector } from '../../src/models/types.js';
import { YUNET_SCORE_THRESHOLD } from '../../src/models/yunet.js';
import { ANNOTATIONS, expectTemplateOrder, humanAnnotated, matchFaces, medianOf, sum } from '../helpers/detection.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const entry = findModel(loadManifest(), 'yunet');

describe.skipIf(!have(ANNOTATIONS, `${MODELS_DIR}/${entry.file}`))('YuNet on real photos', () => {
  let det: Detector;
  beforeAll(async () => {
    det = await createDetector(entry, await requireModel(MODELS_DIR, entry), { intraOpThreads: 1 });
  });
  afterAll(() => det?.close());

  it('finds the human-annotated faces (recall floor 0.95, measured 1.0 with 0 false positives)', async () => {
    const results = [];
    for (const a of humanAnnotated()) results.push(matchFaces(await det.detect(await decodeImage(facePath(a.path))), a.faces));
    const total = sum(results);
    const recall = total.truePositives / total.groundTruth;
    console.log(`yunet defaults (score >= ${YUNET_SCORE_THRESHOLD}): recall ${recall.toFixed(3)} (${total.truePositives}/${total.groundTruth}), false positives ${total.falsePositives}, median keypoint error ${medianOf(total.landmarkErrors).toFixed(3)} x box width`);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    expect(total.falsePositives).toBeLessThanOrEqual(2);
    // Its keypoints are in the same (ArcFace) order as SCRFD's: a swapped order would be off by ~0.4 box width.
    expect(medianOf(total.landmarkErrors)).toBeLessThan(0.15);
  });

  it('score threshold sweep: recall and false positives only fall as the threshold rises (prints the table)', async () => {
    // NMS keeps a face only when no higher-scored face overlaps it, so faces >= t from a run at 0.5 are exactly a run at t.
    const runs = [];
    for (const a of humanAnnotated()) runs.push({ a, faces: await det.detect(await decodeImage(facePath(a.path)), { scoreThreshold: 0.5 }) });
    let prev = { recall: Infinity, fp: Infinity };
    for (const t of [0.5, 0.6, 0.7, 0.8, 0.9]) {
      const total = sum(runs.map(({ a, faces }) => matchFaces(faces.filter((f) => f.score >= t), a.faces)));
      const recall = total.truePositives / total.groundTruth;
      console.log(`yunet score >= ${t}: recall ${recall.toFixed(3)}, false positives ${total.falsePositives}`);
      expect(recall).toBeLessThanOrEqual(prev.recall);
      expect(total.falsePositives).toBeLessThanOrEqual(prev.fp);
      prev = { recall, fp: total.falsePositives };
    }
  });

  it('gives keypoints in template order: image-left eye first, eyes above nose above mouth', async () => {
    const faces = await det.detect(await decodeImage(facePath('groups/dlib__2008_002470.jpg')));
    expect(faces.length).toBeGreaterThan(3);
    for (const f of faces) {
      expectTemplateOrder(f);
      expect(f.score).toBeGreaterThanOrEqual(YUNET_SCORE_THRESHOLD);
      expect(f.score).toBeLessThanOrEqual(1);
    }
  });

  it('applies a per-call score threshold', async () => {
    const img = await decodeImage(facePath('groups/dlib__2008_007676.jpg'));
    const loose = await det.detect(img, { scoreThreshold: 0.5 });
    const strict = await det.detect(img, { scoreThreshold: 0.9 });
    expect(strict.length).toBeLessThanOrEqual(loose.length);
    for (const f of strict) expect(f.score).toBeGreaterThanOrEqual(0.9);
  });
});
