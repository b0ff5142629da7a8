/**
 * What bias correction (src/quant/bias-correction.ts) does to accuracy: each model is
 * quantized (nearest or GPTQ rounding), then the biases of its LSTM (B: Wb from E[x], Rb from
 * E[h_prev]) and its Gemm head are corrected by (W - Q(W)) E[input], with the means taken from
 * the float model on the calibration rows; both files are scored on the zoo test split.
 *
 *   npx tsx scripts/quant/bias-correction.ts [MODELS...] [--widths 3/3,2/8] [--rounding nearest,gptq] [--rows N] [--calib-size N]
 *
 * A MatMul head has no bias input to correct and is left as it is (the generative models').
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MeanAccumulator } from "../../src/calibrate/moments.ts";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadModel, saveModel, Tensor, type Model, type Node, type Value } from "../../src/graph/index.ts";
import { correctBias, correctLstmBias } from "../../src/quant/bias-correction.ts";
import { dequantizeTensor } from "../../src/quant/math.ts";
import { accuracy, markdown, pct, predictions, scratchDir, testSet } from "./common.ts";
import { calibrationRows, recordTensors, weightLayers, type Recorded } from "./layers.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    widths: { type: "string", default: "3/3,2/8" },
    rounding: { type: "string", default: "nearest,gptq" },
    rows: { type: "string" },
    "calib-size": { type: "string", default: "512" },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx"];
const widths = values.widths.split(",").map((w) => w.split("/").map(Number) as [number, number]);
const roundings = values.rounding.split(",") as ("nearest" | "gptq")[];
const size = Number(values["calib-size"]);
const dir = scratchDir("ptq-bias-correction-");
const table: (string | number)[][] = [];

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  const float = loadModel(path);
  const means = await inputMeans(float);
  table.push([name, "float", "", pct(accuracy(set.labels, await predictions(path, set))), ""]);
  for (const [wbits, abits] of widths) {
    for (const rounding of roundings) {
      const out = join(dir, `${name}.${rounding}.w${wbits}a${abits}.onnx`);
      await quantizeModel({ model: path, out, bits: wbits, wbits, abits, calib: "balanced", calibSize: size, rounding, force: true });
      const q = loadModel(out);
      const corrected = correctModel(float, q, means);
      const bcOut = out.replace(/\.onnx$/, ".bc.onnx");
      saveModel(q, bcOut);
      table.push([name, `W${wbits}A${abits}`, rounding, pct(accuracy(set.labels, await predictions(out, set))), `${pct(accuracy(set.labels, await predictions(bcOut, set)))} (${corrected.join(", ")})`]);
    }
  }
}
console.log(`test accuracy in % (${values.rows ? `${values.rows} test rows` : "whole test split"}), means from ${size} balanced calibration rows\n`);
console.log(markdown(["model", "widths", "rounding", "as quantized", "bias-corrected"], table));

/** Mean layer input of each weight's op in the float model (per direction for the LSTM's previous state). */
async function inputMeans(model: Model): Promise<Map<string, Float64Array[]>> {
  const targets = weightLayers(model);
  const { data, order } = calibrationRows(model, size);
  const recorded = await recordTensors(model, [...new Set(targets.map((t) => t.input.name))], data, order);
  const out = new Map<string, Float64Array[]>();
  for (const t of targets) out.set(t.weight.name, t.kind === "lstm-r" ? previousStateMeans(recorded.get(t.input.name)!) : [plainMean(recorded.get(t.input.name)!)]);
  return out;
}

function plainMean(batches: Recorded[]): Float64Array {
  const acc = new MeanAccumulator(batches[0].dims[batches[0].dims.length - 1]);
  for (const b of batches) acc.addRows(b.values);
  return acc.mean();
}

/** E[h_prev] per direction from Y [T, dirs, B, H]: Y shifted a step, the zero initial state counted. */
function previousStateMeans(batches: Recorded[]): Float64Array[] {
  const [, dirs, , H] = batches[0].dims;
  const accs = Array.from({ length: dirs }, () => new MeanAccumulator(H));
  for (const { values: y, dims } of batches) {
    const [T, , B] = dims;
    for (let d = 0; d < dirs; d++) {
      for (let t = 0; t < T; t++) {
        const prev = d === 0 ? t - 1 : t + 1;
        if (prev < 0 || prev >= T) accs[d].addZeros(B);
        else accs[d].addRows(y, (prev * dirs + d) * B * H, B, H);
      }
    }
  }
  return accs.map((a) => a.mean());
}

/** A weight's dequantized values in the quantized model (its DequantizeLinear's inputs). */
function dequantized(q: Model, weight: string): Float32Array | null {
  const dq = q.graph.lookup(weight)?.producer;
  if (!dq || dq.opType !== "DequantizeLinear") return null;
  const [codes, scale, zero] = dq.inputs.map((v) => v?.initializer);
  if (!codes || !scale) return null;
  const scales = Float32Array.from(scale.toNumbers());
  return dequantizeTensor(
    { codes: Int32Array.from(codes.toNumbers()), scales, zeroPoints: zero ? Int32Array.from(zero.toNumbers()) : new Int32Array(scales.length), axis: scale.dims.length ? dq.getInt("axis", 1) : null },
    codes.dims,
  );
}

/** Corrects the LSTM's B and the Gemm head's C in `q` in place; returns what was corrected. */
function correctModel(float: Model, q: Model, means: Map<string, Float64Array[]>): string[] {
  const done: string[] = [];
  const targets = weightLayers(float);
  const twin = (n: Node) => q.allNodes().find((m) => m.name === n.name && m.opType === n.opType)!;
  const setFloat = (v: Value, data: Float32Array, dims: number[]) => q.graph.setInitializer(v, Tensor.float32(v.name, dims, data));
  for (const lstm of new Set(targets.filter((t) => t.kind.startsWith("lstm")).map((t) => t.weight.consumers[0]))) {
    const [W, R, B] = [lstm.inputs[1]!, lstm.inputs[2]!, lstm.inputs[3]];
    const Wq = dequantized(q, W.name), Rq = dequantized(q, R.name);
    const qB = twin(lstm).inputs[3];
    if (!Wq || !Rq || !B?.initializer || !qB?.initializer) continue;
    const [dirs, gates, input] = W.initializer!.dims;
    const corrected = correctLstmBias(
      B.initializer.data as Float32Array,
      { W: W.initializer!.data as Float32Array, Wq, R: R.initializer!.data as Float32Array, Rq, dirs, hidden: gates / 4, input },
      means.get(W.name)![0],
      means.get(R.name)!,
    );
    setFloat(qB, corrected, [...B.initializer.dims]);
    done.push("LSTM B");
  }
  for (const t of targets.filter((t) => t.kind === "gemm")) {
    const gemm = t.weight.consumers[0];
    const C = gemm.inputs[2];
    const qC = twin(gemm).inputs[2];
    const Wq = dequantized(q, t.weight.name);
    if (!Wq || !C?.initializer || !qC?.initializer || gemm.getInt("transB", 0) !== 1) continue;
    const [rows, cols] = t.weight.initializer!.dims;
    setFloat(qC, correctBias(C.initializer.data as Float32Array, t.weight.initializer!.data as Float32Array, Wq, rows, cols, means.get(t.weight.name)![0]), [...C.initializer.dims]);
    done.push("Gemm C");
  }
  return done;
}
