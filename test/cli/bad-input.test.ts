import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { encodePng } from '../../src/image/image.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { facePath, have, MODELS_DIR } from '../helpers/shared.js';

const GOOD = facePath('identities/deepface__g06_Elon/img18.jpg');
const GOOD2 = facePath('identities/faceapi-bbt__amy/amy1.png');
const DET = join(MODELS_DIR, 'det_500m.onnx');
const REC = join(MODELS_DIR, 'mobilefacenet512_faceplugin.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'facegate-bad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A decompression bomb's header: a PNG declaring width x height, with only a tiny IDAT (libvips reads the size only
 * once an IDAT follows) or none at all. Nothing near 20000 x 20000 pixels is ever allocated.
 */
function pngHeader(width: number, height: number, withData: boolean): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (withData) parts.push(chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

const files: Record<string, { path: string; code: string }> = {};

describe.skipIf(!have(GOOD, GOOD2, DET, REC))('bad input: coded errors, non-zero exit where fatal', () => {
  beforeAll(async () => {
    const jpeg = readFileSync(GOOD);
    const add = (name: string, bytes: Uint8Array, code: string) => {
      const path = join(tmp, name);
      writeFileSync(path, bytes);
      files[name] = { path, code };
    };
    add('truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'IMAGE_DECODE_FAILED');
    add('text.jpg', Buffer.from('this is not an image, only text renamed to .jpg\n'), 'IMAGE_DECODE_FAILED');
    add('one-pixel.png', await encodePng({ data: new Uint8Array([200, 150, 120]), width: 1, height: 1, channels: 3 }), 'IMAGE_TOO_SMALL');
    add('huge-header.png', pngHeader(20000, 20000, true), 'IMAGE_TOO_LARGE');
    add('huge-header-only.png', pngHeader(20000, 20000, false), 'IMAGE_DECODE_FAILED');
  });

  it('each bad image is its coded error from the engine API', async () => {
    const engine = await createEngine({ intraOpThreads: 1 });
    try {
      for (const [name, f] of Object.entries(files)) {
        const e = await engine.embedImage(f.path).catch((x: unknown) => x);
        expect(e, name).toMatchObject({ code: f.code });
      }
    } finally {
      await engine.close();
    }
  });

  it('embed over a list with bad files finishes the good ones and reports each bad one, exit 0', async () => {
    const bad = Object.values(files);
    const list = join(tmp, 'list.txt');
    writeFileSync(list, [GOOD, ...bad.map((b) => b.path), '/no/such/file.jpg', GOOD2].join('\n'));
    const r = await runCli(['embed', '--list', list, '--threads', '1']);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines).toHaveLength(bad.length + 3);
    expect((lines[0]!.faces as unknown[]).length).toBe(1);
    expect((lines[lines.length - 1]!.faces as unknown[]).length).toBe(1);
    bad.forEach((b, i) => {
      expect(lines[i + 1]).toMatchObject({ path: b.path, error: { code: b.code } });
      expect(typeof (lines[i + 1]!.error as { message: string }).message).toBe('string');
    });
    expect(lines[bad.length + 1]).toMatchObject({ error: { code: 'FILE_NOT_FOUND' } });
    expect(r.stderr).toContain(`${bad.length + 1} of ${bad.length + 3}`);
  });

  it('a run where every image is bad exits 1; verify with a bad image exits 1 with the code', async () => {
    const r = await runCli(['embed', '--threads', '1', ...Object.values(files).map((f) => f.path)]);
    expect(r.code).toBe(1);
    for (const [name, f] of Object.entries(files)) {
      const v = await runCli(['verify', '--threads', '1', GOOD, f.path]);
      expect(v.code, name).toBe(1);
      expect(v.stderr).toContain(`error[${f.code}]`);
    }
  });

  it('a missing model and a model with the wrong sha256 are fatal coded errors naming the file', async () => {
    const missing = mkdtempSync(join(tmp, 'models-missing-'));
    copyFileSync(DET, join(missing, 'det_500m.onnx'));
    const m = await runCli(['embed', '--models', missing, GOOD]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('error[MODEL_NOT_FOUND]');
    expect(m.stderr).toContain(join(missing, 'mobilefacenet512_faceplugin.onnx'));
    expect(m.stdout).toBe('');

    const wrong = mkdtempSync(join(tmp, 'models-wrong-'));
    copyFileSync(REC, join(wrong, 'mobilefacenet512_faceplugin.onnx'));
    copyFileSync(REC, join(wrong, 'det_500m.onnx')); // another model under the detector's name
    for (const cmd of [['detect', GOOD], ['embed', GOOD], ['verify', GOOD, GOOD2]]) {
      const w = await runCli([...cmd.slice(0, 1), '--models', wrong, ...cmd.slice(1)]);
      expect(w.code, cmd[0]).toBe(1);
      expect(w.stderr).toContain('error[MODEL_CHECKSUM_MISMATCH]');
      expect(w.stderr).toContain(join(wrong, 'det_500m.onnx'));
    }
    const dir = await runCli(['embed', '--models', join(tmp, 'no-such-dir'), GOOD]);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toContain('error[MODEL_DIR_NOT_FOUND]');
  });
});
