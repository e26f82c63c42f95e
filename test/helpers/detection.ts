/** Scoring detections against the human-annotated boxes of groups/annotations.json. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { iou, xywhToBox } from '../../src/core/geometry.js';
import type { Box, DetectedFace, Point } from '../../src/core/types.js';
import { facePath } from './shared.js';

export const ANNOTATIONS = facePath('groups/annotations.json');

export interface AnnotatedImage {
  /** Path relative to ../shared/data/faces. */
  path: string;
  faces: { box: Box; landmarks: Point[] }[];
}

/** The human-annotated photos (the file also holds model outputs, which are not ground truth) and their non-ignored boxes. */
export function humanAnnotated(): AnnotatedImage[] {
  const json = JSON.parse(readFileSync(ANNOTATIONS, 'utf8')) as {
    images: Record<string, { kind: string; faces: { x: number; y: number; w: number; h: number; ignore?: boolean; landmarks5_derived: Point[] }[] }>;
  };
  return Object.entries(json.images)
    .filter(([, v]) => v.kind.startsWith('human-annotated'))
    .map(([path, v]) => ({
      path,
      faces: v.faces.filter((f) => !f.ignore).map((f) => ({ box: xywhToBox([f.x, f.y, f.w, f.h]), landmarks: f.landmarks5_derived })),
    }));
}

export interface MatchResult {
  truePositives: number;
  groundTruth: number;
  falsePositives: number;
  /** Per matched face: the largest keypoint error divided by the annotated box width. */
  landmarkErrors: number[];
}

/** Greedy one-to-one matching of detections to ground truth at IoU >= minIou. */
export function matchFaces(detections: readonly DetectedFace[], truth: AnnotatedImage['faces'], minIou = 0.4): MatchResult {
  const used = new Set<number>();
  const landmarkErrors: number[] = [];
  let tp = 0;
  for (const g of truth) {
    let best = -1;
    let bestIou = minIou;
    detections.forEach((d, i) => {
      const u = iou(d.box, g.box);
      if (!used.has(i) && u >= bestIou) {
        bestIou = u;
        best = i;
      }
    });
    if (best < 0) continue;
    tp++;
    used.add(best);
    const d = detections[best]!;
    const err = Math.max(...d.landmarks.map(([x, y], j) => Math.hypot(x - g.landmarks[j]![0], y - g.landmarks[j]![1])));
    landmarkErrors.push(err / (g.box.x2 - g.box.x1));
  }
  return { truePositives: tp, groundTruth: truth.length, falsePositives: detections.length - used.size, landmarkErrors };
}

export function sum(results: readonly MatchResult[]): MatchResult {
  return results.reduce(
    (a, r) => ({
      truePositives: a.truePositives + r.truePositives,
      groundTruth: a.groundTruth + r.groundTruth,
      falsePositives: a.falsePositives + r.falsePositives,
      landmarkErrors: [...a.landmarkErrors, ...r.landmarkErrors],
    }),
    { truePositives: 0, groundTruth: 0, falsePositives: 0, landmarkErrors: [] },
  );
}

export function medianOf(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Asserts ArcFace template order: image-left eye before image-right eye, eyes above the nose above the mouth. */
export function expectTemplateOrder(face: DetectedFace): void {
  const [le, re, nose, lm, rm] = face.landmarks;
  expect(le[0]).toBeLessThan(re[0]);
  expect(lm[0]).toBeLessThan(rm[0]);
  expect(Math.max(le[1], re[1])).toBeLessThan(nose[1]);
  expect(nose[1]).toBeLessThan(Math.min(lm[1], rm[1]));
}
