/**
 * Bias correction (Nagel et al. 2019, "Data-free quantization"): rounding a layer's weights
 * shifts the mean of its output by E[(W - Q(W)) x] = (W - Q(W)) E[x], which is the same
 * for every input and so can be folded back into the bias. With the calibration means of the
 * layer's inputs, b' = b + (W - Q(W)) E[x] keeps E[Q(W) x + b'] = E[W x + b].
 * For an LSTM the correction lands on the gate pre-activations, before the sigmoid and tanh:
 * it matches their mean, not the mean of the gates themselves (a first-order correction).
 * Imports nothing of ours.
 */

/** (W - Wq) · mean for W, Wq [rows, cols] row-major and mean [cols]: the shift per output row. */
export function meanOutputShift(
  weights: ArrayLike<number>,
  quantized: ArrayLike<number>,
  rows: number,
  cols: number,
  mean: ArrayLike<number>,
): Float64Array {
  if (weights.length !== rows * cols || quantized.length !== rows * cols) throw new RangeError(`weights must be ${rows} x ${cols}`);
  if (mean.length !== cols) throw new RangeError(`the input mean has ${mean.length} values, the layer ${cols} inputs`);
  const shift = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (weights[r * cols + c] - quantized[r * cols + c]) * mean[c];
    shift[r] = s;
  }
  return shift;
}

/** b + (W - Wq) · mean; a missing bias counts as zeros. */
export function correctBias(
  bias: ArrayLike<number> | undefined,
  weights: ArrayLike<number>,
  quantized: ArrayLike<number>,
  rows: number,
  cols: number,
  mean: ArrayLike<number>,
): Float32Array {
  if (bias && bias.length !== rows) throw new RangeError(`the bias has ${bias.length} values, the layer ${rows} outputs`);
  const shift = meanOutputShift(weights, quantized, rows, cols, mean);
  return Float32Array.from(shift, (s, r) => (bias ? bias[r] : 0) + s);
}

/** An ONNX LSTM's weights, float and quantized (dequantized), in ONNX's layouts. */
export interface LstmWeights {
  /** W [dirs, 4H, input] and its quantized values. */
  W: ArrayLike<number>;
  Wq: ArrayLike<number>;
  /** R [dirs, 4H, H] and its quantized values. */
  R: ArrayLike<number>;
  Rq: ArrayLike<number>;
  dirs: number;
  hidden: number;
  input: number;
}

/**
 * The LSTM's B [dirs, 8H] corrected for its quantized W and R: the input part Wb (first 4H
 * of each direction) by (W - Wq) E[x], the recurrent part Rb (last 4H) by (R - Rq) E[h_prev],
 * where E[x] is the mean input vector (shared by the directions) and E[h_prev] the mean
 * previous hidden state of each direction (the initial zero state counted, as the LSTM sees it).
 * A missing B counts as zeros.
 */
export function correctLstmBias(
  B: ArrayLike<number> | undefined,
  w: LstmWeights,
  meanInput: ArrayLike<number>,
  meanPreviousHidden: readonly ArrayLike<number>[],
): Float32Array {
  const { dirs, hidden: H, input } = w;
  const G = 4 * H;
  if (B && B.length !== dirs * 2 * G) throw new RangeError(`the LSTM's B has ${B.length} values, not ${dirs} x ${2 * G}`);
  if (w.W.length !== dirs * G * input || w.Wq.length !== w.W.length) throw new RangeError(`the LSTM's W must be ${dirs} x ${G} x ${input}`);
  if (w.R.length !== dirs * G * H || w.Rq.length !== w.R.length) throw new RangeError(`the LSTM's R must be ${dirs} x ${G} x ${H}`);
  if (meanPreviousHidden.length !== dirs) throw new RangeError(`need one mean hidden state per direction (${dirs}), got ${meanPreviousHidden.length}`);
  const out = B ? Float32Array.from(B) : new Float32Array(dirs * 2 * G);
  for (let d = 0; d < dirs; d++) {
    const wShift = meanOutputShift(block(w.W, d, G * input), block(w.Wq, d, G * input), G, input, meanInput);
    const rShift = meanOutputShift(block(w.R, d, G * H), block(w.Rq, d, G * H), G, H, meanPreviousHidden[d]);
    for (let g = 0; g < G; g++) {
      out[d * 2 * G + g] += wShift[g];
      out[d * 2 * G + G + g] += rShift[g];
    }
  }
  return out;
}

function block(a: ArrayLike<number>, index: number, size: number): Float64Array {
  return Float64Array.from({ length: size }, (_, i) => a[index * size + i]);
}
