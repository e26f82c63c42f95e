/** Vector maths for embeddings. `similarity` always means cosine similarity. */

/** Dot product of two equal-length vectors. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Euclidean norm. */
export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** Returns a new unit-length Float32Array (a zero vector stays zero). */
export function l2normalize(a: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length);
  const n = norm(a);
  if (n === 0) return out;
  for (let i = 0; i < a.length; i++) out[i] = a[i]! / n;
  return out;
}

/** Cosine similarity in [-1, 1]; for unit vectors this is their dot product. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = norm(a);
  const nb = norm(b);
  if (na === 0 || nb === 0) return 0;
  return dot(a, b) / (na * nb);
}

/** Weighted mean of vectors, renormalised to unit length (the fused template of several unit embeddings). */
export function weightedMeanUnit(vectors: readonly ArrayLike<number>[], weights?: readonly number[]): Float32Array {
  if (vectors.length === 0) throw new RangeError('weightedMeanUnit needs at least one vector');
  const dim = vectors[0]!.length;
  const acc = new Float64Array(dim);
  vectors.forEach((v, k) => {
    const w = weights ? weights[k]! : 1;
    for (let i = 0; i < dim; i++) acc[i]! += w * v[i]!;
  });
  return l2normalize(acc);
}

/** True when every value is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}
