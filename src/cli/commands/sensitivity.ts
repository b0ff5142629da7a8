import type { CommandModule } from "yargs";
import { checkOutputs, writeFileAtomic } from "../../graph/index.ts";
import { runSensitivity, type SensitivityResult } from "../../tune/sensitivity.ts";
import { sensitivitySvg } from "../../tune/svg.ts";
import { DEFAULT_CALIB_SIZE } from "../../pipeline/quantize-file.ts";
import { integerArg, intListOption } from "../options.ts";
import { printJson, table } from "../output.ts";

interface Args {
  model: string;
  bits?: string;
  data?: string;
  tokenizer?: string;
  rows?: number;
  calib: string;
  "calib-size": number;
  seed: number;
  observer?: string;
  "lstm-internals": boolean;
  against?: string;
  svg?: string;
  threads?: number;
  json: boolean;
}

const db = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : x > 0 ? "inf" : "-inf");
const pct = (x: number): string => (x * 100).toFixed(2);

function printText(r: SensitivityResult): void {
  const lines: string[] = [];
  lines.push(`${r.model}: float accuracy ${pct(r.float_accuracy)} % on ${r.sample.rows} rows of ${r.sample.source}; one calibration (${r.calibration.mode}, ${r.calibration.size} rows, ${r.calibration.observer})`);
  lines.push(`each tensor quantized alone (every other tensor float); drop in accuracy points, SQNR in dB`);
  lines.push("");
  const rows: (string | number)[][] = [["tensor", "kind", "layer", "bits", "tensor SQNR", "scores SQNR", "agreement", "accuracy", "drop"]];
  for (const e of r.entries) {
    for (const p of e.points) rows.push([e.tensor, e.kind, e.layers.join(","), p.bits, db(p.tensor_sqnr_db), db(p.scores_sqnr_db), p.agreement.toFixed(4), pct(p.accuracy), p.drop_points.toFixed(2)]);
  }
  lines.push(table(rows));
  lines.push("", "every tensor at once (uniform):");
  lines.push(table([["bits", "scores SQNR", "agreement", "accuracy", "drop", "bytes"], ...r.uniform.map((u) => [u.bits, db(u.scores_sqnr_db), u.agreement.toFixed(4), pct(u.accuracy), u.drop_points.toFixed(2), u.bytes])]));
  if (r.against) {
    const a = r.against;
    lines.push("", `${a.model} against the float model: scores SQNR ${db(a.scores_sqnr_db)} dB, agreement ${a.agreement.toFixed(4)}, accuracy ${pct(a.accuracy)} %`);
    lines.push(table([["tensor", "kind", "bits", "layer", "SQNR"], ...a.entries.map((e) => [e.tensor, e.kind, e.bits, e.layers.join(","), db(e.sqnr_db)])]));
  }
  lines.push("", `calibration ${r.seconds.calibrate.toFixed(1)} s, evaluation ${r.seconds.evaluate.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s`);
  process.stdout.write(lines.join("\n") + "\n");
}

export const sensitivityCommand: CommandModule<object, Args> = {
  command: "sensitivity <model>",
  describe: "Per-tensor quantization sensitivity (each tensor alone at each width, one calibration), or a quantized model's layer-by-layer SQNR (--against)",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "float ONNX model" })
      .option("bits", { type: "string", describe: "bit widths to try, e.g. 2,4,8 (default 2,3,4,6,8)" })
      .option("data", { type: "string", describe: "labelled JSONL: calibration pool and validation sample (default: the zoo model's validation split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("rows", integerArg("rows", 1, { describe: "validation sample rows (default: all; eval --rows N's sample)" }))
      .option("calib", { type: "string", default: "balanced", describe: "calibration mode, as quantize --calib" })
      .option("calib-size", integerArg("calib-size", 1, { default: DEFAULT_CALIB_SIZE, describe: "calibration rows" }))
      .option("seed", integerArg("seed", 0, { default: 0, describe: "seed for choosing calibration rows" }))
      .option("observer", { type: "string", describe: "as quantize --observer" })
      .option("lstm-internals", { type: "boolean", default: false, describe: "decompose LSTMs and include gates, cell and hidden state" })
      .option("against", { type: "string", describe: "a Q/DQ model made from MODEL: its layer-by-layer SQNR against MODEL" })
      .option("svg", { type: "string", describe: "write an SVG chart of the accuracy drop per tensor and width" })
      .option("threads", integerArg("threads", 1, { describe: "onnxruntime intra-op threads (default: all cores)" }))
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: async (args) => {
    const bits = intListOption(args.bits, "bits", { min: 2, max: 8 });
    if (args.svg) checkOutputs({ inputs: [{ path: args.model, role: "input model" }, { path: args.data, role: "--data file" }, { path: args.against, role: "--against model" }], files: [{ path: args.svg, role: "--svg chart" }] });
    const result = await runSensitivity({
      model: args.model,
      bits,
      data: args.data,
      tokenizer: args.tokenizer,
      rows: args.rows,
      calib: args.calib,
      calibSize: args["calib-size"],
      seed: args.seed,
      observer: args.observer,
      lstmInternals: args["lstm-internals"],
      against: args.against,
      threads: args.threads,
      onLog: process.stderr.isTTY && !args.json ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
    if (args.svg) writeFileAtomic(args.svg, sensitivitySvg(result));
    if (args.json) printJson(result);
    else printText(result);
  },
};
