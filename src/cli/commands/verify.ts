/** `facegate verify A B [--threshold T] [--json]`: are the two photos the same person? */
import { FaceGateError } from '../../core/errors.js';
import { createEngine, type FaceSelection } from '../../engine.js';
import { bool, numberFlag, parse, printJsonLine, str, type Command } from '../common.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { faceJson } from '../face-json.js';

const USAGE = `usage: facegate verify A B [--threshold T] [--face center|largest] [--flip] [--json]

Embeds one face of each image and prints their cosine similarity and "same" or "different".
  --threshold T  similarity at or above which the faces are the same person (default: the recognizer's measured
                 threshold from the manifest)
  --face WHICH   largest (default) or center: which face of each image to compare
  --flip         fuse the flipped crops (slower, slightly more accurate)
  --json         print {"similarity", "same", "threshold", "faces": [a, b]}
exit status: 0 when compared (same or different), 1 when an image cannot be read or has no face (NO_FACE),
2 for usage errors.

${ENGINE_USAGE}`;

const OPTIONS = { ...ENGINE_OPTIONS, threshold: { type: 'string' }, face: { type: 'string' }, flip: { type: 'boolean' } } as const;

export const command: Command = {
  name: 'verify',
  summary: 'compare the faces of two images: similarity and same/different',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    if (args.positionals.length !== 2) throw new FaceGateError('USAGE', `verify takes exactly two images, got ${args.positionals.length}`);
    const [a, b] = args.positionals as [string, string];
    const face = (str(args, 'face') ?? 'largest') as FaceSelection;
    if (face !== 'center' && face !== 'largest') throw new FaceGateError('USAGE', `--face must be center or largest, got "${face}"`);
    const t = str(args, 'threshold');
    const threshold = t === undefined ? undefined : numberFlag(t, 'threshold', 0);
    if (threshold !== undefined && !(threshold >= -1 && threshold <= 1)) throw new FaceGateError('USAGE', `--threshold must be in [-1, 1], got ${t}`);
    const engine = await createEngine({ ...engineOptionsFrom(args), flip: bool(args, 'flip'), ...(threshold !== undefined ? { threshold } : {}) });
    try {
      const r = await engine.verify(a, b, { face });
      if (bool(args, 'json')) {
        printJsonLine({
          similarity: Number(r.similarity.toFixed(6)),
          same: r.same,
          threshold: r.threshold,
          faces: r.faces.map((f) => faceJson(f)),
          detector: engine.detectorId,
          recognizer: engine.recognizerId,
        });
      } else {
        process.stdout.write(`similarity ${r.similarity.toFixed(4)}  ${r.same ? 'same' : 'different'} (threshold ${r.threshold})\n`);
      }
      return 0;
    } finally {
      await engine.close();
    }
  },
};
