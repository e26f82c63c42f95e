import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { command, checkBroker, listCameras, parseBrokerUrl, readInt8Manifest, runDoctor, type DoctorReport } from '../../src/cli/commands/doctor.js';
import { isFaceGateError } from '../../src/core/errors.js';
import { loadManifest } from '../../src/models/manifest.js';
import { bindingInfo } from '../../src/runtime/onnx.js';
import { validate, type Schema } from '../helpers/json-schema.js';
import { have, MODELS_DIR, REPO_ROOT } from '../helpers/shared.js';


const SCHEMA = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'doctor.schema.json'), 'utf8')) as Schema;
const NO_INT8 = join(tmpdir(), 'facegate-no-int8', 'manifest.json');

describe('the schema validator used here', () => {
  it('rejects what the schema forbids', () => {
    expect(validate(SCHEMA, { schema: 'facegate.doctor/v1' }).length).toBeGreaterThan(5);
    const sub = (SCHEMA.properties as Record<string, Schema>).broker!;
    expect(validate(SCHEMA, { url: 'mqtt://x', host: 'x', port: 0, reachable: 'yes', latencyMs: null, error: null, timeoutMs: 1 }, sub)).toEqual([
      '$.port: below 1',
      '$.reachable: expected boolean, got string',
    ]);
    expect(validate(SCHEMA, null, sub)).toEqual([]);
  });
});

describe.skipIf(!have(MODELS_DIR))('facegate doctor on this machine', () => {
  let report: DoctorReport;
  it('produces a report that matches schema/doctor.schema.json', async () => {
    report = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: NO_INT8 });
    expect(validate(SCHEMA, report)).toEqual([]);
  });

  it('tells the truth about CPU features', () => {
    const text = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
    const flags = new Set((text.match(/^(?:flags|Features)\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
    if (process.arch === 'x64') {
      expect(report.cpu.avx512Vnni).toBe(flags.has('avx512_vnni'));
      expect(report.cpu.avxVnni).toBe(flags.has('avx_vnni'));
      expect(report.cpu.avx2).toBe(flags.has('avx2'));
    }
    if (process.arch === 'arm64') expect(report.cpu.armDotProd).toBe(flags.has('asimddp'));
  });

  it('tells the truth about providers: usable exactly when the provider libraries are installed', () => {
    const dir = bindingInfo().dir;
    const byName = Object.fromEntries(report.runtime.providers.map((p) => [p.name, p]));
    expect(byName.cpu!.usable).toBe(true);
    for (const name of ['tensorrt', 'cuda'] as const) {
      const present = existsSync(join(dir, `libonnxruntime_providers_${name}.so`)) && existsSync(join(dir, 'libonnxruntime_providers_shared.so'));
      expect(byName[name]!.usable).toBe(present && report.runtime.compiledProviders.includes(name));
    }
    expect(report.runtime.autoOrder.at(-1)).toBe('cpu');
    expect(report.runtime.autoOrder).toEqual(report.runtime.providers.filter((p) => p.usable).map((p) => p.name));
  });

  it('verifies each model file that is present and calls the rest missing', () => {
    const manifest = loadManifest();
    for (const e of manifest.models) {
      const entry = report.models.entries.find((m) => m.id === e.id)!;
      expect(entry.status).toBe(existsSync(join(MODELS_DIR, e.file)) ? 'ok' : 'missing');
    }
    expect(report.models.verified).toBe(manifest.models.filter((e) => existsSync(join(MODELS_DIR, e.file))).length);
    expect(report.problems).toEqual([]);
  });

  it('degrades gracefully without INT8 models', () => {
    expect(report.int8).toMatchObject({ status: 'absent', comparisons: [] });
    expect(report.int8.message).toContain('does not exist');
  });

  it('warms a model up on auto and reports the provider it really ran on', async () => {
    const r = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: NO_INT8, warmup: ['det_500m', 'no_such_model'], device: 'auto' });
    expect(validate(SCHEMA, r)).toEqual([]);
    expect(r.warmup[0]).toMatchObject({ id: 'det_500m', status: 'ok', provider: r.runtime.autoOrder[0] });
    expect(r.warmup[1]).toMatchObject({ id: 'no_such_model', status: 'failed', error: { code: 'MODEL_UNKNOWN' } });
    expect(r.problems.some((p) => p.includes('no_such_model'))).toBe(true);
  });

  it.skipIf(bindingInfo().files.includes('libonnxruntime_providers_tensorrt.so'))('a tensorrt warmup here fails with PROVIDER_UNAVAILABLE and the build needed', async () => {
    const r = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: NO_INT8, warmup: ['det_500m'], device: 'tensorrt' });
    expect(r.warmup[0]).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_UNAVAILABLE' } });
    expect(r.warmup[0]!.error!.message).toMatch(/Needed: /);
  });

  it('times INT8 against FP32 from an INT8 manifest, reading it leniently', async () => {
    // The mechanism, exercised with an FP32 file listed as its own "INT8" twin (H7's real INT8 models replace it).
    const dir = mkdtempSync(join(tmpdir(), 'fg-int8-'));
    const manifest = join(dir, 'manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        models: [
          { id: 'twin', file: join(MODELS_DIR, 'mobilefacenet128.onnx'), source: { id: 'mobilefacenet128' }, target: 'cpu' },
          // The quantiser's own record shape: id = the FP32 model's id, source = the FP32 file it came from.
          { id: 'yunet', file: join(MODELS_DIR, 'face_detection_yunet_2026may.onnx'), target: 'cpu', source: { file: 'x.onnx', sha256: 'f'.repeat(64) } },
          { id: 'trt_only', file: 'x.onnx', fp32Id: 'mobilefacenet128', target: 'trt' },
          { id: 'gone', file: 'gone.onnx', sourceId: 'mobilefacenet128' },
          { bad: true },
        ],
      }),
    );
    expect(readInt8Manifest(manifest).entries.map((e) => [e.id, e.fp32Id])).toEqual([
      ['mobilefacenet128', 'mobilefacenet128'],
      ['face_detection_yunet_2026may', 'yunet'],
      ['x', 'mobilefacenet128'],
      ['gone', 'mobilefacenet128'],
    ]);
    const r = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: manifest, benchRuns: 3 });
    expect(validate(SCHEMA, r)).toEqual([]);
    expect(r.int8.comparisons.map((c) => [c.id, c.status])).toEqual([
      ['mobilefacenet128', 'measured'],
      ['face_detection_yunet_2026may', 'failed'],
      ['gone', 'missing'],
    ]);
    expect(r.int8.comparisons[1]!.message).toMatch(/different yunet file/);
    const twin = r.int8.comparisons[0]!;
    expect(twin.fp32MedianMs).toBeGreaterThan(0);
    expect(twin.speedup).toBeCloseTo(twin.fp32MedianMs! / twin.int8MedianMs!, 1);
    writeFileSync(manifest, '{ not json');
    expect(readInt8Manifest(manifest).status).toBe('invalid');
  });

  const realInt8 = join(REPO_ROOT, 'models', 'int8', 'manifest.json');
  // The INT8 files are generated by `npm run quantize` (git-ignored), so a fresh clone has none: then this skips.
  const cpuEntries = existsSync(realInt8)
    ? readInt8Manifest(realInt8).entries.filter((e) => e.target === 'cpu' && existsSync(join(REPO_ROOT, 'models', 'int8', e.file)))
    : [];
  it.skipIf(cpuEntries.length === 0)('measures every CPU INT8 model of models/int8 against its FP32 model', async () => {
    const r = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: realInt8, benchRuns: 2 });
    expect(validate(SCHEMA, r)).toEqual([]);
    for (const e of cpuEntries) {
      const c = r.int8.comparisons.find((x) => x.id === e.id)!;
      const fp32File = loadManifest().models.find((m) => m.id === e.fp32Id)?.file;
      expect(fp32File).toBeDefined();
      if (!have(join(MODELS_DIR, fp32File!))) continue;
      expect(c).toMatchObject({ status: 'measured', runs: 2 });
      expect(c.int8MedianMs).toBeGreaterThan(0);
      // A slower INT8 model is called out, so nobody ships it by mistake.
      if (c.speedup! < 1) expect(r.warnings.some((w) => w.includes(e.id) && w.includes('slower'))).toBe(true);
    }
  });

  describe('the command', () => {
    afterEach(() => vi.restoreAllMocks());
    it('--json prints one schema-valid object and exits 0 here', async () => {
      let out = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      const code = await command.run(['--json', '--models', MODELS_DIR, '--int8-manifest', NO_INT8]);
      vi.restoreAllMocks();
      const parsed = JSON.parse(out) as DoctorReport;
      expect(validate(SCHEMA, parsed)).toEqual([]);
      expect(code).toBe(0);
    });
    it('the text report names the providers, VNNI and model status', async () => {
      let out = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      await command.run(['--models', MODELS_DIR, '--int8-manifest', NO_INT8]);
      vi.restoreAllMocks();
      expect(out).toMatch(/cpu\s+usable/);
      expect(out).toMatch(process.arch === 'x64' ? /AVX512-VNNI (yes|no)/ : /dot-product/);
      expect(out).toMatch(/det_500m\s+detector\s+verified/);
    });
    it('rejects a bad device as a usage error', async () => {
      await expect(command.run(['--device', 'gpu'])).rejects.toMatchObject({ code: 'USAGE' });
    });
  });
});

describe('broker reachability', () => {
  it('parses broker URLs with their default ports', () => {
    expect(parseBrokerUrl('mqtt://broker.local')).toEqual({ host: 'broker.local', port: 1883 });
    expect(parseBrokerUrl('mqtts://10.0.0.2')).toEqual({ host: '10.0.0.2', port: 8883 });
    expect(parseBrokerUrl('wss://b.example:8443/mqtt')).toEqual({ host: 'b.example', port: 8443 });
    expect(parseBrokerUrl('mqtt://[::1]:1884')).toEqual({ host: '::1', port: 1884 });
    for (const bad of ['broker.local', 'http://x', 'mqtt://']) {
      try {
        parseBrokerUrl(bad);
        expect.unreachable(bad);
      } catch (e) {
        expect(isFaceGateError(e, 'USAGE')).toBe(true);
      }
    }
  });

  it('says reachable for a listening port and unreachable, with the reason, for a closed one', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const up = await checkBroker(`mqtt://127.0.0.1:${port}`, 2000);
    expect(up).toMatchObject({ reachable: true, port, error: null });
    await new Promise<void>((r) => server.close(() => r()));
    const down = await checkBroker(`mqtt://127.0.0.1:${port}`, 2000);
    expect(down.reachable).toBe(false);
    expect(down.error).toMatch(/ECONNREFUSED/);
    const r = await runDoctor({ modelsDir: MODELS_DIR, int8Manifest: NO_INT8, broker: `mqtt://127.0.0.1:${port}`, brokerTimeoutMs: 500 });
    expect(r.problems.some((p) => p.startsWith(`broker 127.0.0.1:${port} unreachable`))).toBe(true);
  });
});

describe('camera listing', () => {
  it('lists /dev/videoN in numeric order with the driver name and access', () => {
    const root = mkdtempSync(join(tmpdir(), 'fg-dev-'));
    const dev = join(root, 'dev');
    const sys = join(root, 'sys');
    mkdirSync(dev);
    for (const n of ['video10', 'video2', 'null', 'video0']) writeFileSync(join(dev, n), '');
    mkdirSync(join(sys, 'video0'), { recursive: true });
    writeFileSync(join(sys, 'video0', 'name'), 'HD USB Camera\n');
    const cams = listCameras(dev, sys);
    expect(cams.map((c) => c.path)).toEqual([join(dev, 'video0'), join(dev, 'video2'), join(dev, 'video10')]);
    expect(cams[0]).toMatchObject({ name: 'HD USB Camera', readable: true });
    expect(cams[1]!.name).toBeNull();
    expect(listCameras(join(root, 'nope'))).toEqual([]);
  });
});
