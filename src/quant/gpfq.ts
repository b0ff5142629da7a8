/**
 * Greedy path-following quantization (GPFQ: Lybrand and Saab 2021; Zhang and Saab 2023) for
 * one weight matrix. Each output row walks its inputs in order and chooses, for input t, the
 * code that best cancels the error the row has accumulated so far: with X the float model's
 * layer inputs and X̃ the quantized model's (one sample per row of each), the running error
 * u = Σ_{j<t} (w_j X_j - q_j X̃_j) and
 *
 *   q_t = Q( X̃_tᵀ (u + w_t X_t) / ‖X̃_t‖² ).
 *
 * Zhang and Saab's memory-efficient form needs only two n x n moment matrices instead of the
 * data: H̃ = Σ x̃ x̃ᵀ (the quantized inputs' second moments) and G = Σ x̃ xᵀ (the cross moments
 * of quantized and float inputs), since X̃_tᵀ X_j = G[t, j] and X̃_tᵀ X̃_j = H̃[t, j]:
 *
 *   q_t = Q( (w_t G[t, t] + Σ_{j<t} (w_j G[t, j] - q_j H̃[t, j])) / H̃[t, t] ).
 *
 * Beyond GPTQ's H = Σ x xᵀ this needs the quantized model's inputs to the same layer on the
 * same rows: calibration runs the float model and the (nearest-rounded, activation-quantized)
 * model side by side on each batch and adds x̃ x̃ᵀ and x̃ xᵀ to two n x n sums per weight (per
 * direction for an LSTM's R), so memory stays 2 n² per weight whatever the number of rows.
 * The layers must be taken in data-flow order, x̃ recorded again after each layer's codes are
 * set (as Brevitas does): fitted all at once against one nearest-rounded model, the layers'
 * corrections add up and accuracy drops (src/quant/README.md). So it is one extra pass over the
 * calibration rows per layer, holding one layer's sums at a time.
 * Without them (x̃ = x: G = H̃ = H) the same walk runs on GPTQ's moments alone.
 * Imports nothing of ours but the quantization math.
 */
import { decreasingDiagonal, scaleIndexer } from "./gptq.ts";
import { dequantize, quantize, type IntFormat } from "./math.ts";

export interface GpfqMoments {
  /** H̃ = Σ x̃ x̃ᵀ over the quantized model's layer inputs, cols x cols row-major. */
  quant: ArrayLike<number>;
  /**
   * G = Σ x̃ xᵀ, cols x cols row-major: G[i * cols + j] = Σ x̃_i x_j. Absent: the float and
   * quantized inputs are taken as equal (G = H̃).
   */
  cross?: ArrayLike<number>;
}

export interface GpfqOptions {
  /** Walk the inputs by decreasing H̃ diagonal (as Brevitas' act_order) rather than in order. */
  actOrder?: boolean;
  /** Scales per group of this many input columns, as in gptqQuantize. */
  groupSize?: number;
}

/**
 * Quantizes W (rows = output channels, cols = inputs, row-major) on the grid of the given
 * scales and zero points (one, one per row, or per row and group), fixed beforehand. Returns
 * the integer codes, row-major like W.
 */
export function gpfqQuantize(
  weights: ArrayLike<number>,
  rows: number,
  cols: number,
  moments: GpfqMoments,
  scales: ArrayLike<number>,
  zeroPoints: ArrayLike<number>,
  format: IntFormat,
  opts: GpfqOptions = {},
): Int32Array {
  if (weights.length !== rows * cols) throw new RangeError(`weights have ${weights.length} values, not ${rows} x ${cols}`);
  const H = moments.quant;
  const G = moments.cross ?? H;
  if (H.length !== cols * cols) throw new RangeError(`the quantized-input moments must be ${cols} x ${cols}`);
  if (G.length !== cols * cols) throw new RangeError(`the cross moments must be ${cols} x ${cols}`);
  const scaleAt = scaleIndexer(rows, cols, scales.length, opts.groupSize);
  const order = opts.actOrder ? decreasingDiagonal(H, cols) : Int32Array.from({ length: cols }, (_, i) => i);

  const codes = new Int32Array(rows * cols);
  // The dequantized values chosen so far for the current row, by step.
  const chosen = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let t = 0; t < cols; t++) {
      const i = order[t];
      const s = scaleAt(r, i);
      const p = { scale: scales[s], zeroPoint: zeroPoints[s] };
      const h = H[i * cols + i];
      let target = 0;
      // An input the quantized model never feeds cannot carry any weight: its code is zero.
      if (h !== 0) {
        let acc = weights[row + i] * G[i * cols + i];
        for (let k = 0; k < t; k++) {
          const j = order[k];
          acc += weights[row + j] * G[i * cols + j] - chosen[k] * H[i * cols + j];
        }
        target = acc / h;
      }
      const q = quantize(target, p, format);
      codes[row + i] = q;
      chosen[t] = dequantize(q, p);
    }
  }
  return codes;
}
