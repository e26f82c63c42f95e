/**
 * `facegate embed [--face center|largest|all] [--list FILE] [--aligned] [--flip] IMG...`: one JSON line per image,
 * written as soon as the image is done. An unreadable image gets an "error" line and the run goes on.
 */
import { readFileSync } from 'node:fs';
import { FaceGateError, toFaceGateError } from '../../core/errors.js';
import { createEngine, type FaceSelection } from '../../engine.js';
import { bool, parse, printJsonLine, Progress, str, type Command } from '../common.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { embeddingJson, faceJson } from '../face-json.js';
import { assessFaces } from '../../quality-check.js';
import { QUALITY_FLAGS, QUALITY_FLAGS_USAGE, presetFrom, qualityJson } from './quality.js';

const USAGE = `usage: facegate embed [--face center|largest|all] [--list FILE] [--aligned] [--flip] IMG...

Prints one JSON line per image, in input order, as each is done:
  {"path": "<as given>", "faces": [{"box": [x, y, w, h], "score": s, "landmarks": [[x, y] x5], "embedding": [...]}]}
"faces" is [] when no face is found; an image that cannot be read prints {"path", "error": {"code", "message"}}
and the run goes on. Embeddings are L2-normalised (cosine similarity = dot product).
  --face WHICH   center: the face nearest the image centre (the labelled face in LFW-style crops);
                 largest (default): the largest face; all: every face
  --list FILE    read image paths from FILE, one per line (blank lines and lines starting with # are skipped),
                 after any given as arguments
  --aligned      the images are already-aligned crops of the recognizer's input size (112x112): no detection;
                 the line is {"path", "embedding"}
  --flip         fuse the horizontally flipped crop into each embedding (twice the recognizer time)
${QUALITY_FLAGS_USAGE} (adds "quality" and "measures" to each face; not with --aligned)
A progress bar is drawn on stderr when it is a terminal.
exit status: 0 when at least one image was embedded or had no face, 1 when every image failed or a model is
missing or corrupt, 2 for usage errors.

${ENGINE_USAGE}`;

const OPTIONS = {
  ...ENGINE_OPTIONS,
  face: { type: 'string' },
  list: { type: 'string' },
  aligned: { type: 'boolean' },
  flip: { type: 'boolean' },
  ...QUALITY_FLAGS,
} as const;

function readList(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot read list ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { details: { path: file } });
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

export const command: Command = {
  name: 'embed',
  summary: 'print face embeddings of images as JSON Lines',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const face = (str(args, 'face') ?? 'largest') as FaceSelection;
    if (!['center', 'largest', 'all'].includes(face)) throw new FaceGateError('USAGE', `--face must be center, largest or all, got "${face}"`);
    const list = str(args, 'list');
    const paths = [...args.positionals, ...(list ? readList(list) : [])];
    if (paths.length === 0) throw new FaceGateError('USAGE', 'embed needs image paths (arguments or --list FILE)');
    const aligned = bool(args, 'aligned');
    const flip = bool(args, 'flip');
    const withQuality = bool(args, 'quality');
    const preset = presetFrom(args);
    if (withQuality && aligned) throw new FaceGateError('USAGE', '--quality judges detected faces; it cannot be combined with --aligned');
    const engine = await createEngine({ ...engineOptionsFrom(args), flip });
    const progress = new Progress(paths.length, 'embed');
    let failed = 0;
    try {
      for (const path of paths) {
        try {
          if (aligned) {
            const r = await engine.embedAligned(path);
            printJsonLine({ path, embedding: embeddingJson(r.embedding) });
          } else {
            // --quality reuses the recognizer's aligned crops and raw norms (decoded once here for the measures).
            const img = withQuality ? await engine.decode(path) : undefined;
            const faces = await engine.embedImage(img ?? path, { face, keepCrops: withQuality });
            const qualities = img ? await assessFaces(img, faces.map((f) => ({ face: f.face, rawNorm: f.rawNorm, ...(f.aligned ? { aligned: f.aligned } : {}) })), { preset }) : undefined;
            printJsonLine({
              path,
              faces: faces.map((f, k) => ({ ...faceJson(f.face, f.embedding), ...(qualities ? qualityJson(qualities[k]!) : {}) })),
            });
          }
        } catch (e) {
          const err = toFaceGateError(e);
          // Problems that would repeat for every image stop the run; a bad image does not.
          if (err.kind === 'usage' && err.code !== 'CONFIG_INVALID') throw err;
          if (err.code === 'INFERENCE_FAILED' || err.code === 'MODEL_INCOMPATIBLE') throw err;
          failed++;
          printJsonLine({ path, error: { code: err.code, message: err.message } });
        }
        progress.tick();
      }
    } finally {
      progress.finish();
      await engine.close();
    }
    if (failed > 0) process.stderr.write(`embed: ${failed} of ${paths.length} image(s) could not be read\n`);
    return failed === paths.length ? 1 : 0;
  },
};
