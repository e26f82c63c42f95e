/** Core value types shared by every layer. No third-party imports here. */

/** An 8-bit image, interleaved RGB (3 channels), row-major, no padding. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

/** An axis-aligned box in source-image pixels: (x1, y1) top-left, (x2, y2) bottom-right. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export type Point = [number, number];

/**
 * Five facial keypoints in ArcFace template order, in source-image pixels: the eye on the image's left, the eye on
 * the image's right, nose tip, left mouth corner, right mouth corner.
 */
export type Landmarks5 = [Point, Point, Point, Point, Point];

/** One face found by a detector. `score` is detector confidence in [0, 1]. */
export interface DetectedFace {
  box: Box;
  score: number;
  landmarks: Landmarks5;
}

/** An L2-normalised face embedding. */
export type Embedding = Float32Array;

/** The ArcFace 112x112 reference landmarks, in Landmarks5 order. */
export const ARCFACE_TEMPLATE_112: Readonly<Landmarks5> = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
