/**
 * The shared body of every source: runs one connection at a time, queues its frames through the latest-frame queue,
 * and after a failure waits with exponential backoff and connects again, reporting each state change.
 */
import { FaceGateError, toFaceGateError } from '../core/errors.js';
import type { RgbImage } from '../core/types.js';
import { RECONNECT_DEFAULTS, backoffDelayMs, sleep } from '../core/backoff.js';
import { FrameQueue } from './frame-queue.js';
import type { CommonSourceOptions, Frame, FrameSource, SourceState, SourceStats, SourceStatus } from './types.js';

/** Hands one decoded frame to the queue; `ptsMs` is relative to the start of this connection. Resolves when queued. */
export type EmitFrame = (image: RgbImage, ptsMs: number) => Promise<void>;

/**
 * One connection attempt: emits frames until the input ends (resolve) or fails (throw). It must stop promptly and
 * release its resources when `signal` aborts.
 */
export type Connect = (emit: EmitFrame, signal: AbortSignal) => Promise<void>;

export interface ReconnectingSourceOptions extends CommonSourceOptions {
  name: string;
  connect: Connect;
  /**
   * Live inputs (cameras, streams) have no end: a clean end is a disconnect and is retried. Finite inputs (files,
   * folders) end the source when they end.
   */
  live: boolean;
  /** Default overflow policy when `overflow` is not given. */
  defaultOverflow: 'drop-oldest' | 'block';
}

/** Builds a FrameSource around a `connect` function. */
export function createReconnectingSource(options: ReconnectingSourceOptions): FrameSource {
  const reconnect = { ...RECONNECT_DEFAULTS, ...options.reconnect };
  const queue = new FrameQueue<Frame>({ capacity: options.queueSize ?? 2, overflow: options.overflow ?? options.defaultOverflow });
  const stop = new AbortController();
  let state: SourceState = 'connecting';
  let framesRead = 0;
  let reconnects = 0;
  let started = false;
  let producer: Promise<void> | undefined;

  const report = (s: Omit<SourceStatus, 'source'>): void => {
    state = s.state;
    try {
      options.onStatus?.({ source: options.name, ...s });
    } catch {
      // a throwing status listener must not stop the source
    }
  };

  async function produce(): Promise<void> {
    let attempt = 0;
    let lastPtsMs = -1;
    let lastDeltaMs = 33;
    let lastWallMs = 0;
    let everStreamed = false;
    while (!stop.signal.aborted) {
      // pts keep increasing across reconnects, by at least the wall-clock gap, so tracks end over an outage
      const offsetMs = lastPtsMs < 0 ? 0 : lastPtsMs + Math.max(lastDeltaMs, Date.now() - lastWallMs);
      let streamingThisAttempt = false;
      const emit: EmitFrame = async (image, ptsMs) => {
        if (!streamingThisAttempt) {
          streamingThisAttempt = true;
          if (everStreamed && attempt > 0) reconnects++;
          everStreamed = true;
          attempt = 0;
          report({ state: 'streaming', attempt: 0 });
        }
        const pts = offsetMs + ptsMs;
        if (lastPtsMs >= 0 && pts > lastPtsMs) lastDeltaMs = pts - lastPtsMs;
        lastPtsMs = pts;
        lastWallMs = Date.now();
        const frame: Frame = { image, index: framesRead++, ptsMs: pts, receivedAtMs: lastWallMs };
        await queue.push(frame);
      };
      let failure: FaceGateError | undefined;
      try {
        report({ state: attempt === 0 ? 'connecting' : 'reconnecting', attempt });
        await options.connect(emit, stop.signal);
        if (stop.signal.aborted) break;
        if (!options.live) {
          report({ state: 'ended', attempt: 0 });
          queue.end();
          return;
        }
        failure = new FaceGateError('SOURCE_FAILED', `${options.name}: the stream ended`);
      } catch (e) {
        if (stop.signal.aborted) break;
        failure = toFaceGateError(e, 'SOURCE_FAILED');
        // a problem no retry can fix (ffmpeg missing, unsupported option) is fatal at once
        if (failure.details.retryable === false) {
          report({ state: 'failed', attempt: attempt + 1, error: { code: failure.code, message: failure.message } });
          queue.end(failure);
          return;
        }
      }
      attempt++;
      if (attempt >= reconnect.maxAttempts) {
        const err = new FaceGateError('SOURCE_FAILED', `${options.name}: gave up after ${attempt} failed attempts: ${failure.message}`, {
          cause: failure,
          details: { source: options.name, attempts: attempt },
        });
        report({ state: 'failed', attempt, error: { code: err.code, message: failure.message } });
        queue.end(err);
        return;
      }
      const retryInMs = backoffDelayMs(attempt, reconnect);
      report({ state: 'reconnecting', attempt, retryInMs, error: { code: failure.code, message: failure.message } });
      await sleep(retryInMs, stop.signal);
    }
    queue.end();
  }

  return {
    name: options.name,
    frames(signal?: AbortSignal): AsyncIterable<Frame> {
      if (started) throw new FaceGateError('USAGE', `source ${options.name}: frames() can be iterated only once`);
      started = true;
      const onAbort = (): void => stop.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      producer = produce().catch((e) => queue.end(toFaceGateError(e, 'SOURCE_FAILED')));
      return {
        async *[Symbol.asyncIterator]() {
          try {
            for (;;) {
              const frame = await queue.next(stop.signal);
              if (frame === undefined) return;
              yield frame;
            }
          } finally {
            // the consumer stopped (end, break or error): stop decoding too
            signal?.removeEventListener('abort', onAbort);
            stop.abort();
            queue.end();
          }
        },
      };
    },
    stats(): SourceStats {
      return { framesRead, framesDropped: queue.dropped, reconnects, state };
    },
    async close(): Promise<void> {
      stop.abort();
      queue.end();
      await producer;
    },
  };
}
