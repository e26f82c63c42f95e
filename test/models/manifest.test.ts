import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaceGateError, isFaceGateError } from '../../src/core/errors.js';
import { createEngine } from '../../src/engine.js';
import { decodeImage } from '../../src/image/image.js';
import { createDetector } from '../../src/models/detector.js';
import { checkModel, defaultManifestPath, findModel, loadManifest, requireModel } from '../../src/models/manifest.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const manifest = loadManifest();
const det = findModel(manifest, 'det_500m');
const rec = findModel(manifest, 'mobilefacenet512_faceplugin');
const tmp = mkdtempSync(join(tmpdir(), 'facegate-manifest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<FaceGateError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FaceGateError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!have(join(MODELS_DIR, det.file), join(MODELS_DIR, rec.file)))('model files against the manifest', () => {
  it('verifies every model present in ../shared/models and reports the absent ones as missing', async () => {
    for (const entry of manifest.models) {
      const s = await checkModel(MODELS_DIR, entry);
      expect(['ok', 'missing']).toContain(s.status);
    }
    expect((await checkModel(MODELS_DIR, det)).status).toBe('ok');
    expect((await checkModel(MODELS_DIR, rec)).status).toBe('ok');
  });

  it('a missing file is MODEL_NOT_FOUND naming the expected path, from requireModel and from createEngine', async () => {
    const dir = mkdtempSync(join(tmp, 'missing-'));
    copyFileSync(join(MODELS_DIR, det.file), join(dir, det.file));
    const e1 = await rejection(requireModel(dir, rec));
    expect(e1.code).toBe('MODEL_NOT_FOUND');
    expect(e1.message).toContain(join(dir, rec.file));
    const e2 = await rejection(createEngine({ modelsDir: dir, intraOpThreads: 1 }));
    expect(e2.code).toBe('MODEL_NOT_FOUND');
    expect(e2.message).toContain(join(dir, rec.file));
  });

  it('a file with another sha256 is MODEL_CHECKSUM_MISMATCH naming the file and both hashes', async () => {
    const dir = mkdtempSync(join(tmp, 'mismatch-'));
    const bytes = readFileSync(join(MODELS_DIR, det.file));
    bytes[bytes.length - 1] ^= 0xff; // one flipped byte
    writeFileSync(join(dir, det.file), bytes);
    copyFileSync(join(MODELS_DIR, rec.file), join(dir, rec.file));
    const e = await rejection(createEngine({ modelsDir: dir, intraOpThreads: 1 }));
    expect(e.code).toBe('MODEL_CHECKSUM_MISMATCH');
    expect(e.message).toContain(join(dir, det.file));
    expect(e.message).toContain(det.sha256);
    expect(e.details.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(e.details.actual).not.toBe(det.sha256);
  });

  it('an unknown model id is MODEL_UNKNOWN listing the known ids', async () => {
    const e = await rejection(createEngine({ detector: 'no_such_model' }));
    expect(e.code).toBe('MODEL_UNKNOWN');
    expect(e.message).toContain('det_500m');
  });

  it('a new model is a manifest entry: a renamed copy under a new id runs with no code change', async () => {
    const dir = mkdtempSync(join(tmp, 'custom-'));
    copyFileSync(join(MODELS_DIR, det.file), join(dir, 'my-detector.onnx'));
    copyFileSync(join(MODELS_DIR, rec.file), join(dir, rec.file));
    const custom = JSON.parse(readFileSync(defaultManifestPath(), 'utf8')) as { models: Record<string, unknown>[] };
    custom.models.push({ ...det, id: 'my_detector', file: 'my-detector.onnx' });
    const manifestPath = join(dir, 'manifest.json');
    writeFileSync(manifestPath, JSON.stringify(custom));
    const engine = await createEngine({ modelsDir: dir, manifestPath, detector: 'my_detector', intraOpThreads: 1 });
    try {
      expect(engine.detectorId).toBe('my_detector');
      const faces = await engine.detect(facePath('groups/dlib__2008_001009.jpg'));
      expect(faces.length).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it('the detector factory picks by family and refuses a non-detector entry', async () => {
    await expect(createDetector(rec, join(MODELS_DIR, rec.file))).rejects.toSatisfy((e) => isFaceGateError(e, 'MODEL_INCOMPATIBLE'));
    const yunet = findModel(manifest, 'yunet');
    if (!have(join(MODELS_DIR, yunet.file))) return;
    const d = await createDetector(yunet, await requireModel(MODELS_DIR, yunet), { intraOpThreads: 1 });
    try {
      expect(d.modelId).toBe('yunet');
      expect((await d.detect(await decodeImage(facePath('groups/dlib__2008_001009.jpg')))).length).toBeGreaterThan(0);
    } finally {
      await d.close();
    }
  });

  it('a model that is not the family the manifest says is MODEL_INCOMPATIBLE at construction', async () => {
    // The recognizer file under an SCRFD entry: it loads, but has 1 output, not SCRFD's 9.
    const e = await rejection(createDetector({ ...det, id: 'wrong' }, join(MODELS_DIR, rec.file), { intraOpThreads: 1 }));
    expect(e.code).toBe('MODEL_INCOMPATIBLE');
  });
});
