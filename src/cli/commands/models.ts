/** `facegate models [--json]`: the manifest's models and whether each file is present with the right sha256. */
import { readdirSync } from 'node:fs';
import { checkModel, loadManifest, resolveModelsDir } from '../../models/manifest.js';
import { bool, parse, printJsonLine, str, type Command } from '../common.js';

const USAGE = `usage: facegate models [--models DIR] [--json]

Lists every model of the manifest with its status in the models directory:
  verified   the file is there with the manifest's sha256
  missing    no such file
  mismatch   the file is there but its sha256 differs (corrupt, or another model under that name)
.onnx files in the directory that the manifest does not know are listed as "unknown".
  --json     one JSON line per model: {"id", "role", "family", "file", "path", "status", "sha256", "actualSha256"?}
exit status: 0 (the listing is the result), 1 when the models directory does not exist.`;

export const command: Command = {
  name: 'models',
  summary: 'list the manifest models and verify their files (sha256)',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, {});
    const dir = resolveModelsDir(str(args, 'models'));
    const manifest = loadManifest();
    const json = bool(args, 'json');
    if (!json) process.stdout.write(`models directory: ${dir}\n`);
    const known = new Set<string>();
    for (const entry of manifest.models) {
      known.add(entry.file);
      const s = await checkModel(dir, entry);
      const status = s.status === 'ok' ? 'verified' : s.status;
      if (json) {
        printJsonLine({
          id: entry.id,
          role: entry.role,
          family: entry.family,
          file: entry.file,
          path: s.path,
          status,
          sha256: entry.sha256,
          ...(s.status === 'mismatch' ? { actualSha256: s.actualSha256 } : {}),
        });
      } else {
        process.stdout.write(`  ${status.padEnd(9)} ${entry.id.padEnd(30)} ${entry.role.padEnd(10)} ${entry.family.padEnd(10)} ${entry.file}\n`);
      }
    }
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.onnx') && !known.has(n)).sort()) {
      if (json) printJsonLine({ file: f, status: 'unknown' });
      else process.stdout.write(`  ${'unknown'.padEnd(9)} ${'-'.padEnd(30)} ${'-'.padEnd(10)} ${'-'.padEnd(10)} ${f}\n`);
    }
    return 0;
  },
};
