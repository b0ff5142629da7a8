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
 * Re-rounds `q.codes` (quantized along the view's output channels, per tensor, or in blocks
 * along the inputs). Returns false, codes untouched, when the scales run along another axis
 * or the moments do not match the inputs. `moments` holds one entry per matrix or one for all.
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
  if (moments.length === 0 || moments.some((m) => m.n !== view.cols)) return false;
  let grid: (b: number) => { scales: ArrayLike<number>; zeros: ArrayLike<number>; groupSize?: number };
  if (q.blockSize !== undefined) {
    // Blocked scales must run along the inputs; they are regrouped as [rows, groups] per matrix.
    if (q.axis !== inputAxis(layout)) return false;
    const size = q.blockSize;
    const groups = view.cols / size;
    const at = (b: number, r: number, g: number) => (layout === "in-out" ? g * view.rows + r : (b * view.rows + r) * groups + g);
    const pick = (a: ArrayLike<number>, b: number) => Float64Array.from({ length: view.rows * groups }, (_, i) => a[at(b, Math.floor(i / groups), i % groups)]);
    grid = (b) => ({ scales: pick(q.scales, b), zeros: pick(q.zeroPoints, b), groupSize: size });
  } else {
    if (q.axis !== null && q.axis !== channelAxis) return false;
    const scales = q.axis === null ? [q.scales[0]] : q.scales;
    const zeros = q.axis === null ? [q.zeroPoints[0]] : q.zeroPoints;
    grid = () => ({ scales, zeros });
  }
  for (let b = 0; b < view.blocks; b++) {
    const m = moments[Math.min(b, moments.length - 1)];
    const w = readMatrix(data, view, b);
    const { scales, zeros, groupSize } = grid(b);
    const codes =
      method.kind === "gptq"
        ? gptqQuantize(w, view.rows, view.cols, m.data, scales, zeros, format, { actOrder: method.actOrder, dampening: method.dampening, groupSize })
        : gpfqQuantize(w, view.rows, view.cols, { quant: m.data, cross: m.cross }, scales, zeros, format, { actOrder: method.actOrder, groupSize });
    writeMatrix(q.codes, view, b, codes);
  }
  return true;
}

/** The axis of a weight in `layout` that runs along the layer's inputs. */
export function inputAxis(layout: MatrixLayout): number {
  return layout === "in-out" ? 0 : layout === "out-in" ? 1 : 2;
}
