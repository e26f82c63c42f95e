import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/image.js';
import { CLI, jsonLines, runCli } from '../helpers/cli.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const A = facePath('groups/dlib__2008_002470.jpg');
const B = facePath('groups/dlib__2008_001009.jpg');
const tmp = mkdtempSync(join(tmpdir(), 'facegate-detect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!have(A, B, join(MODELS_DIR, 'det_500m.onnx')))('facegate detect', () => {
  it('prints one JSON line per image with boxes, scores and 5 keypoints, and goes on past a bad file', async () => {
    const r = await runCli(['detect', '--json', '--threads', '1', A, '/no/such.jpg', B]);
    expect(existsSync(CLI)).toBe(true);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => l.path)).toEqual([A, '/no/such.jpg', B]);
    expect(lines[1]!.error).toMatchObject({ code: 'FILE_NOT_FOUND' });
    const img = await decodeImage(A);
    const faces = lines[0]!.faces as { box: number[]; score: number; landmarks: number[][] }[];
    expect(faces.length).toBeGreaterThan(3);
    for (const f of faces) {
      expect(f.box).toHaveLength(4);
      const [x, y, w, h] = f.box as [number, number, number, number];
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x + w).toBeLessThanOrEqual(img.width + 0.01);
      expect(y + h).toBeLessThanOrEqual(img.height + 0.01);
      expect(f.score).toBeGreaterThanOrEqual(0.5);
      expect(f.landmarks).toHaveLength(5);
      expect(Object.keys(f).sort()).toEqual(['box', 'landmarks', 'score']);
    }
  });

  it('--draw writes the drawn image to a file for one image, into a directory for several', async () => {
    const one = join(tmp, 'one.png');
    const r1 = await runCli(['detect', '--threads', '1', '--draw', one, A]);
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/\d+ faces/);
    const drawn = await decodeImage(one);
    const src = await decodeImage(A);
    expect([drawn.width, drawn.height]).toEqual([src.width, src.height]);
    expect(Buffer.compare(Buffer.from(drawn.data), Buffer.from(src.data))).not.toBe(0);
    const dir = join(tmp, 'many');
    const r2 = await runCli(['detect', '--threads', '1', '--draw', dir, A, B]);
    expect(r2.code).toBe(0);
    expect(existsSync(join(dir, 'dlib__2008_002470.jpg'))).toBe(true);
    expect(existsSync(join(dir, 'dlib__2008_001009.jpg'))).toBe(true);
  });

  it('exits 1 when no image could be read and 2 for a usage error', async () => {
    expect((await runCli(['detect', '--threads', '1', '/no/such.jpg'])).code).toBe(1);
    const u = await runCli(['detect', '--input-size', 'big', A]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('error[USAGE]');
    expect((await runCli(['detect'])).code).toBe(2);
  });
});
