/**
 * Streaming second moments H = Σ x xᵀ of a layer's input vectors (its last axis), the
 * Hessian that error-compensating rounding needs. Memory is n x n whatever the data size.
 */
export class HessianAccumulator {
  readonly n: number;
  count = 0;
  /** Upper triangle accumulated; mirrored on read. */
  private readonly sums: Float64Array;

  constructor(n: number) {
    this.n = n;
    this.sums = new Float64Array(n * n);
  }

  /** Adds every length-n vector of `values` (row-major, last axis n). */
  addRows(values: ArrayLike<number>, offset = 0, rows = (values.length - offset) / this.n, stride = this.n): void {
    const n = this.n;
    const S = this.sums;
    for (let r = 0; r < rows; r++) {
      const base = offset + r * stride;
      for (let i = 0; i < n; i++) {
        const xi = values[base + i];
        if (xi === 0) continue;
        const row = i * n;
        for (let j = i; j < n; j++) S[row + j] += xi * values[base + j];
      }
    }
    this.count += rows;
  }

  /** Counts vectors that are all zero (an LSTM's initial state) without touching the sums. */
  addZeros(rows: number): void {
    this.count += rows;
  }

  matrix(): Float64Array {
    const n = this.n;
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        out[i * n + j] = this.sums[i * n + j];
        out[j * n + i] = this.sums[i * n + j];
      }
    }
    return out;
  }
}

/** What addLstmPreviousStates feeds: second moments (HessianAccumulator) or sums (MeanAccumulator). */
export interface RowAccumulator {
  addRows(values: ArrayLike<number>, offset?: number, rows?: number, stride?: number): void;
  addZeros(rows: number): void;
}

/**
 * Adds an LSTM's previous hidden states to one accumulator per direction, from its Y output
 * [T, dirs, B, H] of one unpadded batch: forward steps read Y[t-1] (zeros at t = 0), reverse
 * steps Y[t+1] (zeros at t = T-1).
 */
export function addLstmPreviousStates(acc: readonly RowAccumulator[], y: Float32Array, dims: readonly number[]): void {
  const [T, dirs, B, H] = dims;
  for (let d = 0; d < dirs; d++) {
    for (let t = 0; t < T; t++) {
      const prev = d === 0 ? t - 1 : t + 1;
      if (prev < 0 || prev >= T) {
        acc[d].addZeros(B);
        continue;
      }
      acc[d].addRows(y, ((prev * dirs + d) * B) * H, B, H);
    }
  }
}
