/**
 * Exact equalization of an embedding feeding a layer's input projection (SmoothQuant, Xiao
 * et al. 2023, applied where the graph allows it with no change to the float function): the
 * embedding's column j is divided by s_j and the projection's input column j multiplied by
 * s_j, so W diag(s) · diag(1/s) e = W e for every looked-up row e. The activation's range
 * per column and the weight's range per input column move towards each other, which evens
 * out what per-tensor activation and per-row weight scales lose.
 * Imports nothing of ours.
 */

export interface EqualizationOptions {
  /** Migration strength: s_j = actMax_j^alpha / weightMax_j^(1 - alpha). 0.5 by default. */
  alpha?: number;
  /**
   * Round each s_j to the nearest power of two (default true): scaling by a power of two is
   * exact in floating point, so the float function stays bit-identical, not just close.
   */
  powerOfTwo?: boolean;
}

/** Max |value| per column of a [rows, cols] row-major matrix. */
export function columnAbsMax(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (data.length !== rows * cols) throw new RangeError(`matrix has ${data.length} values, not ${rows} x ${cols}`);
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(data[r * cols + c]);
      if (v > out[c]) out[c] = v;
    }
  }
  return out;
}

/**
 * Per input column j, s_j from the activation's max |x_j| (calibration statistics of the
 * layer input) and the weight's max |W[:, j]|. Columns where either is zero (or not finite)
 * keep s_j = 1: there is nothing to balance.
 */
export function equalizationScales(activationAbsMax: ArrayLike<number>, weightAbsMax: ArrayLike<number>, opts: EqualizationOptions = {}): Float64Array {
  const alpha = opts.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`equalization alpha must be in [0, 1], got ${alpha}`);
  if (activationAbsMax.length !== weightAbsMax.length) {
    throw new RangeError(`activation ranges (${activationAbsMax.length}) and weight columns (${weightAbsMax.length}) differ in number`);
  }
  const s = new Float64Array(activationAbsMax.length).fill(1);
  for (let j = 0; j < s.length; j++) {
    const a = activationAbsMax[j];
    const w = weightAbsMax[j];
    if (!(a > 0 && w > 0 && Number.isFinite(a) && Number.isFinite(w))) continue;
    const raw = a ** alpha / w ** (1 - alpha);
    s[j] = opts.powerOfTwo === false ? raw : 2 ** Math.round(Math.log2(raw));
  }
  return s;
}

/** A copy of a [rows, cols] row-major matrix with column j multiplied by factor[j]. */
export function scaleColumns(data: ArrayLike<number>, rows: number, cols: number, factor: ArrayLike<number>): Float32Array {
  if (data.length !== rows * cols) throw new RangeError(`matrix has ${data.length} values, not ${rows} x ${cols}`);
  if (factor.length !== cols) throw new RangeError(`need ${cols} column factors, got ${factor.length}`);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = data[r * cols + c] * factor[c];
  return out;
}

/**
 * The equalized pair: the embedding table [vocab, dim] with column j divided by s_j, and the
 * projection W [rows, dim] (an LSTM's W [dirs, 4H, dim] read as dirs*4H rows) with input
 * column j multiplied by s_j.
 */
export function equalizeEmbedding(
  embedding: ArrayLike<number>,
  vocab: number,
  weights: ArrayLike<number>,
  rows: number,
  dim: number,
  s: ArrayLike<number>,
): { embedding: Float32Array; weights: Float32Array } {
  const inverse = Float64Array.from(s, (v) => {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`equalization scales must be positive and finite, got ${v}`);
    return 1 / v;
  });
  return { embedding: scaleColumns(embedding, vocab, dim, inverse), weights: scaleColumns(weights, rows, dim, s) };
}
