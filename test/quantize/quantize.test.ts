/**
 * The INT8 quantiser on the real models: small calibration sets (CI speed), outputs under os.tmpdir(), and the
 * built-in validation gates of the issue asserted on held-back data the calibration never saw.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import { defaultSplit, quantizeEntry, readAnnotations, readPairs } from '../../src/quantize-models.js';
import { DT, decodeModel, encodeModel, onnx, toNum } from '../../src/quantize/onnx-graph.js';
import { quantizeModel } from '../../src/quantize/quantize.js';
import { activationParams, nameNodes, quantizeWeightPerChannel } from '../../src/quantize/qdq.js';
import { decomposePRelu } from '../../src/quantize/prelu.js';
import { createSession } from '../../src/runtime/onnx.js';
import { decodeImage } from '../../src/image/image.js';
import { cosineSimilarity } from '../../src/core/vector.js';
import { resolvePrecision } from '../../src/quantize/precision.js';
import { findModel, loadManifest } from '../../src/models/manifest.js';
import { FACES, MODELS_DIR, have } from '../helpers/shared.js';

const WORK = mkdtempSync(join(tmpdir(), 'facegate-quantize-test-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

/** Every k-th item, so a small subset still spans all sources/identities. */
function spread<T>(items: readonly T[], count: number): T[] {
  const step = Math.max(1, items.length / count);
  return Array.from({ length: Math.min(count, items.length) }, (_, i) => items[Math.floor(i * step)]!);
}

describe('quantisation maths (onnxruntime quant_utils formulas)', () => {
  it('asymmetric activations map the calibrated range onto the full type range with zero exact', () => {
    for (const type of ['int8', 'uint8'] as const) {
      const { scale, zeroPoint } = activationParams(-1, 3, false, type);
      const [qmin, qmax] = type === 'int8' ? [-128, 127] : [0, 255];
      expect(scale).toBeCloseTo(4 / 255, 7);
      // -1 and 3 land on the ends of the range; 0 is an integer code.
      expect(Math.round(-1 / scale) + zeroPoint).toBe(qmin);
      expect(Math.round(3 / scale) + zeroPoint).toBe(qmax);
    }
    const relu = activationParams(0, 6, false, 'int8');
    expect(relu.zeroPoint).toBe(-128);
  });

  it('symmetric (TensorRT) activations have zero point 0 and cover max |x|', () => {
    const p = activationParams(-0.5, 2, true);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale * 127).toBeCloseTo(2, 6);
  });

  it('per-channel weights: each output channel uses its own max |w|, dequantised error within half a step', () => {
    const w = Float32Array.from([0.1, -0.2, 0.05, 0.4, 10, -3, 2.5, 7]);
    const { q, scales } = quantizeWeightPerChannel(w, [2, 4], 0);
    expect(scales[0]! * 127).toBeCloseTo(0.4, 6);
    expect(scales[1]! * 127).toBeCloseTo(10, 5);
    for (let i = 0; i < w.length; i++) {
      const s = scales[Math.floor(i / 4)]!;
      expect(Math.abs(q[i]! * s - w[i]!)).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
  });
});

describe.skipIf(!have(MODELS_DIR, FACES))('INT8 quantisation of real models', () => {
  const split = () => defaultSplit(FACES);

  it('det_500m (cpu): same detections on held-back photos, recall on annotated photos kept, smaller file', async () => {
    const s = split();
    const out = join(WORK, 'det_500m.int8.cpu.onnx');
    const r = await quantizeEntry({
      modelId: 'det_500m',
      modelsDir: MODELS_DIR,
      outputPath: out,
      calibrationImages: spread(s.detCalibration, 8),
      validationImages: s.detValidation,
      annotated: readAnnotations(FACES),
      threads: 1,
    });
    // No held-back image was used for calibration.
    expect(s.detCalibration.some((p) => s.detValidation.includes(p))).toBe(false);
    expect(r.validation.detection!.matchedImages).toBe(r.validation.detection!.images);
    expect(r.validation.detection!.minIou).toBeGreaterThanOrEqual(0.9);
    expect(r.validation.detection!.fp32Faces).toBeGreaterThan(20);
    expect(r.validation.recall!.fp32 - r.validation.recall!.int8).toBeLessThanOrEqual(0.02);
    expect(r.report.outputBytes).toBeLessThan(r.report.sourceBytes / 2);
    // Every conv that is not an output head runs on int8 weights; the model records where it came from.
    expect(r.report.quantizedNodes).toBeGreaterThan(40);
    const m = decodeModel(readFileSync(out), out);
    expect(m.producerName).toBe('onnx.quantize');
    expect((m.graph!.node ?? []).some((n) => n.opType === 'QuantizeLinear')).toBe(true);
    const manifest = JSON.parse(readFileSync(join(WORK, 'manifest.json'), 'utf8'));
    expect(manifest.models[0].source.sha256).toBe(findModel(loadManifest(), 'det_500m').sha256);
    expect(manifest.models[0].sha256).toBe(r.report.outputSha256);
  }, 120_000);

  it('det_500m (trt): symmetric Q/DQ pairs on float weights, float bias, and it still passes the gates', async () => {
    const s = split();
    const out = join(WORK, 'trt', 'det_500m.int8.trt.onnx');
    await import('node:fs').then((fs) => fs.mkdirSync(join(WORK, 'trt'), { recursive: true }));
    const r = await quantizeEntry({
      modelId: 'det_500m',
      modelsDir: MODELS_DIR,
      outputPath: out,
      target: 'trt',
      calibrationImages: spread(s.detCalibration, 8),
      validationImages: s.detValidation,
      threads: 1,
    });
    expect(r.validation.detection!.matchedImages).toBe(r.validation.detection!.images);
    const g = decodeModel(readFileSync(out), out).graph!;
    const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
    const zeroPoints = (g.node ?? []).filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear').map((n) => inits.get(n.input![2]!)!);
    expect(zeroPoints.length).toBeGreaterThan(100);
    for (const z of zeroPoints) {
      expect(z.dataType).toBe(DT.INT8);
      expect([...(z.rawData ?? [])].every((b) => b === 0)).toBe(true);
    }
    // No int8/int32 weight or bias initializers: TensorRT gets float weights behind Q->DQ.
    expect((g.initializer ?? []).some((t) => t.dataType === DT.INT32)).toBe(false);
    // Each Q feeds exactly one DQ (no shared pairs).
    const consumers = new Map<string, number>();
    for (const n of g.node ?? []) for (const i of n.input ?? []) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    for (const n of g.node ?? []) if (n.opType === 'QuantizeLinear') expect(consumers.get(n.output![0]!)).toBe(1);
  }, 120_000);

  it('mobilefacenet512 (cpu): embedding cosine >= 0.99 on held-back identities and pair accuracy within 0.3 points', async () => {
    const s = split();
    const out = join(WORK, 'rec', 'mobilefacenet512_faceplugin.int8.cpu.onnx');
    await import('node:fs').then((fs) => fs.mkdirSync(join(WORK, 'rec'), { recursive: true }));
    const r = await quantizeEntry({
      modelId: 'mobilefacenet512_faceplugin',
      modelsDir: MODELS_DIR,
      outputPath: out,
      calibrationImages: spread(s.recCalibration, 128),
      validationImages: s.recValidation,
      // 400 pairs: one flipped pair is 0.25 points, inside the 0.3-point gate.
      pairs: readPairs(join(FACES, 'pairs', 'dev-pairs.csv'), FACES, 400),
      threads: 1,
    });
    const ids = (list: string[]) => new Set(list.map((p) => p.split('/').slice(-2)[0]));
    expect([...ids(s.recValidation)].some((id) => ids(s.recCalibration).has(id))).toBe(false);
    expect(r.validation.embedding!.meanCosine).toBeGreaterThanOrEqual(0.99);
    expect(r.validation.verification!.pairs).toBe(400);
    expect(r.validation.verification!.fp32AccuracyPct - r.validation.verification!.int8AccuracyPct).toBeLessThanOrEqual(0.3);
    // Smaller on disk even with the PRelu rewrite duplicating the weights of the convs before each PRelu.
    expect(r.report.outputBytes).toBeLessThan(r.report.sourceBytes * 0.7);
    expect(r.report.decomposedPRelu).toBeGreaterThan(20);

    // The engine's choice: int8 when this validated file is present, fp32 (with a reason) or an error otherwise.
    const entry = findModel(loadManifest(), 'mobilefacenet512_faceplugin');
    const fp32Path = join(MODELS_DIR, entry.file);
    const chosen = resolvePrecision(join(WORK, 'rec'), entry.id, fp32Path, entry.sha256, 'auto');
    expect(chosen).toMatchObject({ precision: 'int8', path: out });
    expect(resolvePrecision(join(WORK, 'rec'), entry.id, fp32Path, entry.sha256, 'fp32').path).toBe(fp32Path);
    const empty = join(WORK, 'none');
    expect(resolvePrecision(empty, entry.id, fp32Path, entry.sha256, 'auto')).toMatchObject({ precision: 'fp32', path: fp32Path });
    expect(() => resolvePrecision(empty, entry.id, fp32Path, entry.sha256, 'int8')).toThrow(/npm run quantize/);
    // A changed INT8 file is not trusted.
    writeFileSync(out, Buffer.concat([readFileSync(out), Buffer.from([0])]));
    expect(resolvePrecision(join(WORK, 'rec'), entry.id, fp32Path, entry.sha256, 'auto').precision).toBe('fp32');
  }, 150_000);

  it('the PRelu rewrite (two convs + Relu + Add) computes the same embedding as the original in float', async () => {
    const src = join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx');
    const m = decodeModel(readFileSync(src), src);
    nameNodes(m);
    const rewritten = decomposePRelu(m, new Set());
    expect(rewritten).toBeGreaterThan(20);
    expect((m.graph!.node ?? []).filter((n) => n.opType === 'PRelu').length).toBeLessThan(33 - 20);
    const crop = await decodeImage(defaultSplit(FACES).recValidation[0]!);
    const t = new Float32Array(3 * 112 * 112);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 112 * 112; i++) t[c * 12544 + i] = (crop.data[i * 3 + c]! - 127.5) / 127.5;
    const feed = { input: { data: t, dims: [1, 3, 112, 112], type: 'float32' as const } };
    const a = await createSession(src, { intraOpThreads: 1 });
    const b = await createSession(encodeModel(m), { intraOpThreads: 1 });
    const ea = (await a.run(feed)).output!.data as Float32Array;
    const eb = (await b.run(feed)).output!.data as Float32Array;
    await a.close();
    await b.close();
    expect(cosineSimilarity(ea, eb)).toBeGreaterThan(0.99999);
  });

  it('a model with an op the quantiser does not know fails with QUANTIZE_UNSUPPORTED naming the node', async () => {
    const src = join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx');
    const m = decodeModel(readFileSync(src), src);
    const g = m.graph!;
    const input = g.input![0]!.name!;
    // Softsign is valid ONNX (onnxruntime runs it) but not in the quantiser's table.
    g.node!.unshift(onnx.NodeProto.create({ opType: 'Softsign', name: 'odd_softsign', input: [input], output: ['softsign_out'] }));
    for (const n of g.node!.slice(1)) n.input = n.input!.map((i) => (i === input ? 'softsign_out' : i));
    const bad = join(WORK, 'softsign.onnx');
    writeFileSync(bad, encodeModel(m));
    const err = await quantizeModel({ modelPath: bad, outputPath: join(WORK, 'x.onnx'), calibration: [] }).catch((e) => e);
    expect(isFaceGateError(err, 'QUANTIZE_UNSUPPORTED')).toBe(true);
    expect(err.message).toMatch(/odd_softsign/);
    expect(err.message).toMatch(/Softsign/);
  });

  it('a dynamic channel dimension and a corrupt file fail with QUANTIZE_UNSUPPORTED, never a broken model', async () => {
    const src = join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx');
    const m = decodeModel(readFileSync(src), src);
    const dim = m.graph!.input![0]!.type!.tensorType!.shape!.dim![1]!;
    expect(toNum(dim.dimValue)).toBe(3);
    dim.dimValue = null;
    dim.dimParam = 'C';
    const dyn = join(WORK, 'dynamic-c.onnx');
    writeFileSync(dyn, encodeModel(m));
    const e1 = await quantizeModel({ modelPath: dyn, outputPath: join(WORK, 'y.onnx'), calibration: [] }).catch((e) => e);
    expect(isFaceGateError(e1, 'QUANTIZE_UNSUPPORTED')).toBe(true);
    expect(e1.message).toMatch(/input "input".*dynamic channel/);

    const corrupt = join(WORK, 'corrupt.onnx');
    writeFileSync(corrupt, readFileSync(src).subarray(0, 20_000));
    const e2 = await quantizeModel({ modelPath: corrupt, outputPath: join(WORK, 'z.onnx'), calibration: [] }).catch((e) => e);
    expect(isFaceGateError(e2, 'QUANTIZE_UNSUPPORTED')).toBe(true);
    expect(e2.message).toContain('corrupt.onnx');
  });
});
