/** Frame sources: one interface for files, streams, cameras, image folders and frames pushed from code. */
import { statSync } from 'node:fs';
import { createFfmpegSource, inputKind, type FfmpegSourceOptions } from './ffmpeg.js';
import { createImageFolderSource, type ImageFolderSourceOptions } from './image-folder.js';
import type { CommonSourceOptions, FrameSource } from './types.js';

export * from './types.js';
export { FrameQueue, type FrameQueueOptions } from './frame-queue.js';
export { backoffDelayMs, RECONNECT_DEFAULTS } from '../core/backoff.js';
export { createFfmpegSource, ffmpegArgs, inputKind, parseOutputStream, FFMPEG_SOURCE_DEFAULTS, type FfmpegSourceOptions, type FfmpegInputKind } from './ffmpeg.js';
export { createImageFolderSource, type ImageFolderSourceOptions } from './image-folder.js';
export { createPushSource, type PushSource, type PushSourceOptions } from './push.js';

/** Options of `openSource`: the union of the ffmpeg and folder options (each uses its own). */
export type OpenSourceOptions = CommonSourceOptions &
  Omit<FfmpegSourceOptions, 'input' | keyof CommonSourceOptions> &
  Omit<ImageFolderSourceOptions, 'path' | keyof CommonSourceOptions>;

/**
 * Opens the right source for a string: a directory is an image folder; a URL, `/dev/videoN` or file goes to ffmpeg.
 * @example const src = openSource('/dev/video0', { fps: 10 });
 */
export function openSource(input: string, options: OpenSourceOptions = {}): FrameSource {
  let isDir = false;
  if (inputKind(input) === 'file') {
    try {
      isDir = statSync(input).isDirectory();
    } catch {
      // a missing path is a file source that retries with backoff until it appears
    }
  }
  return isDir ? createImageFolderSource({ ...options, path: input }) : createFfmpegSource({ ...options, input });
}
