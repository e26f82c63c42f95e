import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import type { DetectedFace, Landmarks5, Point, RgbImage } from '../../src/core/types.js';
import { ARCFACE_TEMPLATE_112 } from '../../src/core/types.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { alignFace } from '../../src/face/align.js';
import {
  QUALITY_PRESETS,
  blurEffect,
  gateFace,
  measureFace,
  outsideShare,
  qualityScore,
  toGray,
  type QualityMeasures,
  type QualityPreset,
} from '../../src/face/quality.js';
import { blurImage, resizeImage } from '../../src/image/image.js';
import { assessFaces, resolveGateConfig } from '../../src/quality-check.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

/** Measures of a good face, to vary one field at a time. */
const GOOD: QualityMeasures = {
  boxWidthPx: 160,
  interOcularPx: 70,
  detScore: 0.85,
  yawDeg: 3,
  pitchDeg: -4,
  rollDeg: 1,
  laplacianVar: 800,
  blurEffect: 0.3,
  brightness: 130,
  clippedShare: 0,
  overexposedShare: 0,
  contrast: 40,
  occlusion: 0.02,
  truncatedShare: 0,
};

describe('gateFace (pure)', () => {
  it('passes a good face under both presets with a score in 0..1', () => {
    for (const preset of ['kiosk', 'passive'] as const) {
      const r = gateFace(GOOD, QUALITY_PRESETS[preset]);
      expect(r.pass).toBe(true);
      expect(r.reasons).toEqual([]);
      expect(r.score).toBeGreaterThan(0.4);
      expect(r.score).toBeLessThan(1);
    }
  });

  it('names each broken limit with its value and limit', () => {
    const k = QUALITY_PRESETS.kiosk;
    const cases: [Partial<QualityMeasures>, string, number][] = [
      [{ interOcularPx: 20 }, 'TOO_SMALL', k.minInterOcularPx],
      [{ detScore: 0.55 }, 'LOW_SCORE', k.minDetScore],
      [{ yawDeg: -50 }, 'POSE', k.maxYawDeg],
      [{ pitchDeg: 40 }, 'POSE', k.maxPitchDeg],
      [{ rollDeg: 60 }, 'POSE', k.maxRollDeg],
      [{ blurEffect: 0.7 }, 'BLUR', k.maxBlurEffect],
      [{ brightness: 30 }, 'DARK', k.minBrightness],
      [{ overexposedShare: 0.4 }, 'OVEREXPOSED', k.maxOverexposedShare],
      [{ occlusion: 0.5 }, 'OCCLUDED', k.maxOcclusion],
      [{ liveScore: 0.1 }, 'SPOOF', k.minLiveScore],
    ];
    for (const [change, code, limit] of cases) {
      const r = gateFace({ ...GOOD, ...change }, k);
      expect(r.pass, code).toBe(false);
      const reason = r.reasons.find((x) => x.code === code);
      expect(reason, code).toBeDefined();
      expect(reason!.limit).toBe(limit);
      expect(reason!.value).toBeCloseTo(Object.values(change)[0] as number, 3);
    }
  });

  it('passive is more lenient than kiosk on every limit', () => {
    const k = QUALITY_PRESETS.kiosk;
    const p = QUALITY_PRESETS.passive;
    expect(p.minInterOcularPx).toBeLessThan(k.minInterOcularPx);
    expect(p.maxYawDeg).toBeGreaterThan(k.maxYawDeg);
    expect(p.maxBlurEffect).toBeGreaterThan(k.maxBlurEffect);
    expect(p.maxOcclusion).toBeGreaterThan(k.maxOcclusion);
    expect(gateFace({ ...GOOD, yawDeg: 40, interOcularPx: 30 }, p).pass).toBe(true);
    expect(gateFace({ ...GOOD, yawDeg: 40, interOcularPx: 30 }, k).pass).toBe(false);
  });

  it('the score falls with every single degradation', () => {
    const s0 = qualityScore(GOOD);
    for (const change of [{ interOcularPx: 30 }, { detScore: 0.6 }, { yawDeg: 30 }, { pitchDeg: 30 }, { blurEffect: 0.5 }, { brightness: 50 }, { overexposedShare: 0.2 }, { occlusion: 0.3 }]) {
      expect(qualityScore({ ...GOOD, ...change }), JSON.stringify(change)).toBeLessThan(s0);
    }
  });

  it('rejects bad limits and presets with CONFIG_INVALID naming the field', () => {
    const bad = [
      () => resolveGateConfig({ preset: 'museum' as QualityPreset }),
      () => resolveGateConfig({ gate: { maxOcclusion: 1.5 } }),
      () => resolveGateConfig({ gate: { minInterOcularPx: -1 } }),
      () => resolveGateConfig({ gate: { maxYawDeg: Number.NaN } }),
    ];
    for (const f of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isFaceGateError(err, 'CONFIG_INVALID')).toBe(true);
    }
    expect(resolveGateConfig({ preset: 'passive', gate: { maxYawDeg: 20 } }).maxYawDeg).toBe(20);
  });
});

describe('image measures (pure)', () => {
  it('outsideShare is 0 for a face well inside the frame and grows as the face leaves it', () => {
    const lm = ARCFACE_TEMPLATE_112.map(([x, y]) => [x + 200, y + 200] as Point) as Landmarks5;
    expect(outsideShare(lm, 600, 600)).toBe(0);
    // The inner face spans template x 22..90: shifting the keypoints 232 px left puts its left edge 10 px outside.
    const shifted = (dx: number) => lm.map(([x, y]) => [x - dx, y] as Point) as Landmarks5;
    const a = outsideShare(shifted(232), 600, 600);
    const b = outsideShare(shifted(262), 600, 600);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
  });

  it('blurEffect is near 0 for noise and 1 for a flat image', () => {
    const n = 112 * 112;
    let seed = 7;
    const noise = new Float32Array(n).map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255);
    const region = { x1: 22, y1: 36, x2: 90, y2: 106 };
    expect(blurEffect(noise, 112, region)).toBeLessThan(0.2);
    expect(blurEffect(new Float32Array(n).fill(100), 112, region)).toBe(1);
  });
});

interface Row {
  path: string;
  category: string;
  expect: string;
}

function readIndex(): Row[] {
  const text = readFileSync(facePath('quality/index.csv'), 'utf8').trim().split('\n').slice(1);
  return text.map((line) => {
    const [path, category, expect] = line.split(',');
    return { path: path!, category: category!, expect: expect! };
  });
}

/** Categories whose every image must be rejected (no face found, or no face passing), and the clean category. */
const MUST_REJECT = ['nonface', 'artwork_cartoon', 'blur', 'occlusion_partial', 'tiny_25px'];
const CLEAN = 'clean_single_face';

describe.skipIf(!have(MODELS_DIR, facePath('quality/index.csv')))('quality gate on the real quality set', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ modelsDir: MODELS_DIR, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  /** An image is judged by the face the engine acts on by default: the largest. */
  async function outcome(img: RgbImage, preset: QualityPreset): Promise<'noface' | 'pass' | 'fail'> {
    const faces = await engine.detect(img);
    if (faces.length === 0) return 'noface';
    const largest = faces.reduce((a, b) => (b.box.x2 - b.box.x1 > a.box.x2 - a.box.x1 ? b : a));
    const [q] = await assessFaces(img, [largest], { preset });
    return q!.quality.pass ? 'pass' : 'fail';
  }

  it('rejects non-faces, blur, occlusion, tiny faces and artwork and passes clean faces (kiosk), with the confusion printed', async () => {
    const rows = readIndex();
    const table = new Map<string, Record<QualityPreset, { pass: number; fail: number; noface: number }>>();
    for (const row of rows) {
      const img = await engine.decode(facePath(row.path));
      const key = row.category === 'tiny_25px' ? `tiny_25px (${row.expect})` : row.category;
      if (!table.has(key)) table.set(key, { kiosk: { pass: 0, fail: 0, noface: 0 }, passive: { pass: 0, fail: 0, noface: 0 } });
      for (const preset of ['kiosk', 'passive'] as const) table.get(key)![preset][await outcome(img, preset)]++;
    }
    const lines = ['category                     | kiosk pass/fail/noface | passive pass/fail/noface'];
    for (const [k, v] of table) {
      lines.push(`${k.padEnd(28)} | ${`${v.kiosk.pass}/${v.kiosk.fail}/${v.kiosk.noface}`.padEnd(22)} | ${v.passive.pass}/${v.passive.fail}/${v.passive.noface}`);
    }
    console.log(lines.join('\n'));
    const rate = (keys: string[], preset: QualityPreset, what: 'pass' | 'reject') => {
      let n = 0;
      let hit = 0;
      for (const [k, v] of table) {
        if (!keys.some((c) => k.startsWith(c))) continue;
        const c = v[preset];
        n += c.pass + c.fail + c.noface;
        hit += what === 'pass' ? c.pass : c.fail + c.noface;
      }
      return hit / n;
    };
    // Floors measured on this set (det_500m, kiosk): every must-reject image is rejected, the clean face passes.
    for (const c of MUST_REJECT) expect(rate([c], 'kiosk', 'reject'), c).toBe(1);
    expect(rate([CLEAN], 'kiosk', 'pass')).toBeGreaterThanOrEqual(0.95);
    // passive is for cameras that must make do: it still rejects blur and tiny faces, most occlusion, and passes the clean face.
    for (const c of ['blur', 'tiny_25px']) expect(rate([c], 'passive', 'reject'), `passive ${c}`).toBe(1);
    expect(rate(['occlusion_partial'], 'passive', 'reject')).toBeGreaterThanOrEqual(0.8);
    expect(rate([CLEAN], 'passive', 'pass')).toBeGreaterThanOrEqual(0.95);
    // The same portrait at 480p..1080p passes both presets (240p is below kiosk's 40 px between the eyes).
    expect(rate(['resolution_ladder'], 'passive', 'pass')).toBe(1);
    expect(rate(['resolution_ladder'], 'kiosk', 'pass')).toBeGreaterThanOrEqual(0.8);
  });

  describe('monotonic on controlled degradations of real clean photos', () => {
    const PHOTOS = [
      'quality/clean_single_face/skimage__astronaut.png',
      'quality/resolution_ladder/face_recognition__obama-720p.jpg',
      'identities/face_recognition__biden/knn_train_biden_biden.jpg',
    ];

    /** Overall score of the largest face, 0 when none is found (the gate cannot pass what it cannot see). */
    async function scoreOf(img: RgbImage, fixed?: DetectedFace): Promise<number> {
      let face = fixed;
      if (!face) {
        const faces = await engine.detect(img);
        if (faces.length === 0) return 0;
        face = faces.reduce((a, b) => (b.box.x2 - b.box.x1 > a.box.x2 - a.box.x1 ? b : a));
      }
      return qualityScore(measureFace(img, face));
    }

    function withPatch(img: RgbImage, x1: number, y1: number, x2: number, y2: number): RgbImage {
      const data = new Uint8Array(img.data);
      for (let y = Math.max(0, Math.floor(y1)); y < Math.min(img.height, Math.ceil(y2)); y++) {
        data.fill(0, (y * img.width + Math.max(0, Math.floor(x1))) * 3, (y * img.width + Math.min(img.width, Math.ceil(x2))) * 3);
      }
      return { ...img, data };
    }

    function darker(img: RgbImage, k: number): RgbImage {
      return { ...img, data: img.data.map((v) => Math.round(v * k)) };
    }

    const steps = [0, 0.25, 0.5, 0.75, 1];

    function expectFalling(name: string, scores: number[]): void {
      console.log(`${name}: ${scores.map((s) => s.toFixed(3)).join(' > ')}`);
      for (let i = 1; i < scores.length; i++) expect(scores[i], `${name} step ${i}`).toBeLessThan(scores[i - 1]!);
    }

    it.each(PHOTOS)('%s', async (rel) => {
      if (!have(facePath(rel))) return;
      const img = await engine.decode(facePath(rel));
      const faces = await engine.detect(img);
      const face = faces.reduce((a, b) => (b.box.x2 - b.box.x1 > a.box.x2 - a.box.x1 ? b : a));
      const [le, re, , lm, rm] = face.landmarks;
      const iod = Math.hypot(re[0] - le[0], re[1] - le[1]);
      const name = rel.split('/').pop()!;

      // Gaussian blur, sigma in units of a tenth of the eye distance, re-detected each time.
      const blurScores: number[] = [];
      for (const k of [0, 0.5, 1, 1.5, 2.5]) blurScores.push(await scoreOf(await blurImage(img, (k * iod) / 10)));
      expectFalling(`${name} blur`, blurScores);

      // Downscale of the whole photo by halves while the eyes stay at least 9 px apart, re-detected each time.
      const sizeScores: number[] = [];
      for (let s = 1; iod * s >= 9; s /= 2) {
        sizeScores.push(await scoreOf(await resizeImage(img, Math.round(img.width * s), Math.round(img.height * s))));
      }
      expect(sizeScores.length).toBeGreaterThanOrEqual(3);
      expectFalling(`${name} downscale`, sizeScores);

      // A black patch sliding in from the image-left over both eyes, and over the mouth. The detection of the clean
      // photo is kept (a tracker keeps the face), so the image measures are what is tested.
      const eyeY = (le[1] + re[1]) / 2;
      const ex1 = le[0] - 0.3 * iod;
      const ex2 = re[0] + 0.3 * iod;
      const eyeScores: number[] = [];
      for (const f of steps) eyeScores.push(await scoreOf(withPatch(img, ex1, eyeY - 0.3 * iod, ex1 + f * (ex2 - ex1), eyeY + 0.3 * iod), face));
      expectFalling(`${name} eye patch`, eyeScores);
      const mouthY = (lm[1] + rm[1]) / 2;
      const mx1 = lm[0] - 0.15 * iod;
      const mx2 = rm[0] + 0.15 * iod;
      const mouthScores: number[] = [];
      for (const f of steps) mouthScores.push(await scoreOf(withPatch(img, mx1, mouthY - 0.3 * iod, mx1 + f * (mx2 - mx1), mouthY + 0.3 * iod), face));
      expectFalling(`${name} mouth patch`, mouthScores);

      // Brightness scaled down (same detection: a dimmer frame of the same scene).
      const lightScores: number[] = [];
      for (const k of [1, 0.6, 0.35, 0.2, 0.1]) lightScores.push(await scoreOf(darker(img, k), face));
      expectFalling(`${name} brightness`, lightScores);
    });
  });

  it('uses the aligned crop and raw norm from the engine when given, and measures the same', async () => {
    const img = await engine.decode(facePath('quality/clean_single_face/skimage__astronaut.png'));
    const faces = await engine.detect(img);
    const [e] = await engine.embedFaces(img, faces.slice(0, 1), { keepCrops: true });
    const [viaEngine] = await assessFaces(img, [{ face: e!.face, aligned: e!.aligned!, rawNorm: e!.rawNorm }]);
    const [alone] = await assessFaces(img, [faces[0]!]);
    expect(viaEngine!.measures.embeddingNorm).toBeCloseTo(e!.rawNorm, 6);
    expect(viaEngine!.measures.blurEffect).toBeCloseTo(alone!.measures.blurEffect, 6);
    expect(viaEngine!.quality).toEqual(alone!.quality);
    // Same crop as alignFace makes: the measures are of the recognizer's input.
    const crop = alignFace(img, faces[0]!.landmarks, 112).crop;
    expect(toGray(crop)).toEqual(toGray(e!.aligned!));
  });
});
