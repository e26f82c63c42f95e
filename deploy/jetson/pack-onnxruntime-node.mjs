#!/usr/bin/env node
/**
 * Packs the Node binding of an onnxruntime source build (`./build.sh --build_nodejs --use_tensorrt`) into an npm
 * tarball that installs on any board of the same JetPack line without network access to GitHub or NuGet.
 *
 * Why not plain `npm pack` in js/node: that folder's package.json depends on `file:../common`, its `prepack` and
 * `postinstall` scripts expect the source tree, and its .npmignore has excluded `bin/` in some releases. Here we
 * - copy the TensorRT/CUDA provider libraries beside libonnxruntime.so in bin/napi-v<N>/linux/<arch>, where
 *   onnxruntime loads them from;
 * - refuse a binding that does not forward trt_* options (patch-onnxruntime-node.mjs not applied), unless told;
 * - stage package.json (scripts dropped, onnxruntime-common pinned to the built version), README, dist and bin;
 * - run `npm pack` on the staged folder and check that the tarball holds the binding and the provider libraries.
 *
 * usage: node pack-onnxruntime-node.mjs <onnxruntime source dir> <output dir> [--arch arm64] [--config Release]
 *        [--allow-unpatched]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const PROVIDER_LIBS = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so'];
const MARKER = 'UpdateTensorRTProviderOptions';

/** Packs; returns the tarball path. Throws with a message naming what is missing. */
export function packOnnxruntimeNode({ ortDir, outDir, arch = 'arm64', config = 'Release', allowUnpatched = false, npm = 'npm' }) {
  const nodeDir = join(ortDir, 'js', 'node');
  const binRoot = join(nodeDir, 'bin');
  if (!existsSync(binRoot)) throw new Error(`${binRoot} does not exist: run ./build.sh with --build_nodejs first`);
  const napi = readdirSync(binRoot).filter((n) => /^napi-v\d+$/.test(n) && existsSync(join(binRoot, n, 'linux', arch)));
  if (napi.length !== 1) throw new Error(`expected one ${binRoot}/napi-v*/linux/${arch}, found ${napi.length}`);
  const bindingDir = join(binRoot, napi[0], 'linux', arch);
  const binding = join(bindingDir, 'onnxruntime_binding.node');
  if (!existsSync(binding)) throw new Error(`${binding} does not exist: the Node binding was not built`);
  if (!allowUnpatched && !readFileSync(binding).toString('latin1').includes(MARKER)) {
    throw new Error(`${binding} does not forward trt_* options: apply patch-onnxruntime-node.mjs and rebuild (or pass --allow-unpatched)`);
  }
  const buildDir = join(ortDir, 'build', 'Linux', config);
  for (const lib of PROVIDER_LIBS) {
    const from = join(buildDir, lib);
    if (!existsSync(from)) throw new Error(`${from} does not exist: was onnxruntime built with --use_tensorrt --build_shared_lib?`);
    copyFileSync(from, join(bindingDir, lib));
  }

  const pkg = JSON.parse(readFileSync(join(nodeDir, 'package.json'), 'utf8'));
  const common = JSON.parse(readFileSync(join(ortDir, 'js', 'common', 'package.json'), 'utf8'));
  const stage = join(mkdtempSync(join(tmpdir(), 'ort-node-pack-')), 'onnxruntime-node');
  mkdirSync(stage);
  for (const entry of ['README.md', 'dist', 'bin']) {
    if (existsSync(join(nodeDir, entry))) cpSync(join(nodeDir, entry), join(stage, entry), { recursive: true });
  }
  if (!existsSync(join(stage, 'dist'))) throw new Error(`${nodeDir}/dist does not exist: the binding's TypeScript was not built`);
  // The bin folder is complete, so nothing is downloaded at install; the source-tree scripts would only fail.
  delete pkg.scripts;
  delete pkg.devDependencies;
  pkg.dependencies = { ...pkg.dependencies, 'onnxruntime-common': common.version };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

  mkdirSync(outDir, { recursive: true });
  const packed = spawnSync(npm, ['pack', '--pack-destination', resolve(outDir), '--json'], { cwd: stage, encoding: 'utf8' });
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const info = JSON.parse(packed.stdout)[0];
  const files = new Set(info.files.map((f) => f.path));
  const rel = `bin/${napi[0]}/linux/${arch}`;
  for (const f of ['onnxruntime_binding.node', ...PROVIDER_LIBS]) {
    if (!files.has(`${rel}/${f}`)) throw new Error(`the tarball lacks ${rel}/${f}`);
  }
  return join(resolve(outDir), info.filename);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const args = process.argv.slice(2);
  const flag = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const arch = flag('--arch');
  const config = flag('--config');
  const allowUnpatched = args.includes('--allow-unpatched');
  const [ortDir, outDir] = args.filter((a) => a !== '--allow-unpatched');
  if (!ortDir || !outDir) {
    process.stderr.write('usage: node pack-onnxruntime-node.mjs <onnxruntime source dir> <output dir> [--arch arm64] [--config Release] [--allow-unpatched]\n');
    process.exit(2);
  }
  try {
    const tgz = packOnnxruntimeNode({ ortDir: resolve(ortDir), outDir, arch, config, allowUnpatched });
    process.stdout.write(`${tgz}\n`);
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
}
