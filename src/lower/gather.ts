import { Builder, DataType, Tensor, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { weightOf, type QuantizedWeight } from "../quant/qdq.ts";
import { MS_DOMAIN, centered, channelScale, codeRange, signedBits, unsupportedWeight, type LowerContext } from "./common.ts";
import { kernelBits, packRows, rowBlock } from "./pack.ts";

interface GatherMatch {
  gather: Node;
  w: QuantizedWeight;
  indices: Value;
  /** The node whose output is the dequantized rows: the row Gather itself, or the end of its dequantization. */
  last: Node;
}

/**
 * The Transpose(perm [1, 0, 2]) that alone reads a lookup's rows, or null: the batch-major
 * [B, T, D] rows an exporter turns into the LSTM's time-major [T, B, D] input. Gathering with
 * the ids transposed ([T, B]) gives that layout directly and moves B*T ids instead of B*T*D
 * values; the rows are the same, so the result is exact.
 */
function timeMajorTranspose(rows: Value, indices: Value): Node | null {
  const t = rows.consumers.length === 1 && !rows.isGraphOutput ? rows.consumers[0] : null;
  const perm = t?.opType === "Transpose" && !t.domain ? t.getInts("perm") : undefined;
  const idsRank = indices.shape?.length;
  return perm && perm.join(",") === "1,0,2" && idsRank === 2 ? t : null;
}

/**
 * An embedding lookup over quantized rows. Codes of 5 to 8 bits: a Gather of the int8 rows and
 * of their per-row scales and one blocked DequantizeLinear (standard ops, opset 21), or with
 * `lookup: "mul"` Cast and Mul by the scales (the Q/DQ model's own gathered-rows form; measured
 * 1.5x faster than GatherBlockQuantized at batch 1 and 2.6x at batch 32 on a 10,000 x 128
 * table, 1 thread). Codes of 3 or 4 bits (rows of even width): the
 * split-nibble form below, standard ops over the packed table. Codes of 2 bits (or odd rows):
 * com.microsoft.GatherBlockQuantized over the table packed as unsigned 2- or 4-bit
 * codes (zero point 2^(bits-1)), every block of a row with that row's scale, so the table
 * stays at its packed size. Matches both forms the Q/DQ model has: Gather(DequantizeLinear(table))
 * and the rows gathered before dequantizing (src/passes/gather-quantized.ts). A lookup read
 * only by a batch-to-time-major Transpose gathers with transposed ids instead (see
 * timeMajorTranspose).
 */
/**
 * The storage width of a table's rows: the kernel width (2, 4 or 8) holding its codes less
 * their zero points (symmetric codes: that of its bit width).
 */
function storageBits(w: QuantizedWeight): 2 | 4 | 8 {
  return kernelBits(Math.max(w.bits, signedBits(codeRange(centered(w).codes))));
}

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
      const why = unsupportedWeight(w, "a row lookup", "row");
      if (why) return why;
      if (w.dims.length !== 2) return `${w.name} is not a 2-D table`;
      if (w.axis !== null && w.axis !== 0) return `${w.name} has scales along its columns, not per row`;
      const bits = storageBits(w);
      if ((w.dims[1] * bits) % 8 !== 0) return `rows of ${w.dims[1]} ${bits}-bit codes do not fill whole bytes`;
      return { gather, w, indices, last };
    },
    apply({ gather, w: original, indices, last }) {
      const b = new Builder(gather.graph);
      const w = centered(original);
      const [rows, width] = w.dims;
      const bits = storageBits(original);
      // 4-bit asymmetric rows (q - z needs 5 bits) in split nibbles of their own codes q, the
      // zero point subtracted after (LowerOptions.asymmetricLookup).
      const zeroRows = bits === 8 && original.bits <= 4 && width % 2 === 0 && ctx.asymmetricLookup === "nibbles" && w !== original;
      const note = w === original || zeroRows ? "" : " (q - z)";
      const transpose = timeMajorTranspose(last.outputs[0]!, indices);
      const ids = transpose ? b.op("Transpose", [indices], `${indices.name}_time_major`, { perm: [1, 0] }) : indices;
      // With the Transpose, the new lookup takes its place (and output); the old one is left unread.
      const target = transpose ?? last;
      // The standard-op forms end alike: the gathered codes times each row's scale, in place of
      // the lookup, recorded as lowered. The scales are a [rows, 1] table, so gathering them
      // gives [..., 1], which broadcasts over the row (no Unsqueeze).
      const rowScaleTable = (name: string): Value => b.initializer(Tensor.fromData(name, DataType.FLOAT, [rows, 1], Float32Array.from({ length: rows }, (_, r) => channelScale(w, 0, r))));
      const record = (node: Node, kernel: string, storage: string): void => {
        if (transpose) node.name = node.graph.uniqueName(`${last.name}_time_major`);
        ctx.lowered.set(node, { from: "Gather", kernel, weights: [{ name: w.name, bits: w.bits, storage: storage + note }] });
      };
      const timesRowScale = (at: Builder, codes: Value, scales: Value, kernel: string, storage: string): void => {
        const rowScales = at.op("Gather", [scales, ids], "scales", { axis: 0 });
        record(at.replace(target, "Mul", [codes, rowScales]), kernel, storage);
      };
      if (bits === 8 && !zeroRows) {
        const codes = b.initializer(Tensor.fromData(`${w.name}_int8`, DataType.INT8, [rows, width], Int8Array.from(w.codes)));
        const scales = rowScaleTable(`${w.name}_int8_scale`);
        const at = new Builder(gather.graph, { prefix: `${w.name}_rows` });
        const gathered = at.op("Gather", [codes, ids], "codes", { axis: 0 });
        if (ctx.lookup === "mul") {
          // The Q/DQ model's own gathered-rows form (src/passes/gather-quantized.ts), any opset.
          const asFloat = at.op("Cast", [gathered], "float", { to: DataType.FLOAT });
          timesRowScale(at, asFloat, scales, "Gather (int8 rows)", "int8 rows, Mul by the row's scale");
          return;
        }
        // One blocked DequantizeLinear (opset 21; a block per row, block_size = the row's width)
        // with the gathered [..., 1] scales as its scale: Gather, Gather, DequantizeLinear in
        // place of Gather, Cast, Gather, Mul. The same values (code x scale in float).
        const rowScales = at.op("Gather", [scales, ids], "scales", { axis: 0 });
        record(at.replace(target, "DequantizeLinear", [gathered, rowScales], { attributes: { axis: -1, block_size: width } }), "Gather (int8 rows, blocked DequantizeLinear)", "int8 rows, one scale per row");
        ctx.opset = Math.max(ctx.opset, 21);
        return;
      }
      if ((bits === 4 && width % 2 === 0) || zeroRows) {
        // Split nibbles: byte j of a row holds code j in its low and code j + width/2 in its high
        // nibble, unsigned (+8). Mod and BitShift take the halves, Concat puts them in order and
        // DequantizeLinear(scale 1, zero point 8) gives the signed codes as floats; then the
        // row's scale. Same size and values (to the last bit) as GatherBlockQuantized, and
        // faster: on a 10,000 x 128 table, 1 thread, side by side, a lookup alone took 17 vs
        // 23 us per run at batch 1 (12 of them the session's own) and 0.21 vs 0.47 ms at batch 32.
        // With zero points, the nibbles hold q and a Sub of the row's zero point (a [rows, 1]
        // float table, gathered) comes before the scale: q - z is a small integer, exact in
        // float, so the values are DequantizeLinear's (q - z) x s to the last bit.
        const src = zeroRows ? original : w;
        const half = width / 2;
        const nibbles = new Uint8Array(rows * half);
        for (let r = 0; r < rows; r++) for (let j = 0; j < half; j++) nibbles[r * half + j] = (src.codes[r * width + j] + 8) | ((src.codes[r * width + half + j] + 8) << 4);
        const data = b.initializer(Tensor.fromData(`${w.name}_nibbles`, DataType.UINT8, [rows, half], nibbles));
        const scales = rowScaleTable(`${w.name}_nibbles_scale`);
        const at = new Builder(gather.graph, { prefix: `${w.name}_rows` });
        const u8 = (name: string, v: number) => b.initializer(Tensor.fromData(`${w.name}_rows/${name}`, DataType.UINT8, [], Uint8Array.of(v)));
        const gathered = at.op("Gather", [data, ids], "nibbles", { axis: 0 });
        const low = at.op("Mod", [gathered, u8("sixteen", 16)], "low");
        const high = at.op("BitShift", [gathered, u8("four", 4)], "high", { direction: "RIGHT" });
        const both = at.op("Concat", [low, high], "unsigned", { axis: -1 });
        const one = b.initializer(Tensor.float32(`${w.name}_rows/one`, [], [1]));
        let signed = at.op("DequantizeLinear", [both, one, u8("eight", 8)], "codes");
        if (zeroRows) {
          const z = Float32Array.from({ length: rows }, (_, r) => original.zeroPoints[original.axis === null ? 0 : r]);
          const zeros = b.initializer(Tensor.fromData(`${w.name}_nibbles_zero_point`, DataType.FLOAT, [rows, 1], z));
          signed = at.op("Sub", [signed, at.op("Gather", [zeros, ids], "zero_points", { axis: 0 })], "centered");
          timesRowScale(at, signed, scales, "Gather (split 4-bit rows, zero points)", "uint4 packed (split nibbles of q), Sub of the row's zero point");
          return;
        }
        timesRowScale(at, signed, scales, "Gather (split 4-bit rows)", "uint4 packed (split nibbles)");
        return;
      }
      const packed = packRows(rows, width, width, bits, (r, k) => w.codes[r * width + k]);
      const data = b.initializer(Tensor.fromData(`${w.name}_blockq`, DataType.UINT8, [rows, packed.length / rows], packed));
      const block = rowBlock(width);
      const blocks = Math.ceil(width / block);
      const rowScales = Float32Array.from({ length: rows * blocks }, (_, i) => channelScale(w, 0, Math.floor(i / blocks)));
      const scales = b.initializer(Tensor.fromData(`${w.name}_blockq_scale`, DataType.FLOAT, [rows, blocks], rowScales));
      const node = b.replace(target, "GatherBlockQuantized", [data, ids, scales], {
        domain: MS_DOMAIN,
        attributes: { gather_axis: 0, quantize_axis: 1, block_size: block, bits },
      });
      record(node, "GatherBlockQuantized", `uint${bits} packed`);
    },
  };
}
