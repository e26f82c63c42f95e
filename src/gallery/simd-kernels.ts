/**
 * Brute-force similarity kernels in WebAssembly SIMD (128-bit), assembled here from opcodes so the package needs no
 * build tool. A gallery scan is a matrix-vector product bound by memory bandwidth; scalar JavaScript reaches about a
 * quarter of the bandwidth floor, the SIMD loops below reach it (see BENCHMARKS.md, Gallery).
 *
 * The kernels read rows from one linear memory the caller owns:
 * - `dotF32(q, base, rows, dim, out)`: out[r] = Σ_j q[j]·base[r·dim + j] over f32 rows (dim a multiple of 16).
 * - `dotI8(q, base, rows, dim, out)`: out[r] = scale_r · Σ_j q[j]·row_r[j] as f32, over i8 rows of stride dim + 16
 *   whose 16-byte trailer holds the row's f32 scale then its i32 group (dim: i8KernelSupports; values in
 *   [-127, 127]; the dot is exact in i32). `q` is the probe laid out by prepareI8Probe.
 * - `bestI8(q, base, rows, dim, best, bestRow, qScale)`: the same scores times qScale, folded into the best score
 *   (and its row) per group, so a search makes one call and no per-row score leaves the kernel.
 * All pointers are byte offsets, `q` and `base` 16-byte aligned.
 */

/** Bytes after each i8 row: its f32 scale and i32 group, padded so rows stay 16-byte aligned. */
export const I8_TRAILER_BYTES = 16;

/**
 * Lays out a quantised probe (length dim, a multiple of 16) for the int8 kernels in `out` (dim i16 values): per
 * 16-element block, its 8 even elements then its 8 odd elements, widened to i16.
 */
export function prepareI8Probe(q8: Int8Array, out: Int16Array): void {
  for (let k = 0; k < q8.length; k += 16) {
    for (let i = 0; i < 8; i++) {
      out[k + i] = q8[k + 2 * i]!;
      out[k + 8 + i] = q8[k + 2 * i + 1]!;
    }
  }
}

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (small constants only). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

// Opcodes used below.
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_LT_U = 0x49;
const I32_GE_U = 0x4f;
const SELECT = 0x1b;
const I32_REINTERPRET_F32 = 0xbc;
const BR = 0x0c;
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const BR_IF = 0x0d;
const END = 0x0b;
const I32_EQZ = 0x45;
const F32_STORE = 0x38;
const F32_LOAD = 0x2a;
const F32_MUL = 0x94;
const F32_CONVERT_I32_S = 0xb2;
const F32_ADD = 0x92;
const I32 = 0x7f;
const V128 = 0x7b;
const SIMD = 0xfd;
const simd = (op: number): number[] => [SIMD, ...uleb(op)];
const V128_LOAD = (offset: number): number[] => [...simd(0x00), 4, ...uleb(offset)];
const V128_ZERO = [...simd(0x0c), ...new Array(16).fill(0)];
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);
const F32X4_LANE = (l: number): number[] => [...simd(0x1f), l];
const I32X4_ADD = simd(0xae);
const I32X4_LANE = (l: number): number[] => [...simd(0x1b), l];
const I16X8_SHL = simd(0x8b);
const I32X4_SHR_S = simd(0xac);
const V128_AND = simd(0x4e);
const I32X4_DOT_I16X8_S = simd(0xba);
const V128_CONST = (bytes: number[]): number[] => [...simd(0x0c), ...bytes];
const IF = 0x04;
const F32 = 0x7d;
const F32_GT = 0x5e;
const I32_SHL = 0x74;
const I32_LOAD = 0x28;
const I32_STORE = 0x36;

const get = (i: number): number[] => [LOCAL_GET, i];
const set = (i: number): number[] => [LOCAL_SET, i];
const i32c = (n: number): number[] => [I32_CONST, ...sleb(n)];

// Parameters: 0 q, 1 base, 2 rows, 3 dim, 4 out. Locals: 5 r, 6 p (row pointer), 7 j (byte offset in row),
// 8 rowBytes, 9..12 v128 accumulators, 13 and 14 the loaded row and query blocks.
const P_Q = 0, P_BASE = 1, P_ROWS = 2, P_DIM = 3, P_OUT = 4;
const L_R = 5, L_P = 6, L_J = 7, L_ROWBYTES = 8, L_A = 9, L_ROW = 13, L_QV = 14;

/**
 * The row loop shared by both kernels: for each row, zero the accumulators, run `inner` over the row in steps of
 * `step` bytes, then `finish` stores the row's result at out + 4r.
 */
function rowLoop(bytesPerElem: number, step: number, inner: number[], finish: number[], strideExtra = 0): number[] {
  return [
    // rowBytes = dim * bytesPerElem; p = base; r = 0
    ...get(P_DIM), ...i32c(bytesPerElem), I32_MUL, ...set(L_ROWBYTES),
    ...get(P_BASE), ...set(L_P),
    ...i32c(0), ...set(L_R),
    BLOCK, VOID,
    ...get(P_ROWS), I32_EQZ, BR_IF, 0,
    LOOP, VOID,
    ...V128_ZERO, ...set(L_A), ...V128_ZERO, ...set(L_A + 1), ...V128_ZERO, ...set(L_A + 2), ...V128_ZERO, ...set(L_A + 3),
    ...i32c(0), ...set(L_J),
    LOOP, VOID,
    ...inner,
    ...get(L_J), ...i32c(step), I32_ADD, ...set(L_J),
    ...get(L_J), ...get(L_ROWBYTES), I32_LT_U, BR_IF, 0,
    END,
    ...finish,
    ...get(L_P), ...get(L_ROWBYTES), I32_ADD, ...i32c(strideExtra), I32_ADD, ...set(L_P),
    ...get(L_R), ...i32c(1), I32_ADD, ...set(L_R),
    ...get(L_R), ...get(P_ROWS), I32_LT_U, BR_IF, 0,
    END,
    END,
  ];
}

/** acc[k] += row[j + 16k] * q[j + 16k] for k = 0..3 (f32x4). */
function f32Inner(): number[] {
  const out: number[] = [];
  for (let k = 0; k < 4; k++) {
    out.push(
      ...get(L_A + k),
      ...get(L_P), ...get(L_J), I32_ADD, ...V128_LOAD(16 * k),
      ...get(P_Q), ...get(L_J), I32_ADD, ...V128_LOAD(16 * k),
      ...F32X4_MUL, ...F32X4_ADD, ...set(L_A + k),
    );
  }
  return out;
}

/** Horizontal sum of the four f32x4 accumulators, stored as out[r]. */
function f32Finish(): number[] {
  const sum = [...get(L_A), ...get(L_A + 1), ...F32X4_ADD, ...get(L_A + 2), ...get(L_A + 3), ...F32X4_ADD, ...F32X4_ADD, ...set(L_A)];
  return [
    ...sum,
    ...get(P_OUT), ...get(L_R), ...i32c(4), I32_MUL, I32_ADD,
    ...get(L_A), ...F32X4_LANE(0), ...get(L_A), ...F32X4_LANE(1), F32_ADD,
    ...get(L_A), ...F32X4_LANE(2), ...get(L_A), ...F32X4_LANE(3), F32_ADD, F32_ADD,
    F32_STORE, 2, 0,
  ];
}

// The int8 kernels below have their own parameters and locals:
// params 0 q (the prepared probe, see prepareI8Probe), 1 base, 2 rows, 3 dim, 4 out (dotI8) or best (bestI8),
// then for bestI8 only 5 bestRow and 6 qScale (f32).
const I8_PARAMS_DOT = 5, I8_PARAMS_BEST = 7;

/**
 * The int8 row loop, two instructions per 16 row bytes before the multiplies: viewed as eight
 * i16 lanes, `row << 8` holds 256·(even byte) and `row & 0xff00` holds 256·(odd byte), both exact, so one
 * i32x4.dot_i16x8_s each against the probe's even / odd elements (pre-widened to i16) gives 256·Σ products without
 * any sign-extension or pairwise-widening step (the previous extmul / add / extadd_pairwise loop took about 1.4x the
 * bandwidth floor on its own). Each lane stays inside i32 (dim/8 · 2 · 127² · 256 < 2^31 for dim ≤ 2048) and is
 * shifted back by 8, exactly, at the end of the row. The probe's scale is applied by the caller (dotI8) or as
 * qScale (bestI8).
 * `fold`: instead of storing out[r], keep the best score per group (the i32 after the row's scale in its trailer):
 * best[g] (f32) and bestRow[g] (i32), so the scan's scores never leave the kernel.
 */
function i8Kernel(fold: boolean): number[] {
  const base = fold ? I8_PARAMS_BEST : I8_PARAMS_DOT;
  // i32 locals, one f32, then v128 locals. (Two rows per pass, sharing the probe loads, ran 2.5x slower in Node 20:
  // its register allocator spills the extra accumulators.)
  const R = base, P = base + 1, A = base + 2, B = base + 3, END_ = base + 4, G4 = base + 5, WIN = base + 6;
  const F = base + 7;
  const ACC_E = base + 8, ACC_O = base + 9, ROW = base + 10, MASK = base + 11, QE = base + 12, QO = base + 13;
  const P_BEST = 4, P_BESTROW = 5, P_QSCALE = 6;
  // Row block k (16 bytes at A + 16k) into ACC_E / ACC_O, the probe's halves for it already in QE / QO.
  const block = (k: number): number[] => [
    ...get(A), ...V128_LOAD(16 * k), ...set(ROW),
    ...get(ACC_E), ...get(ROW), ...i32c(8), ...I16X8_SHL, ...get(QE), ...I32X4_DOT_I16X8_S, ...I32X4_ADD, ...set(ACC_E),
    ...get(ACC_O), ...get(ROW), ...get(MASK), ...V128_AND, ...get(QO), ...I32X4_DOT_I16X8_S, ...I32X4_ADD, ...set(ACC_O),
  ];
  const probe = (k: number): number[] => [...get(B), ...V128_LOAD(32 * k), ...set(QE), ...get(B), ...V128_LOAD(32 * k + 16), ...set(QO)];
  /** The loop over the row at P, 64 row bytes (and 128 probe bytes) per step. */
  const inner = [
    ...V128_ZERO, ...set(ACC_E), ...V128_ZERO, ...set(ACC_O),
    ...get(P), ...set(A), ...get(P_Q), ...set(B), ...get(P), ...get(P_DIM), I32_ADD, ...set(END_),
    LOOP, VOID,
    ...[0, 1, 2, 3].flatMap((k) => [...probe(k), ...block(k)]),
    ...get(A), ...i32c(64), I32_ADD, ...set(A),
    ...get(B), ...i32c(128), I32_ADD, ...set(B),
    ...get(A), ...get(END_), I32_LT_U, BR_IF, 0,
    END,
  ];
  const lane = (l: number): number[] => [...get(ACC_E), ...I32X4_LANE(l)];
  /**
   * Row end for the row at P, index R: undo the ·256 per lane (exact), horizontal sum, times the row's scale (the
   * f32 after its dim bytes); then store out[R] or fold into best / bestRow by the row's group.
   */
  const finish = [
    ...get(ACC_E), ...get(ACC_O), ...I32X4_ADD, ...i32c(8), ...I32X4_SHR_S, ...set(ACC_E),
    ...lane(0), ...lane(1), I32_ADD, ...lane(2), ...lane(3), I32_ADD, I32_ADD,
    F32_CONVERT_I32_S,
    ...get(P), ...get(P_DIM), I32_ADD, F32_LOAD, 2, 0,
    F32_MUL, ...set(F),
    ...(fold
      ? [
          ...get(F), ...get(P_QSCALE), F32_MUL, ...set(F),
          ...get(P), ...get(P_DIM), I32_ADD, I32_LOAD, 2, 4, ...i32c(2), I32_SHL, ...set(G4),
          // Branch-free (i32 selects): whether a row beats its group's best is a coin toss the predictor loses.
          ...get(F), ...get(P_BEST), ...get(G4), I32_ADD, F32_LOAD, 2, 0, F32_GT, ...set(WIN),
          ...get(P_BEST), ...get(G4), I32_ADD,
          ...get(F), I32_REINTERPRET_F32, ...get(P_BEST), ...get(G4), I32_ADD, I32_LOAD, 2, 0, ...get(WIN), SELECT,
          I32_STORE, 2, 0,
          ...get(P_BESTROW), ...get(G4), I32_ADD,
          ...get(R), ...get(P_BESTROW), ...get(G4), I32_ADD, I32_LOAD, 2, 0, ...get(WIN), SELECT,
          I32_STORE, 2, 0,
        ]
      : [...get(P_OUT), ...get(R), ...i32c(4), I32_MUL, I32_ADD, ...get(F), F32_STORE, 2, 0]),
  ];
  const nextRow = [...get(P), ...get(P_DIM), I32_ADD, ...i32c(I8_TRAILER_BYTES), I32_ADD, ...set(P), ...get(R), ...i32c(1), I32_ADD, ...set(R)];
  const code = [
    ...V128_CONST(Array.from({ length: 16 }, (_, i) => (i % 2 === 1 ? 0xff : 0))), ...set(MASK),
    ...get(P_BASE), ...set(P),
    ...i32c(0), ...set(R),
    BLOCK, VOID,
    LOOP, VOID,
    ...get(R), ...get(P_ROWS), I32_GE_U, BR_IF, 1,
    ...inner,
    ...finish,
    ...nextRow,
    BR, 0,
    END,
    END,
  ];
  return funcBody(code, vec([[7, I32], [1, F32], [6, V128]]));
}

/**
 * sumBytes(base, bytes) -> i32: reads `bytes` (a multiple of 64) once with the same 16-byte loads, adding them as
 * i32 lanes. It is the memory-bandwidth floor the benchmarks compare the kernels against.
 */
function sumBytesCode(): number[] {
  // params 0 base, 1 bytes; locals 2 p, 3 end, 4..7 v128 (only 4 used)
  const acc = 4;
  const load = (o: number): number[] => [...get(acc), ...get(2), ...V128_LOAD(o), ...I32X4_ADD, ...set(acc)];
  return [
    ...V128_ZERO, ...set(acc),
    ...get(0), ...set(2), ...get(0), ...get(1), I32_ADD, ...set(3),
    BLOCK, VOID,
    ...get(1), I32_EQZ, BR_IF, 0,
    LOOP, VOID,
    ...load(0), ...load(16), ...load(32), ...load(48),
    ...get(2), ...i32c(64), I32_ADD, ...set(2),
    ...get(2), ...get(3), I32_LT_U, BR_IF, 0,
    END,
    END,
    ...get(acc), ...I32X4_LANE(0), ...get(acc), ...I32X4_LANE(1), I32_ADD,
    ...get(acc), ...I32X4_LANE(2), I32_ADD, ...get(acc), ...I32X4_LANE(3), I32_ADD,
  ];
}

function funcBody(code: number[], locals = vec([[4, I32], [6, V128]])): number[] {
  // default locals: 4 x i32, 6 x v128
  const body = [...locals, ...code, END];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0]; // (i32 x5) -> ()
  const sumType = [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])]; // (i32, i32) -> i32
  const bestType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [F32]]), 0]; // (i32 x6, f32) -> ()
  const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type, sumType, bestType])),
    // import "m" "mem": memory with min 1 page, max 65536 pages (4 GiB)
    ...section(2, vec([[...name('m'), ...name('mem'), 0x02, 0x01, ...uleb(1), ...uleb(65536)]])),
    ...section(3, vec([[0], [0], [1], [2]])),
    ...section(7, vec([
      [...name('dotF32'), 0x00, 0], [...name('dotI8'), 0x00, 1], [...name('sumBytes'), 0x00, 2], [...name('bestI8'), 0x00, 3],
    ])),
    ...section(10, vec([
      funcBody(rowLoop(4, 64, f32Inner(), f32Finish())),
      i8Kernel(false),
      funcBody(sumBytesCode(), vec([[2, I32], [4, V128]])),
      i8Kernel(true),
    ])),
  ];
  return new Uint8Array(bytes);
}

// The project's lib settings (ES2023, no DOM) carry no WebAssembly types: the few used here are declared locally.
/** A WebAssembly linear memory (the subset used). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export interface SimdKernels {
  readonly memory: WasmMemory;
  dotF32(q: number, base: number, rows: number, dim: number, out: number): void;
  /** out[r] = scale_r · dot(probe, row r) over int8 rows, the probe prepared by prepareI8Probe at `q`. */
  dotI8(q: number, base: number, rows: number, dim: number, out: number): void;
  /**
   * For each int8 row r of group g (the i32 at trailer offset 4): s = qScale · scale_r · dot(probe, row r); where
   * s > best[g] (f32 array at byte offset `best`), best[g] = s and bestRow[g] = r (i32 array at `bestRow`).
   */
  bestI8(q: number, base: number, rows: number, dim: number, best: number, bestRow: number, qScale: number): void;
  /** Reads `bytes` (a multiple of 64) from `base` once; the bandwidth floor for benchmarks. */
  sumBytes(base: number, bytes: number): number;
}

/**
 * Whether the int8 kernels support `dim`: they step 64 row bytes, and each i32 lane must stay below 2^31 before the
 * final shift (dim/8 · 2 · 127² · 256 per accumulator pair).
 */
export function i8KernelSupports(dim: number): boolean {
  return dim > 0 && dim % 64 === 0 && dim <= 2048;
}

// A cache of the compiled (immutable) module, so each gallery instantiates without recompiling.
let compiled: object | null | undefined;

/** The compiled module, or null where this runtime lacks WebAssembly SIMD (callers then use the scalar loops). */
function compiledModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? new wasm.Module(moduleBytes()) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Instantiates the kernels over a fresh memory of `initialPages` 64 KiB pages; null without SIMD support. */
export function createSimdKernels(initialPages: number): SimdKernels | null {
  const mod = compiledModule();
  if (!mod || !wasm) return null;
  const memory = new wasm.Memory({ initial: Math.max(1, initialPages), maximum: 65536 });
  const inst = new wasm.Instance(mod, { m: { mem: memory } });
  const e = inst.exports as unknown as Omit<SimdKernels, 'memory'>;
  return { memory, dotF32: e.dotF32, dotI8: e.dotI8, bestI8: e.bestI8, sumBytes: e.sumBytes };
}
