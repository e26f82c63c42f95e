/**
 * Brute-force similarity kernels in WebAssembly SIMD (128-bit), assembled here from opcodes so the package needs no
 * build tool. A gallery scan is a matrix-vector product bound by memory bandwidth; scalar JavaScript reaches about a
 * quarter of the bandwidth floor, the SIMD loops below reach it (see BENCHMARKS.md, Gallery).
 *
 * Both kernels read rows from one linear memory the caller owns:
 * - `dotF32(q, base, rows, dim, out)`: out[r] = Σ_j q[j]·base[r·dim + j] over f32 rows (dim a multiple of 16).
 * - `dotI8(q, base, rows, dim, out)`: out[r] = scale_r · Σ_j q[j]·row_r[j] as f32, over i8 rows of stride dim + 16
 *   whose 16-byte trailer starts with the row's f32 scale (dim a multiple of 32, values in [-127, 127] so two
 *   products never overflow an i16 lane; the dot itself is exact in i32).
 * All pointers are byte offsets, `q` and `base` 16-byte aligned.
 */

/** Bytes after each i8 row: its f32 scale, padded so rows stay 16-byte aligned. */
export const I8_TRAILER_BYTES = 16;

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
const I16X8_ADD = simd(0x8e);
const I16X8_EXTMUL_LOW_S = simd(0x9c);
const I16X8_EXTMUL_HIGH_S = simd(0x9d);
const I32X4_EXTADD_PAIRWISE_I16X8_S = simd(0x7e);

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

/**
 * Two 16-byte blocks per step: products of i8 pairs widen to i16 (low and high halves), the two halves add in i16
 * (|127·127·2| < 2^15), pairwise-add to i32 lanes and accumulate.
 */
function i8Inner(): number[] {
  const out: number[] = [];
  for (let k = 0; k < 2; k++) {
    out.push(
      ...get(L_P), ...get(L_J), I32_ADD, ...V128_LOAD(16 * k), ...set(L_ROW),
      ...get(P_Q), ...get(L_J), I32_ADD, ...V128_LOAD(16 * k), ...set(L_QV),
      ...get(L_A + k),
      ...get(L_ROW), ...get(L_QV), ...I16X8_EXTMUL_LOW_S,
      ...get(L_ROW), ...get(L_QV), ...I16X8_EXTMUL_HIGH_S,
      ...I16X8_ADD, ...I32X4_EXTADD_PAIRWISE_I16X8_S,
      ...I32X4_ADD, ...set(L_A + k),
    );
  }
  return out;
}

/** Horizontal i32 sum, times the row's scale (the f32 after its dim bytes), stored as out[r]. */
function i8Finish(): number[] {
  return [
    ...get(L_A), ...get(L_A + 1), ...I32X4_ADD, ...set(L_A),
    ...get(P_OUT), ...get(L_R), ...i32c(4), I32_MUL, I32_ADD,
    ...get(L_A), ...I32X4_LANE(0), ...get(L_A), ...I32X4_LANE(1), I32_ADD,
    ...get(L_A), ...I32X4_LANE(2), ...get(L_A), ...I32X4_LANE(3), I32_ADD, I32_ADD,
    F32_CONVERT_I32_S,
    ...get(L_P), ...get(L_ROWBYTES), I32_ADD, F32_LOAD, 2, 0,
    F32_MUL,
    F32_STORE, 2, 0,
  ];
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
  const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type, sumType])),
    // import "m" "mem": memory with min 1 page, max 65536 pages (4 GiB)
    ...section(2, vec([[...name('m'), ...name('mem'), 0x02, 0x01, ...uleb(1), ...uleb(65536)]])),
    ...section(3, vec([[0], [0], [1]])),
    ...section(7, vec([[...name('dotF32'), 0x00, 0], [...name('dotI8'), 0x00, 1], [...name('sumBytes'), 0x00, 2]])),
    ...section(10, vec([
      funcBody(rowLoop(4, 64, f32Inner(), f32Finish())),
      funcBody(rowLoop(1, 32, i8Inner(), i8Finish(), I8_TRAILER_BYTES)),
      funcBody(sumBytesCode(), vec([[2, I32], [4, V128]])),
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
  dotI8(q: number, base: number, rows: number, dim: number, out: number): void;
  /** Reads `bytes` (a multiple of 64) from `base` once; the bandwidth floor for benchmarks. */
  sumBytes(base: number, bytes: number): number;
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
  return { memory, dotF32: e.dotF32, dotI8: e.dotI8, sumBytes: e.sumBytes };
}
