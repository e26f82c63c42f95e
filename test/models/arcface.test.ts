import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rocAuc } from '../../src/core/roc.js';
import type { RgbImage } from '../../src/core/types.js';
import { dot, norm } from '../../src/core/vector.js';
import { decodeImage } from '../../src/image/image.js';
import { findModel, loadManifest, requireModel, type ModelEntry } from '../../src/models/manifest.js';
import { createRecognizer } from '../../src/models/recognizer.js';
import type { Recognizer } from '../../src/models/types.js';
import { FACES, MODELS_DIR, facePath, have } from '../helpers/shared.js';

const manifest = loadManifest();
const FACEPLUGIN = findModel(manifest, 'mobilefacenet512_faceplugin');
const MFN128 = findModel(manifest, 'mobilefacenet128');
const IDENTITIES = join(FACES, 'identities');
const SESSION = { intraOpThreads: 1 };

function mirror(img: RgbImage): RgbImage {
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      const d = (y * img.width + (img.width - 1 - x)) * 3;
      data[d] = img.data[s]!;
      data[d + 1] = img.data[s + 1]!;
      data[d + 2] = img.data[s + 2]!;
    }
  }
  return { ...img, data };
}

/**
 * A copy of a batch-fixed recognizer with a dynamic batch dimension, as InsightFace's exports have: the input and
 * output batch become symbolic and the final Reshape's [1, -1] becomes [-1, embeddingSize].
 */
function dynamicBatchCopy(src: string, embeddingSize: number, dst: string): void {
  const { onnx } = onnxProto;
  const m = onnx.ModelProto.decode(readFileSync(src));
  const g = m.graph!;
  for (const v of [...g.input!, ...g.output!]) v.type!.tensorType!.shape!.dim![0] = { dimParam: 'N' };
  g.valueInfo = [];
  const reshape = g.node!.find((n) => n.opType === 'Reshape')!;
  const name = reshape.input![1]!;
  const t = g.initializer!.find((i) => i.name === name) ?? g.node!.find((n) => n.output!.includes(name))!.attribute!.find((a) => a.name === 'value')!.t!;
  const shape = new BigInt64Array([-1n, BigInt(embeddingSize)]);
  t.rawData = new Uint8Array(shape.buffer);
  t.int64Data = [];
  writeFileSync(dst, onnx.ModelProto.encode(m).finish());
}

/** Glint360k crops (already ArcFace-aligned 112x112): `perIdentity` images of each of the first `ids` identities. */
async function glintCrops(ids: number, perIdentity: number): Promise<{ id: string; img: RgbImage }[]> {
  const dirs = readdirSync(IDENTITIES).filter((d) => d.startsWith('glint360k__')).sort().slice(0, ids);
  const out: { id: string; img: RgbImage }[] = [];
  for (const d of dirs) {
    const files = readdirSync(join(IDENTITIES, d)).sort().slice(0, perIdentity);
    for (const f of files) out.push({ id: d, img: await decodeImage(join(IDENTITIES, d, f)) });
  }
  return out;
}

describe.skipIf(!have(join(MODELS_DIR, FACEPLUGIN.file), join(MODELS_DIR, MFN128.file), facePath('identities/glint360k__Tom_Hanks')))(
  'ArcFace recognizers on aligned Glint360k crops',
  () => {
    let crops: { id: string; img: RgbImage }[];
    const loaded: Recognizer[] = [];
    beforeAll(async () => {
      crops = await glintCrops(12, 6);
    });
    afterAll(async () => {
      await Promise.all(loaded.map((r) => r.close()));
    });
    async function load(entry: ModelEntry): Promise<Recognizer> {
      const r = await createRecognizer(entry, await requireModel(MODELS_DIR, entry), SESSION);
      loaded.push(r);
      return r;
    }

    for (const entry of [FACEPLUGIN, MFN128]) {
      it(`${entry.id}: unit embeddings of the manifest size; same identity scores above different identities`, async () => {
        const rec = await load(entry);
        expect(rec.embeddingSize).toBe(entry.embeddingSize);
        const res = await rec.embedAligned(crops.map((c) => c.img));
        expect(res).toHaveLength(crops.length);
        for (const r of res) {
          expect(r.embedding).toHaveLength(entry.embeddingSize!);
          expect(norm(r.embedding)).toBeCloseTo(1, 5);
          expect(Number.isFinite(r.rawNorm) && r.rawNorm > 0).toBe(true);
        }
        const scores: number[] = [];
        const labels: boolean[] = [];
        let sameSum = 0;
        let diffSum = 0;
        let nearestRight = 0;
        for (let i = 0; i < crops.length; i++) {
          let best = -2;
          let bestJ = -1;
          for (let j = 0; j < crops.length; j++) {
            if (j === i) continue;
            const s = dot(res[i]!.embedding, res[j]!.embedding);
            if (s > best) [best, bestJ] = [s, j];
            if (j > i) {
              const same = crops[i]!.id === crops[j]!.id;
              scores.push(s);
              labels.push(same);
              if (same) sameSum += s;
              else diffSum += s;
            }
          }
          if (crops[bestJ]!.id === crops[i]!.id) nearestRight++;
        }
        const nSame = labels.filter(Boolean).length;
        const meanSame = sameSum / nSame;
        const meanDiff = diffSum / (labels.length - nSame);
        const auc = rocAuc(scores, labels);
        const rank1 = nearestRight / crops.length;
        console.log(`${entry.id}: ${nSame} same / ${labels.length - nSame} different pairs, mean similarity ${meanSame.toFixed(3)} vs ${meanDiff.toFixed(3)}, AUC ${auc.toFixed(4)}, nearest neighbour same identity ${rank1.toFixed(3)}`);
        // Measured on all 24 x 20 crops: AUC 0.996 (faceplugin, BGR) and 0.991 (128-d, RGB).
        expect(meanSame - meanDiff).toBeGreaterThan(0.3);
        expect(auc).toBeGreaterThan(0.97);
        expect(rank1).toBeGreaterThan(0.9);
      });
    }

    it('flip fusion sums the raw outputs of the crop and its mirror, then normalises', async () => {
      const rec = await load(FACEPLUGIN);
      const sample = crops.slice(0, 6).map((c) => c.img);
      const plain = await rec.embedAligned(sample);
      const mirrored = await rec.embedAligned(sample.map(mirror));
      const fused = await rec.embedAligned(sample, { flip: true });
      const fusedOfMirror = await rec.embedAligned(sample.map(mirror), { flip: true });
      for (let i = 0; i < sample.length; i++) {
        // Raw output = unit embedding x raw norm; the fusion must be the normalised sum of the two raw outputs.
        const sum = plain[i]!.embedding.map((v, k) => v * plain[i]!.rawNorm + mirrored[i]!.embedding[k]! * mirrored[i]!.rawNorm);
        const n = norm(sum);
        for (let k = 0; k < sum.length; k++) expect(Math.abs(fused[i]!.embedding[k]! - sum[k]! / n)).toBeLessThan(1e-5);
        expect(norm(fused[i]!.embedding)).toBeCloseTo(1, 5);
        expect(fused[i]!.rawNorm).toBeCloseTo((plain[i]!.rawNorm + mirrored[i]!.rawNorm) / 2, 3);
        // Symmetric: fusing the mirror gives the same vector; and fusion really changes the embedding.
        expect(dot(fused[i]!.embedding, fusedOfMirror[i]!.embedding)).toBeGreaterThan(1 - 1e-5);
        expect(dot(fused[i]!.embedding, plain[i]!.embedding)).toBeLessThan(0.9999);
        expect(dot(fused[i]!.embedding, plain[i]!.embedding)).toBeGreaterThan(0.7);
      }
    });

    it('gives each crop the same embedding whether embedded alone or with others', async () => {
      const rec = await load(MFN128);
      const sample = crops.slice(0, 4).map((c) => c.img);
      const together = await rec.embedAligned(sample);
      for (let i = 0; i < sample.length; i++) {
        const [alone] = await rec.embedAligned([sample[i]!]);
        expect(dot(alone!.embedding, together[i]!.embedding)).toBeGreaterThan(1 - 1e-6);
      }
      expect(await rec.embedAligned([])).toEqual([]);
    });

    it('batches crops (and their mirrors) when the model batch dimension is dynamic, with the same embeddings', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'facegate-arcface-'));
      try {
        const dynPath = join(dir, 'mfn128-dynamic.onnx');
        dynamicBatchCopy(join(MODELS_DIR, MFN128.file), 128, dynPath);
        const fixed = await load(MFN128);
        const dyn = await createRecognizer(MFN128, dynPath, SESSION, { maxBatch: 4 });
        loaded.push(dyn);
        expect((fixed as unknown as { batchSize: number }).batchSize).toBe(1);
        expect((dyn as unknown as { batchSize: number }).batchSize).toBe(4);
        // 10 crops: batches of 4, 4 and 2; with flip, 20 items in 5 batches.
        const sample = crops.slice(0, 10).map((c) => c.img);
        for (const flip of [false, true]) {
          const a = await fixed.embedAligned(sample, { flip });
          const b = await dyn.embedAligned(sample, { flip });
          for (let i = 0; i < sample.length; i++) {
            expect(dot(a[i]!.embedding, b[i]!.embedding)).toBeGreaterThan(1 - 1e-5);
            expect(b[i]!.rawNorm).toBeCloseTo(a[i]!.rawNorm, 3);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('rejects a crop of the wrong size with CONFIG_INVALID', async () => {
      const rec = await load(MFN128);
      const small: RgbImage = { data: new Uint8Array(100 * 100 * 3), width: 100, height: 100, channels: 3 };
      await expect(rec.embedAligned([small])).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    });
  },
);

describe.skipIf(!have(join(MODELS_DIR, MFN128.file)))('recognizer construction checks the model against its manifest entry', () => {
  const path = join(MODELS_DIR, MFN128.file);
  it('MODEL_INCOMPATIBLE when the manifest input name is not a model input', async () => {
    const entry = { ...MFN128, input: { ...MFN128.input, name: 'input.1' } };
    await expect(createRecognizer(entry, path, SESSION)).rejects.toMatchObject({ code: 'MODEL_INCOMPATIBLE', message: expect.stringContaining('input.1') });
  });
  it('MODEL_INCOMPATIBLE when the embedding length differs from the manifest', async () => {
    const entry = { ...MFN128, embeddingSize: 512 };
    await expect(createRecognizer(entry, path, SESSION)).rejects.toMatchObject({ code: 'MODEL_INCOMPATIBLE', details: { expected: 512, actual: 128 } });
  });
  it('MODEL_INCOMPATIBLE when the manifest input size differs from the model', async () => {
    const entry = { ...MFN128, input: { ...MFN128.input, size: [128, 128] as [number, number] } };
    await expect(createRecognizer(entry, path, SESSION)).rejects.toMatchObject({ code: 'MODEL_INCOMPATIBLE' });
  });
  it('MODEL_INCOMPATIBLE for a detector entry', async () => {
    await expect(createRecognizer(findModel(manifest, 'det_500m'), path, SESSION)).rejects.toMatchObject({ code: 'MODEL_INCOMPATIBLE' });
  });
});
