import { existsSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { describe, expect, it } from 'vitest';
import { detectCpuFeatures, detectJetson, jetpackOfL4t, parseCpuInfo, parseJetsonModel, parseL4tRelease } from '../../src/runtime/cpu-features.js';

// Excerpts in the formats the kernel prints (first processor block only is read).
const X86_SAPPHIRE = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx f16c avx2 avx512f avx512bw avx_vnni avx512_vnni amx_int8
`;
const X86_SKYLAKE = `processor\t: 0
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw
`;
const ORIN = `processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg
CPU implementer\t: 0x41
CPU part\t: 0xd42
`;
const NANO = `processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU part\t: 0xd07
`;

describe('parseCpuInfo', () => {
  it('finds AVX512-VNNI and AVX-VNNI on x86', () => {
    const f = parseCpuInfo(X86_SAPPHIRE, 'x64', 8);
    expect(f).toMatchObject({ avx2: true, avx512f: true, avx512Vnni: true, avxVnni: true, armDotProd: false, int8Acceleration: 'avx512-vnni', logicalCores: 8 });
    expect(f.model).toBe('Intel(R) Xeon(R) Platinum 8480+');
  });
  it('says none for AVX512 without VNNI (where int8 is often no faster)', () => {
    expect(parseCpuInfo(X86_SKYLAKE, 'x64')).toMatchObject({ avx512f: true, avx512Vnni: false, avxVnni: false, int8Acceleration: 'none' });
  });
  it('finds the dot-product extension on Orin (Cortex-A78AE) and not on Nano (Cortex-A57)', () => {
    expect(parseCpuInfo(ORIN, 'arm64')).toMatchObject({ armDotProd: true, avx2: false, int8Acceleration: 'arm-dotprod', model: 'ARM part 0xd42' });
    expect(parseCpuInfo(NANO, 'arm64')).toMatchObject({ armDotProd: false, int8Acceleration: 'none' });
  });
  it('does not read x86 flags on ARM or the other way round', () => {
    expect(parseCpuInfo(X86_SAPPHIRE, 'arm64').avx512Vnni).toBe(false);
    expect(parseCpuInfo(ORIN, 'x64').armDotProd).toBe(false);
  });
});

describe('detectCpuFeatures on this machine', () => {
  it.skipIf(!existsSync('/proc/cpuinfo'))('agrees with the flags the kernel reports', () => {
    const flags = new Set(
      (readFileSync('/proc/cpuinfo', 'utf8').match(/^(?:flags|Features)\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/),
    );
    const f = detectCpuFeatures();
    expect(f.arch).toBe(arch());
    expect(f.logicalCores).toBeGreaterThan(0);
    if (arch() === 'x64') {
      expect(f.avx2).toBe(flags.has('avx2'));
      expect(f.avx512Vnni).toBe(flags.has('avx512_vnni'));
      expect(f.avxVnni).toBe(flags.has('avx_vnni'));
    }
    if (arch() === 'arm64') expect(f.armDotProd).toBe(flags.has('asimddp'));
  });
  it('reports all-false rather than failing without procfs', () => {
    const f = detectCpuFeatures('/nonexistent/cpuinfo');
    expect(f.int8Acceleration).toBe('none');
    expect(f.model).not.toBe('');
  });
});

describe('Jetson facts', () => {
  it('classifies board models by INT8 capability', () => {
    expect(parseJetsonModel('NVIDIA Jetson AGX Orin Developer Kit\0')).toBe('orin');
    expect(parseJetsonModel('NVIDIA Jetson Xavier NX Developer Kit')).toBe('xavier');
    expect(parseJetsonModel('NVIDIA Jetson Nano Developer Kit')).toBe('nano');
    // The Orin Nano is an Orin (Ampere, INT8), not the Maxwell Nano.
    expect(parseJetsonModel('NVIDIA Jetson Orin Nano Developer Kit')).toBe('orin');
    expect(parseJetsonModel('quill')).toBeNull();
    expect(parseJetsonModel('NVIDIA Jetson TX2')).toBe('tx2');
    expect(parseJetsonModel('Raspberry Pi 5 Model B Rev 1.0')).toBeNull();
  });
  it('reads the L4T release and its JetPack line', () => {
    expect(parseL4tRelease('# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024')).toBe('36.4.0');
    expect(parseL4tRelease('# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref')).toBe('35.5.0');
    expect(parseL4tRelease('garbage')).toBeNull();
    expect(jetpackOfL4t('36.4.0')).toBe('6');
    expect(jetpackOfL4t('35.5.0')).toBe('5');
    expect(jetpackOfL4t(null)).toBeNull();
  });
  it('is null on this machine unless it has a Jetson device tree', () => {
    const model = existsSync('/proc/device-tree/model') ? readFileSync('/proc/device-tree/model', 'utf8') : '';
    expect(detectJetson() === null).toBe(parseJetsonModel(model) === null);
  });
});
