/**
 * `facegate quality IMG... [--json] [--preset kiosk|passive] [--liveness]`: measures every face in each image and says
 * whether the quality gate passes it, and why not. An image with no face is reported as such (the gate judges faces).
 */
import { createEngine, type Engine } from '../../engine.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptionsFrom } from '../engine-flags.js';
import { FaceGateError, toFaceGateError } from '../../core/errors.js';
import type { QualityMeasures, QualityPreset, QualityResult } from '../../face/quality.js';
import type { LivenessModel } from '../../models/liveness.js';
import { assessFaces, loadLivenessModel, type FaceQuality } from '../../quality-check.js';
import { bool, parse, printJsonLine, Progress, str, type Command, type ParsedArgs } from '../common.js';

const USAGE = `usage: facegate quality IMG... [options]

Measures each face (size, detector score, pose, blur, exposure, occlusion) and applies the quality gate.

options:
  --preset P        gate limits: kiosk (default; an access point) or passive (a passing-by camera)
  --liveness        also run the passive liveness model (antispoof_faceplugin_128; barely validated, see docs/quality.md)
  --json            one JSON object per image: {path, pass, faces: [{box, score, landmarks, measures, quality}], error?}
  --verbose         stack traces on errors

${ENGINE_USAGE}

exit status: 0 when every image has at least one face and every face passes; 3 when some image has no face or a
face fails the gate; 1 when an image cannot be read (the others are still reported); 2 for usage errors.`;

/** The JSON line printed per image. */
export interface QualityImageReport {
  path: string;
  /** True when the image has a face and every face passes. */
  pass: boolean;
  /** Set when the image could not be read or no face was found. */
  error?: { code: string; message: string };
  faces: {
    box: { x1: number; y1: number; x2: number; y2: number };
    score: number;
    landmarks: [number, number][];
    measures: QualityMeasures;
    quality: QualityResult;
  }[];
}

const r1 = (v: number): number => Math.round(v * 10) / 10;
const r3 = (v: number): number => Math.round(v * 1000) / 1000;

function roundMeasures(m: QualityMeasures): QualityMeasures {
  const out = { ...m };
  for (const k of Object.keys(out) as (keyof QualityMeasures)[]) {
    const v = out[k];
    if (typeof v === 'number') (out as Record<string, number>)[k] = k.endsWith('Px') || k.endsWith('Deg') || k === 'brightness' || k === 'contrast' || k === 'laplacianVar' ? r1(v) : r3(v);
  }
  return out;
}

/** Flags `detect` and `embed` take to attach the gate's verdict. */
export const QUALITY_FLAGS = {
  quality: { type: 'boolean' },
  preset: { type: 'string' },
} as const;

export const QUALITY_FLAGS_USAGE = `  --quality     attach the quality gate's verdict and measures to each face (see \`facegate quality\`)
  --preset P    gate limits for --quality: kiosk (default) or passive`;

/** The preset named by `--preset` (default kiosk); USAGE error for another name. */
export function presetFrom(args: ParsedArgs): QualityPreset {
  const preset = str(args, 'preset') ?? 'kiosk';
  if (preset !== 'kiosk' && preset !== 'passive') throw new FaceGateError('USAGE', `--preset must be kiosk or passive, got "${preset}"`);
  return preset;
}

/** The JSON fields a face gets with `--quality`. */
export function qualityJson(fq: FaceQuality): { quality: QualityResult; measures: QualityMeasures } {
  return { quality: fq.quality, measures: roundMeasures(fq.measures) };
}

/** One line: the score and the verdict with its reasons. */
export function qualityLine(fq: FaceQuality): string {
  const q = fq.quality;
  return `quality ${q.score.toFixed(2)} ${q.pass ? 'PASS' : `FAIL ${q.reasons.map((r) => `${r.code} ${r.value} (limit ${r.limit})`).join(', ')}`}`;
}

/** One face as a human-readable block. */
export function formatFace(i: number, fq: FaceQuality): string {
  const m = fq.measures;
  const q = fq.quality;
  const b = fq.face.box;
  const verdict = q.pass ? 'PASS' : `FAIL ${q.reasons.map((r) => `${r.code} (${r.value} vs limit ${r.limit})`).join(', ')}`;
  const lines = [
    `  face ${i} at [${Math.round(b.x1)}, ${Math.round(b.y1)}, ${Math.round(b.x2)}, ${Math.round(b.y2)}]: ${verdict}; quality ${q.score.toFixed(2)}`,
    `    size ${r1(m.boxWidthPx)} px wide, eyes ${r1(m.interOcularPx)} px apart; detector score ${m.detScore.toFixed(2)}`,
    `    pose yaw ${r1(m.yawDeg)} deg, pitch ${r1(m.pitchDeg)} deg, roll ${r1(m.rollDeg)} deg`,
    `    blur effect ${m.blurEffect.toFixed(2)}, Laplacian variance ${r1(m.laplacianVar)}; brightness ${r1(m.brightness)}, clipped ${(100 * m.clippedShare).toFixed(1)}%, contrast ${r1(m.contrast)}`,
    `    occlusion ${m.occlusion.toFixed(2)} (outside the frame ${m.truncatedShare.toFixed(2)})${m.embeddingNorm !== undefined ? `; embedding norm ${m.embeddingNorm.toFixed(2)}` : ''}${m.liveScore !== undefined ? `; live ${m.liveScore.toFixed(3)}` : ''}`,
  ];
  return lines.join('\n');
}

export const command: Command = {
  name: 'quality',
  summary: 'measure each face and apply the quality gate (blur, size, pose, light, occlusion)',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv, { ...ENGINE_OPTIONS, preset: { type: 'string' }, liveness: { type: 'boolean' } });
    const paths = args.positionals;
    if (paths.length === 0) throw new FaceGateError('USAGE', 'name at least one image (facegate quality IMG...)');
    const json = bool(args, 'json');
    const preset = presetFrom(args);
    const engineOptions = engineOptionsFrom(args);
    const engine: Engine = await createEngine(engineOptions);
    let liveness: LivenessModel | undefined;
    let readError = false;
    let gateFail = false;
    try {
      if (bool(args, 'liveness')) {
        liveness = await loadLivenessModel({
          ...(engineOptions.modelsDir ? { modelsDir: engineOptions.modelsDir } : {}),
          ...(engineOptions.device ? { device: engineOptions.device } : {}),
          intraOpThreads: engineOptions.intraOpThreads ?? 0,
        });
      }
      const progress = new Progress(paths.length, 'quality');
      for (const path of paths) {
        const report: QualityImageReport = { path, pass: false, faces: [] };
        let results: FaceQuality[] = [];
        try {
          const img = await engine.decode(path);
          const faces = await engine.detect(img);
          const embedded = await engine.embedFaces(img, faces, { keepCrops: true });
          results = await assessFaces(
            img,
            embedded.map((e) => ({ face: e.face, rawNorm: e.rawNorm, ...(e.aligned ? { aligned: e.aligned } : {}) })),
            { preset, ...(liveness ? { liveness } : {}) },
          );
          if (results.length === 0) report.error = { code: 'NO_FACE', message: `no face found in ${path}` };
          report.faces = results.map((r) => ({
            box: r.face.box,
            score: r.face.score,
            landmarks: r.face.landmarks.map(([x, y]) => [r1(x), r1(y)] as [number, number]),
            measures: roundMeasures(r.measures),
            quality: r.quality,
          }));
          report.pass = results.length > 0 && results.every((r) => r.quality.pass);
          if (!report.pass) gateFail = true;
        } catch (e) {
          const err = toFaceGateError(e);
          if (err.kind === 'usage') throw err;
          report.error = { code: err.code, message: err.message };
          readError = true;
        }
        progress.tick();
        if (json) {
          printJsonLine(report);
        } else if (report.error && report.error.code !== 'NO_FACE') {
          process.stderr.write(`error[${report.error.code}]: ${report.error.message}\n`);
        } else if (results.length === 0) {
          process.stdout.write(`${path}: no face found (nothing for the gate to judge)\n`);
        } else {
          const passed = results.filter((r) => r.quality.pass).length;
          process.stdout.write(`${path}: ${results.length} face${results.length > 1 ? 's' : ''}, ${passed} pass (${preset} preset)\n`);
          results.forEach((r, i) => process.stdout.write(`${formatFace(i, r)}\n`));
        }
      }
      progress.finish();
    } finally {
      await liveness?.close();
      await engine.close();
    }
    return readError ? 1 : gateFail ? 3 : 0;
  },
};
