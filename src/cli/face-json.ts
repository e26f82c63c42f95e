/** The JSON form of a face, shared by `detect --json` and `embed`. */
import { boxToXywh } from '../core/geometry.js';
import type { DetectedFace } from '../core/types.js';

export interface FaceJson {
  /** [x, y, width, height] in source pixels. */
  box: [number, number, number, number];
  score: number;
  /** Five [x, y] keypoints: image-left eye, image-right eye, nose, left and right mouth corners. */
  landmarks: [number, number][];
  embedding?: number[];
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

/** A face for JSON output: pixels to 0.01, score to 1e-4, embedding at float32 precision (7 significant digits). */
export function faceJson(face: DetectedFace, embedding?: Float32Array): FaceJson {
  const out: FaceJson = {
    box: boxToXywh(face.box).map(r2) as FaceJson['box'],
    score: Math.round(face.score * 1e4) / 1e4,
    landmarks: face.landmarks.map(([x, y]) => [r2(x), r2(y)]),
  };
  if (embedding) out.embedding = embeddingJson(embedding);
  return out;
}

/** An embedding as JSON numbers at float32 precision (7 significant digits keep every float32 distinct). */
export function embeddingJson(e: Float32Array): number[] {
  return Array.from(e, (v) => Number(v.toPrecision(7)));
}
