/**
 * Whether ffmpeg is on PATH, for tests that decode video. Like `have()`: under CI a missing ffmpeg fails the run
 * (.ci/run installs it); elsewhere the dependent tests are skipped with a message.
 */
import { spawnSync } from 'node:child_process';
import { IN_CI } from './shared.js';

export function haveFfmpeg(): boolean {
  const r = spawnSync(process.env.FACEGATE_FFMPEG ?? 'ffmpeg', ['-version'], { stdio: 'ignore' });
  if (r.status === 0) return true;
  if (IN_CI) throw new Error('CI: ffmpeg is not installed (apt-get install ffmpeg)');
  console.warn('skipping: ffmpeg is not installed (apt-get install ffmpeg)');
  return false;
}
