import { Builder, DataType, Tensor, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "./rewrite.ts";

interface GatherMatch {
  gather: Node;
  dq: Node;
  codes: Value;
  scale: Value;
  zero: Value | null;
  perRow: boolean;
}

/**
 * Gather(DequantizeLinear(table)) -> gather the int8 rows, then dequantize only them.
 * onnxruntime would otherwise dequantize the whole embedding table on every run; this reads
 * the few rows the batch needs. Per-row scales are gathered with the rows, so the result is
 * bit-identical (zero points are 0 for the symmetric weights ptq-onnx writes).
 */
export const gatherQuantizedRule: RewriteRule<GatherMatch> = {
  name: "gather-quantized-rows",
  anchor: "Gather",
  match(gather) {
    const data = gather.inputs[0];
    const dq = data?.producer;
    if (!data || !dq || dq.opType !== "DequantizeLinear") return "the gathered table is not a DequantizeLinear output";
    if (gather.getInt("axis", 0) !== 0) return "gathers along an axis other than 0";
    const [codes, scale, zero] = dq.inputs;
    if (!codes?.initializer || !scale?.initializer) return "the table's codes or scales are not initializers";
    if (codes.initializer.dataType !== DataType.INT8 && codes.initializer.dataType !== DataType.UINT8) return "codes are not 8-bit (packed 4-bit rows are kept whole)";
    const perRow = scale.initializer.dims.length === 1;
    if (perRow && dq.getInt("axis", 1) !== 0) return "per-channel scales are not per row";
    if (perRow && zero?.initializer && zero.initializer.toNumbers().some((z) => z !== 0)) return "per-row zero points are not all 0";
    return { gather, dq, codes, scale, zero: zero ?? null, perRow };
  },
  apply({ gather, dq, codes, scale, zero, perRow }) {
    const g = gather.graph;
    const indices = gather.inputs[1]!;
    const out = gather.outputs[0]!;
    // Every node goes where the Gather was: built before it, the last one after it is removed.
    const b = new Builder(g, { prefix: out.name, before: gather });
    const rows = b.node("Gather", [codes, indices], ["codes"], { name: "codes", attributes: { axis: 0 } }).outputs[0]!;
    if (perRow) {
      // Per-row scales: gather them too and multiply each row by its own scale.
      const asFloat = b.node("Cast", [rows], ["float"], { name: "cast", attributes: { to: DataType.FLOAT } }).outputs[0]!;
      const scales = b.node("Gather", [scale, indices], ["scales"], { name: "scales", attributes: { axis: 0 } }).outputs[0]!;
      const axes = b.initializer(Tensor.int64(b.name("last_axis"), [1], [-1]));
      const col = b.node("Unsqueeze", [scales, axes], ["scales_col"], { name: "unsqueeze" });
      g.removeNode(gather);
      new Builder(g, { prefix: out.name, after: col }).node("Mul", [asFloat, col.outputs[0]], [out], { name: "dequantize" });
    } else {
      const gathered = rows.producer!;
      g.removeNode(gather);
      new Builder(g, { prefix: out.name, after: gathered }).node("DequantizeLinear", [rows, scale, zero], [out], { name: "dequantize" });
    }
    if (dq.outputs[0]!.consumers.length === 0) g.removeNode(dq);
  },
};
