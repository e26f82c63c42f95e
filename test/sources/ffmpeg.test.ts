import { describe, expect, it } from 'vitest';
import { createFfmpegSource, ffmpegArgs, inputKind, parseOutputStream, type SourceStatus } from '../../src/sources/index.js';
import { facePath, have } from '../helpers/shared.js';
import { haveFfmpeg } from '../helpers/ffmpeg.js';

const FFMPEG = haveFfmpeg();

const CLIP = facePath('video/face_recognition__short_hamilton_clip.mp4');

describe('ffmpeg command line', () => {
  it('recognises inputs by scheme and device path', () => {
    expect(inputKind('rtsp://10.0.0.2/stream')).toBe('rtsp');
    expect(inputKind('http://cam/mjpeg')).toBe('url');
    expect(inputKind('/dev/video0')).toBe('v4l2');
    expect(inputKind('clip.mp4')).toBe('file');
  });

  it('scales to the width cap and resamples to the target rate', () => {
    const args = ffmpegArgs({ input: 'rtsp://cam/s', fps: 5, maxWidthPx: 320 });
    expect(args.join(' ')).toContain('-rtsp_transport tcp');
    expect(args[args.indexOf('-vf') + 1]).toBe("fps=5,scale='min(320,iw)':-2");
    expect(args.slice(-5)).toEqual(['-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1']);
  });

  it('reads the output geometry from ffmpeg stderr, not the codec tag', () => {
    const stderr = [
      "Output #0, rawvideo, to 'pipe:1':",
      '  Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/bt709/bt709, progressive), 320x180 [SAR 1:1 DAR 16:9], q=2-31, 13824 kb/s, 10 fps, 10 tbn (default)',
    ].join('\n');
    expect(parseOutputStream(stderr)).toEqual({ width: 320, height: 180, fps: 10 });
  });

  it('rejects a bad option naming the field', () => {
    expect(() => createFfmpegSource({ input: 'x.mp4', fps: -1 })).toThrow(/fps/);
  });
});

describe.skipIf(!have(CLIP) || !FFMPEG)('ffmpeg source on the hamilton clip', () => {
  it('decodes every frame at the target rate, scaled, with increasing timestamps', async () => {
    const states: string[] = [];
    const src = createFfmpegSource({ input: CLIP, fps: 10, maxWidthPx: 320, onStatus: (s) => states.push(s.state) });
    const pts: number[] = [];
    let means = 0;
    for await (const f of src.frames()) {
      expect(f.image.width).toBe(320);
      expect(f.image.height).toBe(180);
      expect(f.image.data.length).toBe(320 * 180 * 3);
      pts.push(f.ptsMs);
      let s = 0;
      for (let i = 0; i < f.image.data.length; i += 97) s += f.image.data[i]!;
      means += s / (f.image.data.length / 97);
    }
    // a 10.0 s clip at 10 fps; the file is read with backpressure, so nothing is dropped
    expect(pts.length).toBeGreaterThanOrEqual(99);
    expect(pts.length).toBeLessThanOrEqual(101);
    expect(pts[1]! - pts[0]!).toBeCloseTo(100, 5);
    expect(means / pts.length).toBeGreaterThan(10); // real pixels, not a black pipe
    expect(src.stats()).toMatchObject({ framesDropped: 0, state: 'ended' });
    expect(states).toEqual(['connecting', 'streaming', 'ended']);
    console.log(`clip: ${pts.length} frames, last pts ${pts.at(-1)} ms, stats ${JSON.stringify(src.stats())}`);
  });

  it('drops the oldest frames when the consumer is slower than real time', async () => {
    const src = createFfmpegSource({ input: CLIP, fps: 30, maxWidthPx: 160, realtime: true, queueSize: 1 });
    let n = 0;
    const t0 = Date.now();
    for await (const f of src.frames()) {
      n++;
      expect(f.index).toBeGreaterThanOrEqual(n - 1);
      await new Promise((r) => setTimeout(r, 150)); // a slow engine: about 7 frames per second
      if (Date.now() - t0 > 3000) break;
    }
    const { framesRead, framesDropped } = src.stats();
    console.log(`slow consumer: took ${n}, read ${framesRead}, dropped ${framesDropped}`);
    expect(framesDropped).toBeGreaterThan(n); // ~30 fps in, ~7 fps out
    expect(framesRead).toBeGreaterThanOrEqual(n + framesDropped);
    await src.close();
  });
});

describe('failures are retried with backoff, never thrown at the caller until attempts are used up', () => {
  it('a missing file is reported reconnecting, then failed with SOURCE_FAILED', async () => {
    const statuses: SourceStatus[] = [];
    const src = createFfmpegSource({
      input: '/nonexistent/clip.mp4',
      reconnect: { initialDelayMs: 20, jitter: 0, maxAttempts: 3 },
      onStatus: (s) => statuses.push(s),
    });
    await expect(async () => {
      for await (const _ of src.frames()) void _;
    }).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
    const retries = statuses.filter((s) => s.state === 'reconnecting' && s.retryInMs !== undefined);
    expect(retries.map((s) => s.retryInMs)).toEqual([20, 40]);
    expect(retries[0]!.error?.message).toMatch(/no such file/);
    expect(statuses.at(-1)).toMatchObject({ state: 'failed', attempt: 3 });
  });

  it.skipIf(!FFMPEG)('a stream that stalls is killed and retried', async () => {
    const statuses: SourceStatus[] = [];
    // ffmpeg reading a FIFO nobody writes to: it opens nothing and delivers no frame
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'facegate-stall-'));
    const fifo = join(dir, 'stream.ts');
    execFileSync('mkfifo', [fifo]);
    const { openSync, closeSync, constants } = await import('node:fs');
    const holder = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK); // keeps the FIFO open with no data
    try {
      const src = createFfmpegSource({
        input: fifo,
        stallTimeoutMs: 300,
        reconnect: { initialDelayMs: 20, jitter: 0, maxAttempts: 2 },
        onStatus: (s) => statuses.push(s),
      });
      await expect(async () => {
        for await (const _ of src.frames()) void _;
      }).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
      expect(statuses.some((s) => s.state === 'reconnecting' && /stalled/.test(s.error?.message ?? ''))).toBe(true);
    } finally {
      closeSync(holder);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing ffmpeg binary fails at once with an install hint', async () => {
    const src = createFfmpegSource({ input: '/dev/null', kind: 'url', ffmpegPath: '/nonexistent/ffmpeg', reconnect: { initialDelayMs: 10 } });
    await expect(async () => {
      for await (const _ of src.frames()) void _;
    }).rejects.toThrow(/apt-get install ffmpeg/);
  });
});

describe.skipIf(!have(CLIP) || !FFMPEG)('recovery', () => {
  it('a stream that ends (camera gone) reconnects and frames resume with increasing timestamps', async () => {
    const statuses: SourceStatus[] = [];
    // the clip read as a live URL-like input: its end is a disconnect, not the end of the source
    const src = createFfmpegSource({ input: CLIP, kind: 'url', fps: 2, maxWidthPx: 64, reconnect: { initialDelayMs: 20, jitter: 0 }, onStatus: (s) => statuses.push(s) });
    const pts: number[] = [];
    for await (const f of src.frames()) {
      pts.push(f.ptsMs);
      if (src.stats().reconnects >= 1 && pts.length >= 25) break;
    }
    expect(statuses.some((s) => s.state === 'reconnecting' && /ended/.test(s.error?.message ?? ''))).toBe(true);
    expect(src.stats().reconnects).toBe(1);
    for (let i = 1; i < pts.length; i++) expect(pts[i]!).toBeGreaterThan(pts[i - 1]!);
  });

  it('a file that is missing at start is picked up once it appears', async () => {
    const { mkdtempSync, rmSync, symlinkSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'facegate-late-'));
    const late = join(dir, 'late.mp4');
    try {
      const states: string[] = [];
      const src = createFfmpegSource({ input: late, fps: 2, maxWidthPx: 64, reconnect: { initialDelayMs: 50, maxDelayMs: 100, jitter: 0 }, onStatus: (s) => states.push(s.state) });
      setTimeout(() => symlinkSync(CLIP, late), 300);
      let n = 0;
      for await (const _ of src.frames()) n++;
      expect(n).toBeGreaterThanOrEqual(19);
      expect(states[0]).toBe('connecting');
      expect(states).toContain('reconnecting');
      expect(states.slice(-2)).toEqual(['streaming', 'ended']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!have(CLIP) || !FFMPEG)('a network camera that goes away and comes back', () => {
  it('reconnects with backoff to an HTTP stream after its server dies, and frames resume', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:net');
    // a free port for an ffmpeg that serves the clip as a live MPEG-TS stream over HTTP, like an IP camera
    const port = await new Promise<number>((ok) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => ok(p));
      });
    });
    const camera = (seconds: number) =>
      spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-t', String(seconds), '-i', CLIP, '-an', '-vf', 'scale=160:-2',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', '-listen', '1', `http://127.0.0.1:${port}`], { stdio: 'ignore' });
    const statuses: SourceStatus[] = [];
    let second: ReturnType<typeof camera> | undefined;
    const first = camera(2);
    first.on('exit', () => setTimeout(() => (second = camera(3)), 300)); // the camera reboots
    await new Promise((r) => setTimeout(r, 300));
    const src = createFfmpegSource({ input: `http://127.0.0.1:${port}`, fps: 5, maxWidthPx: 64,
      reconnect: { initialDelayMs: 200, maxDelayMs: 400, jitter: 0 }, onStatus: (s) => statuses.push(s) });
    const pts: number[] = [];
    const timer = setTimeout(() => void src.close(), 15_000);
    try {
      for await (const f of src.frames()) {
        pts.push(f.ptsMs);
        if (src.stats().reconnects >= 1 && pts.length >= 12) break;
      }
    } finally {
      clearTimeout(timer);
      first.kill();
      second?.kill();
    }
    const states = statuses.map((s) => s.state);
    console.log(`camera reboot: ${pts.length} frames, states ${states.join(' ')}`);
    expect(src.stats().reconnects).toBe(1);
    expect(states[0]).toBe('connecting');
    expect(states.filter((st) => st === 'streaming').length).toBe(2);
    expect(states).toContain('reconnecting');
    for (let i = 1; i < pts.length; i++) expect(pts[i]!).toBeGreaterThan(pts[i - 1]!);
  });
});
