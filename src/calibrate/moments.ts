/**
 * The streaming statistics GPFQ and bias correction need beyond GPTQ's H = Σ x xᵀ
 * (hessian.ts), each of bounded size whatever the number of calibration rows:
 * - GPFQ: Σ x̃ xᵀ, the cross moments of the quantized model's layer inputs x̃ with the float
 *   model's x on the same rows (n x n, not symmetric), next to Σ x̃ x̃ᵀ (a HessianAccumulator
 *   fed with x̃). Calibration runs both models on each batch and hands both inputs here.
 * - Bias correction: Σ x, the mean layer input (n values).
 */
export class CrossMomentAccumulator {
  readonly n: number;
  count = 0;
  /** sums[i * n + j] = Σ x̃_i x_j. */
  private readonly sums: Float64Array;

  constructor(n: number) {
    this.n = n;
    this.sums = new Float64Array(n * n);
  }

  /** Adds `rows` pairs of length-n vectors, x̃ from `quant` and x from `float` at the same offsets. */
  addPairs(quant: ArrayLike<number>, float: ArrayLike<number>, offset = 0, rows = (quant.length - offset) / this.n, stride = this.n): void {
    if (quant.length !== float.length) throw new RangeError(`quantized and float inputs differ in size (${quant.length} and ${float.length})`);
    const n = this.n;
    const S = this.sums;
    for (let r = 0; r < rows; r++) {
      const base = offset + r * stride;
      for (let i = 0; i < n; i++) {
        const qi = quant[base + i];
        if (qi === 0) continue;
        const row = i * n;
        for (let j = 0; j < n; j++) S[row + j] += qi * float[base + j];
      }
    }
    this.count += rows;
  }

  /** Counts pairs of all-zero vectors (an LSTM's initial state in both models). */
  addZeros(rows: number): void {
    this.count += rows;
  }

  matrix(): Float64Array {
    return Float64Array.from(this.sums);
  }
}

/** Σ x over length-n vectors, for the mean input bias correction needs. */
export class MeanAccumulator {
  readonly n: number;
  count = 0;
  private readonly sums: Float64Array;

  constructor(n: number) {
    this.n = n;
    this.sums = new Float64Array(n);
  }

  addRows(values: ArrayLike<number>, offset = 0, rows = (values.length - offset) / this.n, stride = this.n): void {
    for (let r = 0; r < rows; r++) {
      const base = offset + r * stride;
      for (let i = 0; i < this.n; i++) this.sums[i] += values[base + i];
    }
    this.count += rows;
  }

  addZeros(rows: number): void {
    this.count += rows;
  }

  mean(): Float64Array {
    return Float64Array.from(this.sums, (s) => (this.count ? s / this.count : 0));
  }
}
