/**
 * In-memory search over a gallery's vectors: one contiguous matrix of rows (float32, or int8 with a per-row
 * scale), brute-force scored by the SIMD kernels, best-per-identity reduction and a partial top-k heap. Pure: no
 * storage, no models. The LMDB store keeps one of these in step with its commits.
 */
import { createSimdKernels, I8_TRAILER_BYTES, i8KernelSupports, prepareI8Probe, type SimdKernels } from './simd-kernels.js';
import type { VectorFormat } from './gallery.js';

const WASM_PAGE = 65536;
/** Rows scored per kernel call: the scores of one block stay in cache while they are read back. */
const BLOCK_ROWS = 4096;

/** Symmetric int8 quantisation of one vector: out = round(v / scale), scale = max|v| / 127. Returns the scale. */
export function quantizeInt8(v: ArrayLike<number>, out: Int8Array, offset = 0): number {
  let max = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a > max) max = a;
  }
  if (max === 0) {
    out.fill(0, offset, offset + v.length);
    return 0;
  }
  const inv = 127 / max;
  for (let i = 0; i < v.length; i++) out[offset + i] = Math.round(v[i]! * inv);
  return max / 127;
}

/**
 * Indices of the k largest of scores[0..n), best first (ties: lower index first), by a size-k min-heap: O(n log k)
 * with no allocation beyond the k-slot heap. Entries equal to -Infinity are skipped (empty slots).
 */
export function topKIndices(scores: Float32Array, n: number, k: number): number[] {
  k = Math.min(k, n);
  if (k <= 0) return [];
  const heapIdx = new Int32Array(k);
  const heapVal = new Float64Array(k);
  let size = 0;
  // Min-heap ordered by (value asc, index desc): the root is the weakest kept entry.
  const weaker = (va: number, ia: number, vb: number, ib: number): boolean => va < vb || (va === vb && ia > ib);
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && weaker(heapVal[l]!, heapIdx[l]!, heapVal[m]!, heapIdx[m]!)) m = l;
      if (r < size && weaker(heapVal[r]!, heapIdx[r]!, heapVal[m]!, heapIdx[m]!)) m = r;
      if (m === i) return;
      const tv = heapVal[i]!, ti = heapIdx[i]!;
      heapVal[i] = heapVal[m]!;
      heapIdx[i] = heapIdx[m]!;
      heapVal[m] = tv;
      heapIdx[m] = ti;
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    const v = scores[i]!;
    if (v === -Infinity) continue;
    if (size < k) {
      // Sift up.
      let j = size++;
      heapVal[j] = v;
      heapIdx[j] = i;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!weaker(heapVal[j]!, heapIdx[j]!, heapVal[p]!, heapIdx[p]!)) break;
        const tv = heapVal[j]!, ti = heapIdx[j]!;
        heapVal[j] = heapVal[p]!;
        heapIdx[j] = heapIdx[p]!;
        heapVal[p] = tv;
        heapIdx[p] = ti;
        j = p;
      }
    } else if (weaker(heapVal[0]!, heapIdx[0]!, v, i)) {
      heapVal[0] = v;
      heapIdx[0] = i;
      siftDown(0);
    }
  }
  const out: number[] = [];
  while (size > 0) {
    out.push(heapIdx[0]!);
    size--;
    heapVal[0] = heapVal[size]!;
    heapIdx[0] = heapIdx[size]!;
    siftDown(0);
  }
  return out.reverse();
}

/**
 * A growable matrix of unit vectors in one contiguous buffer (WebAssembly memory when SIMD is available), each row
 * tagged with an integer key (unique) and group. Removal moves the last row into the hole, so rows stay dense.
 */
export class VectorMatrix {
  readonly dim: number;
  readonly format: VectorFormat;
  private readonly rowBytes: number;
  private readonly kernels: SimdKernels | null;
  private buffer: ArrayBuffer;
  private readonly qOff = 0;
  private readonly outOff: number;
  private readonly dataOff: number;
  private capacity = 0;
  private n = 0;
  private keys = new Int32Array(0);
  private groups = new Int32Array(0);
  private scales = new Float32Array(0);
  private scores = new Float32Array(0);
  private readonly rowOfKey = new Map<number, number>();
  private f32 = new Float32Array(0);
  private i8 = new Int8Array(0);
  private view = new DataView(new ArrayBuffer(0));
  private best = new Float32Array(0);
  private bestRow = new Int32Array(0);

  /**
   * @param dim vector length
   * @param format float32 (exact) or int8 (per-row scale)
   * @param capacity rows to reserve up front (grows by doubling). Default 1024.
   */
  constructor(dim: number, format: VectorFormat, capacity = 1024) {
    this.dim = dim;
    this.format = format;
    // int8 rows carry their scale and group in a 16-byte trailer, so the kernel scales and folds each dot itself.
    this.rowBytes = format === 'int8' ? dim + I8_TRAILER_BYTES : dim * 4;
    // The float32 kernel steps 64 bytes per row, the int8 ones need i8KernelSupports: other lengths use scalar loops.
    const simdOk = format === 'int8' ? i8KernelSupports(dim) : dim % 32 === 0;
    this.outOff = align64(dim * 4);
    this.dataOff = align64(this.outOff + BLOCK_ROWS * 4);
    this.kernels = simdOk ? createSimdKernels(Math.ceil((this.dataOff + capacity * this.rowBytes) / WASM_PAGE)) : null;
    this.buffer = this.kernels ? this.kernels.memory.buffer : new ArrayBuffer(this.dataOff + capacity * this.rowBytes);
    this.capacity = Math.floor((this.buffer.byteLength - this.dataOff) / this.rowBytes);
    this.resizeSide(this.capacity);
    this.makeViews();
  }

  /** Number of rows. */
  get size(): number {
    return this.n;
  }

  /** Bytes of vector data held (rows x row bytes). */
  get dataBytes(): number {
    return this.n * this.rowBytes;
  }

  /** Whether the SIMD kernels are in use. */
  get simd(): boolean {
    return this.kernels !== null;
  }

  has(key: number): boolean {
    return this.rowOfKey.has(key);
  }

  keyAt(row: number): number {
    return this.keys[row]!;
  }

  groupAt(row: number): number {
    return this.groups[row]!;
  }

  /** The group of `key`'s row, or -1 when absent. */
  groupOf(key: number): number {
    const row = this.rowOfKey.get(key);
    return row === undefined ? -1 : this.groups[row]!;
  }

  /** Adds (or overwrites) the row of `key`. `unit` must have length dim. */
  set(key: number, unit: ArrayLike<number>, group = 0): void {
    let row = this.rowOfKey.get(key);
    if (row === undefined) {
      if (this.n === this.capacity) this.grow(Math.max(16, this.capacity * 2));
      row = this.n++;
      this.rowOfKey.set(key, row);
      this.keys[row] = key;
    }
    this.groups[row] = group;
    if (this.format === 'int8') {
      const scale = quantizeInt8(unit, this.i8, row * this.rowBytes);
      this.scales[row] = scale;
      // The trailer: the row's scale, then its group (read by the kernel's best-per-group fold).
      this.view.setFloat32(this.dataOff + row * this.rowBytes + this.dim, scale, true);
      this.view.setInt32(this.dataOff + row * this.rowBytes + this.dim + 4, group, true);
    }
    else this.f32.set(unit, row * this.dim);
  }

  /** Removes the row of `key`; false when absent. */
  delete(key: number): boolean {
    const row = this.rowOfKey.get(key);
    if (row === undefined) return false;
    this.rowOfKey.delete(key);
    const last = --this.n;
    if (row !== last) {
      const bytes = new Uint8Array(this.buffer, this.dataOff);
      bytes.copyWithin(row * this.rowBytes, last * this.rowBytes, (last + 1) * this.rowBytes);
      this.keys[row] = this.keys[last]!;
      this.groups[row] = this.groups[last]!;
      this.scales[row] = this.scales[last]!;
      this.rowOfKey.set(this.keys[row]!, row);
    }
    return true;
  }

  clear(): void {
    this.n = 0;
    this.rowOfKey.clear();
  }

  /** Reserves room for `rows` rows. */
  reserve(rows: number): void {
    if (rows > this.capacity) this.grow(rows);
  }

  /**
   * Similarity of `unitProbe` with every row; returns a view of length `size`, valid until the next call. In int8
   * format the probe is quantised too and each score is dot(q_probe, q_row) · scale_probe · scale_row.
   */
  scoreAll(unitProbe: ArrayLike<number>): Float32Array {
    const n = this.n;
    const dim = this.dim;
    const scores = this.scores;
    const k = this.kernels;
    if (this.format === 'float32') {
      if (k) {
        new Float32Array(this.buffer, this.qOff, dim).set(unitProbe);
        const out = new Float32Array(this.buffer, this.outOff, BLOCK_ROWS);
        for (let b = 0; b < n; b += BLOCK_ROWS) {
          const rows = Math.min(BLOCK_ROWS, n - b);
          k.dotF32(this.qOff, this.dataOff + b * this.rowBytes, rows, dim, this.outOff);
          scores.set(rows === BLOCK_ROWS ? out : out.subarray(0, rows), b);
        }
      } else {
        const a = this.f32;
        for (let r = 0; r < n; r++) {
          const o = r * dim;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          let j = 0;
          for (; j + 3 < dim; j += 4) {
            s0 += a[o + j]! * unitProbe[j]!;
            s1 += a[o + j + 1]! * unitProbe[j + 1]!;
            s2 += a[o + j + 2]! * unitProbe[j + 2]!;
            s3 += a[o + j + 3]! * unitProbe[j + 3]!;
          }
          for (; j < dim; j++) s0 += a[o + j]! * unitProbe[j]!;
          scores[r] = s0 + s1 + s2 + s3;
        }
      }
    } else {
      const q8 = new Int8Array(dim);
      const qScale = quantizeInt8(unitProbe, q8);
      const scales = this.scales;
      if (k) {
        prepareI8Probe(q8, new Int16Array(this.buffer, this.qOff, dim));
        const out = new Float32Array(this.buffer, this.outOff, BLOCK_ROWS);
        for (let b = 0; b < n; b += BLOCK_ROWS) {
          const rows = Math.min(BLOCK_ROWS, n - b);
          k.dotI8(this.qOff, this.dataOff + b * this.rowBytes, rows, dim, this.outOff);
          for (let i = 0; i < rows; i++) scores[b + i] = out[i]! * qScale;
        }
      } else {
        const a = this.i8;
        for (let r = 0; r < n; r++) {
          const o = r * this.rowBytes;
          let s = 0;
          for (let j = 0; j < dim; j++) s += a[o + j]! * q8[j]!;
          scores[r] = s * qScale * scales[r]!;
        }
      }
    }
    return scores.subarray(0, n);
  }

  /**
   * The best similarity per group (and its row) for a unit probe: views `best` / `bestRow` indexed by group, of length
   * `groups` (> every group), valid until the next call; `best` is -Infinity for a group without rows. Fused with
   * the scan: float32 folds each block of kernel scores while they are in cache; int8 folds inside the kernel, in
   * one call over all rows, with best/bestRow in the kernel's memory.
   */
  bestPerGroup(unitProbe: ArrayLike<number>, groups: number): { best: Float32Array; bestRow: Int32Array } {
    const k = this.kernels;
    const n = this.n;
    const dim = this.dim;
    if (k && this.format === 'int8') {
      const q8 = new Int8Array(dim);
      const qScale = quantizeInt8(unitProbe, q8);
      prepareI8Probe(q8, new Int16Array(this.buffer, this.qOff, dim));
      const bestOff = align64(this.dataOff + this.capacity * this.rowBytes);
      const rowOff = align64(bestOff + groups * 4);
      const need = rowOff + groups * 4 - k.memory.buffer.byteLength;
      if (need > 0) {
        k.memory.grow(Math.ceil(need / WASM_PAGE));
        this.buffer = k.memory.buffer;
        this.makeViews();
      }
      const best = new Float32Array(this.buffer, bestOff, groups).fill(-Infinity);
      const bestRow = new Int32Array(this.buffer, rowOff, groups);
      if (n > 0) k.bestI8(this.qOff, this.dataOff, n, dim, bestOff, rowOff, qScale);
      return { best, bestRow };
    }
    if (this.best.length < groups) {
      this.best = new Float32Array(Math.max(groups, this.best.length * 2));
      this.bestRow = new Int32Array(this.best.length);
    }
    const best = this.best.subarray(0, groups).fill(-Infinity);
    const bestRow = this.bestRow.subarray(0, groups);
    const rowGroups = this.groups;
    if (k) {
      new Float32Array(this.buffer, this.qOff, dim).set(unitProbe);
      const out = new Float32Array(this.buffer, this.outOff, BLOCK_ROWS);
      for (let b = 0; b < n; b += BLOCK_ROWS) {
        const rows = Math.min(BLOCK_ROWS, n - b);
        k.dotF32(this.qOff, this.dataOff + b * this.rowBytes, rows, dim, this.outOff);
        foldF32(out, rows, b, rowGroups, best, bestRow);
      }
    } else {
      const scores = this.scoreAll(unitProbe);
      foldF32(scores, n, 0, rowGroups, best, bestRow);
    }
    return { best, bestRow };
  }

  /** Reads every stored vector byte once (the bandwidth floor of a scan); returns a checksum so it is not elided. */
  readAllOnce(): number {
    const bytes = this.n * this.rowBytes;
    if (this.kernels) return this.kernels.sumBytes(this.dataOff, bytes - (bytes % 64));
    const words = new Int32Array(this.buffer, this.dataOff, bytes >> 2);
    let s = 0;
    for (let i = 0; i < words.length; i++) s = (s + words[i]!) | 0;
    return s;
  }

  private grow(rows: number): void {
    const needBytes = this.dataOff + rows * this.rowBytes;
    if (this.kernels) {
      const pages = Math.ceil((needBytes - this.kernels.memory.buffer.byteLength) / WASM_PAGE);
      if (pages > 0) this.kernels.memory.grow(pages);
      this.buffer = this.kernels.memory.buffer;
    } else {
      const next = new ArrayBuffer(needBytes);
      new Uint8Array(next).set(new Uint8Array(this.buffer));
      this.buffer = next;
    }
    this.capacity = Math.floor((this.buffer.byteLength - this.dataOff) / this.rowBytes);
    this.resizeSide(this.capacity);
    this.makeViews();
  }

  private resizeSide(capacity: number): void {
    const keys = new Int32Array(capacity);
    keys.set(this.keys.subarray(0, this.n));
    const groups = new Int32Array(capacity);
    groups.set(this.groups.subarray(0, this.n));
    const scales = new Float32Array(capacity);
    scales.set(this.scales.subarray(0, this.n));
    this.keys = keys;
    this.groups = groups;
    this.scales = scales;
    this.scores = new Float32Array(capacity);
  }

  private makeViews(): void {
    this.view = new DataView(this.buffer);
    if (this.format === 'int8') this.i8 = new Int8Array(this.buffer, this.dataOff, this.capacity * this.rowBytes);
    else this.f32 = new Float32Array(this.buffer, this.dataOff, this.capacity * this.dim);
  }
}

/** Folds one block of scores into the best score (and row) per group. */
function foldF32(out: Float32Array, rows: number, b: number, groups: Int32Array, best: Float32Array, bestRow: Int32Array): void {
  for (let i = 0; i < rows; i++) {
    const s = out[i]!;
    const g = groups[b + i]!;
    if (s > best[g]!) {
      best[g] = s;
      bestRow[g] = b + i;
    }
  }
}

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** One ranked identity from the index: its key, similarity, and best template key (-1 when by centroid). */
export interface RankedKey {
  readonly identityKey: number;
  readonly similarity: number;
  readonly templateKey: number;
}

/**
 * The search structure of one gallery: a matrix of templates (key = template key, group = identity slot) and a
 * matrix of centroids (key = identity key).
 */
export class SearchIndex {
  readonly dim: number;
  readonly format: VectorFormat;
  readonly templates: VectorMatrix;
  readonly centroids: VectorMatrix;
  private readonly slotOfIdentity = new Map<number, number>();
  private identityOfSlot: number[] = [];
  private slotTemplates: number[] = [];
  private freeSlots: number[] = [];

  /** @param capacity template rows to reserve up front. Default 1024. */
  constructor(dim: number, format: VectorFormat, capacity = 1024) {
    this.dim = dim;
    this.format = format;
    this.templates = new VectorMatrix(dim, format, capacity);
    this.centroids = new VectorMatrix(dim, format, 64);
  }

  addTemplate(templateKey: number, identityKey: number, unit: ArrayLike<number>): void {
    if (this.templates.has(templateKey)) return;
    let slot = this.slotOfIdentity.get(identityKey);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.identityOfSlot.length;
      this.slotOfIdentity.set(identityKey, slot);
      this.identityOfSlot[slot] = identityKey;
      this.slotTemplates[slot] = 0;
    }
    this.slotTemplates[slot]!++;
    this.templates.set(templateKey, unit, slot);
  }

  removeTemplate(templateKey: number): void {
    // Find the slot before the row moves.
    if (!this.templates.has(templateKey)) return;
    const slot = this.slotOfTemplate(templateKey);
    this.templates.delete(templateKey);
    if (--this.slotTemplates[slot]! === 0) {
      this.slotOfIdentity.delete(this.identityOfSlot[slot]!);
      this.identityOfSlot[slot] = -1;
      this.freeSlots.push(slot);
    }
  }

  /** Sets (or with null removes) an identity's centroid. */
  setCentroid(identityKey: number, unit: ArrayLike<number> | null): void {
    if (unit === null) this.centroids.delete(identityKey);
    else this.centroids.set(identityKey, unit);
  }

  clear(): void {
    this.templates.clear();
    this.centroids.clear();
    this.slotOfIdentity.clear();
    this.identityOfSlot = [];
    this.slotTemplates = [];
    this.freeSlots = [];
  }

  /** Top-k identities for a unit probe, best first. */
  search(unitProbe: ArrayLike<number>, topK: number, scoreBy: 'template' | 'centroid'): RankedKey[] {
    if (scoreBy === 'centroid') {
      const scores = this.centroids.scoreAll(unitProbe);
      return topKIndices(scores, scores.length, topK).map((row) => ({
        identityKey: this.centroids.keyAt(row),
        similarity: scores[row]!,
        templateKey: -1,
      }));
    }
    const slots = this.identityOfSlot.length;
    const m = this.templates;
    const { best, bestRow } = m.bestPerGroup(unitProbe, slots);
    return topKIndices(best, slots, topK).map((slot) => ({
      identityKey: this.identityOfSlot[slot]!,
      similarity: best[slot]!,
      templateKey: m.keyAt(bestRow[slot]!),
    }));
  }

  private slotOfTemplate(templateKey: number): number {
    return this.templates.groupOf(templateKey);
  }
}
