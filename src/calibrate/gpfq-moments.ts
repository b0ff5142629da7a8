/**
 * GPFQ's moments for one layer from paired runs (runPairedCalibration): the float model's
 * layer input x and the quantized model's x̃ on the same rows, summed as H̃ = Σ x̃ x̃ᵀ and
 * G = Σ x̃ xᵀ (2 n² numbers per matrix, one matrix per LSTM direction for R), whatever the
 * number of rows.
 */
import type { ClassifierRoles, Model } from "../graph/index.ts";
import type { GptqTarget } from "../passes/index.ts";
import { exposeScanInternals } from "./expose.ts";
import { HessianAccumulator } from "./hessian.ts";
import { CrossMomentAccumulator } from "./moments.ts";
import { runPairedCalibration } from "./runner.ts";
import type { GpfqMomentEntry } from "./table.ts";

/** Sums of one layer's paired inputs; for `lstm-r`, per direction from the LSTM's Y (previous states). */
export class PairedMoments {
  private quant: HessianAccumulator[] = [];
  private cross: CrossMomentAccumulator[] = [];

  constructor(readonly kind: GptqTarget["kind"]) {}

  /** One run's float input `x` and quantized input `xq`, same shape (last axis n; for lstm-r Y as [T, dirs, B, H]). */
  add(x: Float32Array, xq: Float32Array, dims: readonly number[]): void {
    const n = dims[dims.length - 1];
    if (this.kind !== "lstm-r") {
      this.ensure(1, n);
      this.quant[0].addRows(xq);
      this.cross[0].addPairs(xq, x);
      return;
    }
    // R reads the previous hidden state: Y[t-1] forward, Y[t+1] reverse, zeros first (both models).
    const [T, dirs, B] = dims;
    this.ensure(dirs, n);
    for (let d = 0; d < dirs; d++) {
      for (let t = 0; t < T; t++) {
        const prev = d === 0 ? t - 1 : t + 1;
        if (prev < 0 || prev >= T) {
          this.quant[d].addZeros(B);
          this.cross[d].addZeros(B);
          continue;
        }
        const offset = (prev * dirs + d) * B * n;
        this.quant[d].addRows(xq, offset, B, n);
        this.cross[d].addPairs(xq, x, offset, B, n);
      }
    }
  }

  entries(input: string, quantInput: string): GpfqMomentEntry[] {
    return this.quant.map((h, d) => ({ input, quant_input: quantInput, n: h.n, count: h.count, data: Array.from(h.matrix()), cross: Array.from(this.cross[d].matrix()) }));
  }

  private ensure(blocks: number, n: number): void {
    if (this.quant.length) return;
    this.quant = Array.from({ length: blocks }, () => new HessianAccumulator(n));
    this.cross = Array.from({ length: blocks }, () => new CrossMomentAccumulator(n));
  }
}

/** One layer of a GPFQ pass: its kind, its input in the float model and the value it reads in the quantized one. */
export interface PairedLayer {
  kind: GptqTarget["kind"];
  input: string;
  quantInput: string;
}

/**
 * Runs the float and the quantized model side by side on the rows `order` of `rows`, each cut
 * down to what the layers' inputs need, and returns each layer's GPFQ moments (one pass for
 * all of them): `input` is the layer input in the float model, `quantInput` the value the same
 * layer reads in the quantized model (Scan-body values are exposed as stacked scan outputs).
 */
export async function recordGpfqMoments(
  float: Model,
  quant: Model,
  layers: readonly PairedLayer[],
  rows: { ids: number[][]; labels: number[] },
  order: number[],
  roles: ClassifierRoles,
  opts: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<GpfqMomentEntry[][]> {
  const acc = layers.map((l) => new PairedMoments(l.kind));
  await runPairedCalibration([float, quant], layers.map((l) => [l.input, l.quantInput] as const), rows, order, (i, x, xq, dims) => acc[i].add(x, xq, dims), {
    batch: opts.batch,
    onProgress: opts.onProgress,
    expose: (copy, values) => new Map(exposeScanInternals(copy, values).map((e) => [e.value.name, e.output.name])),
  }, roles);
  return acc.map((a, i) => a.entries(layers[i].input, layers[i].quantInput));
}
