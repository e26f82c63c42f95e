/** Box and point geometry. Pure functions, no allocation beyond their results. */
import type { Box, DetectedFace } from './types.js';

export function boxWidth(b: Box): number {
  return Math.max(0, b.x2 - b.x1);
}

export function boxHeight(b: Box): number {
  return Math.max(0, b.y2 - b.y1);
}

export function boxArea(b: Box): number {
  return boxWidth(b) * boxHeight(b);
}

export function boxCenter(b: Box): [number, number] {
  return [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2];
}

/** Intersection over union of two boxes, 0 when either is empty. */
export function iou(a: Box, b: Box): number {
  const ix = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const iy = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Clamps a box to an image of the given size. */
export function clipBox(b: Box, width: number, height: number): Box {
  return {
    x1: Math.min(Math.max(b.x1, 0), width),
    y1: Math.min(Math.max(b.y1, 0), height),
    x2: Math.min(Math.max(b.x2, 0), width),
    y2: Math.min(Math.max(b.y2, 0), height),
  };
}

/** `[x, y, w, h]`, the form used in JSON output and annotations. */
export function boxToXywh(b: Box): [number, number, number, number] {
  return [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1];
}

export function xywhToBox([x, y, w, h]: readonly number[]): Box {
  return { x1: x, y1: y, x2: x + w, y2: y + h };
}

/**
 * Greedy non-maximum suppression: keeps the highest-scoring face and drops those overlapping it above
 * `iouThreshold`. Returns the kept faces sorted by descending score.
 */
export function nms<T extends { box: Box; score: number }>(items: readonly T[], iouThreshold: number): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  const suppressed = new Uint8Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    if (suppressed[i]) continue;
    const a = sorted[i]!;
    kept.push(a);
    for (let j = i + 1; j < sorted.length; j++) {
      if (!suppressed[j] && iou(a.box, sorted[j]!.box) > iouThreshold) suppressed[j] = 1;
    }
  }
  return kept;
}

/** The face whose box centre is nearest the image centre (the labelled face in LFW-style crops). */
export function centerMostFace<T extends DetectedFace>(faces: readonly T[], width: number, height: number): T | undefined {
  let best: T | undefined;
  let bestD = Infinity;
  for (const f of faces) {
    const [cx, cy] = boxCenter(f.box);
    const d = (cx - width / 2) ** 2 + (cy - height / 2) ** 2;
    if (d < bestD) {
      bestD = d;
      best = f;
    }
  }
  return best;
}

/** The face with the largest box area. */
export function largestFace<T extends DetectedFace>(faces: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const f of faces) if (!best || boxArea(f.box) > boxArea(best.box)) best = f;
  return best;
}
