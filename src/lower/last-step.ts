import { Builder, DataType, Tensor, type Attributes, type Model, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { MS_DOMAIN, constantNumbers } from "./common.ts";
import { probeValue } from "./shape-probe.ts";

interface LastStepMatch {
  model: Model;
  select: Node;
  lstm: Node;
  /** The per-row lengths L (a graph input): the selection reads step max(L - 1, 0) of each row. */
  lengths: Value;
  /** An If that only squeezes the selection's step axis, taken over with it; null if none. */
  squeezeIf: Node | null;
}

/** Two unrelated (batch, steps) pairs: a shape-driven answer that holds for both is taken as fixed. */
const PROBES: [number, number][] = [
  [2, 3],
  [5, 7],
];

/** The axes of a Squeeze (input from opset 13, attribute before), or null when they are not constant. */
function squeezeAxes(n: Node): number[] | null {
  return n.inputs[1] ? constantNumbers(n.inputs[1]) : (n.getInts("axes") ?? null);
}

export function isLstm(n: Node | null | undefined): n is Node {
  return !!n && ((n.opType === "LSTM" && !n.domain) || (n.opType === "DynamicQuantizeLSTM" && n.domain === MS_DOMAIN));
}

/**
 * The last valid step of every row, taken from the LSTM's Y_h instead of from Y:
 *
 *   GatherElements(Transpose[1,0,2](Squeeze[1](LSTM.Y)), Expand(Reshape[-1,1,1](Clip(L - 1, 0)), [.., 1, H]), axis 1)
 *
 * is the PyTorch export of `out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, H))`, the
 * classifier reading each row's last real step. With L as the LSTM's `sequence_lens`, Y_h is
 * exactly that step for every row with 1 <= L <= T (the contract's rows are non-empty and
 * padded to the longest), so the selection becomes Y_h and the Shape/Gather/Concat/Expand/
 * GatherElements/If chain that computed it goes; so can Y, which the kernel then does not
 * write. The If the exporter adds after it (squeeze the step axis when it has size 1, which it
 * always has) is decided by probing its condition (see probeValue) and replaced by its branch.
 * A forward LSTM only: a reverse direction's Y_h is its first step.
 */
export function lastStepRule(model: Model): RewriteRule<LastStepMatch> {
  return {
    name: "last-step-to-lstm-final-state",
    anchor: "GatherElements",
    match(select) {
      if (select.getInt("axis", 0) !== 1) return "gathers along an axis other than 1 (the steps of [batch, steps, hidden])";
      const transpose = select.inputs[0]?.producer;
      if (transpose?.opType !== "Transpose" || transpose.getInts("perm")?.join(",") !== "1,0,2") return "the data is not Y made batch-major by Transpose(perm 1,0,2)";
      const squeeze = transpose.inputs[0]?.producer;
      if (squeeze?.opType !== "Squeeze" || squeezeAxes(squeeze)?.join(",") !== "1") return "the data is not Y with its direction axis squeezed";
      const lstm = squeeze.inputs[0]?.producer;
      if (!isLstm(lstm) || lstm.outputs[0] !== squeeze.inputs[0]) return "the data is not an LSTM's Y";
      if ((lstm.getString("direction") ?? "forward") !== "forward") return `the LSTM runs ${lstm.getString("direction")}: its Y_h is not the last step of every row`;
      if (lstm.getInt("layout", 0) !== 0) return "the LSTM is batch-first (layout=1)";
      const hidden = lstm.getInt("hidden_size");
      if (!hidden) return "the LSTM has no hidden_size";

      // Indices: Expand(Reshape(Clip(Sub(L, 1), 0), [-1, 1, 1]), shape)
      const expand = select.inputs[1]?.producer;
      if (expand?.opType !== "Expand") return "the indices are not an Expand of one step per row";
      const reshape = expand.inputs[0]?.producer;
      if (reshape?.opType !== "Reshape" || constantNumbers(reshape.inputs[1])?.join(",") !== "-1,1,1") return "the indices are not one step per row reshaped to [-1, 1, 1]";
      const clip = reshape.inputs[0]?.producer;
      if (clip?.opType !== "Clip" || constantNumbers(clip.inputs[1])?.join(",") !== "0" || clip.inputs[2]) return "the step is not clipped below at 0 (and only there)";
      const sub = clip.inputs[0]?.producer;
      if (sub?.opType !== "Sub" || constantNumbers(sub.inputs[1])?.join(",") !== "1") return "the step is not lengths - 1";
      const lengths = sub.inputs[0]!;
      if (!lengths.isGraphInput || lengths.shape?.length !== 1) return "lengths - 1 does not read a [batch] graph input";
      // The Expand must give [batch, 1, hidden] whatever the batch and step count are.
      for (const [b, t] of PROBES) {
        const target = probeValue(expand.inputs[1] ?? null, new Map([[select.inputs[0]!, [b, t, hidden]]]));
        if (!target || target.data.length !== 3) return "the Expand's shape is not known from the data's shape";
        const out = [b, 1, 1].map((d, i) => (d === 1 ? target.data[i] : target.data[i] === 1 || target.data[i] === d ? d : NaN));
        if (out.join(",") !== `${b},1,${hidden}`) return `the indices are not [batch, 1, hidden] (probe gives [${out.join(", ")}])`;
      }
      const seq = lstm.inputs[4] ?? null;
      if (seq && !(seq.producer?.opType === "Cast" && seq.producer.inputs[0] === lengths)) return "the LSTM's sequence_lens are not these lengths";
      return { model, select, lstm, lengths, squeezeIf: squeezingIf(select.outputs[0]!, hidden) };
    },
    apply({ model: m, select, lstm, lengths, squeezeIf }) {
      const g = select.graph;
      const b = new Builder(g, { prefix: lstm.name });
      if (!lstm.inputs[4]) lstm.setInput(4, b.op("Cast", [lengths], "sequence_lens", { to: DataType.INT32 }));
      let yh = lstm.outputs[1] ?? null;
      if (!yh) {
        yh = g.newValue(`${lstm.name}_Y_h`);
        yh.producer = lstm;
        while (lstm.outputs.length < 2) lstm.outputs.push(null);
        lstm.outputs[1] = yh;
      }
      const opset = m.opset("") ?? 17;
      const axes = (a: number[]): { inputs: Value[]; attributes: Attributes } =>
        opset >= 13 ? { inputs: [b.initializer(Tensor.int64(b.name("step_axis"), [a.length], a))], attributes: {} } : { inputs: [], attributes: { axes: a } };
      if (squeezeIf) {
        // Y_h is [1, batch, hidden]: the If's [batch, hidden] is Y_h without its direction axis.
        const ax = axes([0]);
        const rows = b.node("Squeeze", [yh, ...ax.inputs], ["last_step"], { name: "Squeeze_last_step", attributes: ax.attributes }).outputs[0]!;
        squeezeIf.outputs[0]!.replaceAllUsesWith(rows, { graphOutputs: true });
      } else {
        select.outputs[0]!.replaceAllUsesWith(b.op("Transpose", [yh], "last_step", { perm: [1, 0, 2] }), { graphOutputs: true });
      }
    },
  };
}

/**
 * The If that reads only `value` ([batch, 1, hidden]) through a condition known from its shape
 * alone and whose taken branch is one Squeeze of axis 1, or null.
 */
function squeezingIf(value: Value, hidden: number): Node | null {
  if (value.isGraphOutput) return null;
  // The If reads the value inside its branches: it is the owner of their nodes' graph.
  const iff = value.consumers.map((n) => n.graph.owner).find((o) => o?.opType === "If" && !o.domain && o.graph === value.graph);
  if (!iff || iff.outputs.length !== 1) return null;
  // Other readers must be the condition's Shape or the branches.
  if (value.consumers.some((n) => n !== iff && !(n.opType === "Shape" && n.graph === value.graph) && n.graph.owner !== iff)) return null;
  let taken: boolean | null = null;
  for (const [b] of PROBES) {
    const c = probeValue(iff.inputs[0] ?? null, new Map([[value, [b, 1, hidden]]]));
    if (!c || c.data.length !== 1) return null;
    if (taken !== null && taken !== Boolean(c.data[0])) return null;
    taken = Boolean(c.data[0]);
  }
  const branch = iff.subgraphs.get(taken ? "then_branch" : "else_branch")?.[0];
  // One Squeeze, with its axes from a Constant of the branch or outside.
  const ops = branch?.nodes.filter((n) => n.opType !== "Constant") ?? [];
  if (!branch || ops.length !== 1 || branch.outputs.length !== 1) return null;
  const sq = ops[0];
  if (sq.opType !== "Squeeze" || sq.inputs[0] !== value || branch.outputs[0] !== sq.outputs[0]) return null;
  const axes = sq.inputs[1] ? constantNumbers(sq.inputs[1]) : (sq.getInts("axes") ?? null);
  return axes?.join(",") === "1" ? iff : null;
}

/**
 * Drops the outputs of each LSTM kernel that nothing reads (Y once its last step comes from
 * Y_h), so onnxruntime does not write them.
 */
export function dropUnreadOutputs(model: Model): void {
  for (const n of model.allNodes()) {
    if (!isLstm(n)) continue;
    n.outputs.forEach((v, i) => {
      if (v && v.consumers.length === 0 && !v.isGraphOutput) {
        v.producer = null;
        n.outputs[i] = null;
      }
    });
    while (n.outputs.length && n.outputs[n.outputs.length - 1] === null) n.outputs.pop();
  }
}
