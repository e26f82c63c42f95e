import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/image.js';
import { createPushSource } from '../../src/sources/index.js';
import { facePath, have } from '../helpers/shared.js';

const PHOTO = facePath('identities/deepface__g01_Angelina/img1.jpg');

describe.skipIf(!have(PHOTO))('push source', () => {
  it('delivers pushed frames in order, dropping the oldest when the consumer lags', async () => {
    const img = await decodeImage(PHOTO);
    const src = createPushSource({ queueSize: 2 });
    for (let i = 0; i < 5; i++) await src.push(img, i * 100);
    src.end();
    const got = [];
    for await (const f of src.frames()) got.push([f.index, f.ptsMs]);
    expect(got).toEqual([[3, 300], [4, 400]]);
    expect(src.stats()).toMatchObject({ framesRead: 5, framesDropped: 3, state: 'ended' });
    await expect(src.push(img)).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
  });

  it('rejects an image whose bytes do not match its size', async () => {
    const src = createPushSource();
    await expect(src.push({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
