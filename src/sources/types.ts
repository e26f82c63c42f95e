/** The frame-source contract: every camera, stream, file, folder or user-fed source yields `Frame`s the same way. */
import type { RgbImage } from '../core/types.js';
import type { ReconnectOptions } from '../core/backoff.js';

/** One decoded frame. */
export interface Frame {
  /** The pixels, interleaved RGB. */
  readonly image: RgbImage;
  /** 0-based index of the frame as the source produced it (frames the queue dropped still count). */
  readonly index: number;
  /**
   * Presentation time in milliseconds on the source's own clock (0 at the first frame; it keeps increasing across
   * reconnects). Tracking and cooldowns use this, so a file processed slower than real time behaves like live.
   */
  readonly ptsMs: number;
  /** Wall-clock time (`Date.now()`) when the frame was read from the decoder, in milliseconds. */
  readonly receivedAtMs: number;
}

/** The state a source reports through `onStatus`. */
export type SourceState = 'connecting' | 'streaming' | 'reconnecting' | 'ended' | 'failed';

/** A status change of a source: published on the MQTT `status` topic by the pipeline. */
export interface SourceStatus {
  /** The source's name. */
  source: string;
  state: SourceState;
  /** Consecutive failed attempts so far (0 while healthy). */
  attempt: number;
  /** With `reconnecting`: the wait before the next attempt, in milliseconds. */
  retryInMs?: number;
  /** With `reconnecting` and `failed`: what went wrong. */
  error?: { code: string; message: string };
}

/** Counters of a source, cumulative since it was created. */
export interface SourceStats {
  /** Frames decoded and queued. */
  framesRead: number;
  /** Frames the latest-frame queue discarded because the consumer was behind. */
  framesDropped: number;
  /** Successful re-connections after a failure. */
  reconnects: number;
  /** The current state. */
  state: SourceState;
}

/**
 * Anything that yields frames: `{name, frames(signal), close()}`. `frames` may be iterated once; it ends when the
 * source ends (a file's last frame) or `signal` aborts, and throws `SOURCE_FAILED` once reconnect attempts are used up.
 */
export interface FrameSource {
  readonly name: string;
  frames(signal?: AbortSignal): AsyncIterable<Frame>;
  /** Counters, readable at any time. */
  stats(): SourceStats;
  /** Stops decoding and releases the decoder; idempotent. */
  close(): Promise<void>;
}

/** What a source does when the consumer is behind and its queue is full. */
export type OverflowPolicy = 'drop-oldest' | 'block';

export type { ReconnectOptions };

/** Options every source accepts. */
export interface CommonSourceOptions {
  /** A name for logs and status; defaults to the input. */
  name?: string;
  /** Capacity of the latest-frame queue, in frames. Default 2. */
  queueSize?: number;
  /** Full-queue behaviour. Default `drop-oldest` for live inputs, `block` for files and folders read faster than real time. */
  overflow?: OverflowPolicy;
  /** Reconnect with exponential backoff after failures. */
  reconnect?: ReconnectOptions;
  /** Called on every state change (connecting, streaming, reconnecting, ended, failed). */
  onStatus?: (status: SourceStatus) => void;
}
