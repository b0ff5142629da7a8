/**
 * How an op's weight tensor reads as matrices [output channels, inputs], the view every
 * rounding method (GPTQ, GPFQ, bias correction) works in. Imports nothing of ours.
 *
 * `out-in`: [outputs, inputs] (Gemm with transB=1); `in-out`: [inputs, outputs] (MatMul's B,
 * Gemm's untransposed B); `dirs-out-in`: [directions, gate rows, inputs] (LSTM W and R, one
 * matrix per direction).
 */
export type MatrixLayout = "out-in" | "in-out" | "dirs-out-in";

export interface MatrixView {
  blocks: number;
  rows: number;
  cols: number;
  /** Flat index in the tensor of element (r, c) of matrix b. */
  index(b: number, r: number, c: number): number;
}

export function matrixView(dims: readonly number[], layout: MatrixLayout): MatrixView {
  const rank = layout === "dirs-out-in" ? 3 : 2;
  if (dims.length !== rank) throw new RangeError(`a ${layout} weight must have rank ${rank}, got [${dims.join(", ")}]`);
  if (layout === "dirs-out-in") {
    const [blocks, rows, cols] = dims;
    return { blocks, rows, cols, index: (b, r, c) => (b * rows + r) * cols + c };
  }
  if (layout === "out-in") {
    const [rows, cols] = dims;
    return { blocks: 1, rows, cols, index: (_b, r, c) => r * cols + c };
  }
  const [cols, rows] = dims;
  return { blocks: 1, rows, cols, index: (_b, r, c) => c * rows + r };
}

/** Matrix b of the view, copied out row-major [rows, cols]. */
export function readMatrix(data: ArrayLike<number>, view: MatrixView, b: number): Float64Array {
  const out = new Float64Array(view.rows * view.cols);
  for (let r = 0; r < view.rows; r++) for (let c = 0; c < view.cols; c++) out[r * view.cols + c] = data[view.index(b, r, c)];
  return out;
}

/** Writes a row-major [rows, cols] matrix back as matrix b of the view. */
export function writeMatrix(target: { [i: number]: number }, view: MatrixView, b: number, matrix: ArrayLike<number>): void {
  for (let r = 0; r < view.rows; r++) for (let c = 0; c < view.cols; c++) target[view.index(b, r, c)] = matrix[r * view.cols + c];
}

/**
 * The layer output error of replacing W by Wq (both [rows, cols] row-major) on inputs whose
 * second moments are H = Σ x xᵀ over `count` vectors: the mean over inputs of ‖(W - Wq) x‖².
 */
export function outputError(W: ArrayLike<number>, Wq: ArrayLike<number>, rows: number, cols: number, H: ArrayLike<number>, count: number): number {
  if (H.length !== cols * cols) throw new RangeError(`the moments must be ${cols} x ${cols}`);
  const d = new Float64Array(cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = W[r * cols + c] - Wq[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < cols; j++) s += H[i * cols + j] * d[j];
      total += d[i] * s;
    }
  }
  return count > 0 ? total / count : 0;
}
