/**
 * Activation-range calibration, following onnxruntime's calibrators (calibrate.py): streaming MinMax, and streaming
 * histograms for Percentile (histogram of |x|) and Entropy (KL-divergence threshold, TensorRT's method).
 */

/**
 * `minmax`, `percentile` and `entropy` are onnxruntime's methods; `mse` picks, per tensor, the clipping range that
 * minimises the expected 8-bit quantisation error over the calibration histogram (rounding inside, clipping outside).
 */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

export interface RangeOptions {
  /** How a tensor's range is chosen from the calibration data. Default `minmax`. */
  method?: CalibrationMethod;
  /** Percentile method: the share of |x| kept, in percent. Default 99.999 (onnxruntime's default). */
  percentile?: number;
  /** Histogram bins: default 2048 (Percentile, and Entropy: onnxruntime's 128 leaves Entropy one candidate). */
  numBins?: number;
  /** Entropy method: bins of the quantised distribution. Default 128. */
  numQuantizedBins?: number;
}

/** Streaming statistics of one tensor over the calibration set. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  /** Signed histogram over [-th, th] (Entropy). */
  private hist?: Float64Array;
  private th = 0;
  /** Histogram of |x| over [0, absEdge] with fixed bin width (Percentile). */
  private absHist?: number[];
  private absStride = 0;

  constructor(private readonly method: CalibrationMethod, private readonly numBins: number) {}

  add(data: Float32Array): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(lo <= hi)) return; // empty or all-NaN output: nothing to learn
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
    if (this.method === 'entropy' || this.method === 'mse') this.addSigned(data, Math.max(Math.abs(lo), Math.abs(hi)));
    else if (this.method === 'percentile') this.addAbsolute(data, Math.max(Math.abs(lo), Math.abs(hi)));
  }

  /** onnxruntime HistogramCollector.collect_value: keep the bin width, grow both ends when a batch exceeds the range. */
  private addSigned(data: Float32Array, th: number): void {
    if (!this.hist) {
      this.th = th > 0 ? th : 1e-8;
      this.hist = new Float64Array(this.numBins);
    } else if (th > this.th) {
      const oldBins = this.hist.length;
      const stride = (2 * this.th) / oldBins;
      const half = Math.floor((th - this.th) / stride) + 1;
      const grown = new Float64Array(oldBins + 2 * half);
      grown.set(this.hist, half);
      this.hist = grown;
      this.th = this.th + half * stride;
    }
    histogramInto(this.hist, data, -this.th, this.th);
  }

  /** onnxruntime collect_absolute_value: histogram of |x|, appending same-width bins when the maximum grows. */
  private addAbsolute(data: Float32Array, absMax: number): void {
    if (!this.absHist) {
      this.absStride = (absMax > 0 ? absMax : 1e-8) / this.numBins;
      this.absHist = new Array<number>(this.numBins).fill(0);
    }
    const needed = Math.ceil(absMax / this.absStride);
    while (this.absHist.length < needed) this.absHist.push(0);
    const bins = this.absHist.length;
    const inv = 1 / this.absStride;
    for (let i = 0; i < data.length; i++) {
      let b = Math.floor(Math.abs(data[i]!) * inv);
      if (b >= bins) b = bins - 1;
      this.absHist[b]!++;
    }
  }

  /** The range [rmin, rmax] this tensor should be quantised to. */
  range(options: RangeOptions = {}): [number, number] {
    if (!(this.min <= this.max)) return [0, 0];
    const method = options.method ?? 'minmax';
    if (method === 'percentile' && this.absHist) return this.percentileRange(options.percentile ?? 99.999);
    if (method === 'entropy' && this.hist) return this.entropyRange(options.numQuantizedBins ?? 128);
    if (method === 'mse' && this.hist) return this.mseRange();
    return [this.min, this.max];
  }

  private percentileRange(p: number): [number, number] {
    const h = this.absHist!;
    const total = h.reduce((a, b) => a + b, 0);
    let cum = 0;
    let idx = h.length;
    const target = p / 100;
    for (let i = 0; i < h.length; i++) {
      cum += h[i]! / total;
      if (cum >= target) {
        idx = i;
        break;
      }
    }
    // numpy searchsorted over the cdf gives the bin index; its edge is the threshold (edges[idx], as onnxruntime).
    const e = Math.min(idx, h.length) * this.absStride;
    return [Math.max(-e, this.min), Math.min(e, this.max)];
  }

  /** The [lo, hi] (shrunk from the observed range) with the least expected squared error for 255 uniform steps. */
  private mseRange(): [number, number] {
    const hist = this.hist!;
    const n = hist.length;
    const stride = (2 * this.th) / n;
    const lo0 = Math.min(this.min, 0);
    const hi0 = Math.max(this.max, 0);
    const factors = Array.from({ length: 24 }, (_, i) => 1 - i * 0.03);
    let best: [number, number] = [lo0, hi0];
    let bestErr = Infinity;
    for (const fl of factors) {
      for (const fh of factors) {
        const lo = lo0 * fl;
        const hi = hi0 * fh;
        const step = (hi - lo) / 255;
        if (!(step > 0)) continue;
        let err = 0;
        for (let b = 0; b < n; b++) {
          const c = hist[b]!;
          if (c === 0) continue;
          const x = -this.th + (b + 0.5) * stride;
          err += c * (x > hi ? (x - hi) ** 2 : x < lo ? (x - lo) ** 2 : (step * step) / 12);
        }
        if (err < bestErr) {
          bestErr = err;
          best = [lo, hi];
        }
      }
    }
    return best;
  }

  /** onnxruntime get_entropy_threshold: the symmetric window whose quantised distribution diverges least (KL). */
  private entropyRange(numQuantizedBins: number): [number, number] {
    const hist = this.hist!;
    const numBins = hist.length;
    const stride = (2 * this.th) / numBins;
    const edge = (i: number): number => -this.th + i * stride;
    const zero = Math.floor(numBins / 2);
    const halfQ = Math.floor(numQuantizedBins / 2);
    const prefix = new Float64Array(numBins + 1);
    for (let i = 0; i < numBins; i++) prefix[i + 1] = prefix[i]! + hist[i]!;
    let best: [number, number] = [edge(0), edge(numBins)];
    let bestKl = Infinity;
    for (let i = halfQ; i <= zero; i++) {
      const start = zero - i;
      const end = Math.min(zero + i + 1, numBins);
      const n = end - start;
      const p = Float64Array.from(hist.subarray(start, end));
      p[0]! += prefix[start]!;
      p[n - 1]! += prefix[numBins]! - prefix[end]!;
      const merged = Math.floor(n / numQuantizedBins);
      if (merged === 0) continue;
      const q = new Float64Array(n);
      for (let k = 0; k < numQuantizedBins; k++) {
        const s = k * merged;
        const e = k === numQuantizedBins - 1 ? n : s + merged;
        let sum = 0;
        for (let j = s; j < e; j++) sum += hist[start + j]!;
        // onnxruntime adds the remainder bins to the last quantised bin's sum but not to its expansion; same here.
        const spanEnd = s + merged;
        let spanNonzero = 0;
        for (let j = s; j < spanEnd; j++) if (p[j] !== 0) spanNonzero++;
        if (spanNonzero > 0) for (let j = s; j < spanEnd; j++) if (p[j] !== 0) q[j] = sum / spanNonzero;
      }
      const kl = klDivergence(smooth(p), smooth(q));
      if (kl < bestKl) {
        bestKl = kl;
        best = [edge(start), edge(end)];
      }
    }
    return [Math.max(best[0], this.min), Math.min(best[1], this.max)];
  }
}

function histogramInto(hist: Float64Array, data: Float32Array, lo: number, hi: number): void {
  const bins = hist.length;
  const scale = bins / (hi - lo);
  for (let i = 0; i < data.length; i++) {
    let b = Math.floor((data[i]! - lo) * scale);
    if (b < 0) b = 0;
    else if (b >= bins) b = bins - 1;
    hist[b]!++;
  }
}

/** onnxruntime smooth_distribution: move eps of mass onto empty bins so KL stays finite. Undefined when all zero. */
function smooth(p: Float64Array, eps = 1e-4): Float64Array | undefined {
  let zeros = 0;
  for (const v of p) if (v === 0) zeros++;
  const nonzeros = p.length - zeros;
  if (nonzeros === 0) return undefined;
  const eps1 = (eps * zeros) / nonzeros;
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p[i] === 0 ? eps : p[i]! - eps1;
  return out;
}

/** scipy.stats.entropy(p, q): both normalised to sum 1. */
function klDivergence(p: Float64Array | undefined, q: Float64Array | undefined): number {
  if (!p || !q) return Infinity;
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    if (pi > 0) kl += qi > 0 ? pi * Math.log(pi / qi) : Infinity;
  }
  return kl;
}
