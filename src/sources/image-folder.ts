/** A folder of still images played as a video: sorted by name, decoded with sharp, at a given frame rate. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { FaceGateError } from '../core/errors.js';
import { decodeImage } from '../image/image.js';
import { sleep } from '../core/backoff.js';
import { createReconnectingSource, type EmitFrame } from './reconnecting-source.js';
import type { CommonSourceOptions, FrameSource } from './types.js';

// What src/image decodes (sharp has no BMP input, so .bmp is not listed).
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

/** Options of an image-folder source. */
export interface ImageFolderSourceOptions extends CommonSourceOptions {
  /** The folder. Required. */
  path: string;
  /** Frame rate the images are stamped with (ptsMs = index * 1000 / fps), in frames per second. Default 5. */
  fps?: number;
  /** Wait 1/fps between images, like a camera, instead of reading as fast as the consumer takes them. Default false. */
  realtime?: boolean;
  /** Start again after the last image. Default false. */
  loop?: boolean;
  /** Skip images that fail to decode (counted in `skipped`) instead of failing the pass. Default true. */
  skipUndecodable?: boolean;
}

/**
 * Plays the images of a folder (non-recursive, sorted by file name) as frames.
 * @example
 * const src = createImageFolderSource({ path: 'captures/', fps: 2 });
 */
export function createImageFolderSource(options: ImageFolderSourceOptions): FrameSource {
  const fps = options.fps ?? 5;
  if (!(fps > 0)) throw new FaceGateError('CONFIG_INVALID', `source option fps must be > 0, got ${fps}`, { details: { field: 'fps' } });
  const name = options.name ?? options.path;
  const connect = async (emit: EmitFrame, signal: AbortSignal): Promise<void> => {
    let files: string[];
    try {
      if (!(await stat(options.path)).isDirectory()) throw new Error('not a directory');
      files = (await readdir(options.path)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
    } catch (e) {
      throw new FaceGateError('SOURCE_FAILED', `${name}: cannot read folder ${options.path}: ${(e as Error).message}`, {
        details: { source: name, path: options.path },
      });
    }
    if (files.length === 0) throw new FaceGateError('SOURCE_FAILED', `${name}: no images in ${options.path}`, { details: { source: name } });
    let i = 0;
    for (;;) {
      let emitted = 0;
      for (const f of files) {
        if (signal.aborted) return;
        let image;
        try {
          image = await decodeImage(join(options.path, f));
        } catch (e) {
          if (options.skipUndecodable === false) throw e;
          continue;
        }
        await emit(image, (i++ * 1000) / fps);
        emitted++;
        if (options.realtime) await sleep(1000 / fps, signal);
      }
      // A folder where nothing decodes is a failed source (retried with backoff), not an empty stream or a busy loop.
      if (emitted === 0) {
        throw new FaceGateError('SOURCE_FAILED', `${name}: none of the ${files.length} image(s) in ${options.path} could be decoded`, {
          details: { source: name, path: options.path },
        });
      }
      if (!options.loop) return;
    }
  };
  return createReconnectingSource({
    ...options,
    name,
    connect,
    live: options.loop === true,
    defaultOverflow: options.realtime ? 'drop-oldest' : 'block',
  });
}
