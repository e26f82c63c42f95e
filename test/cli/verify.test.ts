import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const A1 = facePath('identities/deepface__g01_Angelina/img1.jpg');
const A2 = facePath('identities/deepface__g01_Angelina/img2.jpg');
const E = facePath('identities/deepface__g06_Elon/img18.jpg');
const NONFACE = facePath('quality/nonface/dlib__eagle.jpg');

describe.skipIf(!have(A1, A2, E, NONFACE, join(MODELS_DIR, 'det_500m.onnx'), join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx')))('facegate verify', () => {
  it('prints similarity and same for one person, different for two, exit 0 both', async () => {
    const same = await runCli(['verify', '--threads', '1', A1, A2]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/^similarity -?\d\.\d{4} {2}same \(threshold [\d.]+\)\n$/);
    const diff = await runCli(['verify', '--threads', '1', A1, E]);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/different/);
    const s1 = Number(/similarity (-?[\d.]+)/.exec(same.stdout)![1]);
    const s2 = Number(/similarity (-?[\d.]+)/.exec(diff.stdout)![1]);
    expect(s1).toBeGreaterThan(s2);
  });

  it('--threshold and --json: the threshold decides, and the JSON carries the faces and models', async () => {
    const r = await runCli(['verify', '--threads', '1', '--json', '--threshold', '0.999', A1, A2]);
    expect(r.code).toBe(0);
    const [out] = jsonLines(r.stdout);
    expect(out).toMatchObject({ same: false, threshold: 0.999, detector: 'det_500m', recognizer: 'mobilefacenet512_faceplugin' });
    expect(out!.similarity as number).toBeLessThan(0.999);
    expect(out!.faces as unknown[]).toHaveLength(2);
  });

  it('an image without a face is NO_FACE (exit 1); a wrong argument count or threshold is a usage error (exit 2)', async () => {
    const r = await runCli(['verify', '--threads', '1', A1, NONFACE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[NO_FACE]');
    expect(r.stderr).toContain(NONFACE);
    expect((await runCli(['verify', A1])).code).toBe(2);
    expect((await runCli(['verify', '--threshold', 'x', A1, A2])).code).toBe(2);
    expect((await runCli(['verify', '--threshold', '5', A1, A2])).code).toBe(2);
  });
});
