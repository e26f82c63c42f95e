/**
 * The console sink: one JSON object per line (JSON Lines) on stdout or any writable stream, for `facegate demo`,
 * for piping into `jq`, and for debugging. Events and status messages are told apart by their `schema` field.
 */
import type { Writable } from 'node:stream';
import { FaceGateError } from '../core/errors.js';
import { checkEvent } from './event.js';
import type { CommonSinkOptions, DeviceStatus, EventSink, FaceEvent, SinkStats } from './types.js';

export interface ConsoleSinkOptions extends CommonSinkOptions {
  /** Where the lines go. Default `process.stdout`. */
  stream?: Writable;
  /** Print the base64 face crop when an event carries one. Default false (it would fill the terminal). */
  includeFaceCrop?: boolean;
  /** Also print status messages. Default true. */
  includeStatus?: boolean;
}

/**
 * A sink writing JSON Lines. Waits for the stream to drain when it is full; a broken stream (EPIPE) counts as a
 * failure and is reported, never thrown.
 * @example const sink = createConsoleSink(); await sink.write(event);
 */
export function createConsoleSink(options: ConsoleSinkOptions = {}): EventSink {
  const name = options.name ?? 'console';
  const stream = options.stream ?? process.stdout;
  const counters = { published: 0, failures: 0 };
  let closed = false;
  let broken = false;
  const onError = (e: Error): void => {
    if (!broken) options.onStatus?.({ sink: name, state: 'retrying', attempt: 1, error: { code: 'SINK_FAILED', message: `${name}: ${e.message}` } });
    broken = true;
  };
  stream.on('error', onError);

  async function writeLine(value: unknown): Promise<void> {
    if (broken) {
      counters.failures++;
      return;
    }
    const ok = stream.write(`${JSON.stringify(value)}\n`);
    counters.published++;
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('error', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('error', done);
        stream.on('close', done);
      });
    }
  }

  return {
    name,
    async write(event: FaceEvent) {
      if (closed) throw new FaceGateError('SINK_FAILED', `${name}: write after close()`);
      checkEvent(event);
      if (event.faceJpegBase64 !== undefined && !options.includeFaceCrop) {
        const { faceJpegBase64: _omitted, ...rest } = event;
        await writeLine(rest);
      } else {
        await writeLine(event);
      }
    },
    async status(status: DeviceStatus) {
      if (!closed && (options.includeStatus ?? true)) await writeLine(status);
    },
    stats(): SinkStats {
      return { published: counters.published, pending: 0, dropped: 0, redelivered: 0, failures: counters.failures };
    },
    flush() {
      return Promise.resolve(true);
    },
    close() {
      if (!closed) {
        // The error listener stays: a stream erroring after close must not become an uncaught 'error' event.
        closed = true;
        options.onStatus?.({ sink: name, state: 'closed', attempt: 0 });
      }
      return Promise.resolve();
    },
  };
}
