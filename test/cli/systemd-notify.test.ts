/**
 * sd_notify from `facegate run`: a stand-in `systemd-notify` on PATH records each call, so the test sees what
 * systemd would receive (READY=1, WATCHDOG=1 while frames move, STATUS=, STOPPING=1) and that nothing is sent
 * outside systemd; the notifier itself with a missing binary and with a stuck loop.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemdNotifier } from '../../src/cli/systemd-notify.js';
import { CLI, jsonLines } from '../helpers/cli.js';
import { haveFfmpeg } from '../helpers/ffmpeg.js';
import { MODELS_DIR, REPO_ROOT, facePath, have } from '../helpers/shared.js';

const CLIP = facePath('video/face_recognition__short_hamilton_clip.mp4');
const SOCKET = '/run/facegate-test/notify';

let dir: string;
let bin: string;
let log: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'facegate-notify-test-'));
  bin = join(dir, 'bin');
  log = join(dir, 'notify.log');
  mkdirSync(bin);
  // One line per call: the socket it was given, then its arguments.
  writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET|$*" >> "${log}"\n`);
  chmodSync(join(bin, 'systemd-notify'), 0o755);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The recorded calls, in order: { socket, args }. */
function calls(): { socket: string; args: string }[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ socket: l.slice(0, l.indexOf('|')), args: l.slice(l.indexOf('|') + 1) }));
}

/** `facegate run` on the clip with the stand-in first on PATH and exactly the systemd variables given. */
function runOnClip(systemd: Record<string, string>, extra: string[] = [], onStderr?: (text: string, kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, FACEGATE_MODELS: MODELS_DIR, PATH: `${bin}:${process.env.PATH ?? ''}`, ...systemd };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) if (!(k in systemd)) delete env[k];
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--source.input', CLIP, '--gallery.path', join(dir, 'gallery'), '--engine.threads', '1', '--json', ...extra],
    { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    onStderr?.(stderr, () => child.kill('SIGTERM'));
  });
  return new Promise((ok) => child.on('close', (code) => ok({ code, stdout, stderr })));
}

describe.skipIf(!have(CLIP, MODELS_DIR) || !haveFfmpeg())('facegate run under systemd (Type=notify)', () => {
  it('sends READY=1, then WATCHDOG=1 while frames are processed, STATUS= with the counters, then STOPPING=1', async () => {
    rmSync(log, { force: true });
    // WATCHDOG_USEC 0.3 s: a ping every 0.15 s, so the clip's run sees several
    const r = await runOnClip({ NOTIFY_SOCKET: SOCKET, WATCHDOG_USEC: '300000' });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const summary = jsonLines(r.stdout).find((l) => l.kind === 'summary') as { frames: number };
    expect(summary.frames).toBeGreaterThan(0);
    const sent = calls();
    console.log(`notify: ${sent.length} calls, ${sent.filter((c) => c.args.includes('WATCHDOG=1')).length} with WATCHDOG=1; first: ${sent[0]?.args}; last: ${sent.at(-1)?.args}`);
    expect(sent.every((c) => c.socket === SOCKET)).toBe(true);
    const ready = sent.findIndex((c) => c.args.split(' ').includes('READY=1'));
    const watchdog = sent.findIndex((c) => c.args.split(' ').includes('WATCHDOG=1'));
    const stopping = sent.findIndex((c) => c.args.split(' ').includes('STOPPING=1'));
    expect(ready).toBe(0);
    expect(watchdog).toBeGreaterThan(ready);
    expect(stopping).toBe(sent.length - 1);
    expect(stopping).toBeGreaterThan(watchdog);
    // the status line systemctl shows: source state and the frame counter
    expect(sent.some((c) => /STATUS=\w+: \d+ frames, [\d.]+ fps/.test(c.args))).toBe(true);
  });

  it('systemctl stop (SIGTERM) of a looping camera: STOPPING=1 is the last message and the exit is clean', async () => {
    rmSync(log, { force: true });
    let killed = false;
    const r = await runOnClip({ NOTIFY_SOCKET: SOCKET, WATCHDOG_USEC: '300000' }, ['--source.loop', '--source.realtime'], (text, kill) => {
      if (!killed && /"state":"streaming"/.test(text) && calls().some((c) => c.args.includes('WATCHDOG=1'))) {
        killed = true;
        kill();
      }
    });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const sent = calls();
    expect(sent[0]?.args).toMatch(/^READY=1/);
    expect(sent.at(-1)?.args).toBe('STOPPING=1');
    expect(sent.filter((c) => c.args.includes('STOPPING=1'))).toHaveLength(1);
  });

  it('spawns nothing without NOTIFY_SOCKET', async () => {
    rmSync(log, { force: true });
    const r = await runOnClip({});
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(jsonLines(r.stdout).some((l) => l.kind === 'summary')).toBe(true);
    expect(existsSync(log)).toBe(false);
    expect(r.stderr).not.toMatch(/systemd/);
  });
});

describe('createSystemdNotifier', () => {
  it('a missing systemd-notify binary: one warning line, then silence, never a throw', async () => {
    const warnings: string[] = [];
    const n = createSystemdNotifier({ env: { NOTIFY_SOCKET: SOCKET, WATCHDOG_USEC: '100000' }, binary: join(dir, 'no-such-systemd-notify'), warn: (l) => warnings.push(l) });
    expect(n.enabled).toBe(true);
    n.ready('starting');
    n.status('still starting');
    await n.close();
    expect(n.enabled).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: systemd notification failed \(.*no-such-systemd-notify not found\)/);
  });

  it('withholds WATCHDOG=1 while the loop makes no progress, and resumes when it moves again', async () => {
    rmSync(log, { force: true });
    const warnings: string[] = [];
    const n = createSystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: SOCKET, WATCHDOG_USEC: '100000' }, binary: join(bin, 'systemd-notify'), warn: (l) => warnings.push(l) });
    expect(n.watchdogMs).toBe(100);
    let frames = 0;
    let last = -1;
    n.ready();
    n.startHeartbeat({
      isProgressing: () => {
        const moved = frames !== last;
        last = frames;
        return moved;
      },
    });
    await new Promise((r) => setTimeout(r, 400)); // stuck: frames never move after the first tick
    const stuck = calls().filter((c) => c.args.includes('WATCHDOG=1')).length;
    const moving = setInterval(() => frames++, 5); // the loop runs again
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(moving);
    await n.close();
    const sent = calls();
    expect(stuck).toBeLessThanOrEqual(1); // the first tick sees the counter "move" from its initial value
    expect(sent.filter((c) => c.args.includes('WATCHDOG=1')).length).toBeGreaterThan(stuck);
    expect(sent.some((c) => /STATUS=stalled: no frame for \d+ s/.test(c.args))).toBe(true);
    expect(warnings.filter((w) => /withholding the systemd watchdog ping/.test(w))).toHaveLength(1);
    expect(sent.at(-1)?.args).toBe('STOPPING=1');
  });

  it('ignores a watchdog meant for another process (WATCHDOG_PID) and does nothing without NOTIFY_SOCKET', () => {
    expect(createSystemdNotifier({ env: { NOTIFY_SOCKET: SOCKET, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }, pid: 4242 }).watchdogMs).toBeUndefined();
    const off = createSystemdNotifier({ env: { WATCHDOG_USEC: '100000' } });
    expect(off.enabled).toBe(false);
    expect(off.watchdogMs).toBeUndefined();
  });
});
