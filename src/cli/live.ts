/** Shared by `facegate run` and `facegate demo`: enrolment from photo folders and the summary lines. */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { FaceGateError } from '../core/errors.js';
import type { Engine } from '../engine.js';
import type { Gallery } from '../gallery/gallery.js';
import type { PipelineStats } from '../pipeline/pipeline.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp']);

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

/** Enrols one identity from the photos of a folder (the largest face of each); returns how many photos were used. */
export async function enrolFolder(engine: Engine, gallery: Gallery, dir: string): Promise<{ id: string; name: string; photos: number }> {
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    files = readdirSync(dir).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort();
  } catch (e) {
    throw new FaceGateError('FILE_NOT_FOUND', `cannot read enrolment folder ${dir}: ${(e as Error).message}`, { details: { path: dir } });
  }
  const { id, name } = identityFromFolder(dir);
  const templates = [];
  for (const f of files) {
    const [face] = await engine.embedImage(join(dir, f), { face: 'largest' });
    if (face) templates.push({ vector: face.embedding, source: f });
  }
  if (templates.length === 0) throw new FaceGateError('NO_FACE', `no face found in the photos of ${dir}`, { details: { path: dir } });
  await gallery.enroll({ id, name, modelId: engine.recognizerId, templates, mode: 'replace' });
  return { id, name, photos: templates.length };
}

/** The run's counters as one human line. */
export function summaryLine(s: PipelineStats): string {
  return (
    `frames ${s.frames}, drops ${s.drops}, tracks ${s.tracks}, events ${s.events.identified} identified + ${s.events.unknown} unknown` +
    ` (${s.suppressed} kept quiet by the cooldown), ${s.fps} fps, detect ${s.latency.detect.medianMs} ms, embed ${s.latency.embed.medianMs} ms` +
    (s.errors ? `, ${s.errors} per-frame errors` : '')
  );
}
