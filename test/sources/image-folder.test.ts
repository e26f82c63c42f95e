import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/image.js';
import { createImageFolderSource, openSource, type SourceStatus } from '../../src/sources/index.js';
import { facePath, have } from '../helpers/shared.js';

const FOLDER = facePath('identities/deepface__g01_Angelina');

describe.skipIf(!have(FOLDER))('image folder source', () => {
  it('plays the photos sorted by name, stamped at the given rate', async () => {
    const names = readdirSync(FOLDER).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
    const expected = names.length;
    const src = openSource(FOLDER, { fps: 2 });
    const frames = [];
    for await (const f of src.frames()) frames.push(f);
    expect(frames.length).toBe(expected);
    expect(frames.map((f) => f.ptsMs)).toEqual(frames.map((_, i) => i * 500));
    for (const f of frames) expect(f.image.data.length).toBe(f.image.width * f.image.height * 3);
    // In name order: each frame is the photo of the same rank in the sorted listing.
    for (const [i, name] of names.entries()) {
      const img = await decodeImage(join(FOLDER, name));
      expect([frames[i]!.image.width, frames[i]!.image.height, frames[i]!.image.data[1000]]).toEqual([img.width, img.height, img.data[1000]]);
    }
    expect(src.stats()).toMatchObject({ framesRead: expected, framesDropped: 0, state: 'ended' });
  });

  it('an empty folder fails with backoff and SOURCE_FAILED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facegate-empty-'));
    const statuses: SourceStatus[] = [];
    try {
      const src = createImageFolderSource({ path: dir, reconnect: { initialDelayMs: 5, maxAttempts: 2, jitter: 0 }, onStatus: (s) => statuses.push(s) });
      await expect(async () => {
        for await (const _ of src.frames()) void _;
      }).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
      expect(statuses.find((s) => s.retryInMs === 5)?.error?.message).toMatch(/no images/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a folder where no image decodes fails with SOURCE_FAILED instead of looping or ending silently', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facegate-undecodable-'));
    writeFileSync(join(dir, 'a.jpg'), 'not an image');
    try {
      const statuses: SourceStatus[] = [];
      const src = createImageFolderSource({ path: dir, loop: true, reconnect: { initialDelayMs: 5, maxAttempts: 2, jitter: 0 }, onStatus: (st) => statuses.push(st) });
      await expect(async () => {
        for await (const _ of src.frames()) void _;
      }).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
      expect(statuses.find((st) => st.retryInMs === 5)?.error?.message).toMatch(/none of the 1 image\(s\) .* could be decoded/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
