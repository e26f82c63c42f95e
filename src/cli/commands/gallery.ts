/** `facegate gallery list|show|remove|export|import`: manage the people of a gallery. */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FaceGateError } from '../../core/errors.js';
import type { Gallery } from '../../gallery/gallery.js';
import { bool, parse, printJsonLine, str, type Command } from '../common.js';
import { GALLERY_OPTIONS, GALLERY_USAGE, openGalleryFrom } from '../gallery-flags.js';

const USAGE = `usage: facegate gallery list   --gallery DIR [--json]
       facegate gallery show   --gallery DIR ID [--json]
       facegate gallery remove --gallery DIR ID...
       facegate gallery export --gallery DIR [--out FILE]
       facegate gallery import --gallery DIR FILE

  list     the enrolled people (id, name, templates) and the gallery's model
  show     one person: metadata, times and templates (model id, quality, source)
  remove   deletes every trace of each person: records, templates, vectors (right to erasure)
  export   the gallery as JSON Lines (a header with the model id and dimension, then one line per person with their
           vectors, bit-exact), to stdout or --out FILE, to move a gallery to another device
  import   reads an export; every line is checked first and nothing is written when one is malformed
           (GALLERY_IMPORT_INVALID names the line); people already enrolled are replaced
exit status: 0 on success, 1 for an unknown person (GALLERY_IDENTITY_NOT_FOUND) and other errors, 2 for usage errors.

${GALLERY_USAGE}`;

const OPTIONS = { ...GALLERY_OPTIONS, out: { type: 'string' } } as const;

const SUBCOMMANDS = ['list', 'show', 'remove', 'export', 'import'];

async function readLines(path: string): Promise<string[]> {
  if (!existsSync(path)) throw new FaceGateError('FILE_NOT_FOUND', `export file ${path} does not exist`, { details: { path } });
  const lines: string[] = [];
  for await (const line of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) lines.push(line);
  return lines;
}

async function writeExport(g: Gallery, out: string | undefined): Promise<number> {
  const file = out ? createWriteStream(out) : null;
  const stream = file ?? process.stdout;
  let n = 0;
  for (const line of g.exportLines()) {
    if (!stream.write(`${line}\n`)) await new Promise<void>((r) => stream.once('drain', () => r()));
    n++;
  }
  if (file) {
    await new Promise<void>((resolve, reject) => {
      file.on('error', reject);
      file.end(() => resolve());
    });
  }
  return n - 1;
}

export const command: Command = {
  name: 'gallery',
  summary: 'list, show, remove, export or import the people of a gallery',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const [sub, ...rest] = args.positionals;
    if (!sub || !SUBCOMMANDS.includes(sub)) throw new FaceGateError('USAGE', `gallery needs one of ${SUBCOMMANDS.join(', ')}${sub ? `, got "${sub}"` : ''}`);
    const json = bool(args, 'json');
    if ((sub === 'list' || sub === 'export') && rest.length > 0) throw new FaceGateError('USAGE', `gallery ${sub} takes no arguments`);
    if (sub === 'show' && rest.length !== 1) throw new FaceGateError('USAGE', 'gallery show takes one ID');
    if (sub === 'remove' && rest.length === 0) throw new FaceGateError('USAGE', 'gallery remove takes at least one ID');
    if (sub === 'import' && rest.length !== 1) throw new FaceGateError('USAGE', 'gallery import takes one FILE');
    // Import reads (and so validates) the file before the gallery is created.
    const importLines = sub === 'import' ? await readLines(rest[0]!) : null;
    const g = openGalleryFrom(args, { mustExist: sub !== 'import' });
    try {
      switch (sub) {
        case 'list': {
          const stats = g.stats();
          const people = g.list();
          if (json) {
            printJsonLine({ gallery: stats.name, modelId: stats.modelId, dim: stats.dim, identities: stats.identities, templates: stats.templates });
            for (const p of people) printJsonLine(p);
          } else {
            process.stdout.write(`gallery "${stats.name}": ${stats.identities} people, ${stats.templates} templates, model ${stats.modelId ?? '(none yet)'}\n`);
            for (const p of people) process.stdout.write(`${p.id}\t${p.name}\t${p.templateCount} template(s)\n`);
          }
          return 0;
        }
        case 'show': {
          const id = rest[0]!;
          const identity = g.get(id);
          if (!identity) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no identity "${id}" in gallery "${g.name}"`, { details: { id } });
          const templates = g.templates(id);
          if (json) printJsonLine({ ...identity, templates });
          else {
            process.stdout.write(`${identity.id} (${identity.name})\n  created ${identity.createdAt}, updated ${identity.updatedAt}\n  metadata ${JSON.stringify(identity.metadata)}\n`);
            for (const t of templates) {
              process.stdout.write(`  template ${t.templateId}: model ${t.modelId}, quality ${t.quality.toFixed(2)}${t.source ? `, from ${t.source}` : ''}, ${t.createdAt}\n`);
            }
          }
          return 0;
        }
        case 'remove': {
          for (const id of rest) if (!g.get(id)) throw new FaceGateError('GALLERY_IDENTITY_NOT_FOUND', `no identity "${id}" in gallery "${g.name}"`, { details: { id } });
          for (const id of rest) {
            await g.remove(id);
            process.stdout.write(`removed ${id}\n`);
          }
          return 0;
        }
        case 'export': {
          const n = await writeExport(g, str(args, 'out'));
          process.stderr.write(`exported ${n} people${str(args, 'out') ? ` to ${str(args, 'out')}` : ''}\n`);
          return 0;
        }
        default: {
          const res = await g.importLines(importLines!);
          process.stdout.write(`imported ${res.identities} people, ${res.templates} templates\n`);
          return 0;
        }
      }
    } finally {
      await g.close();
    }
  },
};
