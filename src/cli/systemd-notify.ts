/**
 * sd_notify for `facegate run` under systemd (Type=notify, WatchdogSec=). Node has no unix datagram sockets, so each
 * message is sent by the `systemd-notify` binary (the unit needs NotifyAccess=all: the sender is a child process).
 * Without NOTIFY_SOCKET, or without the binary, it does nothing; a failing send never stops the kiosk.
 */
import { execFile } from 'node:child_process';

/** Options of {@link createSystemdNotifier}. */
export interface SystemdNotifierOptions {
  /** Environment read for NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and given to the binary. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** The notify binary, looked up on PATH unless absolute. Default: `systemd-notify`. */
  binary?: string;
  /** Longest one send may take before it is killed, in milliseconds. Default: 5000. */
  timeoutMs?: number;
  /** Where the one warning line about a failed send goes. Default: a line on stderr. */
  warn?: (line: string) => void;
  /** Process id compared with WATCHDOG_PID (systemd sets it to the main PID). Default: process.pid. */
  pid?: number;
}

/** What the heartbeat asks the caller on each tick. */
export interface HeartbeatOptions {
  /**
   * True when the work loop moved since the previous tick (or is legitimately waiting, e.g. a camera reconnecting
   * with its own backoff). False withholds WATCHDOG=1, so systemd restarts a process whose loop hangs.
   */
  isProgressing: () => boolean;
  /** A one-line summary for STATUS= (`systemctl status`); sent when it changed. */
  status?: () => string;
  /** Tick period without a watchdog (STATUS only), in milliseconds. Default: 30000. */
  statusIntervalMs?: number;
}

/** Sends sd_notify messages through `systemd-notify`; every method is a no-op when not under systemd. */
export interface SystemdNotifier {
  /** True when NOTIFY_SOCKET is set and the binary has not been found missing. */
  readonly enabled: boolean;
  /** The watchdog timeout for this process in milliseconds (WATCHDOG_USEC), or undefined when off. */
  readonly watchdogMs: number | undefined;
  /** Sends READY=1 (with STATUS= when given). */
  ready(status?: string): void;
  /** Sends STATUS=. */
  status(text: string): void;
  /** Starts the periodic WATCHDOG=1 (every half of WATCHDOG_USEC, while `isProgressing`) and STATUS= updates. */
  startHeartbeat(options: HeartbeatOptions): void;
  /** Stops the heartbeat and sends STOPPING=1 (once). */
  stopping(): void;
  /** Stops the heartbeat, sends STOPPING=1 if READY=1 was sent, and waits (bounded) for the sends in flight. */
  close(): Promise<void>;
}

/** Queued sends beyond this are dropped (a hung binary must not pile up processes); READY/STOPPING never are. */
const MAX_PENDING = 4;

/** STATUS= is one line: a newline would start another assignment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

export function createSystemdNotifier(options: SystemdNotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  const binary = options.binary ?? 'systemd-notify';
  const timeoutMs = options.timeoutMs ?? 5000;
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const pid = options.pid ?? process.pid;
  let enabled = Boolean(env.NOTIFY_SOCKET);
  const usec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : pid;
  const watchdogMs = enabled && Number.isFinite(usec) && usec > 0 && watchdogPid === pid ? usec / 1000 : undefined;

  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let warned = false;
  let readySent = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  function sendNow(assignments: string[]): Promise<void> {
    return new Promise((resolve) => {
      if (!enabled) return resolve();
      execFile(binary, assignments, { env, timeout: timeoutMs, killSignal: 'SIGKILL', windowsHide: true }, (err) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          if (missing) enabled = false; // no binary: stay quiet from now on
          if (!warned) {
            warned = true;
            warn(`warning: systemd notification failed (${missing ? `${binary} not found` : err.message.split('\n')[0]}); ${missing ? 'not notifying systemd' : 'further failures are not reported'}`);
          }
        }
        resolve();
      });
    });
  }

  /** Serialised, so systemd sees READY=1 before WATCHDOG=1 before STOPPING=1. */
  function send(assignments: string[], essential = false): void {
    if (!enabled || assignments.length === 0) return;
    if (!essential && pending >= MAX_PENDING) return;
    pending++;
    chain = chain.then(() => sendNow(assignments)).finally(() => pending--);
  }

  function stopHeartbeat(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  function stopping(): void {
    stopHeartbeat();
    if (stopped) return;
    stopped = true;
    send(['STOPPING=1'], true);
  }

  return {
    get enabled() {
      return enabled;
    },
    watchdogMs,
    ready(status) {
      if (readySent || stopped) return;
      readySent = true;
      send(['READY=1', ...(status ? [`STATUS=${oneLine(status)}`] : [])], true);
    },
    status(text) {
      if (!stopped) send([`STATUS=${oneLine(text)}`]);
    },
    startHeartbeat(hb) {
      if (!enabled || stopped) return;
      stopHeartbeat();
      let lastStatus = '';
      let stalledSince: number | undefined;
      const periodMs = watchdogMs !== undefined ? Math.max(1, Math.floor(watchdogMs / 2)) : (hb.statusIntervalMs ?? 30_000);
      timer = setInterval(() => {
        // READY=1 again: harmless once running, and it covers a first one lost by systemd < 246, which may drop a
        // message whose sender (systemd-notify) has already exited.
        const parts: string[] = readySent ? ['READY=1'] : [];
        let moving = true;
        try {
          moving = hb.isProgressing();
        } catch {
          moving = false;
        }
        if (watchdogMs !== undefined) {
          if (moving) {
            parts.push('WATCHDOG=1');
            stalledSince = undefined;
          } else if (stalledSince === undefined) {
            stalledSince = Date.now();
            warn(`warning: no frame processed for ${Math.round(periodMs / 1000)} s; withholding the systemd watchdog ping (restart after ${Math.round(watchdogMs / 1000)} s)`);
          }
        }
        let text = '';
        try {
          text = hb.status ? oneLine(hb.status()) : '';
        } catch {
          // a failing summary only costs the STATUS line
        }
        if (stalledSince !== undefined) text = `stalled: no frame for ${Math.round((Date.now() - stalledSince + periodMs) / 1000)} s`;
        if (text && text !== lastStatus) {
          parts.push(`STATUS=${text}`);
          lastStatus = text;
        }
        if (parts.length > (readySent ? 1 : 0)) send(parts);
      }, periodMs);
      timer.unref();
    },
    stopping,
    async close() {
      stopHeartbeat();
      if (readySent) stopping();
      stopped = true;
      await chain;
    },
  };
}
