/** `facegate identify --gallery DIR IMG...`: who is in each photo? */
import { FaceGateError, toFaceGateError } from '../../core/errors.js';
import { createEngine } from '../../engine.js';
import { identifyImage } from '../../enrollment.js';
import type { ScoreBy } from '../../gallery/gallery.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { GALLERY_OPTIONS, GALLERY_USAGE, openGalleryFrom } from '../gallery-flags.js';

const USAGE = `usage: facegate identify --gallery DIR IMG... [--top K] [--threshold T] [--by template|centroid] [--int8] [--json]

Searches the gallery for every face of each photo and says who it is ("known") or "unknown".
  --top K          identities listed per face, best first (default 5; 1 with plain output)
  --threshold T    similarity at or above which the best match is known (default: the recognizer's threshold)
  --by WHAT        score each person by their best template (default) or by their centroid
  --face WHICH     all (default), center or largest: which faces of each photo
  --int8           search int8-compressed vectors (less memory, slightly approximate)
  --json           one line per face: {image, box, score, decision, match, hits, threshold}
exit status: 0 when every photo was searched (faces known, unknown or none), 1 when a photo cannot be read or the
gallery is of another recognizer (GALLERY_MODEL_MISMATCH), 2 for usage errors.

${GALLERY_USAGE}

${ENGINE_USAGE}`;

const OPTIONS = {
  ...ENGINE_OPTIONS,
  ...GALLERY_OPTIONS,
  top: { type: 'string' },
  threshold: { type: 'string' },
  by: { type: 'string' },
  face: { type: 'string' },
  int8: { type: 'boolean' },
} as const;

const round = (x: number): number => Number(x.toFixed(4));

export const command: Command = {
  name: 'identify',
  summary: 'identify the faces of photos against a gallery (1:N, known/unknown)',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const json = bool(args, 'json');
    if (args.positionals.length === 0) throw new FaceGateError('USAGE', 'identify needs at least one image');
    const topText = str(args, 'top');
    const topK = numberFlag(topText, 'top', json ? 5 : 1);
    if (!(Number.isInteger(topK) && topK > 0)) throw new FaceGateError('USAGE', `--top expects a positive integer, got "${topText}"`);
    const t = str(args, 'threshold');
    const threshold = t === undefined ? undefined : numberFlag(t, 'threshold', 0);
    if (threshold !== undefined && !(threshold >= -1 && threshold <= 1)) throw new FaceGateError('USAGE', `--threshold must be in [-1, 1], got ${t}`);
    const by = (str(args, 'by') ?? 'template') as ScoreBy;
    if (by !== 'template' && by !== 'centroid') throw new FaceGateError('USAGE', `--by must be template or centroid, got "${by}"`);
    const face = (str(args, 'face') ?? 'all') as 'all' | 'center' | 'largest';
    if (!['all', 'center', 'largest'].includes(face)) throw new FaceGateError('USAGE', `--face must be all, center or largest, got "${face}"`);
    const gallery = openGalleryFrom(args, { mustExist: true, vectorFormat: bool(args, 'int8') ? 'int8' : 'float32' });
    let failed = 0;
    try {
      const engine = await createEngine(engineOptionsFrom(args));
      try {
        for (const image of args.positionals) {
          let faces;
          try {
            faces = await identifyImage(engine, gallery, image, { topK, scoreBy: by, face, ...(threshold !== undefined ? { threshold } : {}) });
          } catch (e) {
            const err = toFaceGateError(e);
            // A gallery of another model fails every photo alike: stop with its error.
            if (err.code === 'GALLERY_MODEL_MISMATCH' || err.code === 'GALLERY_INVALID_VECTOR') throw err;
            failed++;
            if (json) printJsonLine({ image, error: err.toJSON() });
            else process.stderr.write(`error[${err.code}]: ${err.message}\n`);
            continue;
          }
          if (faces.length === 0) {
            if (json) printJsonLine({ image, faces: 0 });
            else process.stdout.write(`${image}: no face\n`);
          }
          for (const f of faces) {
            const hits = f.hits.map((h) => ({ id: h.id, name: h.name, similarity: round(h.similarity) }));
            if (json) {
              printJsonLine({
                image,
                box: f.box && { x1: round(f.box.x1), y1: round(f.box.y1), x2: round(f.box.x2), y2: round(f.box.y2) },
                score: round(f.score),
                decision: f.decision,
                match: f.match && { id: f.match.id, name: f.match.name, similarity: round(f.match.similarity) },
                hits,
                threshold: f.threshold,
              });
            } else {
              const where = f.box ? ` [${f.box.x1.toFixed(0)},${f.box.y1.toFixed(0)} ${(f.box.x2 - f.box.x1).toFixed(0)}x${(f.box.y2 - f.box.y1).toFixed(0)}]` : '';
              const best = f.hits[0];
              const text = f.match
                ? `known ${f.match.id}${f.match.name !== f.match.id ? ` (${f.match.name})` : ''} similarity ${f.match.similarity.toFixed(3)}`
                : `unknown${best ? ` (closest ${best.id} ${best.similarity.toFixed(3)})` : ' (empty gallery)'}`;
              process.stdout.write(`${image}${where}: ${text}\n`);
              for (const h of f.hits.slice(1)) process.stdout.write(`    ${h.id} ${h.similarity.toFixed(3)}\n`);
            }
          }
        }
      } finally {
        await engine.close();
      }
    } finally {
      await gallery.close();
    }
    return failed > 0 ? 1 : 0;
  },
};
