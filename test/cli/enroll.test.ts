import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openGallery } from '../../src/gallery/lmdb-store.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const OBAMA = ['knn_test_obama1.jpg', 'knn_train_obama_obama.jpg'].map((f) => facePath(`identities/face_recognition__obama/${f}`));
const BIDEN = facePath('identities/face_recognition__biden');
const OBAMA_CROP = facePath('identities/glint360k__Barack_Obama/0.png');
const NONFACE = facePath('quality/nonface/dlib__eagle.jpg');
const ROOT = mkdtempSync(join(tmpdir(), 'facegate-cli-enroll-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe.skipIf(!have(...OBAMA, BIDEN, OBAMA_CROP, NONFACE, join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx')))('facegate enroll', () => {
  it('enrols a person from photos, skipping a photo without a face with its reason', async () => {
    const dir = join(ROOT, 'g1');
    const r = await runCli(['enroll', '--threads', '1', '--gallery', dir, '--id', 'obama', '--name', 'Barack Obama', '--metadata', '{"badge":44}', ...OBAMA, NONFACE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`skipped ${NONFACE}: NO_FACE`);
    expect(r.stdout).toContain('obama: enrolled 2 of 3 photo(s)');
    const g = openGallery({ path: dir });
    expect(g.get('obama')).toMatchObject({ name: 'Barack Obama', metadata: { badge: 44 }, templateCount: 2 });
    expect(g.templates('obama').map((t) => [t.modelId, t.source])).toEqual([
      ['mobilefacenet512_faceplugin', 'knn_test_obama1.jpg'],
      ['mobilefacenet512_faceplugin', 'knn_train_obama_obama.jpg'],
    ]);
    await g.close();
    // The same person again under another id (an aligned crop): enrolled, with a duplicate warning (--json).
    const dup = await runCli(['enroll', '--threads', '1', '--gallery', dir, '--id', 'barack', '--json', OBAMA_CROP]);
    expect(dup.code).toBe(0);
    const [line] = jsonLines(dup.stdout);
    expect(line).toMatchObject({ id: 'barack', enrolled: 1 });
    expect((line!.duplicates as { matchId: string }[])[0]!.matchId).toBe('obama');
  });

  it('nothing usable is NO_FACE (exit 1, nothing written); bad flags are usage errors (exit 2)', async () => {
    const dir = join(ROOT, 'g2');
    const r = await runCli(['enroll', '--threads', '1', '--gallery', dir, '--id', 'eagle', NONFACE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[NO_FACE]');
    const g = openGallery({ path: dir });
    expect(g.stats().identities).toBe(0);
    await g.close();
    expect((await runCli(['enroll', '--gallery', dir, NONFACE])).code).toBe(2);
    expect((await runCli(['enroll', '--gallery', dir, '--id', 'x'])).code).toBe(2);
    expect((await runCli(['enroll', '--gallery', dir, '--id', 'x', '--metadata', '[1]', NONFACE])).code).toBe(2);
    expect((await runCli(['enroll', '--gallery', dir, '--folders', ROOT, '--id', 'x'])).code).toBe(2);
    const file = join(ROOT, 'file');
    writeFileSync(file, '');
    const notDir = await runCli(['enroll', '--gallery', file, '--id', 'x', NONFACE]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toContain('error[GALLERY_PATH_INVALID]');
  });

  it('--folders enrols one person per sub-folder', async () => {
    const root = join(ROOT, 'people');
    mkdirSync(join(root, 'obama'), { recursive: true });
    mkdirSync(join(root, 'biden'));
    OBAMA.forEach((p, i) => symlinkSync(p, join(root, 'obama', `${i}.jpg`)));
    symlinkSync(join(BIDEN, 'knn_train_biden_biden.jpg'), join(root, 'biden', 'a.jpg'));
    symlinkSync(NONFACE, join(root, 'biden', 'b.jpg'));
    const dir = join(ROOT, 'g3');
    const r = await runCli(['enroll', '--threads', '1', '--gallery', dir, '--gallery-name', 'staff', '--folders', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('enrolled 3 photo(s) of 2 people; 1 skipped');
    const g = openGallery({ path: dir, name: 'staff' });
    expect(g.list().map((i) => [i.id, i.templateCount])).toEqual([
      ['biden', 1],
      ['obama', 2],
    ]);
    await g.close();
  });
});
