/**
 * `ptq-onnx sensitivity`: for every quantizable tensor (each weight, each activation, the LSTM
 * internals with --lstm-internals), the error from quantizing it alone at each bit width, from
 * one shared calibration: the tensor's SQNR, the SQNR of the model's scores, and top-1
 * agreement and accuracy on the fixed validation sample. With `against`, the layer-by-layer
 * view of onnxruntime's qdq_loss_debug: each quantized activation of a Q/DQ model against the
 * same tensor of its float model, and each weight against its float values.
 */
import { InputError, findRoles, loadModel, serializeModel, validateModel, type Model, type Value } from "../graph/index.ts";
import { exposeScanInternals } from "../calibrate/expose.ts";
import { runCalibration, type ExposeFn } from "../calibrate/runner.ts";
import { rangesFor, sha256File } from "../calibrate/table.ts";
import { activationFormat, type QuantPolicy } from "../passes/index.ts";
import { fakeQuantize, paramsFromRange } from "../quant/math.ts";
import { dequantize, quantizationMeta, readQdq } from "../quant/qdq.ts";
import type { QuantPlan } from "../pipeline/index.ts";
import { checkBitsList, DEFAULT_SENSITIVITY_BITS, planWith, prepareContext, realizeBytes, scoreBytes, sqnrDb, type Context, type ContextOptions } from "./context.ts";

export interface SensitivityOptions extends ContextOptions {
  /** Bit widths to try (default 2, 3, 4, 6, 8). */
  bits?: number[];
  /** A Q/DQ model made from `model`: report its layer-by-layer SQNR against the float model. */
  against?: string;
}

export interface SensitivityPoint {
  bits: number;
  /** SQNR of the tensor itself (weights: all values; activations: on the validation sample, padding excluded), dB. */
  tensor_sqnr_db: number;
  scores_sqnr_db: number;
  agreement: number;
  accuracy: number;
  /** Float accuracy minus this accuracy, in points (percent). */
  drop_points: number;
}

export interface SensitivityEntry {
  tensor: string;
  kind: "weight" | "activation" | "internal";
  /** The nodes that read it (the layers overrides name). */
  layers: string[];
  op: string;
  /** Weights: number of elements; activations: null. */
  elements: number | null;
  points: SensitivityPoint[];
}

export interface AgainstEntry {
  tensor: string;
  kind: "weight" | "activation";
  bits: number;
  layers: string[];
  /** Float tensor against the quantized model's dequantized one (activations: errors of every layer before it included), dB. */
  sqnr_db: number;
}

export interface AgainstResult {
  model: string;
  scores_sqnr_db: number;
  agreement: number;
  accuracy: number;
  entries: AgainstEntry[];
}

export interface SensitivityResult {
  model: string;
  sample: { rows: number; source: string };
  float_accuracy: number;
  bits: number[];
  calibration: { mode: string; size: number; seed: number; observer: string };
  /** Every tensor at every width, all at once: the uniform quantizations, for reference. */
  uniform: (Omit<SensitivityPoint, "tensor_sqnr_db"> & { bytes: number })[];
  entries: SensitivityEntry[];
  against: AgainstResult | null;
  seconds: { calibrate: number; evaluate: number; total: number };
}

const exposeAll: ExposeFn = (copy, values) => new Map(exposeScanInternals(copy, values).map((e) => [e.value.name, e.output.name]));

function weightSqnr(floatData: ArrayLike<number>, quantized: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < floatData.length; i++) {
    s += floatData[i] * floatData[i];
    n += (floatData[i] - quantized[i]) ** 2;
  }
  return sqnrDb(s, n);
}

/** Runs `model` on the sample rows (padding never reaches a tensor) and hands each named tensor's values to `visit`. */
async function visitTensors(ctx: Context, model: Model, names: string[], visit: (name: string, values: Float32Array) => void): Promise<void> {
  const order = ctx.sample.ids.map((_, i) => i);
  await runCalibration(
    model,
    names,
    { ids: ctx.sample.ids, labels: ctx.sample.labels },
    order,
    { tensor: (name, values) => visit(name, values), endBatch: () => {} },
    { threads: ctx.threads, expose: exposeAll },
    findRoles(model),
  );
}

/**
 * Each activation's own SQNR at each width: the float values on the sample against their
 * fake-quantized copy, with the ranges the realized models use (rangesFor on the one table).
 */
async function activationSqnr(ctx: Context, p: QuantPlan, bits: number[], policy: QuantPolicy): Promise<Map<string, Map<number, number>>> {
  const names = p.activations.map((a) => a.value.name);
  const perBits = bits.map((b) => {
    const format = activationFormat(policy, b);
    const ranges = rangesFor(ctx.table, format, policy.activationSymmetric, ctx.observer, names);
    return { b, format, params: new Map([...ranges].filter(([, r]) => r[0] < r[1]).map(([n, r]) => [n, paramsFromRange(r[0], r[1], format, policy.activationSymmetric)])) };
  });
  const acc = new Map(names.map((n) => [n, { signal: 0, noise: new Float64Array(bits.length) }]));
  await visitTensors(ctx, p.model, names, (name, values) => {
    const a = acc.get(name);
    if (!a) return;
    for (let i = 0; i < values.length; i++) a.signal += values[i] * values[i];
    perBits.forEach(({ format, params }, k) => {
      const q = params.get(name);
      if (!q) return;
      let noise = 0;
      for (let i = 0; i < values.length; i++) noise += (values[i] - fakeQuantize(values[i], q, format)) ** 2;
      a.noise[k] += noise;
    });
  });
  const out = new Map<string, Map<number, number>>();
  for (const [name, a] of acc) out.set(name, new Map(bits.map((b, k) => [b, sqnrDb(a.signal, a.noise[k])])));
  return out;
}

function layersOfValue(v: Value): string[] {
  return [...new Set(v.consumers.map((n) => n.name))];
}

/** The layer-by-layer SQNR of a quantized model against its float model (qdq_loss_debug's view). */
export async function compareLayers(ctx: Context, path: string): Promise<AgainstResult> {
  const q = loadModel(path);
  const problems = validateModel(q);
  if (problems.length) throw new InputError(problems[0], path);
  const qdq = readQdq(q);
  const made = qdq.meta?.float_sha256;
  if (made !== undefined && made !== ctx.sha256) throw new InputError(`was quantized from another float model (float_sha256 ${made.slice(0, 12)}..., ${ctx.file} is ${ctx.sha256.slice(0, 12)}...)`, path);
  if (qdq.weights.length === 0 && qdq.activations.length === 0) throw new InputError("has no QuantizeLinear/DequantizeLinear pairs (not a Q/DQ model)", path);
  const floatInits = new Map<string, ArrayLike<number>>();
  for (const g of ctx.source.graphs()) for (const v of g.initializers) if (v.initializer) floatInits.set(v.name, v.initializer.data as ArrayLike<number>);
  const entries: AgainstEntry[] = [];
  for (const w of qdq.weights) {
    const f = floatInits.get(w.name);
    if (!f || f.length !== w.codes.length) continue; // a weight the float model holds under another layout (a decomposed LSTM's W_t)
    entries.push({ tensor: w.name, kind: "weight", bits: w.bits, layers: [...new Set(w.readers.map((n) => n.name))], sqnr_db: weightSqnr(f, dequantize(w)) });
  }
  // Activations: the float model's tensor against the Q/DQ model's DequantizeLinear output for it.
  // Main-graph tensors only (a decomposed LSTM's internals have no float counterpart in an undecomposed float model).
  const floatValues = new Set(ctx.source.graph.allValues().map((v) => v.name));
  const pairs = qdq.activations.filter((a) => floatValues.has(a.value.name) && a.output.graph === q.graph);
  const stored = new Map<string, Float32Array[]>();
  await visitTensors(ctx, ctx.source, pairs.map((a) => a.value.name), (name, values) => (stored.get(name) ?? stored.set(name, []).get(name)!).push(values.slice()));
  const seen = new Map<string, number>();
  const acc = new Map<string, { s: number; n: number }>();
  const byOutput = new Map(pairs.map((a) => [a.output.name, a.value.name]));
  await visitTensors(ctx, q, pairs.map((a) => a.output.name), (name, values) => {
    const floatName = byOutput.get(name)!;
    const k = seen.get(floatName) ?? 0;
    seen.set(floatName, k + 1);
    const f = stored.get(floatName)?.[k];
    if (!f || f.length !== values.length) throw new Error(`compareLayers: batch ${k} of '${floatName}' differs in size between the models`);
    const a = acc.get(floatName) ?? { s: 0, n: 0 };
    for (let i = 0; i < f.length; i++) {
      a.s += f[i] * f[i];
      a.n += (f[i] - values[i]) ** 2;
    }
    acc.set(floatName, a);
  });
  for (const a of pairs) {
    const e = acc.get(a.value.name);
    if (e) entries.push({ tensor: a.value.name, kind: "activation", bits: a.bits, layers: [...new Set(a.readers.map((n) => n.name))], sqnr_db: sqnrDb(e.s, e.n) });
  }
  const scored = await scoreBytes(ctx, serializeModel(q), "against");
  return { model: path, scores_sqnr_db: scored.scores_sqnr_db, agreement: scored.agreement, accuracy: scored.accuracy, entries };
}

/**
 * Per-tensor sensitivity from one calibration: each tensor quantized alone (every other
 * tensor float) at each width and scored on the validation sample; plus every tensor at once
 * (the uniform quantizations) and, with `against`, a quantized model's layer-by-layer SQNR.
 */
export async function runSensitivity(opts: SensitivityOptions): Promise<SensitivityResult> {
  const started = performance.now();
  const bits = checkBitsList(opts.bits ?? DEFAULT_SENSITIVITY_BITS);
  if (opts.against !== undefined) {
    // Checked before the long work (compareLayers checks the hash again).
    const meta = quantizationMeta(loadModel(opts.against));
    if (!meta) throw new InputError("is not a ptq-onnx quantized model (no ptq-onnx.quantization metadata)", opts.against);
    if (meta.float_sha256 !== undefined && meta.float_sha256 !== sha256File(opts.model)) throw new InputError(`was quantized from another float model than ${opts.model}`, opts.against);
  }
  const ctx = await prepareContext(opts);
  const t = performance.now();
  const plans = new Map(bits.map((b) => [b, planWith(ctx, { bits: b })]));
  const first = plans.get(bits[0])!;
  const internals = new Set(first.internals.map((v) => v.name));
  const entries: SensitivityEntry[] = [];
  const floatData = new Map(first.weights.map((w) => [w.value.name, w.value.initializer!.data as ArrayLike<number>]));
  const actSqnr = await activationSqnr(ctx, first, bits, first.policy);

  for (const w of first.weights) {
    entries.push({ tensor: w.value.name, kind: "weight", layers: layersOfValue(w.value), op: w.op, elements: floatData.get(w.value.name)!.length, points: [] });
  }
  for (const a of first.activations) {
    const kind = internals.has(a.value.name) ? "internal" : "activation";
    entries.push({ tensor: a.value.name, kind, layers: [...new Set(a.uses.map((u) => u.node.name))], op: [...new Set(a.uses.map((u) => u.node.opType))].join("+"), elements: null, points: [] });
  }
  const uniform: SensitivityResult["uniform"] = [];
  for (const b of bits) {
    const p = plans.get(b)!;
    for (const e of entries) {
      const alone: QuantPlan =
        e.kind === "weight"
          ? { ...p, weights: p.weights.filter((w) => w.value.name === e.tensor), activations: [], gptq: [] }
          : { ...p, weights: [], activations: p.activations.filter((a) => a.value.name === e.tensor), gptq: [] };
      const { model, bytes } = realizeBytes(ctx, alone);
      const scored = await scoreBytes(ctx, bytes, `${e.tensor} at ${b} bits`);
      let tensorSqnr: number;
      if (e.kind === "weight") {
        const q = readQdq(model).weights.find((w) => w.name === e.tensor);
        tensorSqnr = q ? weightSqnr(floatData.get(e.tensor)!, dequantize(q)) : NaN;
      } else tensorSqnr = actSqnr.get(e.tensor)?.get(b) ?? NaN;
      e.points.push({ bits: b, tensor_sqnr_db: tensorSqnr, scores_sqnr_db: scored.scores_sqnr_db, agreement: scored.agreement, accuracy: scored.accuracy, drop_points: (ctx.float.accuracy - scored.accuracy) * 100 });
    }
    const all = realizeBytes(ctx, p);
    const scored = await scoreBytes(ctx, all.bytes, `all at ${b} bits`);
    uniform.push({ bits: b, scores_sqnr_db: scored.scores_sqnr_db, agreement: scored.agreement, accuracy: scored.accuracy, drop_points: (ctx.float.accuracy - scored.accuracy) * 100, bytes: all.bytes.length });
    opts.onLog?.(`${b} bits: ${entries.length} tensors scored alone, all at once: accuracy ${(scored.accuracy * 100).toFixed(2)} %`);
  }
  const against = opts.against !== undefined ? await compareLayers(ctx, opts.against) : null;
  const evaluate = (performance.now() - t) / 1000;
  return {
    model: opts.model,
    sample: { rows: ctx.sample.ids.length, source: ctx.sample.source },
    float_accuracy: ctx.float.accuracy,
    bits,
    calibration: { mode: ctx.table.options.mode, size: ctx.table.options.size, seed: ctx.table.options.seed, observer: ctx.observer },
    uniform,
    entries,
    against,
    seconds: { calibrate: ctx.seconds.calibrate, evaluate: evaluate + ctx.seconds.float, total: (performance.now() - started) / 1000 },
  };
}
