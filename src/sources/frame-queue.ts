/**
 * The latest-frame queue between a decoder and the engine: bounded, and when the engine is behind it either drops the
 * oldest frame (live cameras: the newest frame is the one worth looking at) or makes the producer wait (files).
 */
import type { OverflowPolicy } from './types.js';

/** Options of a FrameQueue. */
export interface FrameQueueOptions {
  /** Most items held, at least 1. Default 2. */
  capacity?: number;
  /** Full-queue behaviour. Default `drop-oldest`. */
  overflow?: OverflowPolicy;
}

/**
 * A bounded async queue with a drop counter.
 * @example
 * const q = new FrameQueue<number>({ capacity: 2 });
 * await q.push(1); await q.push(2); await q.push(3); // 1 is dropped
 * q.dropped; // 1
 */
export class FrameQueue<T> {
  private readonly items: T[] = [];
  private readonly capacity: number;
  private readonly overflow: OverflowPolicy;
  private ended = false;
  private failure: unknown;
  private waitingConsumer: (() => void) | undefined;
  private waitingProducers: (() => void)[] = [];
  /** Items discarded by `drop-oldest`. */
  dropped = 0;

  constructor(options: FrameQueueOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? 2));
    this.overflow = options.overflow ?? 'drop-oldest';
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds an item; with `block` it resolves once there is room (or the queue ended). */
  async push(item: T): Promise<void> {
    if (this.ended) return;
    if (this.items.length >= this.capacity) {
      if (this.overflow === 'drop-oldest') {
        this.items.shift();
        this.dropped++;
      } else {
        while (this.items.length >= this.capacity && !this.ended) {
          await new Promise<void>((resolve) => this.waitingProducers.push(resolve));
        }
        if (this.ended) return;
      }
    }
    this.items.push(item);
    this.wakeConsumer();
  }

  /** Marks the end of input; a pending or later `next` gets `undefined` after the queued items, or throws `error`. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.wakeConsumer();
    this.wakeProducers();
  }

  /** The oldest item, waiting for one; `undefined` when the queue ended (or `signal` aborted) and is empty. */
  async next(signal?: AbortSignal): Promise<T | undefined> {
    for (;;) {
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        this.wakeProducers();
        return item;
      }
      if (this.ended) {
        if (this.failure !== undefined) {
          const f = this.failure;
          this.failure = undefined;
          throw f;
        }
        return undefined;
      }
      if (signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waitingConsumer = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      this.waitingConsumer = undefined;
    }
  }

  private wakeConsumer(): void {
    const w = this.waitingConsumer;
    this.waitingConsumer = undefined;
    w?.();
  }

  private wakeProducers(): void {
    const ws = this.waitingProducers;
    this.waitingProducers = [];
    for (const w of ws) w();
  }
}
