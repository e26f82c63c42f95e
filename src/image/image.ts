/**
 * The only importer of sharp: decode, resize, encode and draw. Everything returns or takes `RgbImage`
 * (interleaved 8-bit RGB), so the rest of facegate never sees sharp objects.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { FaceGateError } from '../core/errors.js';
import type { Box, Landmarks5, RgbImage } from '../core/types.js';

export interface DecodeOptions {
  /** Largest accepted image, in pixels (width x height), checked from the header before decoding. Default 100e6. */
  maxPixels?: number;
  /** Smallest accepted width and height, in pixels. Default 16. */
  minSidePx?: number;
}

const DEFAULT_MAX_PIXELS = 100_000_000;
const DEFAULT_MIN_SIDE_PX = 16;

// libvips caches decoded images by default; a kiosk decodes a stream of distinct frames, so the cache only holds memory.
sharp.cache(false);

/**
 * Decodes a JPEG, PNG, WebP or GIF (first frame) from a path or bytes into RGB, applying EXIF orientation and
 * converting grayscale or RGBA to RGB. A corrupt, truncated or non-image input is `IMAGE_DECODE_FAILED`; a header
 * that declares more than `maxPixels` is `IMAGE_TOO_LARGE` (nothing is decoded).
 */
export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const label = typeof input === 'string' ? input : '<buffer>';
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (e) {
      throw new FaceGateError('FILE_NOT_FOUND', `cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
        cause: e,
        details: { path: input },
      });
    }
  } else {
    bytes = input;
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const minSide = options.minSidePx ?? DEFAULT_MIN_SIDE_PX;
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata();
  } catch (e) {
    throw new FaceGateError('IMAGE_DECODE_FAILED', `${label} is not a readable image: ${(e as Error).message}`, {
      cause: e,
      details: { path: label },
    });
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width * height > maxPixels) {
    throw new FaceGateError('IMAGE_TOO_LARGE', `${label} is ${width}x${height}, over the limit of ${maxPixels} pixels`, {
      details: { path: label, width, height, maxPixels },
    });
  }
  if (width < minSide || height < minSide) {
    throw new FaceGateError('IMAGE_TOO_SMALL', `${label} is ${width}x${height}, smaller than ${minSide}x${minSide} pixels`, {
      details: { path: label, width, height },
    });
  }
  try {
    // failOn 'error' turns libvips' "premature end of file" on truncated JPEG/PNG into an error instead of grey pixels.
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', pages: 1 })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw new FaceGateError('IMAGE_DECODE_FAILED', `${label} could not be decoded: ${(e as Error).message}`, {
      cause: e,
      details: { path: label },
    });
  }
}

/** Wraps raw interleaved RGB bytes (e.g. a decoded video frame) as an RgbImage, checking the length. */
export function rgbFromRaw(data: Uint8Array, width: number, height: number): RgbImage {
  if (data.length !== width * height * 3) {
    throw new FaceGateError('IMAGE_DECODE_FAILED', `raw frame of ${data.length} bytes does not match ${width}x${height}x3`);
  }
  return { data, width, height, channels: 3 };
}

function raw(img: RgbImage): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function toRgb(s: Sharp): Promise<RgbImage> {
  const { data, info } = await s.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
}

/** Resizes to exactly width x height (bilinear-class resampling, aspect not kept). */
export async function resizeImage(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  return toRgb(raw(img).resize(width, height, { fit: 'fill', kernel: 'linear' }));
}

/** Crops a region (clamped to the image), in pixels. */
export async function cropImage(img: RgbImage, box: Box): Promise<RgbImage> {
  const left = Math.max(0, Math.floor(box.x1));
  const top = Math.max(0, Math.floor(box.y1));
  const right = Math.min(img.width, Math.ceil(box.x2));
  const bottom = Math.min(img.height, Math.ceil(box.y2));
  return toRgb(raw(img).extract({ left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) }));
}

/** Encodes as JPEG (quality 0..100, default 90). */
export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return raw(img).jpeg({ quality }).toBuffer();
}

/** Encodes as PNG (lossless; for tests and synthetic images). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return raw(img).png().toBuffer();
}

/** Writes the image to a file; the format follows the extension (.jpg, .png, .webp). */
export async function writeImage(img: RgbImage, path: string): Promise<void> {
  await raw(img).toFile(path);
}

/** Applies a Gaussian blur of the given sigma (pixels); for controlled degradations in tests and tools. */
export async function blurImage(img: RgbImage, sigma: number): Promise<RgbImage> {
  if (sigma < 0.3) return img;
  return toRgb(raw(img).blur(sigma));
}

export interface DrawnFace {
  box: Box;
  landmarks?: Landmarks5;
  label?: string;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Draws boxes, keypoints and labels over the image and writes it to `path`. */
export async function drawFaces(img: RgbImage, faces: readonly DrawnFace[], path: string): Promise<void> {
  const stroke = Math.max(2, Math.round(Math.min(img.width, img.height) / 300));
  const parts: string[] = [];
  const colors = ['#ff3b30', '#34c759', '#007aff', '#ff9500', '#af52de'];
  for (const f of faces) {
    const { x1, y1, x2, y2 } = f.box;
    parts.push(`<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="#00ff66" stroke-width="${stroke}"/>`);
    f.landmarks?.forEach(([x, y], i) => parts.push(`<circle cx="${x}" cy="${y}" r="${stroke * 1.5}" fill="${colors[i]}"/>`));
    if (f.label) {
      parts.push(`<text x="${x1}" y="${Math.max(12, y1 - 4)}" font-family="sans-serif" font-size="${stroke * 7}" fill="#00ff66">${escapeXml(f.label)}</text>`);
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${parts.join('')}</svg>`;
  await raw(img).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).toFile(path);
}
