/**
 * Paths into ../shared (real models and photos) for tests. Under CI (`CI=true`) a missing file fails the run;
 * elsewhere the dependent tests are skipped with a message, so a checkout without ../shared still type-checks and
 * runs its pure tests.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = resolve(REPO_ROOT, '..', 'shared');
export const MODELS_DIR = join(SHARED, 'models');
export const FACES = join(SHARED, 'data', 'faces');
export const IN_CI = process.env.CI === 'true';

/** Absolute path of a file under ../shared/data/faces. */
export function facePath(rel: string): string {
  return join(FACES, rel);
}

/**
 * True when every path exists. Under CI a missing path throws (the run must fail); elsewhere it returns false and
 * the caller skips (`describe.skipIf(!have(...))`).
 */
export function have(...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length === 0) return true;
  if (IN_CI) throw new Error(`CI: required test file(s) missing: ${missing.join(', ')}`);
  console.warn(`skipping: missing ${missing.join(', ')}`);
  return false;
}
