/**
 * Video files, RTSP/HTTP streams and V4L2 cameras, decoded by an ffmpeg child process that pipes raw RGB frames.
 *
 * Why a child process and not node-webcodecs: see docs/sources.md. In short, ffmpeg decodes every codec a camera sends
 * (H.264, H.265, MJPEG), installs from the distribution on a plain Linux box and on a Jetson, and a decoder crash
 * or hang kills a child we restart, never the kiosk process.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FaceGateError } from '../core/errors.js';
import { createReconnectingSource, type EmitFrame } from './reconnecting-source.js';
import type { CommonSourceOptions, FrameSource } from './types.js';

/** What ffmpeg reads: a file, a network stream, or a V4L2 device. */
export type FfmpegInputKind = 'file' | 'rtsp' | 'url' | 'v4l2';

/** Options of an ffmpeg-decoded source. */
export interface FfmpegSourceOptions extends CommonSourceOptions {
  /** A file path, an `rtsp://`/`rtsps://`/`http(s)://` URL, or a V4L2 device such as `/dev/video0`. Required. */
  input: string;
  /** The kind of input. Default: from `input` (URL scheme, `/dev/video*`, else file). */
  kind?: FfmpegInputKind;
  /** Target frame rate, in frames per second: ffmpeg resamples to it. Default: the input's own rate. */
  fps?: number;
  /** Frames wider than this are scaled down (aspect kept), in pixels; 0 keeps the size. Default 640. */
  maxWidthPx?: number;
  /** Files only: read at the file's own speed, like a camera (then frames drop when the engine is behind). Default false. */
  realtime?: boolean;
  /** Files only: start again at the end instead of ending. Default false. */
  loop?: boolean;
  /** A connection that delivers no frame for this long is killed and retried, in milliseconds. Default 10000. */
  stallTimeoutMs?: number;
  /** The ffmpeg executable. Default: `FACEGATE_FFMPEG` from the environment, else `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** Extra ffmpeg arguments placed before `-i` (e.g. `['-input_format', 'mjpeg', '-video_size', '1280x720']`). Default []. */
  inputArgs?: string[];
}

/** Defaults of FfmpegSourceOptions. */
export const FFMPEG_SOURCE_DEFAULTS = { maxWidthPx: 640, stallTimeoutMs: 10_000, realtime: false, loop: false } as const;

/** The kind of input a string names. */
export function inputKind(input: string): FfmpegInputKind {
  if (/^rtsps?:\/\//i.test(input)) return 'rtsp';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return 'url';
  if (/^\/dev\/video\d+$/.test(input)) return 'v4l2';
  return 'file';
}

/** The ffmpeg command line for a source (exported for docs and tests). */
export function ffmpegArgs(options: FfmpegSourceOptions): string[] {
  const kind = options.kind ?? inputKind(options.input);
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  if (kind === 'rtsp') args.push('-rtsp_transport', 'tcp');
  if (kind === 'v4l2') args.push('-f', 'v4l2');
  if (kind === 'file' && options.realtime) args.push('-re');
  if (kind === 'file' && options.loop) args.push('-stream_loop', '-1');
  args.push(...(options.inputArgs ?? []), '-i', options.input, '-an', '-sn', '-dn');
  const filters: string[] = [];
  if (options.fps !== undefined) filters.push(`fps=${options.fps}`);
  const maxW = options.maxWidthPx ?? FFMPEG_SOURCE_DEFAULTS.maxWidthPx;
  // -2 keeps the height even, which some scalers need
  if (maxW > 0) filters.push(`scale='min(${Math.floor(maxW)},iw)':-2`);
  if (filters.length) args.push('-vf', filters.join(','));
  args.push('-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');
  return args;
}

/** Reads the output frame size and rate from ffmpeg's stream description on stderr. */
export function parseOutputStream(stderr: string): { width: number; height: number; fps?: number } | undefined {
  const out = stderr.indexOf('Output #0');
  if (out < 0) return undefined;
  const line = stderr.slice(out).split('\n').find((l) => /Stream #\d+:\d+.*Video: rawvideo/.test(l));
  if (!line) return undefined;
  // two digits at least, so the codec tag `0x18424752` is not read as a size
  const size = /(?<![\w])(\d{2,5})x(\d{2,5})(?![\w])/.exec(line);
  if (!size) return undefined;
  const fps = /(\d+(?:\.\d+)?) fps/.exec(line);
  return { width: Number(size[1]), height: Number(size[2]), fps: fps ? Number(fps[1]) : undefined };
}

function validate(options: FfmpegSourceOptions): void {
  const bad = (field: string, msg: string): never => {
    throw new FaceGateError('CONFIG_INVALID', `source option ${field} ${msg}`, { details: { field } });
  };
  if (typeof options.input !== 'string' || options.input.length === 0) bad('input', 'must be a non-empty string');
  if (options.fps !== undefined && !(options.fps > 0 && options.fps <= 240)) bad('fps', `must be in (0, 240], got ${options.fps}`);
  if (options.maxWidthPx !== undefined && !(options.maxWidthPx >= 0)) bad('maxWidthPx', `must be >= 0, got ${options.maxWidthPx}`);
  if (options.stallTimeoutMs !== undefined && !(options.stallTimeoutMs > 0)) bad('stallTimeoutMs', `must be > 0, got ${options.stallTimeoutMs}`);
}

/**
 * A source decoded by ffmpeg. Files end after their last frame; cameras and streams reconnect forever (backoff).
 * @example
 * const src = createFfmpegSource({ input: 'rtsp://cam/stream', fps: 10 });
 * for await (const frame of src.frames()) console.log(frame.index, frame.image.width);
 */
export function createFfmpegSource(options: FfmpegSourceOptions): FrameSource {
  validate(options);
  const kind = options.kind ?? inputKind(options.input);
  const args = ffmpegArgs({ ...options, kind });
  const ffmpegPath = options.ffmpegPath ?? process.env.FACEGATE_FFMPEG ?? 'ffmpeg';
  const stallTimeoutMs = options.stallTimeoutMs ?? FFMPEG_SOURCE_DEFAULTS.stallTimeoutMs;
  const name = options.name ?? options.input;
  const finite = kind === 'file';

  const connect = async (emit: EmitFrame, signal: AbortSignal): Promise<void> => {
    if (kind === 'file' || kind === 'v4l2') {
      try {
        await access(options.input);
      } catch {
        throw new FaceGateError('SOURCE_FAILED', `${name}: ${kind === 'v4l2' ? 'no such camera' : 'no such file'} ${options.input}`, {
          details: { source: name, input: options.input },
        });
      }
    }
    await runFfmpeg(ffmpegPath, args, name, options.fps, stallTimeoutMs, emit, signal);
  };

  return createReconnectingSource({
    ...options,
    name,
    connect,
    live: !finite || options.loop === true,
    defaultOverflow: finite && !options.realtime ? 'block' : 'drop-oldest',
  });
}

async function runFfmpeg(
  ffmpegPath: string,
  args: string[],
  name: string,
  targetFps: number | undefined,
  stallTimeoutMs: number,
  emit: EmitFrame,
  signal: AbortSignal,
): Promise<void> {
  let proc: ChildProcessByStdio<null, Readable, Readable>;
  try {
    proc = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw spawnError(ffmpegPath, e);
  }
  let stderr = '';
  let geometry: { width: number; height: number; fps?: number } | undefined;
  let resolveGeometry!: () => void;
  const geometryKnown = new Promise<void>((r) => (resolveGeometry = r));
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => {
    // keep the head (stream description) and a bounded tail (the last error)
    stderr = stderr.length < 16_384 ? stderr + d : stderr.slice(0, 8_192) + stderr.slice(-8_192) + d;
    if (!geometry) {
      geometry = parseOutputStream(stderr);
      if (geometry) resolveGeometry();
    }
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    proc.once('error', (error) => resolve({ code: null, error }));
    proc.once('close', (code) => resolve({ code }));
  });
  exited.then(() => resolveGeometry());

  let failure: FaceGateError | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  const armStall = (): void => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      failure ??= new FaceGateError('SOURCE_FAILED', `${name}: stalled, no frame for ${stallTimeoutMs} ms`, {
        details: { source: name, stallTimeoutMs },
      });
      kill();
    }, stallTimeoutMs);
  };
  const onAbort = (): void => kill();
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    armStall();
    let frameBytes = 0;
    let frame: Buffer | undefined;
    let filled = 0;
    let count = 0;
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      if (!geometry) {
        // ffmpeg writes its stream description before the first frame; a missing one is a failure, not a hang
        let t: NodeJS.Timeout | undefined;
        await Promise.race([geometryKnown, new Promise<void>((r) => (t = setTimeout(r, 5_000)))]);
        clearTimeout(t);
      }
      if (!geometry) {
        failure ??= new FaceGateError('SOURCE_FAILED', `${name}: cannot read the frame size from ffmpeg's output`, { details: { source: name } });
        break;
      }
      if (frameBytes === 0) frameBytes = geometry.width * geometry.height * 3;
      let off = 0;
      while (off < chunk.length) {
        frame ??= Buffer.allocUnsafe(frameBytes);
        const n = Math.min(frameBytes - filled, chunk.length - off);
        chunk.copy(frame, filled, off, off + n);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const fps = targetFps ?? geometry.fps ?? 25;
          const image = { data: new Uint8Array(frame.buffer, frame.byteOffset, frameBytes), width: geometry.width, height: geometry.height, channels: 3 as const };
          frame = undefined;
          filled = 0;
          // the watchdog must not count the time the consumer takes (block policy holds us here on purpose)
          clearTimeout(stallTimer);
          await emit(image, (count++ * 1000) / fps);
          if (signal.aborted) break;
          armStall();
        }
      }
      if (signal.aborted) break;
    }
  } finally {
    clearTimeout(stallTimer);
    signal.removeEventListener('abort', onAbort);
    kill();
  }
  const { code, error } = await exited;
  if (signal.aborted) return;
  if (error) throw spawnError(ffmpegPath, error);
  if (failure) throw failure;
  if (code !== 0) {
    const last = stderr.trim().split('\n').slice(-2).join(' | ');
    throw new FaceGateError('SOURCE_FAILED', `${name}: ffmpeg exited with code ${code}: ${last}`, { details: { source: name, exitCode: code } });
  }
}

function spawnError(ffmpegPath: string, e: unknown): FaceGateError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new FaceGateError('SOURCE_FAILED', `ffmpeg not found (${ffmpegPath}): install it (Debian/Ubuntu/Jetson: apt-get install ffmpeg) or set FACEGATE_FFMPEG`, {
      cause: e,
      details: { retryable: false, ffmpegPath },
    });
  }
  return new FaceGateError('SOURCE_FAILED', `cannot start ${ffmpegPath}: ${(e as Error).message}`, { cause: e });
}
