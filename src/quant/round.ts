/**
 * Error-compensating rounding of a whole weight tensor in its op's layout: each [output
 * channels, inputs] matrix of the view (one per LSTM direction) is re-rounded with GPTQ or
 * GPFQ on the grid round-to-nearest chose (its scales and zero points), in place of its
 * nearest codes. What the weight pass calls; imports nothing of ours above src/quant.
 */
import { gpfqQuantize } from "./gpfq.ts";
import { gptqQuantize } from "./gptq.ts";
import { matrixView, readMatrix, writeMatrix, type MatrixLayout } from "./layout.ts";
import type { IntFormat, QuantizedTensor } from "./math.ts";

export type RoundingMethod =
  | { kind: "gptq"; actOrder?: boolean; dampening?: number }
  | { kind: "gpfq"; actOrder?: boolean };

/** Per matrix of the view: Σ x xᵀ (GPTQ; GPFQ's H̃ when no cross moments), and GPFQ's Σ x̃ xᵀ. */
export interface LayerMoments {
  n: number;
  data: ArrayLike<number>;
  cross?: ArrayLike<number>;
}

/**
 * Re-rounds `q.codes` (quantized along the view's output channels, or per tensor). Returns false,
 * codes untouched, when the scales do not run along the output channels (`channelAxis`) or the
 * moments do not match the inputs. `moments` holds one entry per matrix or one for all.
 */
export function roundInLayout(
  data: ArrayLike<number>,
  dims: readonly number[],
  layout: MatrixLayout,
  channelAxis: number,
  q: QuantizedTensor,
  moments: readonly LayerMoments[],
  format: IntFormat,
  method: RoundingMethod,
): boolean {
  const view = matrixView(dims, layout);
  if (q.blockSize !== undefined || (q.axis !== null && q.axis !== channelAxis)) return false;
  if (moments.length === 0 || moments.some((m) => m.n !== view.cols)) return false;
  const scales = q.axis === null ? [q.scales[0]] : q.scales;
  const zeros = q.axis === null ? [q.zeroPoints[0]] : q.zeroPoints;
  for (let b = 0; b < view.blocks; b++) {
    const m = moments[Math.min(b, moments.length - 1)];
    const w = readMatrix(data, view, b);
    const codes =
      method.kind === "gptq"
        ? gptqQuantize(w, view.rows, view.cols, m.data, scales, zeros, format, { actOrder: method.actOrder, dampening: method.dampening })
        : gpfqQuantize(w, view.rows, view.cols, { quant: m.data, cross: m.cross }, scales, zeros, format, { actOrder: method.actOrder });
    writeMatrix(q.codes, view, b, codes);
  }
  return true;
}
