/**
 * Head pose (yaw, pitch, roll in degrees) from the five detector keypoints alone, with no extra model.
 *
 * Method (see docs/quality.md for the measured error):
 * 1. Roll is the angle of the line from the image-left eye to the image-right eye.
 * 2. The keypoints are rotated by -roll about the eye midpoint, so the eye line is horizontal.
 * 3. A mean face is assumed: eyes and mouth corners on one plane, the nose tip `noseDepth` in front of it
 *    (in units of half the inter-ocular distance). Under a rotation about the vertical axis the nose tip moves
 *    sideways by depth x sin(yaw) while the half eye distance shrinks to cos(yaw), so
 *    yaw = atan(nose offset from the face midline / half eye distance / noseDepth).
 * 4. Pitch moves the nose tip along the face's vertical axis by depth x sin(pitch) while vertical distances shrink to
 *    cos(pitch). Two estimates are averaged, because a smile moves the mouth and a yaw error moves the eye distance:
 *    (a) t = where the nose sits between the eye line (0) and the mouth line (1): pitch = atan((t0 - t) x height / depth);
 *    (b) u = nose drop below the eye line over the yaw-corrected eye distance: solve u = u0 cos(p) - depth/2 sin(p).
 *    t0 and u0 are calibrated so that the median pitch over the 1,610 photos of the dev pairs (news photos, mostly
 *    level) is 0 (the ArcFace template's own values read about 9 degrees low on SCRFD keypoints).
 * The two are solved independently: a weak-perspective approximation that holds to about 45 degrees; beyond that
 * the detector's keypoints for the hidden side are themselves guesses.
 */
import type { Landmarks5 } from '../core/types.js';
import { ARCFACE_TEMPLATE_112 } from '../core/types.js';

/** Head pose in degrees. */
export interface HeadPose {
  /** Positive when the nose points to the image's right (the person turns to their own left). */
  yawDeg: number;
  /** Positive when the chin is raised (the person looks up). */
  pitchDeg: number;
  /** Positive when the eye line runs clockwise in the image (the image-right eye is lower). 0 is upright, +-180 upside down. */
  rollDeg: number;
}

export interface PoseModel {
  /**
   * Depth of the nose tip in front of the eye/mouth plane, in units of half the inter-ocular distance.
   * Default 0.7: a 22 mm nose-tip protrusion over a 63 mm pupil distance (adult anthropometric means).
   */
  noseDepth?: number;
}

const RAD = 180 / Math.PI;
const DEFAULT_NOSE_DEPTH = 0.7;

// Frontal reference geometry from the ArcFace template: where the nose sits between the eye line and mouth line,
// and the eye-to-mouth height in half eye distances.
const T = ARCFACE_TEMPLATE_112;
const T_EYE_Y = (T[0][1] + T[1][1]) / 2;
const T_MOUTH_Y = (T[3][1] + T[4][1]) / 2;
const T_HALF_IOD = (T[1][0] - T[0][0]) / 2;
/** Level-head nose position between eye line (0) and mouth line (1), calibrated (template: 0.494). */
export const LEVEL_NOSE_T = 0.545;
/** Level-head nose drop below the eye line, in eye distances, calibrated (template: 0.571). */
export const LEVEL_NOSE_U = 0.537;
/** Frontal eye-to-mouth height in half eye distances: 2.31. */
const FRONTAL_HEIGHT = (T_MOUTH_Y - T_EYE_Y) / T_HALF_IOD;

/** Estimates yaw, pitch and roll in degrees from five keypoints (Landmarks5 order). Pure and allocation-light. */
export function estimatePose(landmarks: Landmarks5, model: PoseModel = {}): HeadPose {
  const depth = model.noseDepth ?? DEFAULT_NOSE_DEPTH;
  const [le, re, nose, lm, rm] = landmarks;
  const ex = (le[0] + re[0]) / 2;
  const ey = (le[1] + re[1]) / 2;
  const dx = re[0] - le[0];
  const dy = re[1] - le[1];
  const roll = Math.atan2(dy, dx);
  const c = Math.cos(-roll);
  const s = Math.sin(-roll);
  // Rotate about the eye midpoint into the upright frame: x along the eye line, y down the face.
  const up = (p: readonly [number, number]): [number, number] => {
    const px = p[0] - ex;
    const py = p[1] - ey;
    return [px * c - py * s, px * s + py * c];
  };
  const n = up(nose);
  const l = up(lm);
  const r = up(rm);
  const halfIod = Math.hypot(dx, dy) / 2;
  if (!(halfIod > 1e-6)) return { yawDeg: 0, pitchDeg: 0, rollDeg: roll * RAD };
  const mouthX = (l[0] + r[0]) / 2;
  const mouthY = (l[1] + r[1]) / 2;
  // The face midline at the nose's height, interpolated between the eye midpoint (0, 0) and the mouth midpoint.
  const tNose = mouthY > 1e-6 ? n[1] / mouthY : LEVEL_NOSE_T;
  const midX = mouthX * Math.min(1, Math.max(0, tNose));
  // tan form: the nose offset grows with sin(yaw) while the half eye distance shrinks with cos(yaw).
  const yaw = Math.atan((n[0] - midX) / halfIod / depth);
  // (a) eye-to-mouth height in half eye distances is the template's 2.31 for a level head.
  const pitchA = Math.atan(((LEVEL_NOSE_T - tNose) * FRONTAL_HEIGHT) / depth);
  // (b) u = u0 cos p - (depth / 2) sin p  =>  p = acos(u / R) - atan2(depth / 2, u0), R = hypot(u0, depth / 2).
  const u = n[1] / ((2 * halfIod) / Math.max(0.2, Math.cos(yaw)));
  const b = depth / 2;
  const R = Math.hypot(LEVEL_NOSE_U, b);
  const pitchB = Math.acos(Math.max(-1, Math.min(1, u / R))) - Math.atan2(b, LEVEL_NOSE_U);
  const pitch = (pitchA + pitchB) / 2;
  return { yawDeg: yaw * RAD, pitchDeg: pitch * RAD, rollDeg: roll * RAD };
}
