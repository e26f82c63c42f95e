/** The public API of facegate. This file only re-exports. */
export * from './core/errors.js';
export type { Box, DetectedFace, Embedding, Landmarks5, Point, RgbImage } from './core/types.js';
export * from './engine.js';
export { createDetector } from './models/detector.js';
export type { DetectOptions, Detector, EmbedResult, Recognizer } from './models/types.js';
