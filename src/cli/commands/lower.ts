import type { Argv, CommandModule } from "yargs";
import { FLOAT_WEIGHTS, defaultLoweredOutput, lowerFile, quantizeToOrt, type LowerOptions, type LowerReport, type LowerResult } from "../../lower/index.ts";
import { integerArg } from "../options.ts";
import { formatBytes, printJson, table } from "../output.ts";

/** The lowering options `lower` and `quantize --format ort` share. */
export interface LowerArgs {
  "chunk-rows"?: number;
  "float-weights"?: number;
}

interface Args extends LowerArgs {
  model: string;
  o?: string;
  force: boolean;
  json: boolean;
}

/** Declares the shared lowering options on a command. */
export function withLowerOptions<T>(y: Argv<T>): Argv<T & LowerArgs> {
  return y
    .option("chunk-rows", integerArg("chunk-rows", 0, { describe: "generative models: score the kept positions this many rows at a time in a Loop (0: all at once; default: rows of 256 Ki logits)" }))
    .option("float-weights", integerArg("float-weights", 0, { describe: `MatMul/Gemm weights of at most this many elements stay a float op over their dequantized codes (default ${FLOAT_WEIGHTS}; 0: every one on an int8 kernel)` })) as Argv<T & LowerArgs>;
}

/** LowerOptions from the shared options as given (unset ones keep lowerModel's defaults). */
export function lowerOptions(args: LowerArgs): LowerOptions {
  return {
    ...(args["chunk-rows"] !== undefined ? { chunkRows: args["chunk-rows"] } : {}),
    ...(args["float-weights"] !== undefined ? { floatWeights: args["float-weights"] } : {}),
  };
}

export { defaultLoweredOutput, lowerFile, quantizeToOrt, type LowerResult };

/** What each rewrite of lowerModel did when it applied, for the summary (rules named in src/lower). */
const REWRITES: Record<string, string> = {
  "packed-sequence-sort-removed": "the packed sequence's sort and unsort of the rows dropped (sequence_lens = the lengths in row order)",
  "score-masked-positions-only": "only the positions the scorer's mask keeps projected",
  "last-step-to-lstm-final-state": "each row's last step read from the LSTM's Y_h (sequence_lens = lengths)",
  "final-states-concat-to-reshape": "the LSTM's final states of both directions joined by Transpose and Reshape",
};

/** The lowering summary; `quantize --format ort` prints it without the first line (it said what it wrote). */
export function printLowerSummary(r: LowerReport & Partial<Pick<LowerResult, "output" | "bytes" | "replaced" | "replaced_made_with">>): void {
  const lines = r.output && r.bytes ? [`wrote ${r.output}: ${formatBytes(r.bytes.output)} (Q/DQ ${formatBytes(r.bytes.input)}, ${(r.bytes.output / r.bytes.input).toFixed(3)}x)`] : [];
  if (r.replaced) lines.push(`replaced the existing file${r.replaced_made_with ? ` (made with ${JSON.stringify(r.replaced_made_with)})` : ""}`);
  lines.push("");
  lines.push(table([["node", "op", "kernel", "weights (bits, storage)"], ...r.lowered.map((l) => [l.node, l.op, l.kernel, l.weights.map((w) => `${w.name} (${w.bits}, ${w.storage})`).join(", ")])]));
  if (r.left.length) lines.push("", table([["left as Q/DQ", "op", "because"], ...r.left.map((l) => [l.node, l.op, l.reason])]));
  lines.push("", `activations: ${r.dropped_activations.length} Q/DQ pairs dropped (quantized to 8 bits per run by the kernels), ${r.static_activations.length} read as calibrated codes by MatMulIntegerToFloat, ${r.kept_activations.length} kept`);
  for (const k of r.kept_activations) lines.push(`  kept ${k.name}: ${k.reason}`);
  for (const w of r.rewrites) lines.push(w.applied ? `rewrote ${w.node}: ${REWRITES[w.rule] ?? w.rule}` : `not rewritten ${w.node} (${w.rule}): ${w.reason}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export const lowerCommand: CommandModule<object, Args> = {
  command: "lower <model>",
  describe: "Turn a ptq-onnx Q/DQ model into onnxruntime's integer kernels (DynamicQuantizeLSTM, MatMulNBits, GatherBlockQuantized)",
  builder: (y) =>
    withLowerOptions(y)
      .positional("model", { type: "string", demandOption: true, describe: "Q/DQ model written by ptq-onnx quantize" })
      .option("o", { type: "string", alias: "out", describe: "output model (default MODEL.ort.onnx)" })
      .option("force", { type: "boolean", default: false, describe: "replace an existing file at the default output name made with other settings" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: (args) => {
    const result = lowerFile(args.model, { out: args.o, force: args.force, ...lowerOptions(args) });
    if (args.json) printJson(result);
    else printLowerSummary(result);
  },
};

/** `quantize --format`: the portable Q/DQ model (default) or onnxruntime's integer kernels. */
export const FORMATS = ["qdq", "ort"] as const;
