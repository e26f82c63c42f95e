/** Frames pushed from user code (an SDK integrating its own camera stack), through the same latest-frame queue. */
import { FaceGateError } from '../core/errors.js';
import type { RgbImage } from '../core/types.js';
import { FrameQueue } from './frame-queue.js';
import type { Frame, FrameSource, OverflowPolicy, SourceState, SourceStats } from './types.js';

/** Options of a push source. */
export interface PushSourceOptions {
  /** Name for logs and status. Default `push`. */
  name?: string;
  /** Capacity of the latest-frame queue, in frames. Default 2. */
  queueSize?: number;
  /** Full-queue behaviour. Default `drop-oldest` (push never blocks the caller's capture thread). */
  overflow?: OverflowPolicy;
}

/** A FrameSource fed by `push`; `end()` finishes it after the queued frames. */
export interface PushSource extends FrameSource {
  /**
   * Queues a frame. `ptsMs` defaults to milliseconds since the first push. With `block` the promise resolves when
   * there is room; with `drop-oldest` at once.
   */
  push(image: RgbImage, ptsMs?: number): Promise<void>;
  /** No more frames: iteration ends after the queued ones. */
  end(): void;
}

/**
 * @example
 * const src = createPushSource();
 * camera.on('frame', (rgb) => src.push(rgb));
 * await pipeline.run(src);
 */
export function createPushSource(options: PushSourceOptions = {}): PushSource {
  const queue = new FrameQueue<Frame>({ capacity: options.queueSize ?? 2, overflow: options.overflow ?? 'drop-oldest' });
  const name = options.name ?? 'push';
  let index = 0;
  let t0: number | undefined;
  let state: SourceState = 'streaming';
  let started = false;
  return {
    name,
    async push(image: RgbImage, ptsMs?: number): Promise<void> {
      if (state !== 'streaming') throw new FaceGateError('SOURCE_FAILED', `${name}: push after end()`);
      if (image.data.length !== image.width * image.height * 3) {
        throw new FaceGateError('CONFIG_INVALID', `${name}: image data has ${image.data.length} bytes, expected ${image.width}x${image.height}x3`);
      }
      const now = Date.now();
      t0 ??= now;
      await queue.push({ image, index: index++, ptsMs: ptsMs ?? now - t0, receivedAtMs: now });
    },
    end(): void {
      state = 'ended';
      queue.end();
    },
    frames(signal?: AbortSignal): AsyncIterable<Frame> {
      if (started) throw new FaceGateError('USAGE', `source ${name}: frames() can be iterated only once`);
      started = true;
      return {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            const f = await queue.next(signal);
            if (f === undefined) return;
            yield f;
          }
        },
      };
    },
    stats(): SourceStats {
      return { framesRead: index, framesDropped: queue.dropped, reconnects: 0, state };
    },
    async close(): Promise<void> {
      state = 'ended';
      queue.end();
    },
  };
}
