import type { CommandModule } from "yargs";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER, quantizeModel, type QuantizeResult } from "../../calibrate/quantize.ts";
import { formatBytes, printJson, table } from "../output.ts";
import { progressBar } from "../progress.ts";
import type { LowerReport } from "../../lower/index.ts";
import { FORMATS, printLowerSummary, quantizeToOrt } from "./lower.ts";

interface Args {
  model: string;
  bits: number;
  wbits?: number;
  abits?: number;
  calib: string;
  o?: string;
  data?: string;
  tokenizer?: string;
  "calib-size": number;
  observer?: string;
  granularity: string;
  "lstm-internals": boolean;
  "pack-int4": boolean;
  "calib-table"?: string;
  "save-calib-table"?: string;
  seed: number;
  rounding: string;
  format: string;
  json: boolean;
}

function printSummary(r: QuantizeResult): void {
  const lines: string[] = [];
  lines.push(`wrote ${r.output}: ${formatBytes(r.bytes.output)} (float ${formatBytes(r.bytes.input)}, ${(r.bytes.output / r.bytes.input).toFixed(3)}x), weights ${r.wbits} bits, activations ${r.abits} bits`);
  const c = r.calibration;
  lines.push(`calibration: ${c.mode}, ${c.size} rows from ${c.source} (per class ${c.per_class.join("/")}), observer ${c.observer}${c.table ? `, table ${c.table}` : ""}`);
  for (const s of c.shortfalls) lines.push(`  class ${s.class}: asked for ${s.asked} rows, only ${s.available} available; used them all`);
  lines.push("", table([["quantized", "kind", "bits", "granularity", "rounding", "read by"], ...r.details.map((q) => [q.name, q.kind, q.bits, q.granularity, q.rounding ?? "-", q.op])]));
  if (r.left_float.length) lines.push("", table([["left float", "why"], ...r.left_float.map((l) => [l.name, l.reason])]));
  process.stdout.write(lines.join("\n") + "\n");
}

export const quantizeCommand: CommandModule<object, Args> = {
  command: "quantize <model>",
  describe: "Calibrate on real data and write a post-training-quantized ONNX model",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "float ONNX model" })
      .option("bits", { type: "number", demandOption: true, describe: "bit width (2 to 8) of weights and activations" })
      .option("wbits", { type: "number", describe: "weight bit width (overrides --bits)" })
      .option("abits", { type: "number", describe: "activation bit width (overrides --bits)" })
      .option("calib", { type: "string", demandOption: true, describe: "balanced | natural | dist:p1,...,pC | classes:i,j" })
      .option("o", { type: "string", alias: "out", describe: "output model (default MODEL.q{w}a{a}.onnx)" })
      .option("data", { type: "string", describe: "labelled JSONL calibration pool (default: the zoo model's validation split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("calib-size", { type: "number", default: DEFAULT_CALIB_SIZE, describe: "calibration rows" })
      .option("observer", { type: "string", describe: `minmax | percentile:P | mse | entropy | batch-percentile:P (default ${DEFAULT_OBSERVER}; ${DEFAULT_INTERNALS_OBSERVER} with --lstm-internals; a table's own with --calib-table)` })
      .option("granularity", { type: "string", default: "per-channel", choices: ["per-channel", "per-tensor"], describe: "weight scales" })
      .option("lstm-internals", { type: "boolean", default: false, describe: "decompose LSTMs and quantize gates, cell and hidden state" })
      .option("pack-int4", { type: "boolean", default: false, describe: "store weights of 4 bits or fewer as packed INT4 (opset 21)" })
      .option("calib-table", { type: "string", describe: "reuse a calibration table instead of calibrating" })
      .option("save-calib-table", { type: "string", describe: "where to write the calibration table (default OUT.calib.json)" })
      .option("rounding", { type: "string", default: "nearest", choices: ["nearest", "gptq"], describe: "weight rounding: to nearest, or GPTQ error compensation from calibration inputs" })
      .option("seed", { type: "number", default: 0, describe: "seed for choosing calibration rows" })
      .option("format", { type: "string", default: "qdq", choices: [...FORMATS], describe: "qdq: portable Q/DQ model; ort: lowered to onnxruntime's integer kernels (see lower)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: async (args) => {
    const bar = progressBar("calibrating");
    const result = await (args.format === "ort" ? quantizeToOrt : quantizeModel)({
      model: args.model,
      out: args.o,
      bits: args.bits,
      wbits: args.wbits,
      abits: args.abits,
      calib: args.calib,
      calibSize: args["calib-size"],
      data: args.data,
      tokenizer: args.tokenizer,
      observer: args.observer,
      granularity: args.granularity as "per-channel" | "per-tensor",
      lstmInternals: args["lstm-internals"],
      packInt4: args["pack-int4"],
      calibTable: args["calib-table"],
      saveCalibTable: args["save-calib-table"],
      seed: args.seed,
      rounding: args.rounding as "nearest" | "gptq",
      onProgress: bar?.update,
    });
    bar?.done();
    if (args.json) printJson(result);
    else printSummary(result);
    if (!args.json && "lowered" in result) printLowerSummary(result.lowered as LowerReport);
  },
};
