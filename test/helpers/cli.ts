/** Runs the built CLI (dist/src/cli/main.js, built by test/global-setup.ts) as a child process. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MODELS_DIR, REPO_ROOT } from './shared.js';

export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `facegate ARGS...`, with FACEGATE_MODELS pointing at ../shared/models. Pass `--threads 1` where a test runs
 * models for long (the CI box has 2 cores shared by parallel test files).
 */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, FACEGATE_MODELS: MODELS_DIR, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Parses JSON Lines output. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
