import { DataType, Tensor, type Node, type Value } from "../graph/index.ts";
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
    const base = out.name;
    const rows = g.addNode({ opType: "Gather", name: `${base}/codes`, inputs: [codes, indices], outputs: [`${base}/codes`], attributes: { axis: 0 } }, { before: gather });
    if (perRow) {
      // Per-row scales: gather them too and multiply each row by its own scale.
      const asFloat = g.addNode({ opType: "Cast", name: `${base}/cast`, inputs: [rows.outputs[0]], outputs: [`${base}/float`], attributes: { to: DataType.FLOAT } }, { before: gather });
      const scales = g.addNode({ opType: "Gather", name: `${base}/scales`, inputs: [scale, indices], outputs: [`${base}/scales`], attributes: { axis: 0 } }, { before: gather });
      const axes = g.addInitializer(Tensor.int64(`${base}/last_axis`, [1], [-1]));
      const col = g.addNode({ opType: "Unsqueeze", name: `${base}/unsqueeze`, inputs: [scales.outputs[0], axes], outputs: [`${base}/scales_col`] }, { before: gather });
      g.removeNode(gather);
      g.addNode({ opType: "Mul", name: `${base}/dequantize`, inputs: [asFloat.outputs[0], col.outputs[0]], outputs: [out] }, { after: col });
    } else {
      g.removeNode(gather);
      g.addNode({ opType: "DequantizeLinear", name: `${base}/dequantize`, inputs: [rows.outputs[0], scale, zero], outputs: [out] }, { after: rows });
    }
    if (dq.outputs[0]!.consumers.length === 0) g.removeNode(dq);
  },
};
