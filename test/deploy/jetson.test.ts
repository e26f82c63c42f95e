/**
 * deploy/jetson: the README's commands are either run here or marked Jetson-only; the systemd unit passes
 * `systemd-analyze verify`; the kiosk config's runtime section is accepted by the code that maps it; the binding
 * patch inserts what facegate detects.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { command as doctor, type DoctorReport } from '../../src/cli/commands/doctor.js';
import { getField, loadConfigFile } from '../../src/cli/config.js';
import { loadManifest } from '../../src/models/manifest.js';
import { FORWARDING_MARKERS, tensorRtOptionsFromEnv, tensorRtProviderOptions } from '../../src/runtime/providers.js';
import { have, MODELS_DIR, REPO_ROOT, IN_CI } from '../helpers/shared.js';

const DEPLOY = join(REPO_ROOT, 'deploy', 'jetson');
const README = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
const TESTED = '# tested here: test/deploy/jetson.test.ts';
const JETSON_ONLY = /^# jetson-only \(JetPack \d+(\.\d+)*(\/\d+(\.\d+)*)?[^)]*\)$/;

interface Block {
  lang: string;
  lines: string[];
  startLine: number;
}

function codeBlocks(md: string): Block[] {
  const blocks: Block[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, lines: body, startLine: start + 1 });
  }
  return blocks;
}

/** Commands of a block: comments and blank lines dropped, `\` continuations joined, trailing `# ...` removed. */
function commandsOf(block: Block): string[] {
  const joined = block.lines.join('\n').replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Swaps the install paths for temporary ones (and the shared models), as the README header says. */
function environment() {
  const root = mkdtempSync(join(tmpdir(), 'fg-deploy-'));
  const etc = join(root, 'etc', 'facegate');
  const cache = join(root, 'cache');
  mkdirSync(etc, { recursive: true });
  mkdirSync(cache);
  const config = JSON.parse(readFileSync(join(DEPLOY, 'facegate.json'), 'utf8')) as Record<string, any>;
  config.engine.modelsDir = MODELS_DIR;
  writeFileSync(join(etc, 'facegate.json'), JSON.stringify(config));
  writeFileSync(join(etc, 'facegate.env'), readFileSync(join(DEPLOY, 'facegate.env'), 'utf8').replaceAll('/var/cache/facegate', cache).replaceAll('/var/lib/facegate/models', MODELS_DIR));
  // The unit as installed, with its executables pointing at a stand-in so `verify` can check they are executable.
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'facegate'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'facegate'), 0o755);
  const unit = join(root, 'facegate.service');
  writeFileSync(unit, readFileSync(join(DEPLOY, 'facegate.service'), 'utf8').replaceAll('/usr/bin/facegate', join(bin, 'facegate')));
  const swap = (arg: string) =>
    arg
      .replace('/etc/facegate/facegate.json', join(etc, 'facegate.json'))
      .replace('/etc/facegate/facegate.env', join(etc, 'facegate.env'))
      .replace('/etc/systemd/system/facegate.service', unit)
      .replace('/var/lib/facegate/models', MODELS_DIR)
      .replace('/var/cache/facegate', cache);
  return { root, swap, unit };
}

interface Ran {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
}

/** KEY=VALUE lines of an environment file (comments and blanks skipped). */
function parseEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function runFacegate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
  if (args[0] !== 'doctor') throw new Error(`facegate ${args[0]} is not exercised by this test: mark the block jetson-only or add it here`);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await doctor.run(args.slice(1)), stdout };
  } finally {
    vi.restoreAllMocks();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function runCommand(line: string, swap: (a: string) => string): Promise<Ran> {
  // `sudo -u facegate sh -c 'set -a; . ENVFILE; exec facegate ...'`: the service's environment, then the command.
  const withEnv = /^sudo -u facegate sh -c 'set -a; \. (\S+); exec (.*)'$/.exec(line);
  const env = withEnv ? parseEnvFile(swap(withEnv[1]!)) : {};
  const words = (withEnv ? withEnv[2]! : line.replace(/^sudo -u facegate /, '')).split(/\s+/).map(swap);
  if (words[0] === 'facegate') {
    const r = await runFacegate(words.slice(1), env);
    return { command: line, code: r.code, stdout: r.stdout, stderr: '' };
  }
  if (words[0] === 'systemd-analyze') {
    const r = spawnSync('systemd-analyze', words.slice(1), { encoding: 'utf8' });
    return { command: line, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  throw new Error(`"${line}" is in a tested block but this test cannot run it: mark the block jetson-only`);
}

const blocks = codeBlocks(README);

describe('deploy/jetson/README.md', () => {
  it('has shell blocks, and every fence names its language', () => {
    expect(blocks.filter((b) => b.lang === 'bash').length).toBeGreaterThan(10);
    const unnamed = blocks.filter((b) => b.lang === '').map((b) => b.startLine);
    expect(unnamed).toEqual([]);
  });

  it('marks every shell block as tested here or Jetson-only with its JetPack version', () => {
    const bad = blocks
      .filter((b) => ['bash', 'sh', 'shell', 'console'].includes(b.lang))
      .filter((b) => !(b.lines[0] === TESTED || JETSON_ONLY.test(b.lines[0] ?? '')))
      .map((b) => `line ${b.startLine}: ${b.lines[0]}`);
    expect(bad).toEqual([]);
  });

  it('names both JetPack lines it documents', () => {
    const versions = new Set(blocks.map((b) => /JetPack (\d)/.exec(b.lines[0] ?? '')?.[1]).filter(Boolean));
    expect([...versions].sort()).toEqual(['5', '6']);
  });
});

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
// Under CI the unit checks must run (.ci/run installs systemd); elsewhere they skip when the tool is absent.
if (!systemdAnalyze && IN_CI) throw new Error('CI: systemd-analyze is missing (.ci/run installs the systemd package)');

describe.skipIf(!have(MODELS_DIR))('the README blocks marked "tested here", run', () => {
  afterEach(() => vi.restoreAllMocks());
  const tested = blocks.filter((b) => b.lines[0] === TESTED);
  const env = environment();
  const verified = new Set(loadManifest().models.filter((m) => existsSync(join(MODELS_DIR, m.file))).map((m) => m.id));

  it('there are tested blocks', () => {
    expect(tested.length).toBeGreaterThanOrEqual(4);
  });

  for (const block of tested) {
    for (const line of commandsOf(block)) {
      const needsSystemd = line.startsWith('systemd-analyze');
      it.skipIf(needsSystemd && !systemdAnalyze)(line, async () => {
        const r = await runCommand(line, env.swap);
        if (needsSystemd) {
          // verify exits 0 even for directives it ignores, so any output is a failure too.
          expect({ code: r.code, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ code: 0, out: '' });
          return;
        }
        const report: DoctorReport | undefined = line.includes('--json') ? JSON.parse(r.stdout) : undefined;
        if (report) expect(report.schema).toBe('facegate.doctor/v1');
        if (line.includes('--warmup')) {
          // The config names det_2.5g and w600k_mbf: each loads (on the best provider here) or is reported missing.
          expect(r.stdout).toMatch(/warmup\s+det_2\.5g/);
          for (const id of ['det_2.5g', 'w600k_mbf']) {
            expect(r.stdout).toMatch(verified.has(id) ? new RegExp(`warmup\\s+${id.replace('.', '\\.')}: cpu, loaded in`) : new RegExp(`warmup\\s+${id}: failed`));
          }
          expect(r.code).toBe(verified.has('det_2.5g') && verified.has('w600k_mbf') ? 0 : 1);
          return;
        }
        expect(r.code).toBe(0);
        if (!report) expect(r.stdout).toMatch(/cpu\s+usable/);
      });
    }
  }
});

describe('facegate.service', () => {
  const unit = readFileSync(join(DEPLOY, 'facegate.service'), 'utf8');
  const directive = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]);

  it.skipIf(!systemdAnalyze)('passes systemd-analyze verify with no warning', () => {
    const { unit: path } = environment();
    const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    expect({ code: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ code: 0, out: '' });
  });

  it.skipIf(!systemdAnalyze)('the check catches a broken unit (so the pass above means something)', () => {
    const { root } = environment();
    const bad = join(root, 'bad.service');
    writeFileSync(bad, unit.replace('Restart=always', 'Restart=sometimes').replaceAll('/usr/bin/facegate', '/bin/true'));
    const r = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/restart specifier/);
  });

  it('restarts, limits resources, runs as a dedicated user with the box environment', () => {
    expect(directive('Restart')).toEqual(['always']);
    // `facegate run` sends READY=1/WATCHDOG=1 through the systemd-notify binary, a child: NotifyAccess=all is needed
    // (test/cli/systemd-notify.test.ts checks the messages).
    expect(directive('Type')).toEqual(['notify']);
    expect(directive('NotifyAccess')).toEqual(['all']);
    expect(directive('WatchdogSec')).toEqual(['30s']);
    expect(directive('EnvironmentFile')).toEqual(['-/etc/facegate/facegate.env']);
    expect(directive('MemoryMax').length).toBe(1);
    expect(directive('TasksMax').length).toBe(1);
    expect(directive('User')).toEqual(['facegate']);
    expect(directive('ExecStart')[0]).toContain('--config /etc/facegate/facegate.json');
  });
});

describe('facegate.json and facegate.env (kiosk example)', () => {
  const path = join(DEPLOY, 'facegate.json');
  it('is accepted by the config loader of facegate run', () => {
    const c = loadConfigFile(path);
    expect(getField(c, 'engine.device')).toBe('auto');
    const ids = new Set(loadManifest().models.map((m) => m.id));
    for (const field of ['engine.detector', 'engine.recognizer']) expect(ids.has(getField<string>(c, field)!)).toBe(true);
    expect(getField(c, 'source.input')).toMatch(/^\/dev\/video\d+$/);
    expect(getField(c, 'mqtt.url')).toMatch(/^mqtts:\/\//);
  });

  it('the env file gives valid TensorRT settings: FP16 on, INT8 off, caches under /var/cache/facegate', () => {
    const env = parseEnvFile(join(DEPLOY, 'facegate.env'));
    const trt = tensorRtOptionsFromEnv(env);
    expect(trt).toEqual({
      fp16: true,
      int8: false,
      engineCacheDir: '/var/cache/facegate/trt/engines',
      timingCacheDir: '/var/cache/facegate/trt/timing',
      workspaceSizeBytes: 1024 * 1024 * 1024,
    });
    expect(tensorRtProviderOptions(trt, '/x').trt_engine_cache_path).toBe('/x');
    expect(env.FACEGATE_MODELS).toBe(getField(loadConfigFile(path), 'engine.modelsDir'));
  });
});

describe('patch-onnxruntime-node.mjs', () => {
  // The lines the script anchors on, as they appear in session_options_helper.cc (both spacing styles of * seen).
  const helper = [
    'void ParseExecutionProviders(const Napi::Array epList, Ort::SessionOptions& sessionOptions) {',
    '  for (uint32_t i = 0; i < epList.Length(); i++) {',
    '    std::string name;',
    '    int deviceId = 0;',
    '    if (epValue.IsString()) {',
    '    } else {',
    '      auto obj = epValue.As<Napi::Object>();',
    '      name = obj.Get("name").As<Napi::String>().Utf8Value();',
    '      if (obj.Has("deviceId")) {',
    '      }',
    '    }',
    '    } else if (name == "cuda") {',
    '      options->device_id = deviceId;',
    '      sessionOptions.AppendExecutionProvider_CUDA_V2(*options);',
    '    } else if (name == "tensorrt") {',
    '      options->device_id = deviceId;',
    '      sessionOptions.AppendExecutionProvider_TensorRT_V2(*options);',
    '  }',
    '}',
    '',
  ].join('\n');

  async function load() {
    return (await import(join(DEPLOY, 'patch-onnxruntime-node.mjs'))) as { patchSessionOptionsHelper(src: string): string };
  }

  it('forwards options before each append, carries the markers facegate looks for, and is idempotent', async () => {
    const { patchSessionOptionsHelper } = await load();
    const out = patchSessionOptionsHelper(helper);
    expect(out).toContain(FORWARDING_MARKERS.tensorrt);
    expect(out).toContain(FORWARDING_MARKERS.cuda);
    const trtUpdate = out.indexOf('Ort::GetApi().UpdateTensorRTProviderOptions(');
    expect(trtUpdate).toBeGreaterThan(out.indexOf('name == "tensorrt"'));
    expect(trtUpdate).toBeLessThan(out.indexOf('AppendExecutionProvider_TensorRT_V2'));
    expect(out.indexOf('Ort::GetApi().UpdateCUDAProviderOptions(')).toBeLessThan(out.indexOf('AppendExecutionProvider_CUDA_V2'));
    expect(out.indexOf('std::vector<std::string> fgKeys;')).toBeGreaterThan(out.indexOf('int deviceId = 0;'));
    expect(out.indexOf('obj.GetPropertyNames()')).toBeGreaterThan(out.indexOf('name = obj.Get("name")'));
    expect(out).toContain('fgKeys.push_back("device_id")');
    expect(patchSessionOptionsHelper(out)).toBe(out);
  });

  it('refuses a file without the anchors', async () => {
    const { patchSessionOptionsHelper } = await load();
    expect(() => patchSessionOptionsHelper(helper.replace('AppendExecutionProvider_TensorRT_V2', 'Something'))).toThrow(/anchor not found: TensorRT append/);
  });

  it('runs as a command on a file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fg-patch-')), 'session_options_helper.cc');
    writeFileSync(file, helper);
    const r = spawnSync(process.execPath, [join(DEPLOY, 'patch-onnxruntime-node.mjs'), file], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(FORWARDING_MARKERS.tensorrt);
    const again = spawnSync(process.execPath, [join(DEPLOY, 'patch-onnxruntime-node.mjs'), file], { encoding: 'utf8' });
    expect(again.stdout).toMatch(/already patched/);
  });
});

describe('pack-onnxruntime-node.mjs', () => {
  /** A source tree laid out as ./build.sh --build_nodejs --use_tensorrt leaves it (binaries are stand-ins). */
  function fakeBuild(patched: boolean) {
    const ort = mkdtempSync(join(tmpdir(), 'fg-ort-'));
    const node = join(ort, 'js', 'node');
    const bin = join(node, 'bin', 'napi-v6', 'linux', 'arm64');
    mkdirSync(bin, { recursive: true });
    mkdirSync(join(node, 'dist'));
    mkdirSync(join(ort, 'js', 'common'));
    mkdirSync(join(ort, 'build', 'Linux', 'Release'), { recursive: true });
    writeFileSync(join(node, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version: '1.20.1', main: 'dist/index.js', scripts: { postinstall: 'node ./script/install', prepack: 'node ./script/prepack' }, dependencies: { 'onnxruntime-common': 'file:../common' } }));
    writeFileSync(join(node, 'dist', 'index.js'), 'module.exports = {};\n');
    writeFileSync(join(node, '.npmignore'), '/bin/\n');
    writeFileSync(join(ort, 'js', 'common', 'package.json'), JSON.stringify({ name: 'onnxruntime-common', version: '1.20.1' }));
    writeFileSync(join(bin, 'onnxruntime_binding.node'), patched ? `\0binding\0${FORWARDING_MARKERS.tensorrt}\0` : '\0binding\0');
    writeFileSync(join(bin, 'libonnxruntime.so.1.20.1'), 'lib');
    for (const lib of ['shared', 'cuda', 'tensorrt']) writeFileSync(join(ort, 'build', 'Linux', 'Release', `libonnxruntime_providers_${lib}.so`), lib);
    return ort;
  }
  const script = join(DEPLOY, 'pack-onnxruntime-node.mjs');

  it('packs the binding with its provider libraries and a dependency npm can resolve', () => {
    const ort = fakeBuild(true);
    const out = join(ort, 'out');
    const r = spawnSync(process.execPath, [script, ort, out], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const tgz = r.stdout.trim();
    expect(tgz).toBe(join(out, 'onnxruntime-node-1.20.1.tgz'));
    const list = spawnSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of ['onnxruntime_binding.node', 'libonnxruntime_providers_tensorrt.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']) {
      expect(list).toContain(`package/bin/napi-v6/linux/arm64/${f}`);
    }
    const pkg = JSON.parse(spawnSync('tar', ['-xzOf', tgz, 'package/package.json'], { encoding: 'utf8' }).stdout);
    expect(pkg.dependencies['onnxruntime-common']).toBe('1.20.1');
    expect(pkg.scripts).toBeUndefined();
  });

  it('refuses a binding that would drop trt_* options, and a build without the TensorRT provider', () => {
    const unpatched = fakeBuild(false);
    const r = spawnSync(process.execPath, [script, unpatched, join(unpatched, 'out')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/does not forward trt_\* options/);
    const noTrt = fakeBuild(true);
    rmSync(join(noTrt, 'build', 'Linux', 'Release', 'libonnxruntime_providers_tensorrt.so'));
    const r2 = spawnSync(process.execPath, [script, noTrt, join(noTrt, 'out')], { encoding: 'utf8' });
    expect(r2.stderr).toMatch(/libonnxruntime_providers_tensorrt\.so does not exist.*--use_tensorrt/);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  it('builds on NVIDIA\'s L4T base, applies the patch, runs as a non-root user', () => {
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.every((f) => f!.startsWith('nvcr.io/nvidia/l4t-jetpack:'))).toBe(true);
    expect(text).toMatch(/patch-onnxruntime-node\.mjs \/src\/onnxruntime\/js\/node\/src\/session_options_helper\.cc/);
    expect(text).toMatch(/^USER facegate$/m);
    expect(text.split('\n')[0]).toMatch(/^# jetson-only \(JetPack [\d./]+[^)]*\)/);
  });
});
