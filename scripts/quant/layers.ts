/**
 * The real layers of a model as rounding problems: each MatMul/Gemm/LSTM weight that GPTQ can
 * treat, as [output channels, inputs] matrices (one per LSTM direction) with the second
 * moments of its inputs from a real calibration run (`--rounding gptq` records them), and the
 * layer output error of any rounding of it. Shared by scripts/quant/methods.ts and the tests.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import type { CalibrationTable } from "../../src/calibrate/table.ts";
import { findRoles, loadModel, type Model } from "../../src/graph/index.ts";
import { runCalibration } from "../../src/calibrate/runner.ts";
import { parseCalibMode, selectCalibrationRows } from "../../src/calibrate/select.ts";
import { loadLabelledData, modelLabels, type LabelledIds } from "../../src/data/resolve.ts";
import { gptqTargets, type GptqTarget } from "../../src/passes/gptq-targets.ts";
import { makePolicy, planWeights } from "../../src/passes/index.ts";
import { gpfqQuantize } from "../../src/quant/gpfq.ts";
import { gptqQuantize } from "../../src/quant/gptq.ts";
import { matrixView, outputError, readMatrix, type MatrixLayout } from "../../src/quant/layout.ts";
import { dequantizeTensor, quantizeTensor } from "../../src/quant/math.ts";

export interface LayerProblem {
  /** Weight name, with the direction for LSTM weights. */
  name: string;
  kind: "matmul" | "gemm" | "lstm-w" | "lstm-r";
  rows: number;
  cols: number;
  W: Float64Array;
  /** Σ x xᵀ over `count` input vectors. */
  H: ArrayLike<number>;
  count: number;
}

/** The weights GPTQ/GPFQ can treat (the op table's view), with the input each layer reads. */
export function weightLayers(model: Model): GptqTarget[] {
  return gptqTargets(planWeights(model, makePolicy({ exclude: [findRoles(model).scores.name] })).targets);
}

/** Calibrates `model` on `calibSize` balanced rows of its zoo validation split and returns its layers. */
export async function layerProblems(model: string, dir: string, calibSize: number, seed = 0): Promise<LayerProblem[]> {
  const out = join(dir, model.split("/").pop()!.replace(/\.onnx$/, `.moments${seed}.onnx`));
  const table = out.replace(/\.onnx$/, ".calib.json");
  await quantizeModel({ model, out, bits: 8, calib: "balanced", calibSize, seed, rounding: "gptq", saveCalibTable: table, force: true });
  const hessians = (JSON.parse(readFileSync(table, "utf8")) as CalibrationTable).hessians ?? {};
  const m = loadModel(model);
  const problems: LayerProblem[] = [];
  for (const t of weightLayers(m)) {
    const moments = hessians[t.weight.name];
    if (!moments) continue;
    const tensor = t.weight.initializer!;
    const node = t.weight.consumers[0];
    const layout: MatrixLayout = t.kind.startsWith("lstm") ? "dirs-out-in" : t.kind === "gemm" && node.getInt("transB", 0) === 1 ? "out-in" : "in-out";
    const view = matrixView(tensor.dims, layout);
    for (let b = 0; b < view.blocks; b++) {
      const h = moments[Math.min(b, moments.length - 1)];
      problems.push({
        name: view.blocks > 1 ? `${t.weight.name}[dir ${b}]` : t.weight.name,
        kind: t.kind,
        rows: view.rows,
        cols: view.cols,
        W: readMatrix(tensor.data as Float32Array, view, b),
        H: h.data,
        count: h.count,
      });
    }
  }
  return problems;
}

export const METHODS = ["nearest", "gptq", "gptq-act-order", "gpfq", "gpfq-act-order"] as const;
export type Method = (typeof METHODS)[number];

/**
 * The layer's dequantized weights after rounding with `method` on the grid of round-to-nearest's
 * scales (per output channel, or one for the matrix). GPFQ runs on GPTQ's moments (quantized
 * inputs taken equal to the float ones), since the table holds no cross moments. `dampening`
 * is GPTQ's (0.01 of the mean diagonal by default).
 */
export function roundLayer(p: LayerProblem, method: Method, bits: number, perChannel: boolean, dampening?: number): Float32Array {
  const format = { bits, signed: true, narrow: true };
  const dims = [p.rows, p.cols];
  const rtn = quantizeTensor(p.W, dims, perChannel ? 0 : null, format, true);
  const scales = rtn.scales, zeros = rtn.zeroPoints;
  let codes = rtn.codes;
  if (method === "gptq" || method === "gptq-act-order") {
    codes = gptqQuantize(p.W, p.rows, p.cols, p.H, scales, zeros, format, { actOrder: method === "gptq-act-order", dampening });
  } else if (method === "gpfq" || method === "gpfq-act-order") {
    codes = gpfqQuantize(p.W, p.rows, p.cols, { quant: p.H }, scales, zeros, format, { actOrder: method === "gpfq-act-order" });
  }
  return dequantizeTensor({ ...rtn, codes }, dims);
}

/**
 * Layer output error of a rounding relative to the output's energy, E‖(W - Wq)x‖² / E‖Wx‖²,
 * on the inputs whose moments `on` holds (by default the ones the rounding saw).
 */
export function relativeOutputError(p: LayerProblem, Wq: ArrayLike<number>, on: Pick<LayerProblem, "H" | "count"> = p): number {
  const energy = outputError(p.W, new Float64Array(p.W.length), p.rows, p.cols, on.H, on.count);
  return outputError(p.W, Wq, p.rows, p.cols, on.H, on.count) / energy;
}

/** The zoo validation rows a balanced calibration of `size` rows picks (as quantize does). */
export function calibrationRows(model: Model, size: number, seed = 0): { data: LabelledIds; order: number[] } {
  const data = loadLabelledData(model, { split: "val" });
  const classes = modelLabels(model)?.length ?? Math.max(...data.labels) + 1;
  const order = selectCalibrationRows(data.labels.map((label) => ({ label })), parseCalibMode("balanced", classes), size, seed).indices;
  return { data, order };
}

export interface Recorded {
  values: Float32Array;
  dims: readonly number[];
}

/** Every calibration batch's values of the named tensors, in run order (runs of two models batch alike). */
export async function recordTensors(model: Model, names: string[], data: LabelledIds, order: number[]): Promise<Map<string, Recorded[]>> {
  const out = new Map(names.map((n) => [n, [] as Recorded[]]));
  const sink = { tensor: (name: string, v: Float32Array, _label: number, dims: readonly number[]) => out.get(name)!.push({ values: v.slice(), dims: [...dims] }), endBatch() {} };
  await runCalibration(model, names, data, order, sink, { batch: 32 }, findRoles(model));
  return out;
}
