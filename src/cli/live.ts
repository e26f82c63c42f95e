/** Shared by `facegate run` and `facegate demo`: enrolment from photo folders and the summary lines. */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { FaceGateError } from '../core/errors.js';
import type { Engine } from '../engine.js';
import { enrollImages, listImages } from '../enrollment.js';
import type { Gallery } from '../gallery/gallery.js';
import type { PipelineStats } from '../pipeline/pipeline.js';

/** `face_recognition__lin_manuel_miranda` -> id `lin_manuel_miranda`, name `Lin Manuel Miranda`. */
export function identityFromFolder(dir: string): { id: string; name: string } {
  const base = basename(dir.replace(/\/+$/, ''));
  const id = base.includes('__') ? base.slice(base.lastIndexOf('__') + 2) : base;
  const name = id
    .split(/[_-]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
  return { id, name: name || id };
}

/**
 * Enrols one identity from the photos of a folder through the gallery's enrolment (one checked face per photo);
 * NO_FACE naming the folder when no photo gives a face.
 */
export async function enrolFolder(engine: Engine, gallery: Gallery, dir: string): Promise<{ id: string; name: string; photos: number }> {
  let images: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    images = listImages(dir);
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot read enrolment folder ${dir}: ${(e as Error).message}`, { details: { path: dir } });
  }
  const { id, name } = identityFromFolder(dir);
  if (images.length === 0) throw new FaceGateError('FILE_NOT_FOUND', `no photos in enrolment folder ${dir}`, { details: { path: dir } });
  const r = await enrollImages(engine, gallery, { id, name, images, mode: 'replace' });
  if (r.enrolled === 0) {
    const why = r.images.map((o) => (o.ok ? '' : `${o.image}: ${o.message}`)).filter(Boolean).join('; ');
    throw new FaceGateError('NO_FACE', `no usable face in the photos of ${dir} (${why})`, { details: { path: dir } });
  }
  return { id, name, photos: r.enrolled };
}

/** The run's counters as one human line. */
export function summaryLine(s: PipelineStats): string {
  return (
    `frames ${s.frames}, drops ${s.drops}, tracks ${s.tracks}, events ${s.events.identified} identified + ${s.events.unknown} unknown` +
    ` (${s.suppressed} kept quiet by the cooldown), ${s.fps} fps, detect ${s.latency.detect.medianMs} ms, embed ${s.latency.embed.medianMs} ms` +
    (s.errors ? `, ${s.errors} per-frame errors` : '')
  );
}

/**
 * Closes resources in order (newest first as the commands register them), going on past failures: a sink that
 * fails to close must not keep the gallery open or leave temporary files behind.
 */
export async function closeAll(closers: readonly (() => unknown)[]): Promise<void> {
  for (const close of closers) {
    try {
      await close();
    } catch {
      // close the rest regardless
    }
  }
}
