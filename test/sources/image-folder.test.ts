import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createImageFolderSource, openSource, type SourceStatus } from '../../src/sources/index.js';
import { facePath, have } from '../helpers/shared.js';

const FOLDER = facePath('identities/deepface__g01_Angelina');

describe.skipIf(!have(FOLDER))('image folder source', () => {
  it('plays the photos sorted by name, stamped at the given rate', async () => {
    const { readdirSync } = await import('node:fs');
    const expected = readdirSync(FOLDER).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).length;
    const src = openSource(FOLDER, { fps: 2 });
    const frames = [];
    for await (const f of src.frames()) frames.push(f);
    expect(frames.length).toBe(expected);
    expect(frames.map((f) => f.ptsMs)).toEqual(frames.map((_, i) => i * 500));
    for (const f of frames) expect(f.image.data.length).toBe(f.image.width * f.image.height * 3);
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
});
