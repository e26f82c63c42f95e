import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const OBAMA = facePath('identities/face_recognition__obama/knn_train_obama_obama.jpg');
const OBAMA_PROBE = facePath('identities/face_recognition__obama/test_images_obama3.jpg');
const BIDEN = facePath('identities/face_recognition__biden/knn_train_biden_biden.jpg');
const ELON = facePath('identities/deepface__g06_Elon/img18.jpg');
const NONFACE = facePath('quality/nonface/dlib__eagle.jpg');
const ROOT = mkdtempSync(join(tmpdir(), 'facegate-cli-identify-'));
const DIR = join(ROOT, 'g');

describe.skipIf(!have(OBAMA, OBAMA_PROBE, BIDEN, ELON, NONFACE, join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx')))('facegate identify', () => {
  beforeAll(async () => {
    expect((await runCli(['enroll', '--threads', '1', '--gallery', DIR, '--id', 'obama', OBAMA])).code).toBe(0);
    expect((await runCli(['enroll', '--threads', '1', '--gallery', DIR, '--id', 'biden', BIDEN])).code).toBe(0);
  });
  afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

  it('names an enrolled person, says unknown for a stranger and "no face" for a non-face (--json, --top)', async () => {
    const r = await runCli(['identify', '--threads', '1', '--gallery', DIR, '--json', '--top', '2', OBAMA_PROBE, ELON, NONFACE]);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    const obama = lines.find((l) => l.image === OBAMA_PROBE)!;
    expect(obama).toMatchObject({ decision: 'known', match: { id: 'obama' } });
    expect(obama.hits as unknown[]).toHaveLength(2);
    const elon = lines.filter((l) => l.image === ELON);
    expect(elon.length).toBeGreaterThan(0);
    for (const f of elon) expect(f.decision).toBe('unknown');
    expect(lines.find((l) => l.image === NONFACE)).toEqual({ image: NONFACE, faces: 0 });
    const plain = await runCli(['identify', '--threads', '1', '--gallery', DIR, '--by', 'centroid', OBAMA_PROBE]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/: known obama similarity 0\.\d{3}\n/);
  });

  it('refuses a gallery of another model (GALLERY_MODEL_MISMATCH), a missing gallery, and bad flags', async () => {
    const other = join(ROOT, 'other');
    const g = openGallery({ path: other });
    await g.enroll({ id: 'x', modelId: 'some-other-recognizer', templates: [{ vector: new Float32Array(512).fill(0.1) }] });
    await g.close();
    const r = await runCli(['identify', '--threads', '1', '--gallery', other, OBAMA_PROBE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[GALLERY_MODEL_MISMATCH]');
    expect(r.stderr).toContain('re-enrol');
    const missing = await runCli(['identify', '--gallery', join(ROOT, 'none'), OBAMA_PROBE]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error[GALLERY_PATH_INVALID]');
    expect((await runCli(['identify', '--gallery', DIR])).code).toBe(2);
    expect((await runCli(['identify', '--gallery', DIR, '--top', '0', OBAMA_PROBE])).code).toBe(2);
    expect((await runCli(['identify', '--gallery', DIR, '--by', 'magic', OBAMA_PROBE])).code).toBe(2);
  });
});
