/** Exponential backoff with jitter, and an abortable sleep. */

/** Reconnect settings shared by every source and sink (exponential backoff with jitter). */
export interface ReconnectOptions {
  /** Wait before the first retry, in milliseconds. Default 500. */
  initialDelayMs?: number;
  /** Upper bound of the wait between retries, in milliseconds. Default 30000. */
  maxDelayMs?: number;
  /** Factor applied to the wait after each failed attempt. Default 2. */
  multiplier?: number;
  /** Random spread applied to each wait, as a fraction (0.2 = +/-20%), so many kiosks do not retry in step. Default 0.2. */
  jitter?: number;
  /** Consecutive failed attempts after which the caller gives up (a source with `SOURCE_FAILED`). Default Infinity (never). */
  maxAttempts?: number;
}

/** Defaults of ReconnectOptions. */
export const RECONNECT_DEFAULTS: Required<ReconnectOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
  maxAttempts: Infinity,
};

/**
 * The wait before retry number `attempt` (1-based): initial * multiplier^(attempt-1), capped, with +/- jitter.
 * @example backoffDelayMs(3, { initialDelayMs: 100, jitter: 0 }) // 400
 */
export function backoffDelayMs(attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const o = { ...RECONNECT_DEFAULTS, ...options };
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.multiplier ** Math.max(0, attempt - 1));
  const spread = base * o.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
