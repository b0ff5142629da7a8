/**
 * GPFQ in the setting it was made for: upstream activations are quantized, so a layer of the
 * quantized model sees x̃, not the float model's x, and the error that matters is the
 * mismatch E‖W x - Q(W) x̃‖². For each real layer of a zoo model (LSTM W and R per direction,
 * the head) this records, on the same calibration rows, the float model's inputs x and those
 * of the model quantized at W=A bits with nearest rounding (x̃), and prints the relative
 * mismatch E‖Wx - Qx̃‖² / E‖Wx‖² for: nearest; GPTQ from the float H (what `--rounding gptq`
 * does); GPTQ from H̃; GPFQ from H alone (x̃ = x); GPFQ from H̃ and the cross moments G.
 *
 *   npx tsx scripts/quant/gpfq-mismatch.ts [MODEL] [--bits 3] [--calib-size 256] [--per-tensor] [--eval] [--rows N]
 *
 * With --eval, each method's codes replace the nearest ones in the quantized model (same
 * grid, same activation ranges) and every variant is scored on the zoo test split.
 *
 * Each layer is treated on its own, with x̃ from the nearest-rounded model (Brevitas instead
 * re-runs calibration after each layer, so x̃ also carries the earlier layers' GPFQ rounding).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HessianAccumulator } from "../../src/calibrate/hessian.ts";
import { CrossMomentAccumulator } from "../../src/calibrate/moments.ts";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadModel, saveModel, Tensor, type Model, type Value } from "../../src/graph/index.ts";
import { gpfqQuantize } from "../../src/quant/gpfq.ts";
import { gptqQuantize } from "../../src/quant/gptq.ts";
import { matrixView, outputError, readMatrix, writeMatrix, type MatrixLayout } from "../../src/quant/layout.ts";
import { dequantizeTensor, quantizeTensor } from "../../src/quant/math.ts";
import { accuracy, markdown, pct, predictions, scratchDir, testSet } from "./common.ts";
import { calibrationRows, recordTensors, weightLayers, type Recorded } from "./layers.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    bits: { type: "string", default: "3" },
    "calib-size": { type: "string", default: "256" },
    "per-tensor": { type: "boolean", default: false },
    eval: { type: "boolean", default: false },
    rows: { type: "string" },
  },
});
const modelPath = positionals[0] ?? "models/wordnet8-disc.onnx";
const bits = Number(values.bits);
const size = Number(values["calib-size"]);
const perChannel = !values["per-tensor"];
const dir = scratchDir("ptq-gpfq-mismatch-");

const quantPath = join(dir, "q.onnx");
await quantizeModel({ model: modelPath, out: quantPath, bits, calib: "balanced", calibSize: size, rounding: "nearest", granularity: perChannel ? "per-channel" : "per-tensor" });
const float = loadModel(modelPath);
const quant = loadModel(quantPath);

/** Per weight: the value its layer reads in the float model and in the quantized one. */
const targets = weightLayers(float).map((t) => {
  const node = t.weight.consumers[0];
  const twin = quant.allNodes().find((n) => n.name === node.name && n.opType === node.opType);
  if (!twin) throw new Error(`the quantized model has no node ${node.name}`);
  const pick = (n: typeof node) => (t.kind === "lstm-r" ? n.outputs[0]! : n.inputs[0]!).name;
  return { ...t, node, floatInput: pick(node), quantInput: pick(twin) };
});

function layoutOf(t: (typeof targets)[number]): MatrixLayout {
  return t.kind.startsWith("lstm") ? "dirs-out-in" : t.kind === "gemm" && t.node.getInt("transB", 0) === 1 ? "out-in" : "in-out";
}

const rowsOf = calibrationRows(float, size);
const record = (model: Model, names: string[]) => recordTensors(model, names, rowsOf.data, rowsOf.order);
const xs = await record(float, [...new Set(targets.map((t) => t.floatInput))]);
const xts = await record(quant, [...new Set(targets.map((t) => t.quantInput))]);

const header = ["layer"];
/** Per method, per weight: the whole tensor's codes (the nearest ones where the method did not run). */
const codesByMethod = new Map<string, Map<string, { value: Value; codes: Int32Array }>>();

const rows: (string | number)[][] = [];
for (const t of targets) {
  const tensor = t.weight.initializer!;
  const view = matrixView(tensor.dims, layoutOf(t));
  const n = view.cols;
  const perBlock = t.kind === "lstm-r" ? view.blocks : 1;
  const M = layerMoments(t.kind, n, perBlock, xs.get(t.floatInput)!, xts.get(t.quantInput)!);
  for (let b = 0; b < view.blocks; b++) {
    const k = Math.min(b, perBlock - 1);
    const { h, ht, g } = M[k];
    const W = readMatrix(tensor.data as Float32Array, view, b);
    const dims = [view.rows, n];
    const format = { bits, signed: true, narrow: true };
    const rtn = quantizeTensor(W, dims, perChannel ? 0 : null, format, true);
    const deq = (codes: Int32Array) => dequantizeTensor({ ...rtn, codes }, dims);
    const energy = outputError(W, new Float64Array(W.length), view.rows, n, h, 1);
    const mismatch = (Q: Float32Array) => mismatchError(W, Q, view.rows, n, h, ht, g) / energy;
    const candidates: [string, Int32Array][] = [
      ["nearest", rtn.codes],
      ["gptq (H)", gptqQuantize(W, view.rows, n, h, rtn.scales, rtn.zeroPoints, format)],
      ["gptq (H̃)", gptqQuantize(W, view.rows, n, ht, rtn.scales, rtn.zeroPoints, format)],
      ["gpfq (H)", gpfqQuantize(W, view.rows, n, { quant: h }, rtn.scales, rtn.zeroPoints, format)],
      ["gpfq (H̃, G)", gpfqQuantize(W, view.rows, n, { quant: ht, cross: g }, rtn.scales, rtn.zeroPoints, format)],
    ];
    const codesValue = quant.graph.lookup(t.weight.name)!.producer!.inputs[0]!;
    const stored = Int32Array.from(codesValue.initializer!.toNumbers());
    if (readMatrix(stored, view, b).some((c, i) => c !== rtn.codes[i])) throw new Error(`${t.weight.name}: the quantized model's grid is not the one recomputed here`);
    for (const [method, codes] of candidates) {
      const byWeight = codesByMethod.get(method) ?? codesByMethod.set(method, new Map()).get(method)!;
      const entry = byWeight.get(t.weight.name) ?? byWeight.set(t.weight.name, { value: codesValue, codes: stored.slice() }).get(t.weight.name)!;
      writeMatrix(entry.codes, view, b, codes);
    }
    const name = view.blocks > 1 ? `${t.weight.name}[dir ${b}]` : t.weight.name;
    rows.push([`${name} (${t.kind}, ${view.rows}x${n})`, ...candidates.map(([, c]) => (100 * mismatch(deq(c))).toFixed(3))]);
    if (rows.length === 1) header.push(...candidates.map(([m]) => m));
  }
}
console.log(`${modelPath}: mismatch E|Wx - Q(W)x~|^2 / E|Wx|^2 in %, W${bits}A${bits} (x~ from the nearest-rounded model), ${perChannel ? "per-channel" : "per-tensor"} weights, ${size} calibration rows\n`);
console.log(markdown(header, rows));

/** Σ over samples of ‖W x - Q x̃‖², from H = Σ x xᵀ, H̃ = Σ x̃ x̃ᵀ and G = Σ x̃ xᵀ. */
function mismatchError(W: ArrayLike<number>, Q: ArrayLike<number>, rows: number, n: number, h: Float64Array, ht: Float64Array, g: Float64Array): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      const wi = W[r * n + i], qi = Q[r * n + i];
      for (let j = 0; j < n; j++) {
        const wj = W[r * n + j], qj = Q[r * n + j];
        total += wi * h[i * n + j] * wj - 2 * qi * g[i * n + j] * wj + qi * ht[i * n + j] * qj;
      }
    }
  }
  return total;
}

if (values.eval) {
  const set = testSet(modelPath, values.rows ? Number(values.rows) : undefined);
  const scores: (string | number)[][] = [["float", pct(accuracy(set.labels, await predictions(modelPath, set)))]];
  const setCodes = (entries: Iterable<{ value: Value; codes: Int32Array }>) => {
    for (const { value, codes } of entries) {
      const t = value.initializer!;
      quant.graph.setInitializer(value, Tensor.fromData(value.name, t.dataType, [...t.dims], Int8Array.from(codes)));
    }
  };
  const score = async (label: string) => {
    const file = join(dir, `variant.onnx`);
    saveModel(quant, file);
    scores.push([label, pct(accuracy(set.labels, await predictions(file, set)))]);
  };
  for (const [method, byWeight] of codesByMethod) {
    setCodes(byWeight.values());
    await score(method);
  }
  // Sequential GPFQ, as Brevitas runs it: layer by layer in data-flow order, x̃ recorded again
  // from the model whose earlier layers already carry their GPFQ codes.
  setCodes(codesByMethod.get("nearest")!.values());
  const flow = ["lstm-w", "lstm-r", "gemm", "matmul"];
  for (const t of [...targets].sort((a, b) => flow.indexOf(a.kind) - flow.indexOf(b.kind))) {
    const entry = codesByMethod.get("nearest")!.get(t.weight.name)!;
    const tensor = t.weight.initializer!;
    const view = matrixView(tensor.dims, layoutOf(t));
    const perBlock = t.kind === "lstm-r" ? view.blocks : 1;
    const fresh = await record(quant, [t.quantInput]);
    const M = layerMoments(t.kind, view.cols, perBlock, xs.get(t.floatInput)!, fresh.get(t.quantInput)!);
    const codes = entry.codes.slice();
    for (let b = 0; b < view.blocks; b++) {
      const W = readMatrix(tensor.data as Float32Array, view, b);
      const format = { bits, signed: true, narrow: true };
      const rtn = quantizeTensor(W, [view.rows, view.cols], perChannel ? 0 : null, format, true);
      const { ht, g } = M[Math.min(b, perBlock - 1)];
      writeMatrix(codes, view, b, gpfqQuantize(W, view.rows, view.cols, { quant: ht, cross: g }, rtn.scales, rtn.zeroPoints, format));
    }
    setCodes([{ value: entry.value, codes }]);
  }
  await score("gpfq (H̃, G) sequential");
  // Each layer's GPFQ was fitted with the other layers rounded to nearest: try them one at a time too.
  const last = [...codesByMethod.keys()].pop()!;
  for (const [weight, entry] of codesByMethod.get(last)!) {
    setCodes(codesByMethod.get("nearest")!.values());
    setCodes([entry]);
    await score(`${last}, ${weight} only`);
  }
  console.log(`\ntest accuracy in % (${values.rows ? `${values.rows} test rows` : "whole test split"}), W${bits}A${bits}, activation ranges as calibrated for the nearest model\n`);
  console.log(markdown(["weights", "accuracy"], scores));
}

/** Per block (LSTM direction for R): H = Σ x xᵀ, H̃ = Σ x̃ x̃ᵀ and G = Σ x̃ xᵀ from paired recordings. */
function layerMoments(kind: string, n: number, perBlock: number, fl: Recorded[], qu: Recorded[]): { h: Float64Array; ht: Float64Array; g: Float64Array }[] {
  const H = Array.from({ length: perBlock }, () => new HessianAccumulator(n));
  const Ht = Array.from({ length: perBlock }, () => new HessianAccumulator(n));
  const G = Array.from({ length: perBlock }, () => new CrossMomentAccumulator(n));
  for (let b = 0; b < fl.length; b++) {
    const x = fl[b].values, xt = qu[b].values;
    if (kind !== "lstm-r") {
      H[0].addRows(x);
      Ht[0].addRows(xt);
      G[0].addPairs(xt, x);
      continue;
    }
    // R reads the previous hidden state: Y[t-1] forward, Y[t+1] reverse, zeros at the start.
    const [T, dirs, B, hid] = fl[b].dims;
    for (let d = 0; d < dirs; d++) {
      for (let s = 0; s < T; s++) {
        const prev = d === 0 ? s - 1 : s + 1;
        if (prev < 0 || prev >= T) {
          H[d].addZeros(B);
          Ht[d].addZeros(B);
          G[d].addZeros(B);
          continue;
        }
        const offset = (prev * dirs + d) * B * hid;
        H[d].addRows(x, offset, B, hid);
        Ht[d].addRows(xt, offset, B, hid);
        G[d].addPairs(xt, x, offset, B, hid);
      }
    }
  }
  return H.map((acc, k) => ({ h: acc.matrix(), ht: Ht[k].matrix(), g: G[k].matrix() }));
}
