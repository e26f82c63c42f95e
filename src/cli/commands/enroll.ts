/** `facegate enroll`: enrol a person from photos, or a folder tree of people, into a gallery. */
import { FaceGateError } from '../../core/errors.js';
import { createEngine } from '../../engine.js';
import { enrollFolders, enrollImages, type EnrollImagesResult, type EnrollmentOptions } from '../../enrollment.js';
import type { Metadata } from '../../gallery/gallery.js';
import { bool, numberFlag, parse, printJsonLine, Progress, str, type Command, type ParsedArgs } from '../common.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { GALLERY_OPTIONS, GALLERY_USAGE, openGalleryFrom } from '../gallery-flags.js';

const USAGE = `usage: facegate enroll --gallery DIR --id ID [--name NAME] [--metadata JSON] [--replace] IMG...
       facegate enroll --gallery DIR --folders ROOT [--max-per-identity N]

Enrols one person from photos (one face each), or every sub-folder of ROOT as one person named by the folder.
Each photo needs one face of sufficient size and detection score; others are skipped with the reason. All
templates of a person are written in one transaction. A new person whose face already matches someone else is
reported as a likely duplicate (and still enrolled).
  --id ID                   the person's id
  --name NAME               display name (default: the id)
  --metadata JSON           a JSON object stored with the person (replaces the existing metadata)
  --replace                 drop the person's existing templates first (default: add to them)
  --folders ROOT            enrol each sub-folder of ROOT (progress on stderr)
  --max-per-identity N      with --folders: at most N photos per person (default all)
  --min-face-px N           smallest face accepted, shorter box side in pixels (default 40)
  --min-score S             lowest detection score accepted (default 0.6)
  --duplicate-threshold T   similarity that flags a likely duplicate (default: the recognizer's threshold)
  --json                    one JSON line per person: {id, enrolled, images: [{image, ok, reason?}], duplicates}
exit status: 0 when something was enrolled, 1 when no photo gave a usable face (NO_FACE) or on errors, 2 for
usage errors.

${GALLERY_USAGE}

${ENGINE_USAGE}`;

const OPTIONS = {
  ...ENGINE_OPTIONS,
  ...GALLERY_OPTIONS,
  id: { type: 'string' },
  name: { type: 'string' },
  metadata: { type: 'string' },
  replace: { type: 'boolean' },
  folders: { type: 'string' },
  'max-per-identity': { type: 'string' },
  'min-face-px': { type: 'string' },
  'min-score': { type: 'string' },
  'duplicate-threshold': { type: 'string' },
} as const;

function enrollmentOptions(args: ParsedArgs): EnrollmentOptions {
  const o: EnrollmentOptions = {};
  const minFace = str(args, 'min-face-px');
  if (minFace !== undefined) o.minFacePx = numberFlag(minFace, 'min-face-px', 40);
  const minScore = str(args, 'min-score');
  if (minScore !== undefined) o.minScore = numberFlag(minScore, 'min-score', 0.6);
  const dup = str(args, 'duplicate-threshold');
  if (dup !== undefined) o.duplicateThreshold = numberFlag(dup, 'duplicate-threshold', 0);
  return o;
}

function printResult(r: EnrollImagesResult, json: boolean): void {
  if (json) {
    printJsonLine({
      id: r.id,
      enrolled: r.enrolled,
      images: r.images.map((i) => (i.ok ? { image: i.image, ok: true, score: Number(i.score.toFixed(4)), templateId: i.templateId } : { image: i.image, ok: false, reason: i.reason, message: i.message })),
      duplicates: r.duplicates.map((d) => ({ image: d.image, matchId: d.matchId, similarity: Number(d.similarity.toFixed(4)) })),
    });
    return;
  }
  for (const i of r.images) {
    if (!i.ok) process.stdout.write(`  skipped ${i.image}: ${i.reason} (${i.message})\n`);
  }
  for (const d of r.duplicates) {
    process.stdout.write(`  warning: ${d.image} of "${r.id}" matches "${d.matchId}" (similarity ${d.similarity.toFixed(3)}): likely the same person\n`);
  }
  process.stdout.write(`${r.id}: enrolled ${r.enrolled} of ${r.images.length} photo(s)\n`);
}

export const command: Command = {
  name: 'enroll',
  summary: 'enrol people from photos or a folder tree into a gallery',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const json = bool(args, 'json');
    const folders = str(args, 'folders');
    const id = str(args, 'id');
    if (folders && (id || args.positionals.length > 0)) throw new FaceGateError('USAGE', '--folders takes no --id and no images');
    if (!folders && !id) throw new FaceGateError('USAGE', 'give --id ID with images, or --folders ROOT');
    if (id && args.positionals.length === 0) throw new FaceGateError('USAGE', `no images given for --id ${id}`);
    let metadata: Metadata | undefined;
    const metaText = str(args, 'metadata');
    if (metaText !== undefined) {
      try {
        metadata = JSON.parse(metaText) as Metadata;
      } catch {
        throw new FaceGateError('USAGE', '--metadata must be a JSON object');
      }
      if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new FaceGateError('USAGE', '--metadata must be a JSON object');
    }
    const options = enrollmentOptions(args);
    const maxText = str(args, 'max-per-identity');
    const max = maxText === undefined ? undefined : numberFlag(maxText, 'max-per-identity', 0);
    if (max !== undefined && !(Number.isInteger(max) && max > 0)) throw new FaceGateError('USAGE', `--max-per-identity expects a positive integer, got "${maxText}"`);
    const gallery = openGalleryFrom(args, { mustExist: false });
    try {
      const engine = await createEngine(engineOptionsFrom(args));
      try {
        if (folders) {
          let progress: Progress | null = null;
          const res = await enrollFolders(engine, gallery, folders, {
            ...options,
            ...(max !== undefined ? { maxImagesPerIdentity: max } : {}),
            onProgress: (done, total) => {
              progress ??= new Progress(total, 'enrolling');
              progress.tick();
              if (done === total) progress.finish();
            },
          });
          for (const r of res.identities) printResult(r, json);
          if (!json) process.stdout.write(`enrolled ${res.enrolled} photo(s) of ${res.identities.filter((r) => r.enrolled > 0).length} people; ${res.rejected} skipped\n`);
          if (res.enrolled === 0) throw new FaceGateError('NO_FACE', `no photo under ${folders} gave a usable face`);
          return 0;
        }
        const res = await enrollImages(engine, gallery, {
          id: id!,
          images: args.positionals,
          ...(str(args, 'name') !== undefined ? { name: str(args, 'name')! } : {}),
          ...(metadata ? { metadata } : {}),
          ...(bool(args, 'replace') ? { mode: 'replace' as const } : {}),
        }, options);
        printResult(res, json);
        if (res.enrolled === 0) throw new FaceGateError('NO_FACE', `no photo of "${id}" gave a usable face; nothing was enrolled`);
        return 0;
      } finally {
        await engine.close();
      }
    } finally {
      await gallery.close();
    }
  },
};
