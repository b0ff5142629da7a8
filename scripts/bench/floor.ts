// How low a lowered model's latency can go on this runtime: times, interleaved in one process
// (1 thread, graph optimisation "all", each run on the next of `--batches` seeded batches of zoo
// test rows as `ptq-onnx bench` builds them, so sequence lengths vary as in bench), the float model, the lowered model and any other versions given (e.g.
// onnxruntime's own dynamic quantization, scripts/bench/ort-dynamic.ts), beside two floors
// built from the lowered model:
//   - session: a one-op model (a Cast of the lengths) with the same inputs: what onnxruntime-node
//     costs per `session.run` whatever the graph;
//   - kernels: the lowered model's DynamicQuantizeLSTM nodes alone, each reading its input rows
//     from a graph input (no lookup, no glue, no head), the same weights and lengths, each
//     writing what the lowered model reads of it (Y_h, or Y for a stacked layer): what any
//     graph built on onnxruntime's integer LSTM must pay at least, session included;
//   - float kernels: the same, with each kernel as onnxruntime's float LSTM over its weights
//     dequantized (the alternative to the integer kernel).
// Prints the median ms per run over the rounds and each as a multiple of the float model's.
// --data FILE: rows from a labelled file (as `bench --data`) for a model without zoo data.
//
//   npx tsx scripts/bench/floor.ts FLOAT.onnx LOWERED.onnx [OTHER.onnx...] [--batch 1] [--batches 16] [--runs 300] [--rounds 7] [--data FILE]
import * as ort from "onnxruntime-node";
import { loadavg } from "node:os";
import { benchInputs, makeBatches } from "../../src/eval/bench.ts";
import { DataType, loadModel, newModel, serializeModel, Tensor, type Model } from "../../src/graph/index.ts";
import { batchFeeds, median, takeOption, timeRuns } from "../lower/common.ts";

const args = process.argv.slice(2);
const batch = Number(takeOption(args, "--batch", "1"));
const batchCount = Number(takeOption(args, "--batches", "16"));
const data = takeOption(args, "--data", "");
const runs = Number(takeOption(args, "--runs", "300"));
const rounds = Number(takeOption(args, "--rounds", "7"));
if (args.length < 2) {
  console.error("usage: npx tsx scripts/bench/floor.ts FLOAT.onnx LOWERED.onnx [OTHER.onnx...] [--batch 1] [--batches 16] [--runs 300] [--rounds 7] [--data FILE]");
  process.exit(2);
}
const [floatFile, loweredFile, ...others] = args;

/** A Cast of the lengths to float, with the classifier's two inputs. */
function sessionFloor(): Model {
  const m = newModel({ "": 17 }, 8);
  const g = m.graph;
  g.addInput("input_ids", DataType.INT64, ["batch", "seq"]);
  const lengths = g.addInput("lengths", DataType.INT64, ["batch"]);
  const out = g.addNode({ opType: "Cast", name: "floor", inputs: [lengths], outputs: ["out"], attributes: { to: DataType.FLOAT } });
  g.addOutput(out.outputs[0]!, DataType.FLOAT, ["batch"]);
  return m;
}

/**
 * The lowered model's DynamicQuantizeLSTMs alone: each reads X from its own graph input
 * (`x0`, `x1`, ...: [steps, batch, input size]) and the lengths as int32 (`seq_lens`), and
 * writes only Y_h; everything else is cleaned up.
 */
function kernelsOnly(lowered: Model): { model: Model; inputSizes: number[] } {
  const g = lowered.graph;
  const lstms = g.nodes.filter((n) => n.opType === "DynamicQuantizeLSTM");
  if (!lstms.length) throw new Error(`${loweredFile}: no DynamicQuantizeLSTM`);
  g.inputs = [];
  g.outputs = [];
  g.outputInfo.clear();
  const seqLens = g.addInput("seq_lens", DataType.INT32, ["batch"]);
  const inputSizes: number[] = [];
  for (const [k, n] of lstms.entries()) {
    const w = n.inputs[1]!.initializer!; // [dirs, input size, 4 x hidden]
    inputSizes.push(w.dims[1]);
    n.setInput(0, g.addInput(`x${k}`, DataType.FLOAT, ["seq", "batch", w.dims[1]]));
    n.setInput(4, seqLens);
    // What the lowered model reads of it: Y_h (a classifier's last step), else Y (a stacked
    // LSTM's next layer reads every step).
    const out = n.outputs[1] ?? n.outputs[0] ?? null;
    if (!out) throw new Error(`${n.label}: writes neither Y nor Y_h`);
    g.addOutput(out, DataType.FLOAT);
  }
  g.cleanup();
  return { model: lowered, inputSizes };
}

/**
 * The same kernels as onnxruntime's float LSTM: each DynamicQuantizeLSTM of `kernels` becomes an
 * LSTM over its weights dequantized ((q - z) x scale, back to [dirs, 4 x hidden, size]), the
 * inputs and outputs unchanged: the alternative to the integer kernel, timed the same way.
 */
function floatKernels(kernels: Model): Model {
  const g = kernels.graph;
  for (const n of g.nodes.filter((x) => x.opType === "DynamicQuantizeLSTM")) {
    const dequantized = (codes: number, scale: number, zero: number, name: string) => {
      const t = n.inputs[codes]!.initializer!;
      const [dirs, size, gates] = t.dims;
      const q = t.toNumbers();
      const s = n.inputs[scale]!.initializer!.toNumbers();
      const z = n.inputs[zero]!.initializer!.toNumbers();
      const at = (v: Float64Array, d: number, c: number) => (v.length === dirs ? v[d] : v[d * gates + c]);
      const w = new Float32Array(q.length);
      for (let d = 0; d < dirs; d++) for (let i = 0; i < size; i++) for (let c = 0; c < gates; c++) w[(d * gates + c) * size + i] = (q[(d * size + i) * gates + c] - at(z, d, c)) * at(s, d, c);
      return g.addInitializer(Tensor.float32(name, [dirs, gates, size], w));
    };
    const inputs = [n.inputs[0] ?? null, dequantized(1, 8, 9, `${n.name}_W_float`), dequantized(2, 10, 11, `${n.name}_R_float`), ...n.inputs.slice(3, 8).map((v) => v ?? null)];
    const outputs = [...n.outputs];
    g.removeNode(n);
    const lstm = g.addNode({ opType: "LSTM", name: `${n.name}_float`, inputs, outputs: outputs.map((v) => v ?? g.newValue(`${n.name}_unused`)) });
    lstm.proto.attribute.push(...n.proto.attribute); // the attributes the two ops share, as they were
    // Outputs the kernel did not write stay unwritten (an LSTM that writes Y costs more).
    outputs.forEach((v, i) => {
      if (!v) lstm.outputs[i] = null;
    });
  }
  g.cleanup();
  return kernels;
}

const opts: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", logSeverityLevel: 3 };
const inputs = benchInputs(loadModel(floatFile), data ? { data } : {});
const batches = makeBatches(inputs.rows, batch, batchCount, inputs.padId, 0);
const kernels = kernelsOnly(loadModel(loweredFile));
// Seeded input rows for the kernels (their values do not change the work done).
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
type Feeds = Record<string, ort.Tensor>;
const modelFeeds: Feeds[] = batches.map(batchFeeds);
const kernelFeeds: Feeds[] = batches.map((b) => {
  const f: Feeds = { seq_lens: new ort.Tensor("int32", Int32Array.from(b.lengths), [b.b]) };
  for (const [k, size] of kernels.inputSizes.entries()) f[`x${k}`] = new ort.Tensor("float32", Float32Array.from({ length: b.t * b.b * size }, rand), [b.t, b.b, size]);
  return f;
});

const versions: { name: string; source: string | Uint8Array; feeds: Feeds[] }[] = [
  { name: floatFile, source: floatFile, feeds: modelFeeds },
  { name: loweredFile, source: loweredFile, feeds: modelFeeds },
  ...others.map((f) => ({ name: f, source: f, feeds: modelFeeds })),
  { name: `kernels only (${kernels.inputSizes.length} DynamicQuantizeLSTM)`, source: serializeModel(kernels.model), feeds: kernelFeeds },
  { name: `float kernels only (the same ${kernels.inputSizes.length} as float LSTM)`, source: serializeModel(floatKernels(kernelsOnly(loadModel(loweredFile)).model)), feeds: kernelFeeds },
  { name: "session floor (one Cast)", source: serializeModel(sessionFloor()), feeds: modelFeeds },
];

const sessions: ort.InferenceSession[] = [];
for (const v of versions) {
  const s = typeof v.source === "string" ? await ort.InferenceSession.create(v.source, opts) : await ort.InferenceSession.create(v.source, opts);
  for (let i = 0; i < 20; i++) await s.run(v.feeds[i % v.feeds.length]); // warm-up
  sessions.push(s);
}
const wall = versions.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  for (const [i, s] of sessions.entries()) wall[i].push((await timeRuns(s, versions[i].feeds, runs)).wall);
}
const steps = batches.map((b) => b.t);
console.log(`batch ${batch}, ${batches.length} batches of ${Math.min(...steps)}-${Math.max(...steps)} steps, ${runs} runs x ${rounds} interleaved rounds, 1 thread, median ms per run (x float), load ${loadavg()[0].toFixed(2)}`);
const base = median(wall[0]);
for (const [i, v] of versions.entries()) console.log(`  ${median(wall[i]).toFixed(4).padStart(8)} ms  ${(median(wall[i]) / base).toFixed(2)}x  ${v.name}`);
for (const s of sessions) await s.release();
