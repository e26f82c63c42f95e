/**
 * Vitest global setup: builds dist/ once per run so CLI tests can spawn the real binary (dist/src/cli/main.js).
 * Skipped when dist is newer than every source file. Type errors do not stop the build's output (tsc still emits);
 * the type-check is `npm run typecheck`'s job, so only a missing entry point fails here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/shared.js';

const ENTRY = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

function newestSource(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (name.endsWith('.ts') || name.endsWith('.json')) newest = Math.max(newest, s.mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const sources = Math.max(...['src', 'bench', 'tools', 'models'].map((d) => newestSource(join(REPO_ROOT, d))));
  if (existsSync(ENTRY) && statSync(ENTRY).mtimeMs > sources) return;
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (!existsSync(ENTRY)) throw new Error(`build did not produce ${ENTRY}:\n${r.stdout}\n${r.stderr}`);
}
