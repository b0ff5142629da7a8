import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, StringStringEntryProtoSchema } from "onnx-buf";
import { Builder, Constants, DataType, Graph, Tensor, graphsOf, makeValueInfo, type Attributes, type Model, type Node, type Value } from "../graph/index.ts";
import { META_DIRECTION, META_LSTM, META_PREFIX } from "./lstm-internals.ts";
import { UnsupportedLstmError, analyze, type Activation, type LstmSpec } from "./lstm-spec.ts";
import type { Pass } from "./pass.ts";

export { UnsupportedLstmError } from "./lstm-spec.ts";

/**
 * decompose-lstm: replaces every default-domain ONNX `LSTM` node by one `Scan` per direction
 * whose body is made of primitive ops, so later passes can quantize the gate sums, the gate
 * outputs, the cell state and the hidden state inside the recurrence (as Brevitas' QuantLSTM
 * does), which an opaque LSTM op does not allow.
 *
 * Semantics follow the ONNX LSTM operator (gate order i, o, f, c in W, R, B; P in order i, o, f)
 * and onnxruntime's CPU kernel where the spec is loose: `clip` clips each gate's full
 * pre-activation (biases and peepholes included); `input_forget=1` makes f = 1 - i; rows past
 * their `sequence_lens` keep their state and get zeros in Y (a reverse direction walks each row
 * from its own last real step back to 0; a row of length 0 gets zeros in Y_h and Y_c);
 * `activation_alpha`/`activation_beta` are consumed in order only by activations that take them,
 * with onnxruntime's defaults when a list runs out (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1.0,
 * Affine, ScaledTanh and ThresholdedRelu 0).
 *
 * Outside the loop, for direction d (0 forward, 1 reverse; `P` is the LSTM's prefix, normally
 * its node name):
 *   `${P}/d${d}/W_t` [I, 4H], `/R_t` [H, 4H], `/bias` [4H] = Wb + Rb, `/P_i|P_o|P_f` [H]: new
 *     initializers when the LSTM reads float initializers (so the MatMuls read plain weights,
 *     quantized per output channel on axis 1 like any MatMul weight; the LSTM's own W, R, B, P
 *     initializers are removed when nothing else reads them), else Gather/Transpose/Split/Add
 *     nodes over the computed value (e.g. a DequantizeLinear)
 *   `${P}/d${d}/x_proj` [T, B, 4H] = X·W_t + bias   (one MatMul for all steps; both biases
 *                                       are folded in here)
 * Inside the Scan body, per step (all values exactly so named):
 *   `${P}/d${d}/gates`  [B, 4H]  x_proj_t + H_{t-1}·R[d]^T, gate order i, o, f, c. Without
 *                               peepholes this is each gate's complete pre-activation (before clip)
 *   `${P}/d${d}/gates_i|gates_f|gates_o` [B, H]  only with peepholes P: the gate's slice of
 *                               `gates` plus its peephole term, i.e. its complete pre-activation
 *   `${P}/d${d}/i`, `/f`, `/o`, `/g`  [B, H]  gate outputs (f = 1 - i with input_forget)
 *   `${P}/d${d}/c`      [B, H]  new cell state  f·C_{t-1} + i·g
 *   `${P}/d${d}/c_act`  [B, H]  h(C_t) (tanh by default)
 *   `${P}/d${d}/h`      [B, H]  new hidden state o·h(C_t)
 * With `sequence_lens`, `/c` and `/h` are computed for every row at every step; `Where` nodes
 * then keep the previous state (and write zeros to Y) for rows past their length, so at padded
 * steps `/c` and `/h` hold values that are discarded: calibration should mask them by length.
 * Body inputs: states `${P}/d${d}/h_prev`, `/c_prev` [B, H], scan inputs `/x_proj_t` [B, 4H] and,
 * with sequence_lens, `/mask_t` [B, 1] bool. Body outputs: the next states (`/h`, `/c`, or
 * `/h_next`, `/c_next` = Where(mask_t, new, previous) with sequence_lens) and, when Y is used,
 * `/y` (Identity of `/h`, or Where(mask_t, h, 0)), stacked by the Scan into Y's direction slice.
 * Body ops: MatMul, Add, Split, Sigmoid, Tanh, Mul, and as needed Identity, Clip, Sub, Where,
 * Relu, LeakyRelu, ThresholdedRelu, HardSigmoid, Elu, Softsign, Softplus.
 *
 * Each Scan node carries node metadata `ptq-onnx.lstm` (the LSTM's name), `ptq-onnx.lstm_prefix`
 * and `ptq-onnx.lstm_direction`; `lstmInternals` uses them to find the values above again (also
 * after a save and reload), and `exposeScanInternals` makes body values visible as graph outputs.
 *
 * Needs default-domain opset 13 or newer (it uses the opset-13 forms of Split, Unsqueeze and
 * Clip, valid unchanged up to the newest opsets) and never changes the opset. layout=1 LSTMs
 * are converted with Transposes. Only float32 LSTMs are handled.
 */

export interface DecomposeLstmOptions {
  /**
   * Leave LSTMs the pass cannot rewrite (layout or attribute it does not support, non-float
   * types) in place and record why in `skipped`, instead of throwing. Default false: throw an
   * `UnsupportedLstmError` naming the node.
   */
  skipUnsupported?: boolean;
}

export interface DecomposeLstmPass extends Pass {
  /** LSTMs left in place by the last run (only with `skipUnsupported`), with the reason. */
  readonly skipped: { node: string; reason: string }[];
  /** Names of the LSTMs the last run rewrote. */
  readonly decomposed: string[];
}

const isDefaultDomain = (n: Node): boolean => n.domain === "" || n.domain === "ai.onnx";
const used = (v: Value | null | undefined): v is Value => !!v && (v.consumers.length > 0 || v.isGraphOutput);

/** The data of a float32 initializer, or null for a computed value. */
function floatInitializer(v: Value | null): Float32Array | null {
  const t = v?.initializer;
  return t && t.dataType === DataType.FLOAT ? (t.data as Float32Array) : null;
}

/** Every value and node name in the model, subgraphs included. */
function allNames(model: Model): Set<string> {
  const names = new Set<string>();
  for (const g of graphsOf(model.graph)) {
    for (const v of g.allValues()) names.add(v.name);
    for (const n of g.nodes) if (n.name) names.add(n.name);
  }
  return names;
}

/** A prefix `P` such that no existing name starts with `P/`, so every name the pass makes is exact. */
function freePrefix(base: string, names: Set<string>): string {
  const clashes = (p: string): boolean => {
    for (const n of names) if (n.startsWith(`${p}/`)) return true;
    return false;
  };
  let p = base;
  for (let i = 1; clashes(p); i++) p = `${base}_${i}`;
  return p;
}

/** Applies an RNN activation function; the last node's output is named `${prefix}/${out}`. */
function activation(b: Builder, k: Constants, act: Activation, x: Value, out: string): Value {
  switch (act.name) {
    case "sigmoid":
      return b.op("Sigmoid", [x], out);
    case "tanh":
      return b.op("Tanh", [x], out);
    case "relu":
      return b.op("Relu", [x], out);
    case "softsign":
      return b.op("Softsign", [x], out);
    case "softplus":
      return b.op("Softplus", [x], out);
    case "leakyrelu":
      return b.op("LeakyRelu", [x], out, { alpha: { float: act.alpha } });
    case "thresholdedrelu":
      return b.op("ThresholdedRelu", [x], out, { alpha: { float: act.alpha } });
    case "elu":
      return b.op("Elu", [x], out, { alpha: { float: act.alpha } });
    case "hardsigmoid":
      return b.op("HardSigmoid", [x], out, { alpha: { float: act.alpha }, beta: { float: act.beta } });
    case "affine": {
      const ax = b.op("Mul", [x, k.float("alpha", act.alpha)], `${out}_scaled`);
      return b.op("Add", [ax, k.float("beta", act.beta)], out);
    }
    case "scaledtanh": {
      const bx = b.op("Mul", [x, k.float("beta", act.beta)], `${out}_scaled`);
      const t = b.op("Tanh", [bx], `${out}_tanh`);
      return b.op("Mul", [t, k.float("alpha", act.alpha)], out);
    }
    default:
      throw new Error(`decompose-lstm: unhandled activation ${act.name}`);
  }
}

/** A float32 input of a body graph with the given dims (null for unknown ones). */
function bodyInput(body: Graph, name: string, elemType: number, shape: (number | null)[]): Value {
  const v = body.newValue(name);
  v.info = makeValueInfo(v.name, elemType, shape);
  body.inputs.push(v);
  return v;
}

function setMetadata(node: Node, entries: Record<string, string>): void {
  for (const [key, value] of Object.entries(entries)) {
    const e = node.proto.metadataProps.find((m) => m.key === key);
    if (e) e.value = value;
    else node.proto.metadataProps.push(create(StringStringEntryProtoSchema, { key, value }));
  }
}

/** Rewrites one LSTM into Scans; the LSTM node is removed and its output values re-produced. */
function rewrite(spec: LstmSpec, prefix: string): void {
  const { node, hidden: H } = spec;
  const g = node.graph;
  const outer = new Builder(g, { prefix, before: node });
  const k = new Constants(g, prefix);
  const F = DataType.FLOAT;
  const needY = used(spec.Y);
  const needYh = used(spec.Yh);
  const needYc = used(spec.Yc);

  // layout=1 (batch first): X [B, T, I], initial states [B, dirs, H]; convert to layout 0.
  const batchFirst = spec.layout === 1;
  const X = batchFirst ? outer.op("Transpose", [spec.X], "x_time_major", { perm: [1, 0, 2] }) : spec.X;
  const initH = spec.initH && batchFirst ? outer.op("Transpose", [spec.initH], "initial_h_dir_major", { perm: [1, 0, 2] }) : spec.initH;
  const initC = spec.initC && batchFirst ? outer.op("Transpose", [spec.initC], "initial_c_dir_major", { perm: [1, 0, 2] }) : spec.initC;

  let xShape: Value | null = null;
  const shapeOfX = (): Value => (xShape ??= outer.op("Shape", [X], "x_shape"));

  // mask [T, B, 1]: step t is real for row b when t < sequence_lens[b].
  let lens: Value | null = null;
  const lengths = (): Value => (lens ??= outer.op("Cast", [spec.seqLens!], "lengths", { to: DataType.INT64 }));
  let mask: Value | null = null;
  if (spec.seqLens) {
    const T = outer.op("Gather", [shapeOfX(), k.int64("zero", [0], true)], "seq_length", { axis: 0 });
    const steps = outer.op("Range", [k.int64("zero", [0], true), T, k.int64("one", [1], true)], "steps");
    const steps2 = outer.op("Unsqueeze", [steps, k.int64("axis1", [1])], "steps_column");
    const real = outer.op("Less", [steps2, lengths()], "real_steps");
    mask = outer.op("Unsqueeze", [real, k.int64("axis2", [2])], "mask");
  }

  let zeros: Value | null = null;
  const zeroState = (): Value => {
    if (zeros) return zeros;
    const batch = outer.op("Gather", [shapeOfX(), k.int64("axis1", [1])], "batch", { axis: 0 });
    const shape = outer.op("Concat", [batch, k.int64("hidden", [H])], "state_shape", { axis: 0 });
    return (zeros = outer.op("ConstantOfShape", [shape], "zero_state", { value: Tensor.float32("value", [1], [0]) }));
  };

  /** W[d]^T or R[d]^T, [in, 4H], from a [dirs, 4H, in] weight. */
  const transposedWeight = (v: Value, d: number, name: string): Value => {
    const data = floatInitializer(v);
    if (data) {
      const [, rows, cols] = v.initializer!.dims;
      const out = new Float32Array(rows * cols);
      const base = d * rows * cols;
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + r * cols + c];
      return g.addInitializer(Tensor.float32(`${prefix}/d${d}/${name}_t`, [cols, rows], out));
    }
    const dIdx = k.int64(d === 0 ? "zero" : "one", [d], true);
    const wd = outer.op("Gather", [v, dIdx], `d${d}/${name}`, { axis: 0 });
    return outer.op("Transpose", [wd], `d${d}/${name}_t`, { perm: [1, 0] });
  };

  const finals: { h: Value; c: Value; y: Value | null }[] = [];
  spec.directions.forEach((dirName, d) => {
    const p = `d${d}`;
    const reverse = dirName === "reverse";
    const dIdx = k.int64(d === 0 ? "zero" : "one", [d], true);
    // Weights of this direction, transposed once outside the loop: W^T [I, 4H], R^T [H, 4H].
    // Float initializers are folded into new initializers (so MatMul reads a plain weight that
    // the weight quantizer handles); computed weights (DequantizeLinear, ...) get Gather + Transpose.
    const WT = transposedWeight(spec.W, d, "W");
    const RT = transposedWeight(spec.R, d, "R");
    let xProj: Value;
    if (spec.B) {
      let bias: Value;
      const bt = floatInitializer(spec.B);
      if (bt) {
        const sum = new Float32Array(4 * H);
        for (let j = 0; j < 4 * H; j++) sum[j] = bt[d * 8 * H + j] + bt[d * 8 * H + 4 * H + j];
        bias = g.addInitializer(Tensor.float32(`${prefix}/${p}/bias`, [4 * H], sum));
      } else {
        const Bd = outer.op("Gather", [spec.B, dIdx], `${p}/B`, { axis: 0 });
        const [wb, rb] = outer.multi("Split", [Bd, k.int64("split_bias", [4 * H, 4 * H])], [`${p}/Wb`, `${p}/Rb`], { axis: 0 });
        bias = outer.op("Add", [wb, rb], `${p}/bias`);
      }
      const xw = outer.op("MatMul", [X, WT], `${p}/x_w`);
      xProj = outer.op("Add", [xw, bias], `${p}/x_proj`);
    } else {
      xProj = outer.op("MatMul", [X, WT], `${p}/x_proj`);
    }
    let peep: Value[] | null = null;
    if (spec.P) {
      const pt = floatInitializer(spec.P);
      if (pt) {
        peep = ["i", "o", "f"].map((gate, j) => g.addInitializer(Tensor.float32(`${prefix}/${p}/P_${gate}`, [H], pt.subarray((3 * d + j) * H, (3 * d + j + 1) * H))));
      } else {
        const Pd = outer.op("Gather", [spec.P, dIdx], `${p}/P`, { axis: 0 });
        peep = outer.multi("Split", [Pd, k.int64("split_peephole", [H, H, H])], [`${p}/P_i`, `${p}/P_o`, `${p}/P_f`], { axis: 0 });
      }
    }
    const h0 = initH ? outer.op("Gather", [initH, dIdx], `${p}/h0`, { axis: 0 }) : zeroState();
    const c0 = initC ? outer.op("Gather", [initC, dIdx], `${p}/c0`, { axis: 0 }) : zeroState();

    // The body: one step of one direction.
    const body = new Graph(create(GraphProtoSchema, { name: `${prefix}/${p}/body` }), g);
    const b = new Builder(body, { prefix: `${prefix}/${p}` });
    const hPrev = bodyInput(body, `${prefix}/${p}/h_prev`, F, [null, H]);
    const cPrev = bodyInput(body, `${prefix}/${p}/c_prev`, F, [null, H]);
    const xT = bodyInput(body, `${prefix}/${p}/x_proj_t`, F, [null, 4 * H]);
    const maskT = mask ? bodyInput(body, `${prefix}/${p}/mask_t`, DataType.BOOL, [null, 1]) : null;
    const [f, gAct, hAct] = spec.acts[d];
    const clip = (x: Value, out: string): Value =>
      spec.clip === undefined ? x : b.op("Clip", [x, k.float("clip_min", -spec.clip), k.float("clip_max", spec.clip)], out);

    const hr = b.op("MatMul", [hPrev, RT], "h_r");
    const gates = b.op("Add", [xT, hr], "gates");
    const split = peep ? gates : clip(gates, "gates_clipped");
    let [preI, preO, preF, preC] = b.multi("Split", [split, k.int64("split_gates", [H, H, H, H])], ["pre_i", "pre_o", "pre_f", "pre_c"], { axis: 1 });
    if (peep) {
      preI = clip(b.op("Add", [preI, b.op("Mul", [cPrev, peep[0]], "peep_i")], "gates_i"), "gates_i_clipped");
      if (!spec.inputForget) preF = clip(b.op("Add", [preF, b.op("Mul", [cPrev, peep[2]], "peep_f")], "gates_f"), "gates_f_clipped");
      preC = clip(preC, "pre_c_clipped");
    }
    const i = activation(b, k, f, preI, "i");
    const fg = spec.inputForget ? b.op("Sub", [k.float("one_f", 1), i], "f") : activation(b, k, f, preF, "f");
    const gg = activation(b, k, gAct, preC, "g");
    const c = b.op("Add", [b.op("Mul", [cPrev, fg], "f_c"), b.op("Mul", [i, gg], "i_g")], "c");
    if (peep) preO = clip(b.op("Add", [preO, b.op("Mul", [c, peep[1]], "peep_o")], "gates_o"), "gates_o_clipped");
    const o = activation(b, k, f, preO, "o");
    const cAct = activation(b, k, hAct, c, "c_act");
    const h = b.op("Mul", [o, cAct], "h");
    let hNext = h;
    let cNext = c;
    let y: Value | null = null;
    if (maskT) {
      hNext = b.op("Where", [maskT, h, hPrev], "h_next");
      cNext = b.op("Where", [maskT, c, cPrev], "c_next");
      if (needY) y = b.op("Where", [maskT, h, k.float("zero_f", 0)], "y");
    } else if (needY) {
      y = b.op("Identity", [h], "y");
    }
    body.addOutput(hNext, F, [null, H]);
    body.addOutput(cNext, F, [null, H]);
    if (y) body.addOutput(y, F, [null, H]);

    const scanInputs = mask ? [h0, c0, xProj, mask] : [h0, c0, xProj];
    const attrs: Attributes = { num_scan_inputs: scanInputs.length - 2 };
    if (reverse) {
      attrs.scan_input_directions = { ints: scanInputs.slice(2).map(() => 1) };
      if (y) attrs.scan_output_directions = { ints: [1] };
    }
    const scan = g.addNode(
      {
        opType: "Scan",
        inputs: scanInputs,
        outputs: [`${prefix}/${p}/h_last`, `${prefix}/${p}/c_last`, ...(y ? [`${prefix}/${p}/y_all`] : [])],
        name: `${prefix}/${p}/Scan`,
        attributes: attrs,
      },
      { before: node },
    );
    scan.setSubgraph("body", body);
    setMetadata(scan, { [META_LSTM]: node.name, [META_PREFIX]: prefix, [META_DIRECTION]: String(d) });
    finals.push({ h: scan.outputs[0]!, c: scan.outputs[1]!, y: y ? scan.outputs[2]! : null });
  });

  // The LSTM's outputs, re-produced by the nodes below under their original names.
  for (const v of node.outputs) if (v) v.producer = null;
  const emit = (parts: Value[], axis: number, name: string, target: Value, perm: number[]): void => {
    // Unsqueeze each direction to [1, ...] (Y: [T, 1, B, H]) and concatenate; the last node
    // produces the original value, so its name, consumers and graph-output status stay.
    const axisConst = k.int64(`axis${axis}`, [axis]);
    const last = batchFirst ? `${name}_dir_major` : target;
    const joined =
      parts.length === 1
        ? outer.op("Unsqueeze", [parts[0], axisConst], last)
        : outer.op("Concat", parts.map((v, d) => outer.op("Unsqueeze", [v, axisConst], `d${d}/${name}`)), last, { axis });
    if (batchFirst) outer.op("Transpose", [joined], target, { perm });
  };
  let lengthZero: Value | null = null;
  const zeroIfEmpty = (v: Value, name: string): Value => {
    // onnxruntime writes zeros to Y_h and Y_c for rows of length 0.
    if (!spec.seqLens) return v;
    lengthZero ??= outer.op("Unsqueeze", [outer.op("Equal", [lengths(), k.int64("zero", [0], true)], "empty_rows"), k.int64("axis1", [1])], "empty_rows_column");
    return outer.op("Where", [lengthZero, k.float("zero_f", 0), v], name);
  };
  if (needY) emit(finals.map((s) => s.y!), 1, "Y", spec.Y!, [2, 0, 1, 3]);
  if (needYh) emit(finals.map((s, d) => zeroIfEmpty(s.h, `d${d}/h_final`)), 0, "Y_h", spec.Yh!, [1, 0, 2]);
  if (needYc) emit(finals.map((s, d) => zeroIfEmpty(s.c, `d${d}/c_final`)), 0, "Y_c", spec.Yc!, [1, 0, 2]);
  g.removeNode(node);
  // The LSTM's own weight initializers, folded above, are dropped once nothing else reads them.
  for (const v of new Set([spec.W, spec.R, spec.B, spec.P])) {
    if (v?.initializer && v.graph === g && g.initializers.includes(v) && v.consumers.length === 0 && !v.isGraphInput && !v.isGraphOutput) g.removeInitializer(v);
  }
}

/**
 * The decompose-lstm pass. `run` returns whether any LSTM was rewritten. Unsupported LSTMs throw
 * an `UnsupportedLstmError` naming the node, or with `skipUnsupported` stay in place and are
 * listed in `skipped`.
 */
export function decomposeLstm(opts: DecomposeLstmOptions = {}): DecomposeLstmPass {
  const skipped: { node: string; reason: string }[] = [];
  const decomposed: string[] = [];
  return {
    name: "decompose-lstm",
    skipped,
    decomposed,
    run(model: Model): boolean {
      skipped.length = 0;
      decomposed.length = 0;
      const lstms = model.allNodes().filter((n) => n.opType === "LSTM" && isDefaultDomain(n));
      if (lstms.length === 0) return false;
      const opset = model.opset("") ?? 0;
      // Check them all first, so a refused node leaves the model untouched.
      const specs: LstmSpec[] = [];
      for (const n of lstms) {
        try {
          specs.push(analyze(n, opset));
        } catch (err) {
          if (!(err instanceof UnsupportedLstmError) || !opts.skipUnsupported) throw err;
          skipped.push({ node: n.name, reason: err.reason });
        }
      }
      const names = allNames(model);
      for (const spec of specs) {
        const base = spec.node.name || spec.node.outputs.find((v) => v)?.name || "lstm";
        const prefix = freePrefix(base, names);
        rewrite(spec, prefix);
        names.add(prefix);
        for (const n of allNames(model)) names.add(n);
        decomposed.push(spec.node.name);
      }
      return specs.length > 0;
    },
  };
}

/** The pass with default options (unsupported LSTMs throw). */
export const decomposeLstmPass: DecomposeLstmPass = decomposeLstm();
