/**
 * The layering rules of DEVELOPERS.md, checked on the source: each layer imports only layers below it, and each
 * third-party native dependency has exactly one importer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

const SRC = join(REPO_ROOT, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Layer number of a source file (see DEVELOPERS.md). */
function layerOf(file: string): number {
  const rel = relative(SRC, file).replace(/\\/g, '/');
  const top = rel.split('/')[0]!;
  if (top === 'core') return 1;
  if (top === 'runtime' || top === 'image') return 2;
  if (['models', 'face', 'gallery', 'quantize'].includes(top)) return 3;
  if (top === 'sources' || top === 'sinks' || !rel.includes('/')) return rel === 'index.ts' ? 7 : 4;
  if (top === 'pipeline') return 5;
  if (top === 'cli') return 6;
  return 4;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  // Static imports/exports and dynamic import() calls; `import type` is allowed across layers only downward too.
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

const files = walk(SRC);

describe('architecture', () => {
  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('each layer imports only layers below it (index.ts and the CLI excepted as the top)', () => {
    const violations: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      for (const spec of importsOf(f)) {
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
        if (!target.startsWith(SRC)) continue;
        const to = layerOf(target);
        const sameDir = dirname(target) === dirname(f) || relative(SRC, target).split('/')[0] === relative(SRC, f).split('/')[0];
        // Within layer 4 only the top-level files (engine, enrolment, evaluation) may build on one another;
        // sources and sinks are siblings that never import each other.
        const topLevel = (p: string): boolean => !relative(SRC, p).includes('/');
        if (to > from || (to === from && !sameDir && !(from === 4 && topLevel(f) && topLevel(target)))) {
          violations.push(`${relative(REPO_ROOT, f)} (layer ${from}) imports ${relative(REPO_ROOT, target)} (layer ${to})`);
        }
        if (relative(SRC, target) === 'index.ts' && relative(SRC, f) !== 'index.ts') violations.push(`${relative(REPO_ROOT, f)} imports src/index.ts`);
        if (relative(SRC, target).startsWith('cli/') && !relative(SRC, f).startsWith('cli/')) violations.push(`${relative(REPO_ROOT, f)} imports the CLI`);
      }
    }
    expect(violations).toEqual([]);
  });

  const owners: Record<string, string> = {
    'onnxruntime-node': 'runtime/',
    sharp: 'image/',
    mqtt: 'sinks/mqtt.ts',
  };
  // lmdb: the gallery store and the sinks' durable outbox (both persistence; nothing else).
  it('only the gallery store and the sink outbox import lmdb', () => {
    const importers = files.filter((f) => importsOf(f).some((s) => s === 'lmdb' || s.startsWith('lmdb/'))).map((f) => relative(SRC, f));
    expect(importers.sort()).toEqual(['gallery/lmdb-store.ts', 'sinks/outbox.ts']);
  });
  for (const [pkg, owner] of Object.entries(owners)) {
    it(`only ${owner} imports ${pkg}`, () => {
      // Subpath imports (pkg/...) and require.resolve-style lookups count as importing the package.
      const uses = (f: string): boolean =>
        importsOf(f).some((spec) => spec === pkg || spec.startsWith(`${pkg}/`)) ||
        new RegExp(`(?:require|resolve)\\(\\s*['"]${pkg}(?:/[^'"]*)?['"]`).test(readFileSync(f, 'utf8'));
      const importers = files.filter(uses).map((f) => relative(SRC, f));
      expect(importers.length).toBeGreaterThan(0);
      expect(importers.every((f) => f.startsWith(owner))).toBe(true);
    });
  }

  it('core has no third-party imports', () => {
    const bad = files
      .filter((f) => layerOf(f) === 1)
      .flatMap((f) => importsOf(f).filter((s) => !s.startsWith('.') && !s.startsWith('node:')).map((s) => `${relative(SRC, f)}: ${s}`));
    expect(bad).toEqual([]);
  });

  it('the gallery never imports inference', () => {
    const bad = files
      .filter((f) => relative(SRC, f).startsWith('gallery/'))
      .flatMap((f) => importsOf(f).filter((s) => /runtime|models|engine|onnxruntime/.test(s)).map((s) => `${relative(SRC, f)}: ${s}`));
    expect(bad).toEqual([]);
  });
});
