/**
 * The quality gate wired to real faces: measures each detected face (reusing the aligned crop and raw embedding norm
 * when the engine already made them), optionally runs the liveness model, and applies the gate. The measures and
 * the gate themselves are pure (src/face/quality.ts); this file only composes them with models.
 */
import { FaceGateError } from './core/errors.js';
import type { DetectedFace, RgbImage } from './core/types.js';
import {
  QUALITY_PRESETS,
  gateConfig,
  gateFace,
  measureFace,
  type QualityGateConfig,
  type QualityMeasures,
  type QualityPreset,
  type QualityResult,
} from './face/quality.js';
import { createLivenessModel, type LivenessModel } from './models/liveness.js';
import { findModel, loadManifest, requireModel, resolveModelsDir } from './models/manifest.js';
import type { DeviceName } from './runtime/onnx.js';

/** The liveness model id in the manifest. */
export const DEFAULT_LIVENESS_MODEL = 'antispoof_faceplugin_128';

export interface QualityCheckOptions {
  /** Limits to start from: `kiosk` (an access point, strict) or `passive` (a passing-by camera). Default `kiosk`. */
  preset?: QualityPreset;
  /** Limits overriding the preset's (see QualityGateConfig for units). Default none. */
  gate?: Partial<QualityGateConfig>;
  /** A loaded liveness model; when given, each face gets a live score and a SPOOF reason below `minLiveScore`. Default none (off). */
  liveness?: LivenessModel;
}

/** A face, optionally with what the engine already computed for it (`FaceEmbedding` fits). */
export interface FaceInput {
  face: DetectedFace;
  /** The 112x112 aligned crop the recognizer saw. */
  aligned?: RgbImage;
  /** The recognizer's pre-normalisation embedding norm. */
  rawNorm?: number;
}

/** One face's measures and the gate's verdict. */
export interface FaceQuality {
  face: DetectedFace;
  measures: QualityMeasures;
  quality: QualityResult;
}

const PRESETS = Object.keys(QUALITY_PRESETS) as QualityPreset[];

/**
 * Resolves and validates gate limits. Throws `CONFIG_INVALID` naming the field for an unknown preset, a non-finite
 * limit, a negative one, or a share/probability outside 0..1.
 */
export function resolveGateConfig(options: Pick<QualityCheckOptions, 'preset' | 'gate'> = {}): QualityGateConfig {
  const preset = options.preset ?? 'kiosk';
  if (!PRESETS.includes(preset)) {
    throw new FaceGateError('CONFIG_INVALID', `quality preset "${String(preset)}" must be one of ${PRESETS.join(', ')}`, {
      details: { field: 'preset', value: preset },
    });
  }
  const config = gateConfig(preset, options.gate ?? {});
  const unit = new Set<keyof QualityGateConfig>(['minDetScore', 'maxBlurEffect', 'maxOverexposedShare', 'maxOcclusion', 'minScore', 'minLiveScore']);
  for (const [k, v] of Object.entries(config) as [keyof QualityGateConfig, number][]) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (unit.has(k) && v > 1)) {
      throw new FaceGateError('CONFIG_INVALID', `quality limit ${k}=${String(v)} must be a finite number${unit.has(k) ? ' in 0..1' : ' >= 0'}`, {
        details: { field: k, value: v },
      });
    }
  }
  return config;
}

/**
 * Measures and gates each face of `img`. Faces may be plain detections or the engine's `FaceEmbedding`s (whose
 * aligned crop, with `keepCrops`, and raw norm are reused). Returns one entry per face, in order; an image with no
 * face gives an empty array (the caller reports "no face": the gate judges faces, not images).
 */
export async function assessFaces(
  img: RgbImage,
  faces: readonly (DetectedFace | FaceInput)[],
  options: QualityCheckOptions = {},
): Promise<FaceQuality[]> {
  const config = resolveGateConfig(options);
  const inputs: FaceInput[] = faces.map((f) => ('face' in f ? f : { face: f }));
  const live = options.liveness && inputs.length > 0 ? await options.liveness.check(img, inputs.map((i) => i.face)) : undefined;
  return inputs.map((f, i) => {
    const measures = measureFace(img, f.face, {
      ...(f.aligned ? { aligned: f.aligned } : {}),
      ...(f.rawNorm !== undefined ? { embeddingNorm: f.rawNorm } : {}),
      ...(live ? { liveScore: live[i]! } : {}),
    });
    return { face: f.face, measures, quality: gateFace(measures, config) };
  });
}

export interface LivenessLoadOptions {
  /** Directory holding the model files. Default: `FACEGATE_MODELS`, then `../shared/models` beside the package. */
  modelsDir?: string;
  /** Path of a model manifest. Default: the built-in models/manifest.json. */
  manifestPath?: string;
  /** Liveness model id. Default `antispoof_faceplugin_128`. */
  model?: string;
  /** Device: `cpu`, `cuda`, `tensorrt` or `auto`. Default `cpu`. */
  device?: DeviceName;
  /** onnxruntime threads per operator; 0 lets onnxruntime choose. Default 0. */
  intraOpThreads?: number;
}

/** Loads the liveness model (sha256-verified). Call `close()` on it when done. */
export async function loadLivenessModel(options: LivenessLoadOptions = {}): Promise<LivenessModel> {
  const entry = findModel(loadManifest(options.manifestPath), options.model ?? DEFAULT_LIVENESS_MODEL);
  const path = await requireModel(resolveModelsDir(options.modelsDir), entry);
  return createLivenessModel(entry, path, { device: options.device ?? 'cpu', intraOpThreads: options.intraOpThreads ?? 0 });
}
