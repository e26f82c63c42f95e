import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import { boxWidth } from '../../src/core/geometry.js';
import type { RgbImage } from '../../src/core/types.js';
import { decodeImage } from '../../src/image/image.js';
import { createDetector, planLetterbox } from '../../src/models/detector.js';
import { findModel, loadManifest, requireModel } from '../../src/models/manifest.js';
import type { Detector } from '../../src/models/types.js';
import { ANNOTATIONS, expectTemplateOrder, humanAnnotated, matchFaces, medianOf, sum } from '../helpers/detection.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

describe('planLetterbox (input size)', () => {
  it('auto keeps a small image at its own size, rounded up to a multiple of 32, never upscaled', () => {
    const p = planLetterbox(250, 250);
    expect(p).toMatchObject({ inputWidth: 256, inputHeight: 256, resizedWidth: 250, resizedHeight: 250, scale: 1 });
    const q = planLetterbox(150, 97);
    expect(q).toMatchObject({ inputWidth: 160, inputHeight: 128, scale: 1 });
  });

  it('auto downscales a large image to 640 on its longer side', () => {
    const p = planLetterbox(4352, 2903);
    expect(p.resizedWidth).toBe(640);
    expect(p.inputWidth).toBe(640);
    expect(p.inputHeight % 32).toBe(0);
    expect(p.inputHeight).toBeGreaterThanOrEqual(p.resizedHeight);
    expect(p.scale).toBeCloseTo(640 / 4352, 6);
  });

  it('a fixed size fits the image inside, scaling up or down and keeping the aspect ratio', () => {
    const up = planLetterbox(250, 250, 640);
    expect(up).toMatchObject({ inputWidth: 640, inputHeight: 640, resizedWidth: 640, resizedHeight: 640 });
    const wide = planLetterbox(1000, 500, [320, 320]);
    expect(wide).toMatchObject({ resizedWidth: 320, resizedHeight: 160, scale: 0.32 });
  });

  it('rejects sizes that are not multiples of 32 with CONFIG_INVALID', () => {
    for (const bad of [100, 0, [320, 250] as [number, number]]) {
      expect(() => planLetterbox(250, 250, bad)).toThrowError(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});

describe.skipIf(!have(ANNOTATIONS, `${MODELS_DIR}/det_500m.onnx`))('SCRFD det_500m on real photos', () => {
  let det: Detector;
  const images = new Map<string, RgbImage>();

  beforeAll(async () => {
    const entry = findModel(loadManifest(), 'det_500m');
    det = await createDetector(entry, await requireModel(MODELS_DIR, entry), { intraOpThreads: 1 });
    for (const a of humanAnnotated()) images.set(a.path, await decodeImage(facePath(a.path)));
  });
  afterAll(() => det?.close());

  it('finds >= 90% of the human-annotated faces at IoU >= 0.4 with default settings', async () => {
    const annotated = humanAnnotated();
    expect(annotated.length).toBe(9);
    const results = [];
    for (const a of annotated) results.push(matchFaces(await det.detect(images.get(a.path)!), a.faces));
    const total = sum(results);
    const recall = total.truePositives / total.groundTruth;
    console.log(`det_500m defaults: recall ${recall.toFixed(3)} (${total.truePositives}/${total.groundTruth}), false positives ${total.falsePositives}, median keypoint error ${medianOf(total.landmarkErrors).toFixed(3)} x box width`);
    expect(total.groundTruth).toBe(43);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    // Keypoints in template order land near the annotated ones (a swapped or mis-scaled decode is off by ~0.4 box).
    expect(medianOf(total.landmarkErrors)).toBeLessThan(0.12);
  });

  it('keeps the recall at a fixed 640 input, with the calls in flight together (no shared-buffer race)', async () => {
    const total = sum(await Promise.all(humanAnnotated().map(async (a) => matchFaces(await det.detect(images.get(a.path)!, { inputSize: 640 }), a.faces))));
    console.log(`det_500m at 640: recall ${(total.truePositives / total.groundTruth).toFixed(3)}, false positives ${total.falsePositives}`);
    expect(total.truePositives / total.groundTruth).toBeGreaterThanOrEqual(0.9);
  });

  it('returns faces in image pixels with the eyes above the mouth and the image-left eye first', async () => {
    const faces = await det.detect(images.get('groups/dlib__2008_002470.jpg')!);
    expect(faces.length).toBeGreaterThan(0);
    for (const f of faces) {
      expectTemplateOrder(f);
      expect(f.box.x1).toBeGreaterThanOrEqual(0);
      expect(f.box.y2).toBeLessThanOrEqual(images.get('groups/dlib__2008_002470.jpg')!.height);
      expect(f.score).toBeGreaterThanOrEqual(0.5);
    }
    for (let i = 1; i < faces.length; i++) expect(faces[i]!.score).toBeLessThanOrEqual(faces[i - 1]!.score);
  });

  it('maxFaces keeps that many of the faces, minFacePx drops the narrow ones', async () => {
    const img = images.get('groups/dlib__2007_007763.jpg')!;
    const all = await det.detect(img);
    expect(all.length).toBeGreaterThan(3);
    const top = await det.detect(img, { maxFaces: 3 });
    expect(top).toHaveLength(3);
    for (const f of top) expect(all.some((g) => g.score === f.score && g.box.x1 === f.box.x1)).toBe(true);
    const widths = all.map((f) => boxWidth(f.box)).sort((a, b) => a - b);
    const cut = (widths[0]! + widths[widths.length - 1]!) / 2;
    const big = await det.detect(img, { minFacePx: cut });
    expect(big.length).toBe(widths.filter((w) => w >= cut).length);
    expect(big.length).toBeLessThan(all.length);
  });

  it('a higher score threshold never adds faces', async () => {
    const img = images.get('groups/dlib__2008_007676.jpg')!;
    const loose = await det.detect(img, { scoreThreshold: 0.3 });
    const strict = await det.detect(img, { scoreThreshold: 0.8 });
    expect(strict.length).toBeLessThanOrEqual(loose.length);
    for (const f of strict) expect(f.score).toBeGreaterThanOrEqual(0.8);
  });

  it('rejects bad per-call options with CONFIG_INVALID', async () => {
    const img = images.get('groups/dlib__2008_007676.jpg')!;
    await expect(det.detect(img, { scoreThreshold: 2 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(det.detect(img, { inputSize: 100 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
  });
});
