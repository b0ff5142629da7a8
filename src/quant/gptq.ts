/**
 * Error-compensating rounding (GPTQ, Frantar et al. 2022) for one weight matrix: columns are
 * quantized one at a time and each column's rounding error is pushed onto the columns not yet
 * quantized, weighted by the inverse Hessian of the layer's inputs, so that the layer's
 * OUTPUT error on the calibration data shrinks rather than each weight's own error.
 * Imports nothing of ours but the quantization math.
 */
import { dequantize, groupCount, quantize, type IntFormat } from "./math.ts";

export interface GptqOptions {
  /** Added to the Hessian's diagonal, as a fraction of its mean (GPTQ's "percdamp"); 0.01 by default. */
  dampening?: number;
  /**
   * Quantize columns by decreasing Hessian diagonal (GPTQ's act-order) rather than left to
   * right, so the inputs that carry the most energy are rounded while the most columns are
   * left to absorb their error.
   */
  actOrder?: boolean;
  /** Scales per group of this many input columns (see `scaleIndexer`); none by default. */
  groupSize?: number;
}

/**
 * Quantizes W (rows = output channels, cols = inputs, row-major) against H = sum of x xᵀ over
 * the calibration inputs (cols x cols). Scales and zero points are per row (length rows) or
 * one for all (length 1), fixed beforehand. Returns the integer codes, row-major like W.
 */
export function gptqQuantize(
  weights: ArrayLike<number>,
  rows: number,
  cols: number,
  hessian: ArrayLike<number>,
  scales: ArrayLike<number>,
  zeroPoints: ArrayLike<number>,
  format: IntFormat,
  opts: GptqOptions = {},
): Int32Array {
  if (weights.length !== rows * cols) throw new RangeError(`weights have ${weights.length} values, not ${rows} x ${cols}`);
  if (hessian.length !== cols * cols) throw new RangeError(`the Hessian must be ${cols} x ${cols}`);
  const dampening = opts.dampening ?? 0.01;
  if (!(dampening >= 0) || !Number.isFinite(dampening)) throw new RangeError(`dampening must be a finite number >= 0, got ${dampening}`);
  const scaleAt = scaleIndexer(rows, cols, scales.length, opts.groupSize);
  const W = Float64Array.from(weights);
  const H = Float64Array.from(hessian);
  // Inputs that never varied carry no information: pin them so the inverse exists, as GPTQ does.
  for (let i = 0; i < cols; i++) {
    if (H[i * cols + i] === 0) {
      H[i * cols + i] = 1;
      for (let r = 0; r < rows; r++) W[r * cols + i] = 0;
    }
  }
  let meanDiag = 0;
  for (let i = 0; i < cols; i++) meanDiag += H[i * cols + i] / cols;
  const damp = dampening * meanDiag;
  for (let i = 0; i < cols; i++) H[i * cols + i] += damp;
  // Work in quantization order: column j of the permuted problem is input order[j].
  const order = opts.actOrder ? decreasingDiagonal(H, cols) : null;
  const Wp = order ? permuteColumns(W, rows, cols, order) : W;
  const U = upperCholeskyOfInverse(order ? permuteSymmetric(H, cols, order) : H, cols);

  const codes = new Int32Array(rows * cols);
  for (let j = 0; j < cols; j++) {
    const d = U[j * cols + j];
    const col = order ? order[j] : j;
    for (let r = 0; r < rows; r++) {
      const s = scaleAt(r, col);
      const p = { scale: scales[s], zeroPoint: zeroPoints[s] };
      const w = Wp[r * cols + j];
      const q = quantize(w, p, format);
      codes[r * cols + col] = q;
      const err = (w - dequantize(q, p)) / d;
      const row = r * cols;
      for (let k = j + 1; k < cols; k++) Wp[row + k] -= err * U[j * cols + k];
    }
  }
  return codes;
}

/**
 * Where the scale of weight (r, c) sits in a scales array of `count` entries: one for all,
 * one per row, or (with `groupSize`) one per row and group of input columns, row-major
 * [rows, cols / groupSize].
 */
export function scaleIndexer(rows: number, cols: number, count: number, groupSize?: number): (r: number, c: number) => number {
  if (groupSize !== undefined) {
    const groups = groupCount(cols, groupSize);
    if (count !== rows * groups) throw new RangeError(`group scales must number ${rows} x ${groups}, got ${count}`);
    return (r, c) => r * groups + Math.floor(c / groupSize);
  }
  if (count === 1) return () => 0;
  if (count !== rows) throw new RangeError(`scales must number 1 or ${rows} (one per row), got ${count}`);
  return (r) => r;
}

/** Column indices by decreasing diagonal of a symmetric n x n matrix; ties keep index order. */
export function decreasingDiagonal(H: ArrayLike<number>, n: number): Int32Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => H[b * n + b] - H[a * n + a] || a - b);
  return Int32Array.from(idx);
}

function permuteColumns(W: Float64Array, rows: number, cols: number, order: Int32Array): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * cols + j] = W[r * cols + order[j]];
  return out;
}

/** P H Pᵀ for the permutation `order` (row i of the result is row order[i] of H). */
export function permuteSymmetric(H: ArrayLike<number>, n: number, order: Int32Array): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = H[order[i] * n + order[j]];
  return out;
}

/** U upper-triangular with Uᵀ U = H⁻¹, for symmetric positive definite H (n x n, row-major). */
export function upperCholeskyOfInverse(H: Float64Array, n: number): Float64Array {
  const inv = spdInverse(H, n);
  // Cholesky of the inverse as U = Lᵀ where inv = L Lᵀ.
  const L = cholesky(inv, n);
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) U[i * n + j] = L[j * n + i];
  return U;
}

/** Lower-triangular L with L Lᵀ = A; throws if A is not positive definite. */
export function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * n + j];
      for (let k = 0; k < j; k++) sum -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(sum > 0)) throw new RangeError("matrix is not positive definite (increase the dampening)");
        L[i * n + i] = Math.sqrt(sum);
      } else {
        L[i * n + j] = sum / L[j * n + j];
      }
    }
  }
  return L;
}

/** Inverse of a symmetric positive definite matrix through its Cholesky factor. */
export function spdInverse(A: Float64Array, n: number): Float64Array {
  const L = cholesky(A, n);
  // Invert L (lower-triangular) by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
  const Li = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    Li[i * n + i] = 1 / L[i * n + i];
    for (let j = 0; j < i; j++) {
      let sum = 0;
      for (let k = j; k < i; k++) sum += L[i * n + k] * Li[k * n + j];
      Li[i * n + j] = -sum / L[i * n + i];
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < n; k++) sum += Li[k * n + i] * Li[k * n + j];
      out[i * n + j] = sum;
      out[j * n + i] = sum;
    }
  }
  return out;
}
