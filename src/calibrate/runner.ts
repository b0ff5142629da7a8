import * as ort from "onnxruntime-node";
import { rowsPerRun } from "../data/tokenizer.ts";
import { parseModel, serializeModel, type ClassifierRoles, type Model, type Value } from "../graph/index.ts";
import { createSession, runSession } from "../graph/session.ts";

/** Receives every calibrated tensor's values, batch by batch. */
export interface ActivationSink {
  /** Values of one tensor for rows that all have class `label` (and no padded time step). */
  tensor(name: string, values: Float32Array, label: number, dims: readonly number[]): void;
  /** A logical calibration batch ended (for per-batch statistics such as batch-percentile). */
  endBatch(): void;
}

/**
 * Makes values visible as graph outputs of a copy of the model; returns each value's output
 * name. Values inside a subgraph (a decomposed LSTM's Scan body) need `exposeNested`.
 */
export type ExposeFn = (copy: Model, values: Value[]) => Map<string, string>;

export function exposeRootValues(copy: Model, values: Value[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    if (v.graph !== copy.graph) throw new Error(`cannot expose '${v.name}': it lives in a subgraph`);
    if (!v.isGraphOutput) copy.graph.addOutput(v, v.elemType ?? 1);
    out.set(v.name, v.name);
  }
  return out;
}

export interface RunnerOptions {
  /** Rows per logical calibration batch (default 32). */
  batch?: number;
  /** Most token positions per onnxruntime run (default MAX_BATCH_TOKENS); a batch's group of long rows runs in parts. */
  maxTokens?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
  /** How to expose values that live in subgraphs; defaults to root values only. */
  expose?: ExposeFn;
}

/**
 * Feeds calibration rows through onnxruntime-node and hands the target tensors to `sink`.
 *
 * Rows are cut into logical batches in the given order; inside a batch, rows run together
 * only when they have the same length and class. So no padded time step ever reaches a
 * statistic (whatever the tensor's layout), and every value can be attributed to a class.
 */
export async function runCalibration(
  model: Model,
  targets: string[],
  rows: { ids: number[][]; labels: number[] },
  order: number[],
  sink: ActivationSink,
  opts: RunnerOptions = {},
  inputs: ClassifierRoles,
): Promise<void> {
  const copy = parseModel(serializeModel(model), model.path);
  const values = targets.map((name) => {
    const v = findValue(copy, name);
    if (!v) throw new Error(`calibration target '${name}' is not in the model`);
    return v;
  });
  const outputs = (opts.expose ?? exposeRootValues)(copy, values);
  const session = await createSession(serializeModel(copy), { intraOpNumThreads: opts.threads ?? 2 }, model.path);
  const fetches = [...new Set(outputs.values())];
  try {
    await forEachRun(rows, order, opts, inputs, async (feeds, label) => {
      const result = await runSession(session, feeds, fetches, model.path);
      for (const [name, output] of outputs) {
        const t = result[output];
        sink.tensor(name, t.data as Float32Array, label, t.dims);
      }
    }, () => sink.endBatch());
  } finally {
    await session.release();
  }
}

/**
 * Runs two models on the same calibration rows, run by run (same batches, same groups), and
 * hands the tensors of each pair of targets to `pair` together: the float model's layer inputs
 * beside the quantized model's, for GPFQ's cross moments. Each model runs only what its
 * targets need: they become its only outputs and every node that does not lead to them is
 * removed (as Brevitas stops the forward pass once the layer input is seen). Nothing is kept
 * between runs, so memory is one run's tensors whatever the number of rows.
 */
export async function runPairedCalibration(
  models: readonly [Model, Model],
  targets: readonly (readonly [string, string])[],
  rows: { ids: number[][]; labels: number[] },
  order: number[],
  pair: (index: number, a: Float32Array, b: Float32Array, dims: readonly number[]) => void,
  opts: RunnerOptions = {},
  inputs: ClassifierRoles,
): Promise<void> {
  const sessions: { session: ort.InferenceSession; outputs: string[]; path?: string }[] = [];
  try {
    for (let k = 0; k < 2; k++) {
      const copy = parseModel(serializeModel(models[k]), models[k].path);
      const values = targets.map((t) => {
        const v = findValue(copy, t[k]);
        if (!v) throw new Error(`calibration target '${t[k]}' is not in the model`);
        return v;
      });
      // Layers that share an input expose it once.
      const exposed = (opts.expose ?? exposeRootValues)(copy, [...new Set(values)]);
      const outputs = values.map((v) => exposed.get(v.name)!);
      pruneTo(copy, outputs);
      sessions.push({ session: await createSession(serializeModel(copy), { intraOpNumThreads: opts.threads ?? 2 }, models[k].path), outputs, path: models[k].path });
    }
    const fetches = sessions.map((s) => [...new Set(s.outputs)]);
    await forEachRun(rows, order, opts, inputs, async (feeds) => {
      const [a, b] = await Promise.all(sessions.map((s, k) => runSession(s.session, feeds, fetches[k], s.path)));
      targets.forEach((_, i) => {
        const [ta, tb] = [a[sessions[0].outputs[i]], b[sessions[1].outputs[i]]];
        if (ta.dims.join() !== tb.dims.join()) throw new Error(`paired calibration tensors differ in shape ([${ta.dims}] and [${tb.dims}])`);
        pair(i, ta.data as Float32Array, tb.data as Float32Array, ta.dims);
      });
    });
  } finally {
    for (const s of sessions) await s.session.release();
  }
}

/** Keeps only `outputs` as the main graph's outputs and removes every node and initializer they do not need. */
function pruneTo(model: Model, outputs: readonly string[]): void {
  const keep = new Set(outputs);
  model.graph.outputs = model.graph.outputs.filter((v) => keep.has(v.name));
  model.graph.cleanup();
}

/**
 * The calibration rows as onnxruntime runs: logical batches in the given order, and inside a
 * batch one run per group of rows with the same length and class (in parts when long), so no
 * padded time step reaches a statistic and every value has one class.
 */
async function forEachRun(
  rows: { ids: number[][]; labels: number[] },
  order: number[],
  opts: RunnerOptions,
  inputs: ClassifierRoles,
  run: (feeds: Record<string, ort.Tensor>, label: number) => Promise<void>,
  endBatch?: () => void,
): Promise<void> {
  const batchSize = opts.batch ?? 32;
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    const groups = new Map<string, number[]>();
    for (const i of batch) {
      const key = `${rows.labels[i]}:${rows.ids[i].length}`;
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(i);
    }
    for (const group of [...groups.values()]) {
      const real = rows.ids[group[0]].length;
      // A fixed-length input must be padded (or truncated) to its length; only then do padded steps exist.
      const len = inputs.tokenIds.seqLen ?? real;
      const perRun = rowsPerRun(len, group.length, opts.maxTokens);
      for (let at = 0; at < group.length; at += perRun) {
        const members = group.slice(at, at + perRun);
        const feeds: Record<string, ort.Tensor> = { [inputs.tokenIds.name]: idsTensor(members.map((r) => rows.ids[r]), len, inputs.tokenIds.elemType) };
        if (inputs.lengths) {
          feeds[inputs.lengths.name] = new ort.Tensor("int64", BigInt64Array.from(members, () => BigInt(Math.min(real, len))), [members.length]);
        }
        await run(feeds, rows.labels[members[0]]);
      }
    }
    endBatch?.();
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }
}

/** A value by name anywhere in the model, subgraphs included. */
export function findValue(model: Model, name: string): Value | undefined {
  for (const g of model.graphs()) {
    const v = g.ownValue(name);
    if (v) return v;
  }
  return undefined;
}

/** A [rows, len] id tensor, right-padded with 0 or truncated. */
export function idsTensor(rows: number[][], len: number, type: "int64" | "int32"): ort.Tensor {
  if (type === "int32") {
    const ids = new Int32Array(rows.length * len);
    rows.forEach((r, b) => r.slice(0, len).forEach((t, j) => (ids[b * len + j] = t)));
    return new ort.Tensor("int32", ids, [rows.length, len]);
  }
  const ids = new BigInt64Array(rows.length * len);
  rows.forEach((r, b) => r.slice(0, len).forEach((t, j) => (ids[b * len + j] = BigInt(t))));
  return new ort.Tensor("int64", ids, [rows.length, len]);
}
