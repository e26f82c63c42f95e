import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceGateError, isFaceGateError } from '../src/core/errors.js';
import { cosineSimilarity, norm } from '../src/core/vector.js';
import { createEngine, createTimings, FALLBACK_THRESHOLD, type Engine } from '../src/engine.js';
import { decodeImage } from '../src/image/image.js';
import { facePath, FACES, have, MODELS_DIR } from './helpers/shared.js';

const PAIRS = facePath('pairs/dev-pairs.csv');
const GLINT = ['glint360k__Barack_Obama', 'glint360k__Daniel_Radcliffe', 'glint360k__Drew_Barrymore'].map((d) => facePath(`identities/${d}`));

/** The deepface pairs of dev-pairs.csv (real photos of all sizes; the LFW rows are H2's eval). */
function deepfacePairs(): { same: boolean; a: string; b: string }[] {
  return readFileSync(PAIRS, 'utf8')
    .split(/\r?\n/)
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => l.split(','))
    .filter((r) => r[3]!.startsWith('deepface'))
    .map((r) => ({ same: r[0] === 'same', a: r[1]!, b: r[2]! }));
}

/** ROC AUC: the probability that a same pair scores above a different pair. */
function auc(same: number[], diff: number[]): number {
  let wins = 0;
  for (const s of same) for (const d of diff) wins += s > d ? 1 : s === d ? 0.5 : 0;
  return wins / (same.length * diff.length);
}

describe.skipIf(!have(PAIRS, join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx'), ...GLINT))('engine on real models and photos', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ intraOpThreads: 2 });
  });
  afterAll(() => engine?.close());

  it('reports its models, embedding size and threshold', () => {
    expect(engine.detectorId).toBe('det_500m');
    expect(engine.recognizerId).toBe('mobilefacenet512_faceplugin');
    expect(engine.embeddingSize).toBe(512);
    expect(engine.threshold).toBe(engine.recommendedThreshold ?? FALLBACK_THRESHOLD);
  });

  it('separates same and different people on the deepface pairs (AUC >= 0.97, no pair lost to an undetected face)', async () => {
    const pairs = deepfacePairs();
    expect(pairs.length).toBeGreaterThan(500);
    const cache = new Map<string, Float32Array>();
    const embed = async (p: string): Promise<Float32Array> => {
      let e = cache.get(p);
      if (!e) {
        const [f] = await engine.embedImage(join(FACES, p));
        expect(f, `no face in ${p}`).toBeDefined();
        e = f!.embedding;
        expect(e.length).toBe(512);
        expect(norm(e)).toBeCloseTo(1, 5);
        expect(f!.rawNorm).toBeGreaterThan(0);
        cache.set(p, e);
      }
      return e;
    };
    const same: number[] = [];
    const diff: number[] = [];
    for (const p of pairs) (p.same ? same : diff).push(cosineSimilarity(await embed(p.a), await embed(p.b)));
    const accuracy = (same.filter((s) => s >= engine.threshold).length + diff.filter((d) => d < engine.threshold).length) / pairs.length;
    const a = auc(same, diff);
    console.log(`deepface pairs: ${pairs.length} pairs over ${cache.size} images, AUC ${a.toFixed(4)}, accuracy ${accuracy.toFixed(4)} at threshold ${engine.threshold}`);
    expect(a).toBeGreaterThanOrEqual(0.97);
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('embeds already-aligned 112x112 crops directly: the same identity is closer than another one', async () => {
    const crops = GLINT.map((d) => readdirSync(d).sort().slice(0, 4).map((f) => join(d, f)));
    const embs = await Promise.all(crops.map((files) => Promise.all(files.map(async (f) => (await engine.embedAligned(f)).embedding))));
    const within: number[] = [];
    const across: number[] = [];
    for (let i = 0; i < embs.length; i++)
      for (let j = i; j < embs.length; j++)
        for (let a = 0; a < embs[i]!.length; a++)
          for (let b = 0; b < embs[j]!.length; b++) {
            if (i === j && b <= a) continue;
            (i === j ? within : across).push(cosineSimilarity(embs[i]![a]!, embs[j]![b]!));
          }
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    console.log(`glint crops: mean similarity within identity ${mean(within).toFixed(3)}, across ${mean(across).toFixed(3)}`);
    expect(mean(within)).toBeGreaterThan(mean(across) + 0.3);
  });

  it('verify says same for two photos of one person and different for two people', async () => {
    const same = await engine.verify(facePath('identities/deepface__g01_Angelina/img1.jpg'), facePath('identities/deepface__g01_Angelina/img2.jpg'));
    const diff = await engine.verify(facePath('identities/deepface__g01_Angelina/img1.jpg'), facePath('identities/deepface__g06_Elon/img18.jpg'));
    expect(same.same).toBe(true);
    expect(diff.same).toBe(false);
    expect(same.similarity).toBeGreaterThan(diff.similarity);
    expect(same.threshold).toBe(engine.threshold);
    const strict = await engine.verify(facePath('identities/deepface__g01_Angelina/img1.jpg'), facePath('identities/deepface__g01_Angelina/img2.jpg'), { threshold: 0.999 });
    expect(strict.same).toBe(false);
  });

  it('verify of an image without a face is NO_FACE naming it', async () => {
    const nonface = facePath('quality/nonface/dlib__eagle.jpg');
    const e = await engine.verify(facePath('identities/deepface__g01_Angelina/img1.jpg'), nonface).catch((x: unknown) => x);
    expect(isFaceGateError(e, 'NO_FACE')).toBe(true);
    expect((e as FaceGateError).message).toContain(nonface);
  });

  it('takes a path, encoded bytes or a decoded image alike, and fills per-stage timings', async () => {
    const path = facePath('groups/dlib__2008_002470.jpg');
    const timings = createTimings();
    const fromPath = await engine.detect(path, { timings });
    const fromBytes = await engine.detect(readFileSync(path));
    const fromImage = await engine.detect(await decodeImage(path));
    expect(fromBytes).toEqual(fromPath);
    expect(fromImage).toEqual(fromPath);
    expect(timings.decodeMs).toBeGreaterThan(0);
    expect(timings.detectMs).toBeGreaterThan(0);
    const all = await engine.embedImage(path, { face: 'all', timings, keepCrops: true });
    expect(all.length).toBe(fromPath.length);
    expect(timings.alignMs).toBeGreaterThan(0);
    expect(timings.embedMs).toBeGreaterThan(0);
    for (const f of all) expect(f.aligned).toMatchObject({ width: 112, height: 112 });
  });

  it('selects the largest or the most central face, and flip fusion stays close to the plain embedding', async () => {
    const path = facePath('groups/dlib__2008_001322.jpg');
    const all = await engine.embedImage(path, { face: 'all' });
    expect(all.length).toBeGreaterThan(1);
    const [largest] = await engine.embedImage(path, { face: 'largest' });
    const area = (f: (typeof all)[number]) => (f.face.box.x2 - f.face.box.x1) * (f.face.box.y2 - f.face.box.y1);
    expect(area(largest!)).toBe(Math.max(...all.map(area)));
    const [center] = await engine.embedImage(path, { face: 'center' });
    expect(all.map((f) => f.face)).toContainEqual(center!.face);
    const [flipped] = await engine.embedImage(path, { face: 'largest', flip: true });
    const sim = cosineSimilarity(flipped!.embedding, largest!.embedding);
    expect(sim).toBeGreaterThan(0.9);
    expect(sim).toBeLessThan(1 - 1e-6);
  });

  it('bad input is a coded error, never a crash', async () => {
    await expect(engine.embedAligned(facePath('groups/dlib__2008_001322.jpg'))).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(engine.detect('/no/such/file.jpg')).rejects.toSatisfy((e) => isFaceGateError(e, 'FILE_NOT_FOUND'));
    await expect(engine.detect(new Uint8Array([1, 2, 3]))).rejects.toSatisfy((e) => isFaceGateError(e, 'IMAGE_DECODE_FAILED'));
    await expect(engine.embedImage(facePath('groups/dlib__2008_001322.jpg'), { face: 'biggest' as never })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
  });
});

describe.skipIf(!have(join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx')))('engine lifecycle', () => {
  it('runs YuNet with another recognizer, and refuses use after close()', async () => {
    const engine = await createEngine({ detector: 'yunet', recognizer: 'mobilefacenet128', intraOpThreads: 1 });
    expect(engine.embeddingSize).toBe(128);
    const [f] = await engine.embedImage(facePath('identities/deepface__g06_Elon/img18.jpg'));
    expect(f!.embedding.length).toBe(128);
    await engine.close();
    await engine.close(); // idempotent
    await expect(engine.detect(facePath('identities/deepface__g06_Elon/img18.jpg'))).rejects.toSatisfy((e) => isFaceGateError(e, 'INTERNAL'));
  });

  it('maxPixels limits what is decoded (IMAGE_TOO_LARGE from the header, before decoding)', async () => {
    const engine = await createEngine({ maxPixels: 100_000, intraOpThreads: 1 });
    try {
      const e = await engine.detect(facePath('identities/deepface__g06_Elon/img18.jpg')).catch((x: unknown) => x);
      expect(isFaceGateError(e, 'IMAGE_TOO_LARGE')).toBe(true);
      expect((await engine.detect(facePath('identities/faceapi-bbt__amy/amy1.png'))).length).toBe(1);
    } finally {
      await engine.close();
    }
  });

  it('rejects invalid options at construction', async () => {
    await expect(createEngine({ threshold: 3 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(createEngine({ detector: 'mobilefacenet128' })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(createEngine({ detect: { scoreThreshold: -1 }, intraOpThreads: 1 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(createEngine({ detect: { inputSize: 100 }, intraOpThreads: 1 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
    await expect(createEngine({ detector: 'yunet', detect: { inputSize: [320, 250] }, intraOpThreads: 1 })).rejects.toSatisfy((e) => isFaceGateError(e, 'CONFIG_INVALID'));
  });
});
