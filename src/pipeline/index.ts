/** The live pipeline: tracker, per-track decision policy, and the capture loop that ties sources, engine and sinks. */
export * from './pipeline.js';
export * from './tracker.js';
export * from './decision.js';
