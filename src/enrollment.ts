/**
 * Enrolment and identification on top of the engine and a gallery: images -> one checked face each -> embeddings ->
 * gallery templates (one transaction per identity), folder trees of one folder per identity, duplicate warnings,
 * and identification of the faces in an image. Per-image problems are values with a reason, never errors.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { FaceGateError, toFaceGateError } from './core/errors.js';
import type { Box, DetectedFace, RgbImage } from './core/types.js';
import type { Engine, ImageInput } from './engine.js';
import type { Gallery, Identification, Identity, Metadata, ScoreBy, TemplateInput } from './gallery/gallery.js';

/** File extensions read as images from an enrolment folder. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif'];

export interface FaceCheckOptions {
  /** Smallest face accepted: the shorter side of its box, in pixels. Default 40. */
  minFacePx?: number;
  /** Lowest detection score accepted. Default 0.6. */
  minScore?: number;
  /**
   * Whether images are already aligned face crops (no detection): `auto` treats a square image of exactly the
   * recognizer's input size (112x112) as aligned. Default 'auto'.
   */
  aligned?: boolean | 'auto';
}

export interface EnrollmentOptions extends FaceCheckOptions {
  /**
   * Similarity at or above which a new identity's face matching another enrolled identity is reported as a likely
   * duplicate. Default: the recognizer's recommended threshold (else the engine's threshold).
   */
  duplicateThreshold?: number;
  /** Called after each image is checked, with its outcome. Default none. */
  onImageDone?: (outcome: ImageOutcome) => void;
}

/** Why an image gave no template. */
export type ImageRejection = 'UNREADABLE' | 'NO_FACE' | 'MULTIPLE_FACES' | 'FACE_TOO_SMALL' | 'LOW_SCORE';

/** The outcome for one image. */
export type ImageOutcome =
  | { image: string; ok: true; box: Box | null; score: number; templateId?: number }
  | { image: string; ok: false; reason: ImageRejection; message: string };

/** A likely duplicate: a face of the new identity already matches another identity. */
export interface DuplicateWarning {
  id: string;
  image: string;
  matchId: string;
  similarity: number;
}

export interface EnrollImagesResult {
  id: string;
  /** The identity after enrolment; null when no image gave a face (nothing written). */
  identity: Identity | null;
  /** Templates written. */
  enrolled: number;
  images: ImageOutcome[];
  duplicates: DuplicateWarning[];
}

/** One face embedding with where it came from. */
interface FaceSample {
  embedding: Float32Array;
  face: DetectedFace | null;
}

function label(input: ImageInput): string {
  return typeof input === 'string' ? input : input instanceof Uint8Array ? '<bytes>' : `<${input.width}x${input.height} image>`;
}

function shortSide(b: Box): number {
  return Math.min(b.x2 - b.x1, b.y2 - b.y1);
}

function area(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

function isAlignedCrop(engine: Engine, img: RgbImage, aligned: boolean | 'auto'): boolean {
  if (aligned !== 'auto') return aligned;
  const [w, h] = engine.recognizerEntry.input.size ?? [112, 112];
  return img.width === w && img.height === h;
}

function checkOptions(o: FaceCheckOptions): Required<FaceCheckOptions> {
  const minFacePx = o.minFacePx ?? 40;
  const minScore = o.minScore ?? 0.6;
  const aligned = o.aligned ?? 'auto';
  if (!(minFacePx >= 0)) throw new FaceGateError('CONFIG_INVALID', `minFacePx must be >= 0, got ${minFacePx}`, { details: { field: 'minFacePx' } });
  if (!(minScore >= 0 && minScore <= 1)) throw new FaceGateError('CONFIG_INVALID', `minScore must be in [0, 1], got ${minScore}`, { details: { field: 'minScore' } });
  if (aligned !== 'auto' && typeof aligned !== 'boolean') throw new FaceGateError('CONFIG_INVALID', 'aligned must be true, false or "auto"');
  return { minFacePx, minScore, aligned };
}

/**
 * The single enrolment face of an image: decoded, detected, and checked for size and score. A second face that
 * also passes the checks rejects the image unless the main face's box is at least twice its area (a bystander).
 */
export async function enrollmentFace(
  engine: Engine,
  input: ImageInput,
  options: FaceCheckOptions = {},
): Promise<{ ok: true; embedding: Float32Array; box: Box | null; score: number } | { ok: false; reason: ImageRejection; message: string }> {
  const o = checkOptions(options);
  let img: RgbImage;
  try {
    img = await engine.decode(input);
  } catch (e) {
    return { ok: false, reason: 'UNREADABLE', message: toFaceGateError(e).message };
  }
  if (isAlignedCrop(engine, img, o.aligned)) {
    const r = await engine.embedAligned(img);
    return { ok: true, embedding: r.embedding, box: null, score: 1 };
  }
  const faces = await engine.detect(img);
  if (faces.length === 0) return { ok: false, reason: 'NO_FACE', message: 'no face found' };
  const scored = faces.filter((f) => f.score >= o.minScore);
  if (scored.length === 0) {
    return { ok: false, reason: 'LOW_SCORE', message: `best detection score ${faces[0]!.score.toFixed(2)} < ${o.minScore}` };
  }
  const big = scored.filter((f) => shortSide(f.box) >= o.minFacePx).sort((a, b) => area(b.box) - area(a.box));
  if (big.length === 0) {
    const largest = Math.max(...scored.map((f) => shortSide(f.box)));
    return { ok: false, reason: 'FACE_TOO_SMALL', message: `largest face is ${largest.toFixed(0)} px < ${o.minFacePx} px` };
  }
  if (big.length > 1 && area(big[0]!.box) < 2 * area(big[1]!.box)) {
    return { ok: false, reason: 'MULTIPLE_FACES', message: `${big.length} faces of similar size: use a photo of one person` };
  }
  const face = big[0]!;
  const [emb] = await engine.embedFaces(img, [face]);
  return { ok: true, embedding: emb!.embedding, box: face.box, score: face.score };
}

export interface EnrollImagesInput {
  id: string;
  name?: string;
  metadata?: Metadata;
  images: readonly ImageInput[];
  /** `add` appends to an existing identity, `replace` drops its templates first. Default 'add'. */
  mode?: 'add' | 'replace';
}

/**
 * Enrols one identity from images: each image must hold one face of sufficient size and detection score (else
 * its outcome says why); all accepted faces are written in one transaction. When the identity is new, each face
 * is first searched against the gallery and a match of another identity at or above the duplicate threshold is
 * reported (the enrolment still happens).
 */
export async function enrollImages(
  engine: Engine,
  gallery: Gallery,
  input: EnrollImagesInput,
  options: EnrollmentOptions = {},
): Promise<EnrollImagesResult> {
  checkOptions(options);
  if (!Array.isArray(input.images) || input.images.length === 0) {
    throw new FaceGateError('CONFIG_INVALID', `enrolment of "${input.id}" needs at least one image`);
  }
  const images: ImageOutcome[] = [];
  const accepted: { sample: FaceSample; image: string; index: number; score: number }[] = [];
  for (const img of input.images) {
    const name = label(img);
    const r = await enrollmentFace(engine, img, options);
    if (!r.ok) {
      images.push({ image: name, ok: false, reason: r.reason, message: r.message });
    } else {
      accepted.push({ sample: { embedding: r.embedding, face: null }, image: name, index: images.length, score: r.score });
      images.push({ image: name, ok: true, box: r.box, score: r.score });
    }
    options.onImageDone?.(images[images.length - 1]!);
  }
  const duplicates = findDuplicates(engine, gallery, input.id, accepted, options);
  if (accepted.length === 0) return { id: input.id, identity: null, enrolled: 0, images, duplicates };
  const templates: TemplateInput[] = accepted.map((a) => ({
    vector: a.sample.embedding,
    quality: Math.max(0, Math.min(1, a.score)),
    ...(typeof input.images[a.index] === 'string' ? { source: basename(a.image) } : {}),
  }));
  const res = await gallery.enroll({
    id: input.id,
    modelId: engine.recognizerId,
    templates,
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
    ...(input.mode !== undefined ? { mode: input.mode } : {}),
  });
  accepted.forEach((a, i) => {
    const o = images[a.index]!;
    if (o.ok) o.templateId = res.templateIds[i]!;
  });
  return { id: input.id, identity: res.identity, enrolled: res.templateIds.length, images, duplicates };
}

function findDuplicates(
  engine: Engine,
  gallery: Gallery,
  id: string,
  accepted: readonly { sample: FaceSample; image: string }[],
  options: EnrollmentOptions,
): DuplicateWarning[] {
  if (gallery.get(id) || accepted.length === 0 || gallery.stats().identities === 0) return [];
  const threshold = options.duplicateThreshold ?? engine.recommendedThreshold ?? engine.threshold;
  const out: DuplicateWarning[] = [];
  for (const a of accepted) {
    const hit = gallery.search(a.sample.embedding, { modelId: engine.recognizerId, topK: 1 })[0];
    if (hit && hit.id !== id && hit.similarity >= threshold) out.push({ id, image: a.image, matchId: hit.id, similarity: hit.similarity });
  }
  return out;
}

/** Image files directly in a folder, sorted by name. */
export function listImages(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile());
}

export interface EnrollFoldersOptions extends EnrollmentOptions {
  /** Called after each image with images done and total. Default none. */
  onProgress?: (done: number, total: number, image: string) => void;
  /** Enrol at most this many images per identity (the first by name). Default all. */
  maxImagesPerIdentity?: number;
}

export interface EnrollFoldersResult {
  identities: EnrollImagesResult[];
  /** Templates written in total. */
  enrolled: number;
  /** Images that gave no template. */
  rejected: number;
}

/**
 * Enrols a folder tree: each sub-folder of `root` is one identity (its id is the folder name) and its image files
 * are that identity's photos.
 */
export async function enrollFolders(engine: Engine, gallery: Gallery, root: string, options: EnrollFoldersOptions = {}): Promise<EnrollFoldersResult> {
  let entries: string[];
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
    entries = readdirSync(root).sort();
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `enrolment root ${root} is not a readable directory`, { details: { path: root }, cause: e });
  }
  const max = options.maxImagesPerIdentity ?? Infinity;
  const plan = entries
    .map((name) => join(root, name))
    .filter((p) => statSync(p).isDirectory())
    .map((dir) => ({ id: basename(dir), images: listImages(dir).slice(0, max) }))
    .filter((p) => p.images.length > 0);
  const total = plan.reduce((n, p) => n + p.images.length, 0);
  let done = 0;
  const results: EnrollImagesResult[] = [];
  for (const p of plan) {
    const r = await enrollImages(engine, gallery, { id: p.id, images: p.images }, {
      ...options,
      onImageDone: (outcome) => {
        options.onImageDone?.(outcome);
        options.onProgress?.(++done, total, outcome.image);
      },
    });
    results.push(r);
  }
  return {
    identities: results,
    enrolled: results.reduce((n, r) => n + r.enrolled, 0),
    rejected: results.reduce((n, r) => n + r.images.filter((i) => !i.ok).length, 0),
  };
}

export interface IdentifyImageOptions extends FaceCheckOptions {
  /** Identities returned per face. Default 5. */
  topK?: number;
  /** Open-set threshold. Default: the recognizer's recommended threshold (else the engine's threshold). */
  threshold?: number;
  /** Score by best template or by centroid. Default 'template'. */
  scoreBy?: ScoreBy;
  /** Which faces to identify: every face, the one nearest the centre, or the largest. Default 'all'. */
  face?: 'all' | 'center' | 'largest';
}

export interface FaceIdentification extends Identification {
  /** The face's box in image pixels; null for an aligned crop. */
  box: Box | null;
  score: number;
  /** The face's embedding (to search other galleries or enrol without embedding again). */
  embedding: Float32Array;
}

/**
 * Identifies the faces of an image against a gallery. An image without a face gives an empty list; faces below
 * the size/score checks are skipped.
 */
export async function identifyImage(
  engine: Engine,
  gallery: Gallery,
  input: ImageInput,
  options: IdentifyImageOptions = {},
): Promise<FaceIdentification[]> {
  const o = checkOptions(options);
  const threshold = options.threshold ?? engine.recommendedThreshold ?? engine.threshold;
  const search = {
    modelId: engine.recognizerId,
    threshold,
    topK: options.topK ?? 5,
    ...(options.scoreBy ? { scoreBy: options.scoreBy } : {}),
  };
  const img = await engine.decode(input);
  if (isAlignedCrop(engine, img, o.aligned)) {
    const r = await engine.embedAligned(img);
    return [{ ...gallery.identify(r.embedding, search), box: null, score: 1, embedding: r.embedding }];
  }
  let faces = (await engine.detect(img)).filter((f) => f.score >= o.minScore && shortSide(f.box) >= o.minFacePx);
  if (faces.length === 0) return [];
  const which = options.face ?? 'all';
  if (which === 'largest') faces = [faces.reduce((a, b) => (area(b.box) > area(a.box) ? b : a))];
  else if (which === 'center') {
    const cx = img.width / 2;
    const cy = img.height / 2;
    const d = (f: DetectedFace): number => ((f.box.x1 + f.box.x2) / 2 - cx) ** 2 + ((f.box.y1 + f.box.y2) / 2 - cy) ** 2;
    faces = [faces.reduce((a, b) => (d(b) < d(a) ? b : a))];
  }
  const embeddings = await engine.embedFaces(img, faces);
  return embeddings.map((e) => ({ ...gallery.identify(e.embedding, search), box: e.face.box, score: e.face.score, embedding: e.embedding }));
}
