/** Flags shared by the gallery commands (enroll, identify, gallery) and opening the gallery they name. */
import { existsSync } from 'node:fs';
import { FaceGateError } from '../core/errors.js';
import type { Gallery, VectorFormat } from '../gallery/gallery.js';
import { openGallery } from '../gallery/lmdb-store.js';
import { str, type ParsedArgs } from './common.js';

export const GALLERY_OPTIONS = {
  gallery: { type: 'string' },
  'gallery-name': { type: 'string' },
} as const;

export const GALLERY_USAGE = `gallery options:
  --gallery DIR            the gallery's directory (an LMDB environment; created by enroll/import)
  --gallery-name NAME      which named gallery in DIR, e.g. staff or visitors (default "default")`;

/** Opens the gallery the flags name; `mustExist` refuses a directory that holds no gallery yet. */
export function openGalleryFrom(args: ParsedArgs, options: { mustExist: boolean; vectorFormat?: VectorFormat }): Gallery {
  const path = str(args, 'gallery');
  if (!path) throw new FaceGateError('USAGE', '--gallery DIR is required');
  if (options.mustExist && !existsSync(path)) {
    throw new FaceGateError('GALLERY_PATH_INVALID', `no gallery at ${path}`, { details: { path } });
  }
  const name = str(args, 'gallery-name');
  return openGallery({ path, ...(name ? { name } : {}), ...(options.vectorFormat ? { vectorFormat: options.vectorFormat } : {}) });
}
