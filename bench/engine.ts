/**
 * `npm run bench -- engine`: per-stage medians of the engine (decode, detect, align, embed) on real photos, and the
 * ratio of the engine's time to the raw onnxruntime `run` time of the same models on the same input tensors.
 *
 * The raw side builds exactly the tensors the engine builds (letterboxed detector input, aligned 112x112 crops) once,
 * outside the timing, and times only `session.run` on them. The engine side times detect + align + embed from the
 * decoded image (decode is reported apart: it depends on the file's size and format, not on the engine), so the ratio
 * is the engine's own overhead: resize, tensor conversion, anchor decoding, NMS, alignment, normalisation.
 * A second table counts LFW crops with no face found at input sizes auto, 320 and 640 (why `auto` is the default).
 * `BENCH_THREADS` sets onnxruntime's intra-op threads (default 1, for numbers that do not depend on a busy box).
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { centerMostFace } from '../src/core/geometry.js';
import { createEngine, createTimings, type Engine, type StageTimings } from '../src/engine.js';
import { alignFace } from '../src/face/align.js';
import { letterboxImage, planLetterbox } from '../src/models/letterbox.js';
import { requireModel, resolveModelsDir } from '../src/models/manifest.js';
import { imageToTensor } from '../src/models/tensor.js';
import { createSession } from '../src/runtime/onnx.js';
import { fmtMs, median, timeIt } from './stats.js';

const FACES = join(process.cwd(), '..', 'shared', 'data', 'faces');
const PHOTOS = [
  'identities/lfw__Abdullah_Gul/Abdullah_Gul_0013.jpg', // 250x250, LFW crop
  'identities/faceapi-bbt__amy/amy1.png', // 150x150 grayscale PNG
  'identities/deepface__g09_Sundar/img25.jpg', // 400x400
  'identities/deepface__g01_Angelina/img6.jpg', // 750x1050
  'identities/deepface__g03_Scarlett/img49.jpg', // 4352x2903
  'groups/dlib__2008_002470.jpg', // 500x333, 6 faces
  'groups/dlib__2007_007763.jpg', // 500x375, 7 faces
];
const RUNS = 21;

export async function run(): Promise<void> {
  const threads = Number(process.env.BENCH_THREADS ?? 1);
  // FP32 on both sides: the raw sessions below load the manifest's FP32 files (INT8 is compared in bench/int8.ts).
  const engine = await createEngine({ intraOpThreads: threads, precision: 'fp32' });
  const dir = resolveModelsDir();
  const det = await createSession(await requireModel(dir, engine.detectorEntry), { intraOpThreads: threads });
  const rec = await createSession(await requireModel(dir, engine.recognizerEntry), { intraOpThreads: threads });
  const detIn = engine.detectorEntry.input;
  const recIn = engine.recognizerEntry.input;
  const [cw, ch] = recIn.size ?? [112, 112];
  try {
    console.log(`det ${engine.detectorId} + rec ${engine.recognizerId}, ${threads} intra-op thread(s), input size auto, all faces embedded, median of ${RUNS} runs, ms; ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}`);
    console.log('photo                                    | size      | faces | decode | detect | align | embed | engine | raw ort | engine/raw');
    const ratios: number[] = [];
    const stage: Record<keyof StageTimings, number[]> = { decodeMs: [], detectMs: [], alignMs: [], embedMs: [] };
    for (const rel of PHOTOS) {
      const path = join(FACES, rel);
      const decodeMs = median(await timeIt(() => engine.decode(path), RUNS));
      const img = await engine.decode(path);
      const faces = await engine.detect(img);

      // Raw onnxruntime: the same tensors, built once, then only session.run (one crop per call: batch is fixed at 1).
      const plan = planLetterbox(img.width, img.height, 'auto', detIn.sizeMultiple ?? 32);
      const detTensor = imageToTensor(await letterboxImage(img, plan), detIn, plan.inputWidth, plan.inputHeight);
      const crops = faces.map((f) => imageToTensor(alignFace(img, f.landmarks, cw).crop, recIn, cw, ch));
      const rawOnce = async (): Promise<void> => {
        await det.run({ [detIn.name]: { data: detTensor, dims: [1, 3, plan.inputHeight, plan.inputWidth], type: 'float32' } });
        for (const c of crops) await rec.run({ [recIn.name]: { data: c, dims: [1, 3, ch, cw], type: 'float32' } });
      };
      // Engine: detect + align + embed of every face, per-stage times from the engine's own timings.
      const engineOnce = async (t: StageTimings): Promise<void> => {
        const f = await engine.detect(img, { timings: t });
        await engine.embedFaces(img, f, { timings: t });
      };
      // Engine and raw runs alternate, so load from other processes hits both alike and the ratio stays meaningful.
      await rawOnce();
      await engineOnce(createTimings());
      const runs: StageTimings[] = [];
      const engineTimes: number[] = [];
      const rawTimes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = createTimings();
        let t0 = performance.now();
        await engineOnce(t);
        engineTimes.push(performance.now() - t0);
        runs.push(t);
        t0 = performance.now();
        await rawOnce();
        rawTimes.push(performance.now() - t0);
      }
      const engineMs = median(engineTimes);
      const rawMs = median(rawTimes);
      const m = (k: keyof StageTimings) => median(runs.map((t) => t[k]));
      const ratio = engineMs / rawMs;
      ratios.push(ratio);
      stage.decodeMs.push(decodeMs);
      stage.detectMs.push(m('detectMs'));
      stage.alignMs.push(m('alignMs'));
      stage.embedMs.push(m('embedMs'));
      console.log(
        `${rel.padEnd(40)} | ${`${img.width}x${img.height}`.padEnd(9)} | ${String(faces.length).padStart(5)} | ${fmtMs(decodeMs).padStart(6)} | ${fmtMs(m('detectMs')).padStart(6)} | ${fmtMs(m('alignMs')).padStart(5)} | ${fmtMs(m('embedMs')).padStart(5)} | ${fmtMs(engineMs).padStart(6)} | ${fmtMs(rawMs).padStart(7)} | ${ratio.toFixed(2)}`,
      );
    }
    console.log(
      `median over photos: decode ${fmtMs(median(stage.decodeMs))}, detect ${fmtMs(median(stage.detectMs))}, align ${fmtMs(median(stage.alignMs))}, embed ${fmtMs(median(stage.embedMs))} ms; engine/raw onnxruntime ${median(ratios).toFixed(2)} (max ${Math.max(...ratios).toFixed(2)})`,
    );
    await inputSizeOnLfw(engine);
  } finally {
    await Promise.all([engine.close(), det.close(), rec.close()]);
  }
}

/**
 * Why the default input size follows the image: on every LFW crop (250x250, one labelled face at the centre), how
 * many have no detected face at each input size, and the time per image. Upscaling the crop to 640 loses faces.
 */
async function inputSizeOnLfw(engine: Engine): Promise<void> {
  const index = readFileSync(join(FACES, 'identities', 'index.csv'), 'utf8').split(/\r?\n/).slice(1);
  const paths = index.map((l) => l.split(',')).filter((r) => r[2] === 'lfw-deepfunneled').map((r) => join(FACES, r[0]!));
  const images = await Promise.all(paths.map((p) => engine.decode(p)));
  console.log(`\n${engine.detectorId} on ${images.length} LFW crops (250x250): images with no face at each input size`);
  console.log('input size | no face | median box width px | ms/image');
  for (const size of ['auto', 320, 640] as const) {
    let missed = 0;
    const widths: number[] = [];
    const t0 = performance.now();
    for (const img of images) {
      const faces = await engine.detect(img, { inputSize: size });
      const f = centerMostFace(faces, img.width, img.height);
      if (f) widths.push(f.box.x2 - f.box.x1);
      else missed++;
    }
    const ms = (performance.now() - t0) / images.length;
    console.log(`${String(size).padEnd(10)} | ${String(missed).padStart(7)} | ${median(widths).toFixed(1).padStart(19)} | ${fmtMs(ms)}`);
  }
}
