import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFaceGateError } from '../../src/core/errors.js';
import { bindingInfo, createSession } from '../../src/runtime/onnx.js';
import {
  adaptTensorRtToBoard,
  engineCacheKey,
  executionProviderEntry,
  FALLBACK_ORDER,
  planProviders,
  providerStatuses,
  tensorRtOptionsFromEnv,
  tensorRtProviderOptions,
  type BindingInfo,
  type ProviderLogger,
} from '../../src/runtime/providers.js';
import { have, MODELS_DIR } from '../helpers/shared.js';

/** A logger that keeps what it was told, to check what facegate reports. */
function recordingLogger(): ProviderLogger & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  };
}

/** Bindings as they exist in the field: stock npm x64 without the NuGet download, stock arm64, patched L4T. */
const SHARED_LIBS = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so'];
function binding(over: Partial<BindingInfo>): BindingInfo {
  return {
    version: '1.30.0',
    platform: 'linux',
    arch: 'x64',
    dir: '/pkg/bin/napi-v6/linux/x64',
    compiled: ['cpu', 'webgpu', 'cuda', 'tensorrt'],
    files: ['libonnxruntime.so.1', 'onnxruntime_binding.node'],
    forwardsTensorRtOptions: false,
    forwardsCudaOptions: false,
    ...over,
  };
}
const STOCK_X64 = binding({});
const STOCK_X64_WITH_LIBS = binding({ files: ['libonnxruntime.so.1', 'onnxruntime_binding.node', ...SHARED_LIBS] });
const STOCK_ARM64 = binding({ arch: 'arm64', dir: '/pkg/bin/napi-v6/linux/arm64', compiled: ['cpu'] });
const PATCHED_L4T = binding({
  arch: 'arm64',
  compiled: ['cpu', 'cuda', 'tensorrt'],
  files: ['libonnxruntime.so.1', 'onnxruntime_binding.node', ...SHARED_LIBS],
  forwardsTensorRtOptions: true,
  forwardsCudaOptions: true,
});

describe('TensorRT option mapping', () => {
  it('maps each switch to the provider option onnxruntime documents', () => {
    const opts = tensorRtProviderOptions(
      {
        int8: true,
        fp16: true,
        timingCacheDir: '/var/cache/facegate/timing',
        workspaceSizeBytes: 512 * 1024 * 1024,
        builderOptimizationLevel: 2,
        shapeProfiles: {
          'input.1': { min: [1, 3, 320, 320], opt: [1, 3, 640, 640], max: [1, 3, 640, 640] },
        },
      },
      '/var/cache/facegate/engines/abc',
    );
    expect(opts).toEqual({
      trt_int8_enable: '1',
      trt_fp16_enable: '1',
      trt_engine_cache_enable: '1',
      trt_engine_cache_path: '/var/cache/facegate/engines/abc',
      trt_timing_cache_enable: '1',
      trt_timing_cache_path: '/var/cache/facegate/timing',
      trt_max_workspace_size: String(512 * 1024 * 1024),
      trt_builder_optimization_level: '2',
      trt_profile_min_shapes: 'input.1:1x3x320x320',
      trt_profile_opt_shapes: 'input.1:1x3x640x640',
      trt_profile_max_shapes: 'input.1:1x3x640x640',
    });
  });

  it('joins several inputs\' profiles in a stable order and leaves defaults unset', () => {
    const p = (n: number) => ({ min: [1, n], opt: [4, n], max: [8, n] });
    const a = tensorRtProviderOptions({ shapeProfiles: { b: p(2), a: p(1) } });
    expect(a.trt_profile_min_shapes).toBe('a:1x1,b:1x2');
    expect(a.trt_profile_max_shapes).toBe('a:8x1,b:8x2');
    expect(tensorRtProviderOptions({})).toEqual({});
  });

  it('rejects impossible options with CONFIG_INVALID naming the field', () => {
    const bad = [
      { workspaceSizeBytes: -1 },
      { builderOptimizationLevel: 7 },
      { dlaCore: 0 },
      { shapeProfiles: { x: { min: [1, 3, 640], opt: [1, 3, 320], max: [1, 3, 640] } } },
      { shapeProfiles: { x: { min: [1, 3], opt: [1, 3, 2], max: [1, 3, 2] } } },
    ];
    for (const o of bad) {
      try {
        tensorRtProviderOptions(o);
        expect.unreachable(JSON.stringify(o));
      } catch (e) {
        expect(isFaceGateError(e, 'CONFIG_INVALID')).toBe(true);
        expect((e as Error).message).toMatch(/tensorrt\./);
      }
    }
  });

  it('builds execution-provider entries with the device id the stock binding reads', () => {
    expect(executionProviderEntry('tensorrt', { tensorrt: { deviceId: 1, fp16: true } })).toEqual({ name: 'tensorrt', deviceId: 1, trt_fp16_enable: '1' });
    expect(executionProviderEntry('cuda', { cuda: { memoryLimitBytes: 2 ** 30 } })).toEqual({ name: 'cuda', deviceId: 0, gpu_mem_limit: String(2 ** 30) });
    expect(executionProviderEntry('cpu', {})).toEqual({ name: 'cpu' });
  });
});

describe('TensorRT settings from the environment', () => {
  it('reads FACEGATE_TRT_* into options, caches under one root', () => {
    expect(tensorRtOptionsFromEnv({})).toEqual({});
    expect(
      tensorRtOptionsFromEnv({ FACEGATE_TRT_INT8: 'yes', FACEGATE_TRT_FP16: '0', FACEGATE_TRT_CACHE_DIR: '/c', FACEGATE_TRT_WORKSPACE_MB: '256', FACEGATE_TRT_BUILDER_LEVEL: '2' }),
    ).toEqual({ int8: true, fp16: false, engineCacheDir: '/c/engines', timingCacheDir: '/c/timing', workspaceSizeBytes: 256 * 1024 * 1024, builderOptimizationLevel: 2 });
  });
  it('rejects a bad value with CONFIG_INVALID naming the variable', () => {
    for (const env of [{ FACEGATE_TRT_FP16: 'maybe' }, { FACEGATE_TRT_WORKSPACE_MB: '-5' }, { FACEGATE_TRT_BUILDER_LEVEL: '9' }]) {
      try {
        tensorRtOptionsFromEnv(env);
        expect.unreachable(JSON.stringify(env));
      } catch (e) {
        expect(isFaceGateError(e, 'CONFIG_INVALID')).toBe(true);
        expect((e as Error).message).toContain(Object.keys(env)[0]);
      }
    }
  });
});

describe('engine cache key', () => {
  const sha = 'a'.repeat(64);
  const base = { int8: true, fp16: true, engineCacheDir: '/x', shapeProfiles: { 'input.1': { min: [1, 3, 640, 640], opt: [1, 3, 640, 640], max: [1, 3, 640, 640] } } };
  it('changes with the model bytes, the engine-affecting options and the runtime version', () => {
    const k = engineCacheKey(sha, base, '1.30.0');
    expect(engineCacheKey('b'.repeat(64), base, '1.30.0')).not.toBe(k);
    expect(engineCacheKey(sha, { ...base, int8: false }, '1.30.0')).not.toBe(k);
    expect(engineCacheKey(sha, { ...base, workspaceSizeBytes: 2 ** 28 }, '1.30.0')).not.toBe(k);
    expect(engineCacheKey(sha, { ...base, shapeProfiles: { 'input.1': { min: [1, 3, 320, 320], opt: [1, 3, 640, 640], max: [1, 3, 640, 640] } } }, '1.30.0')).not.toBe(k);
    expect(engineCacheKey(sha, base, '1.20.1')).not.toBe(k);
  });
  it('ignores where caches live, so moving the cache root keeps engines valid', () => {
    const k = engineCacheKey(sha, base, '1.30.0');
    expect(engineCacheKey(sha, { ...base, engineCacheDir: '/elsewhere', timingCacheDir: '/t' }, '1.30.0')).toBe(k);
    expect(k.startsWith(sha.slice(0, 12))).toBe(true);
  });
});

describe('provider planning', () => {
  it('tries tensorrt, then cuda, then cpu under auto', () => {
    expect(FALLBACK_ORDER).toEqual(['tensorrt', 'cuda', 'cpu']);
    expect(planProviders('auto', providerStatuses(PATCHED_L4T), PATCHED_L4T).tryOrder).toEqual(['tensorrt', 'cuda', 'cpu']);
    expect(planProviders('auto', providerStatuses(STOCK_X64_WITH_LIBS), STOCK_X64_WITH_LIBS).tryOrder).toEqual(['tensorrt', 'cuda', 'cpu']);
  });

  it('does not trust listSupportedBackends: listed GPU providers without their libraries are skipped with the reason', () => {
    const plan = planProviders('auto', providerStatuses(STOCK_X64), STOCK_X64);
    expect(plan.tryOrder).toEqual(['cpu']);
    expect(plan.skipped.map((s) => s.name)).toEqual(['tensorrt', 'cuda']);
    expect(plan.skipped[0]!.reason).toContain('libonnxruntime_providers_tensorrt.so');
  });

  it('refuses an explicit tensorrt on a build without it, naming the build needed', () => {
    for (const b of [STOCK_X64, STOCK_ARM64]) {
      try {
        planProviders('tensorrt', providerStatuses(b), b);
        expect.unreachable();
      } catch (e) {
        expect(isFaceGateError(e, 'PROVIDER_UNAVAILABLE')).toBe(true);
        const details = (e as { details: Record<string, unknown> }).details;
        expect(String(details.buildNeeded)).toMatch(b.arch === 'arm64' ? /--use_tensorrt.*JetPack/ : /ONNXRUNTIME_NODE_INSTALL=cuda12/);
      }
    }
  });

  it('refuses INT8/FP16/engine cache on a binding that would silently drop them, but auto moves on to cuda', () => {
    const options = { tensorrt: { int8: true, engineCacheDir: '/var/cache/facegate' } };
    expect(() => planProviders('tensorrt', providerStatuses(STOCK_X64_WITH_LIBS), STOCK_X64_WITH_LIBS, options)).toThrow(/only deviceId/);
    const plan = planProviders('auto', providerStatuses(STOCK_X64_WITH_LIBS), STOCK_X64_WITH_LIBS, options);
    expect(plan.tryOrder).toEqual(['cuda', 'cpu']);
    // Plain TensorRT (FP32, no cache) is what the stock binding can do, so it is allowed.
    expect(planProviders('tensorrt', providerStatuses(STOCK_X64_WITH_LIBS), STOCK_X64_WITH_LIBS).tryOrder).toEqual(['tensorrt']);
    expect(planProviders('tensorrt', providerStatuses(PATCHED_L4T), PATCHED_L4T, options).tryOrder).toEqual(['tensorrt']);
  });

  it('rejects an unknown device as CONFIG_INVALID', () => {
    expect(() => planProviders('gpu' as never, providerStatuses(STOCK_X64), STOCK_X64)).toThrow(/unknown device "gpu"/);
  });

  it('turns an INT8 request into FP16 on boards without INT8 and logs it', () => {
    const log = recordingLogger();
    const nano = { model: 'NVIDIA Jetson Nano Developer Kit', family: 'nano' as const, l4t: '32.7.4', jetpack: '4', int8: false };
    expect(adaptTensorRtToBoard({ int8: true }, nano, log)).toEqual({ int8: false, fp16: true });
    expect(log.lines[0]!.message).toMatch(/no INT8/);
    const orin = { ...nano, model: 'NVIDIA Jetson AGX Orin', family: 'orin' as const, int8: true };
    expect(adaptTensorRtToBoard({ int8: true }, orin, log)).toEqual({ int8: true });
  });
});

describe('the installed onnxruntime-node binding', () => {
  const info = bindingInfo();
  it('reports a provider usable exactly when it is compiled in and its libraries sit beside the binding', () => {
    const files = existsSync(info.dir) ? readdirSync(info.dir) : [];
    expect(files).toContain('onnxruntime_binding.node');
    for (const s of providerStatuses(info)) {
      if (s.name === 'cpu') {
        expect(s.usable).toBe(true);
        continue;
      }
      const lib = `libonnxruntime_providers_${s.name}.so`;
      expect(s.usable).toBe(info.compiled.includes(s.name) && files.includes(lib) && files.includes('libonnxruntime_providers_shared.so'));
      if (!s.usable) expect(s.buildNeeded).toBeTruthy();
    }
  });
  it('the stock npm binding does not forward trt_* options', () => {
    expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.forwardsTensorRtOptions).toBe(false);
  });
});

const DET = join(MODELS_DIR, 'det_500m.onnx');
describe.skipIf(!have(DET))('createSession with providers (real model)', () => {
  const info = bindingInfo();
  const gpuUsable = providerStatuses(info).some((s) => s.name !== 'cpu' && s.usable);

  it.skipIf(gpuUsable)('asking for tensorrt fails with PROVIDER_UNAVAILABLE naming the build needed', async () => {
    const err = await createSession(DET, { device: 'tensorrt' }).catch((e: unknown) => e);
    expect(isFaceGateError(err, 'PROVIDER_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/Needed: /);
    expect((err as { details: Record<string, unknown> }).details.buildNeeded).toBeTruthy();
  });

  it.skipIf(gpuUsable)('auto falls back to CPU, logs why, and the model runs', async () => {
    const log = recordingLogger();
    const cacheRoot = mkdtempSync(join(tmpdir(), 'fg-trt-'));
    const s = await createSession(DET, {
      device: 'auto',
      logger: log,
      label: 'det_500m',
      providers: { tensorrt: { int8: true, fp16: true, engineCacheDir: cacheRoot } },
    });
    try {
      expect(s.provider).toBe('cpu');
      const skipped = log.lines.filter((l) => l.message.includes('skipping')).map((l) => l.fields?.provider);
      expect(skipped).toEqual(['tensorrt', 'cuda']);
      expect(log.lines.at(-1)).toMatchObject({ level: 'info', message: 'det_500m runs on cpu', fields: { provider: 'cpu', requested: 'auto' } });
      const input = s.inputs[0]!;
      const out = await s.run({ [input.name]: { data: new Float32Array(3 * 640 * 640), dims: [1, 3, 640, 640], type: 'float32' } });
      expect(Object.keys(out)).toHaveLength(9);
      // No engine was built, so no cache folder was made.
      expect(readdirSync(cacheRoot)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('reads FACEGATE_TRT_* for tensorrt/auto (a bad value is CONFIG_INVALID), and not for cpu', async () => {
    process.env.FACEGATE_TRT_FP16 = 'maybe';
    try {
      const err = await createSession(DET, { device: 'auto' }).catch((e: unknown) => e);
      expect(isFaceGateError(err, 'CONFIG_INVALID')).toBe(true);
      const s = await createSession(DET, { device: 'cpu' });
      expect(s.provider).toBe('cpu');
      await s.close();
    } finally {
      delete process.env.FACEGATE_TRT_FP16;
    }
  });

  it('an unknown device is CONFIG_INVALID, not a crash', async () => {
    const err = await createSession(DET, { device: 'npu' as never }).catch((e: unknown) => e);
    expect(isFaceGateError(err, 'CONFIG_INVALID')).toBe(true);
  });
});
