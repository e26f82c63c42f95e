/**
 * `facegate detect IMG... [--json] [--draw OUT]`: faces with boxes, scores and keypoints. Only the detector is loaded.
 * An unreadable image is reported (a JSON line with "error", or a line on stderr) and the run goes on.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { FaceGateError, toFaceGateError } from '../../core/errors.js';
import { boxToXywh } from '../../core/geometry.js';
import { DEFAULT_DETECTOR } from '../../engine.js';
import { decodeImage, drawFaces } from '../../image/image.js';
import { createDetector } from '../../models/detector.js';
import { findModel, loadManifest, requireModel, resolveModelsDir } from '../../models/manifest.js';
import { bool, parse, printJsonLine, Progress, str, type Command } from '../common.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { faceJson } from '../face-json.js';
import { assessFaces } from '../../quality-check.js';
import { QUALITY_FLAGS, QUALITY_FLAGS_USAGE, presetFrom, qualityJson, qualityLine } from './quality.js';

const USAGE = `usage: facegate detect IMG... [--json] [--draw OUT] [--quality [--preset P]]

Finds faces and prints, per image, each face's box [x, y, w, h], score and 5 keypoints.
  --json        one JSON line per image: {"path", "faces": [{"box", "score", "landmarks"}]} or {"path", "error"}
  --draw OUT    write the image(s) with boxes and keypoints drawn: OUT is a file for one image, a directory for
                several (created; each output keeps its input's file name)
  --max-faces N keep at most N faces (largest, most central first)
  --min-face-px N drop faces narrower than N pixels
${QUALITY_FLAGS_USAGE}
exit status: 0 when at least one image was read, 1 when none could be (or a model is missing), 2 for usage errors.

${ENGINE_USAGE}`;

const OPTIONS = {
  ...ENGINE_OPTIONS,
  draw: { type: 'string' },
  'max-faces': { type: 'string' },
  'min-face-px': { type: 'string' },
  ...QUALITY_FLAGS,
} as const;

/** Where the drawing of image `i` goes: OUT itself for a single image, else OUT/<name>, de-duplicated. */
function drawTargets(out: string, paths: readonly string[]): string[] {
  if (paths.length === 1 && !(existsSync(out) && statSync(out).isDirectory())) return [out];
  mkdirSync(out, { recursive: true });
  const used = new Set<string>();
  return paths.map((p, i) => {
    let name = basename(p);
    if (!extname(name)) name += '.jpg';
    if (used.has(name)) name = `${i}-${name}`;
    used.add(name);
    return join(out, name);
  });
}

export const command: Command = {
  name: 'detect',
  summary: 'find faces (boxes, scores, 5 keypoints) in images; optionally draw them',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, OPTIONS);
    const paths = args.positionals;
    if (paths.length === 0) throw new FaceGateError('USAGE', 'detect needs at least one image path');
    const o = engineOptionsFrom(args);
    const maxFaces = str(args, 'max-faces');
    const minFacePx = str(args, 'min-face-px');
    const detectOptions = {
      ...o.detect,
      ...(maxFaces !== undefined ? { maxFaces: Number(maxFaces) } : {}),
      ...(minFacePx !== undefined ? { minFacePx: Number(minFacePx) } : {}),
    };
    const entry = findModel(loadManifest(), o.detector ?? DEFAULT_DETECTOR);
    const modelPath = await requireModel(resolveModelsDir(o.modelsDir), entry);
    const detector = await createDetector(entry, modelPath, { device: o.device ?? 'cpu', intraOpThreads: o.intraOpThreads ?? 0 }, detectOptions);
    const draw = str(args, 'draw');
    const targets = draw ? drawTargets(draw, paths) : [];
    const json = bool(args, 'json');
    const withQuality = bool(args, 'quality');
    const preset = presetFrom(args);
    const progress = new Progress(paths.length, 'detect');
    let failed = 0;
    try {
      for (let i = 0; i < paths.length; i++) {
        const path = paths[i]!;
        try {
          const img = await decodeImage(path);
          const faces = await detector.detect(img);
          // --quality: the gate's verdict per face (aligns each face itself; no recognizer is loaded here).
          const qualities = withQuality ? await assessFaces(img, faces, { preset }) : undefined;
          if (json) printJsonLine({ path, faces: faces.map((f, k) => ({ ...faceJson(f), ...(qualities ? qualityJson(qualities[k]!) : {}) })) });
          else {
            process.stdout.write(`${path}: ${faces.length} face${faces.length === 1 ? '' : 's'}\n`);
            for (const [k, f] of faces.entries()) {
              const [x, y, w, h] = boxToXywh(f.box).map((v) => Math.round(v));
              process.stdout.write(`  box ${x},${y} ${w}x${h}  score ${f.score.toFixed(3)}${qualities ? `  ${qualityLine(qualities[k]!)}` : ''}\n`);
            }
          }
          if (draw) await drawFaces(img, faces.map((f) => ({ box: f.box, landmarks: f.landmarks, label: f.score.toFixed(2) })), targets[i]!);
        } catch (e) {
          const err = toFaceGateError(e);
          // A bad option or a broken model is fatal for every image: stop instead of repeating it per file.
          if (err.kind === 'usage' || err.code === 'INFERENCE_FAILED' || err.code === 'MODEL_INCOMPATIBLE') throw err;
          failed++;
          if (json) printJsonLine({ path, error: { code: err.code, message: err.message } });
          else process.stderr.write(`${path}: error[${err.code}]: ${err.message}\n`);
        }
        progress.tick();
      }
    } finally {
      progress.finish();
      await detector.close();
    }
    return failed === paths.length ? 1 : 0;
  },
};
