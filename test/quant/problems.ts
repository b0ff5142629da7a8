/** Seeded random layer problems for the rounding tests: correlated inputs, weights, moments. */

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** `samples` input vectors of length `cols` (row-major), correlated as LSTM inputs are. */
export function correlatedInputs(cols: number, samples: number, r: () => number): Float64Array {
  const mix = Array.from({ length: cols * cols }, () => gaussian(r) / Math.sqrt(cols));
  const X = new Float64Array(samples * cols);
  const z = new Float64Array(cols);
  for (let s = 0; s < samples; s++) {
    for (let k = 0; k < cols; k++) z[k] = gaussian(r);
    for (let i = 0; i < cols; i++) {
      let v = 0.3 * z[i];
      for (let k = 0; k < cols; k++) v += z[k] * mix[i * cols + k];
      X[s * cols + i] = v;
    }
  }
  return X;
}

/** M[i * cols + j] = Σ_s A[s, i] B[s, j] over `samples` rows of A and B (both [samples, cols]). */
export function crossMoments(A: ArrayLike<number>, B: ArrayLike<number>, samples: number, cols: number): Float64Array {
  const M = new Float64Array(cols * cols);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < cols; i++) {
      const a = A[s * cols + i];
      for (let j = 0; j < cols; j++) M[i * cols + j] += a * B[s * cols + j];
    }
  }
  return M;
}

export function randomWeights(rows: number, cols: number, r: () => number, std = 0.2): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => gaussian(r) * std);
}
