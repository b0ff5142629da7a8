import { Builder, DataType, Tensor, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { weightOf, type QuantizedWeight } from "../quant/qdq.ts";
import { MS_DOMAIN, channelScale, unsupportedWeight, type LowerContext } from "./common.ts";
import { kernelBits, packRows, rowBlock } from "./pack.ts";

interface GatherMatch {
  gather: Node;
  w: QuantizedWeight;
  indices: Value;
  /** The node whose output is the dequantized rows: the row Gather itself, or the end of its dequantization. */
  last: Node;
}

/**
 * An embedding lookup over quantized rows -> com.microsoft.GatherBlockQuantized: the table
 * is stored as packed unsigned 2-, 4- or 8-bit codes (zero point 2^(bits-1)), every block of
 * a row with that row's scale, and only the gathered rows are dequantized. Matches both forms the
 * Q/DQ model has: Gather(DequantizeLinear(table)) and the rows gathered before dequantizing
 * (src/passes/gather-quantized.ts).
 */
export function gatherRule(ctx: LowerContext): RewriteRule<GatherMatch> {
  return {
    name: "gather-to-gather-block-quantized",
    anchor: "Gather",
    match(gather) {
      const indices = gather.inputs[1];
      if (!indices) return "has no indices";
      let w = ctx.qdq.weights.find((q) => q.gathers.some((x) => x.gather === gather));
      let last: Node = gather;
      if (w) last = w.gathers.find((x) => x.gather === gather)!.output.producer!;
      else w = weightOf(ctx.qdq, gather.inputs[0] ?? null);
      if (!w) return "the gathered table is not a quantized weight";
      if (gather.getInt("axis", 0) !== 0) return "gathers along an axis other than 0";
      const why = unsupportedWeight(w);
      if (why) return why;
      if (w.dims.length !== 2) return `${w.name} is not a 2-D table`;
      if (w.axis !== null && w.axis !== 0) return `${w.name} has scales along its columns, not per row`;
      const bits = kernelBits(w.bits);
      if ((w.dims[1] * bits) % 8 !== 0) return `rows of ${w.dims[1]} ${bits}-bit codes do not fill whole bytes`;
      return { gather, w, indices, last };
    },
    apply({ gather, w, indices, last }) {
      const b = new Builder(gather.graph);
      const [rows, width] = w.dims;
      const bits = kernelBits(w.bits);
      const packed = packRows(rows, width, width, bits, (r, k) => w.codes[r * width + k]);
      const data = b.initializer(Tensor.fromData(`${w.name}_blockq`, DataType.UINT8, [rows, packed.length / rows], packed));
      const block = rowBlock(width);
      const blocks = Math.ceil(width / block);
      const rowScales = Float32Array.from({ length: rows * blocks }, (_, i) => channelScale(w, 0, Math.floor(i / blocks)));
      const scales = b.initializer(Tensor.fromData(`${w.name}_blockq_scale`, DataType.FLOAT, [rows, blocks], rowScales));
      const node = b.replace(last, "GatherBlockQuantized", [data, indices, scales], {
        domain: MS_DOMAIN,
        attributes: { gather_axis: 0, quantize_axis: 1, block_size: block, bits },
      });
      ctx.lowered.set(node, { from: "Gather", weights: [{ name: w.name, bits: w.bits, storage: `uint${bits} packed` }] });
    },
  };
}
