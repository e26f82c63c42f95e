/**
 * CPU and board facts that decide whether INT8 pays off here: x86 VNNI (AVX512-VNNI, AVX-VNNI) or the ARM dot-product
 * extension make int8 convolutions fast; without them onnxruntime's int8 kernels can be slower than fp32. On a
 * Jetson, the board model decides whether TensorRT has INT8 at all (Nano, TX1, TX2 do not).
 *
 * The parsers are pure functions of the file text so they are tested on fixed inputs; `detect*` read the live files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { arch as osArch, cpus } from 'node:os';

/** Int8 acceleration this CPU offers to onnxruntime's CPU kernels. */
export type Int8Acceleration = 'avx512-vnni' | 'avx-vnni' | 'arm-dotprod' | 'none';

export interface CpuFeatures {
  /** Node's architecture name (`x64`, `arm64`, ...). */
  arch: string;
  /** The CPU model name from /proc/cpuinfo (x86 `model name`, ARM `CPU part` when no name is given); null if unknown. */
  model: string | null;
  /** Logical cores Node sees. */
  logicalCores: number;
  avx2: boolean;
  avx512f: boolean;
  /** AVX512-VNNI (`avx512_vnni`): int8 dot products on 512-bit registers. */
  avx512Vnni: boolean;
  /** AVX-VNNI (`avx_vnni`): the same on 256-bit registers (Alder Lake and later, Zen 5). */
  avxVnni: boolean;
  /** ARMv8.2 dot product (`asimddp`), the int8 fast path on ARM. */
  armDotProd: boolean;
  /** ARMv8.6 int8 matrix multiply (`i8mm`). */
  armI8mm: boolean;
  /** The best int8 path, `none` when int8 is unlikely to beat fp32 on this CPU. */
  int8Acceleration: Int8Acceleration;
}

/** Parses /proc/cpuinfo text. `arch` is Node's architecture name; flags come from `flags` (x86) or `Features` (ARM). */
export function parseCpuInfo(text: string, arch: string, logicalCores = 0): CpuFeatures {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    // The first processor block is enough: Linux reports the same flags for every core we care about.
    if (!fields.has(key)) fields.set(key, line.slice(i + 1).trim());
  }
  const flags = new Set(`${fields.get('flags') ?? ''} ${fields.get('features') ?? ''}`.split(/\s+/).filter(Boolean));
  const isX86 = arch === 'x64' || arch === 'ia32';
  const isArm = arch === 'arm64' || arch === 'arm';
  const f = {
    avx2: isX86 && flags.has('avx2'),
    avx512f: isX86 && flags.has('avx512f'),
    avx512Vnni: isX86 && flags.has('avx512_vnni'),
    avxVnni: isX86 && flags.has('avx_vnni'),
    armDotProd: isArm && flags.has('asimddp'),
    armI8mm: isArm && flags.has('i8mm'),
  };
  const int8Acceleration: Int8Acceleration = f.avx512Vnni ? 'avx512-vnni' : f.avxVnni ? 'avx-vnni' : f.armDotProd ? 'arm-dotprod' : 'none';
  const part = fields.get('cpu part');
  const model = fields.get('model name') ?? (part ? `ARM part ${part}` : null);
  return { arch, model, logicalCores, ...f, int8Acceleration };
}

/** Reads this machine's CPU features (all false when /proc/cpuinfo is absent, e.g. on macOS). */
export function detectCpuFeatures(cpuinfoPath = '/proc/cpuinfo'): CpuFeatures {
  let text = '';
  try {
    text = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    // No procfs: report no features rather than fail; doctor shows the model from os.cpus().
  }
  const result = parseCpuInfo(text, osArch(), cpus().length);
  return result.model === null && cpus()[0] ? { ...result, model: cpus()[0]!.model } : result;
}

/** Jetson module families, by what their GPU can do. */
export type JetsonFamily = 'nano' | 'tx1' | 'tx2' | 'xavier' | 'orin' | 'unknown';

export interface JetsonInfo {
  /** Board model string from the device tree, e.g. `NVIDIA Jetson AGX Orin Developer Kit`. */
  model: string;
  family: JetsonFamily;
  /** L4T release, e.g. `36.4.0`, from /etc/nv_tegra_release; null when the file is absent. */
  l4t: string | null;
  /** The JetPack line that L4T release belongs to (`5`, `6`), null when unknown. */
  jetpack: string | null;
  /**
   * Whether TensorRT can run INT8 here. Maxwell (Nano, TX1) and Pascal (TX2) GPUs lack it: use FP16 with the FP32
   * model there.
   */
  int8: boolean;
}

/** Classifies a device-tree model string; null when it is not a Jetson. */
export function parseJetsonModel(model: string): JetsonFamily | null {
  const m = model.replace(/\0/g, '').toLowerCase();
  if (!m.includes('jetson') && !m.includes('tegra') && !m.includes('p3310') && !m.includes('p3450')) return null;
  if (m.includes('orin')) return 'orin';
  if (m.includes('xavier')) return 'xavier';
  if (m.includes('tx2')) return 'tx2';
  if (m.includes('tx1')) return 'tx1';
  if (m.includes('nano')) return 'nano';
  return 'unknown';
}

/** Parses /etc/nv_tegra_release (`# R36 (release), REVISION: 4.0, ...`) into `36.4.0`. */
export function parseL4tRelease(text: string): string | null {
  const m = /#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)/.exec(text);
  if (!m) return null;
  const rev = m[2]!.split('.');
  return [m[1], rev[0] ?? '0', rev[1] ?? '0'].join('.');
}

/** The JetPack line of an L4T release: R32 is JetPack 4, R35 is JetPack 5, R36 is JetPack 6. */
export function jetpackOfL4t(l4t: string | null): string | null {
  if (!l4t) return null;
  const major = Number(l4t.split('.')[0]);
  return ({ 32: '4', 34: '5', 35: '5', 36: '6' } as Record<number, string>)[major] ?? null;
}

/** Reads the Jetson board facts, or null when this is not a Jetson. */
export function detectJetson(root = '/'): JetsonInfo | null {
  const modelPath = `${root}proc/device-tree/model`;
  if (!existsSync(modelPath)) return null;
  const model = readFileSync(modelPath, 'utf8').replace(/\0/g, '').trim();
  const family = parseJetsonModel(model);
  if (!family) return null;
  const releasePath = `${root}etc/nv_tegra_release`;
  const l4t = existsSync(releasePath) ? parseL4tRelease(readFileSync(releasePath, 'utf8')) : null;
  return { model, family, l4t, jetpack: jetpackOfL4t(l4t), int8: family === 'xavier' || family === 'orin' };
}
