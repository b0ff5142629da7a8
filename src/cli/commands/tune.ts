import type { CommandModule } from "yargs";
import { OBJECTIVES, runTune, type Objective, type TuneResult } from "../../tune/tune.ts";
import { DEFAULT_CALIB_SIZE } from "../../pipeline/quantize-file.ts";
import { integerArg, intListOption, numberArg } from "../options.ts";
import { printJson, table } from "../output.ts";

interface Args {
  model: string;
  "max-drop": number;
  objective: string;
  bits?: string;
  "budget-minutes"?: number;
  data?: string;
  tokenizer?: string;
  rows?: number;
  "test-data"?: string;
  "test-rows"?: number;
  calib: string;
  "calib-size": number;
  seed: number;
  observer?: string;
  "pack-int4": boolean;
  o?: string;
  recipe?: string;
  chart?: string;
  threads?: number;
  json: boolean;
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : (x * 100).toFixed(2));

function printText(r: TuneResult): void {
  const lines: string[] = [];
  lines.push(`${r.model}: float ${r.float.bytes} bytes, validation accuracy ${pct(r.float.val_accuracy)} % on ${r.sample.rows} rows of ${r.sample.source}; budget ${r.max_drop} points, objective ${r.objective}`);
  lines.push("");
  lines.push(table([
    ["explored", "kind", "bytes", "val accuracy", "drop", ...(r.objective === "latency" ? ["p50 ms"] : []), "kept"],
    ...r.explored.map((p) => [p.label, p.kind, p.bytes, pct(p.accuracy), p.drop_points.toFixed(2), ...(r.objective === "latency" ? [p.latency_ms === null ? "-" : p.latency_ms.toFixed(2)] : []), p.accepted === undefined ? "" : p.accepted ? "yes" : "no"]),
  ]));
  lines.push("");
  if (!r.met) {
    const b = r.best_found;
    lines.push(`no setting meets the budget: the best found is ${b ? `${b.label} (validation drop ${b.drop_points.toFixed(2)} points, ${b.bytes} bytes)` : "none"}; nothing written`);
  } else {
    const c = r.chosen!;
    const u = r.uniform_baseline;
    lines.push(`chosen: ${c.label}: ${c.bytes} bytes, validation drop ${c.drop_points.toFixed(2)} points${c.test_drop_points !== null ? `, test drop ${c.test_drop_points.toFixed(2)} points (test accuracy ${pct(c.test_accuracy)} %, float ${pct(r.float.test_accuracy)} %; validation/test gap ${(c.test_drop_points - c.drop_points).toFixed(2)} points)` : ""}`);
    const what = r.objective === "latency" ? "latency" : "size";
    if (u) lines.push(`cheapest uniform width within the budget: ${u.label}, ${u.bytes} bytes${u.latency_ms !== null ? `, ${u.latency_ms.toFixed(2)} ms` : ""} (test accuracy ${pct(u.test_accuracy)} %); the chosen setting's ${what} is ${((r.vs_uniform ?? 0) * 100).toFixed(1)} % against it`);
    if (u && c.label === u.label) lines.push("no mixed setting explored does better than that uniform width (see the explored points)");
    lines.push(`wrote ${r.files!.model}, ${r.files!.recipe} (rerun: ptq-onnx quantize ${r.model} --recipe ${r.files!.recipe}), ${r.files!.chart}`);
  }
  if (r.stopped_by_budget) lines.push("the search stopped at --budget-minutes");
  lines.push(`calibration ${r.seconds.calibrate.toFixed(1)} s, search ${r.seconds.search.toFixed(1)} s, test ${r.seconds.test.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s`);
  process.stdout.write(lines.join("\n") + "\n");
}

export const tuneCommand: CommandModule<object, Args> = {
  command: "tune <model>",
  describe: "Choose per-layer bit widths that keep validation accuracy within --max-drop points of float, at the smallest size or latency",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "float ONNX model" })
      .option("max-drop", numberArg("max-drop", { min: 0, max: 100 }, { demandOption: true, describe: "largest validation accuracy drop allowed, in points" }))
      .option("objective", { type: "string", default: "size", describe: `${OBJECTIVES.join(" | ")}` })
      .option("bits", { type: "string", describe: "candidate bit widths (default 2,3,4,5,6,7,8)" })
      .option("budget-minutes", numberArg("budget-minutes", { min: 0 }, { describe: "stop the search after this long, keeping the best setting found" }))
      .option("data", { type: "string", describe: "labelled JSONL: calibration pool and validation rows (default: the zoo model's validation split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("rows", integerArg("rows", 1, { describe: "validation sample rows for the search (default: all)" }))
      .option("test-data", { type: "string", describe: "labelled JSONL test rows for the final figures (default: the zoo model's test split)" })
      .option("test-rows", integerArg("test-rows", 1, { describe: "test sample rows (default: all)" }))
      .option("calib", { type: "string", default: "balanced", describe: "calibration mode, as quantize --calib" })
      .option("calib-size", integerArg("calib-size", 1, { default: DEFAULT_CALIB_SIZE, describe: "calibration rows" }))
      .option("seed", integerArg("seed", 0, { default: 0, describe: "seed for choosing calibration rows" }))
      .option("observer", { type: "string", describe: "as quantize --observer" })
      .option("pack-int4", { type: "boolean", default: true, describe: "store weights of 4 bits or fewer as packed INT4 (--no-pack-int4: one byte per weight at every width)" })
      .option("o", { type: "string", alias: "out", describe: "the chosen model (default MODEL.tuned.onnx)" })
      .option("recipe", { type: "string", describe: "its recipe file (default OUT.recipe.json)" })
      .option("chart", { type: "string", describe: "the Pareto chart (default OUT.pareto.svg)" })
      .option("threads", integerArg("threads", 1, { describe: "onnxruntime intra-op threads (default: all cores)" }))
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: async (args) => {
    const result = await runTune({
      model: args.model,
      maxDrop: args["max-drop"],
      objective: args.objective as Objective,
      bits: intListOption(args.bits, "bits", { min: 2, max: 8 }),
      budgetMinutes: args["budget-minutes"],
      data: args.data,
      tokenizer: args.tokenizer,
      rows: args.rows,
      testData: args["test-data"],
      testRows: args["test-rows"],
      calib: args.calib,
      calibSize: args["calib-size"],
      seed: args.seed,
      observer: args.observer,
      packInt4: args["pack-int4"],
      out: args.o,
      recipeOut: args.recipe,
      chartOut: args.chart,
      threads: args.threads,
      onLog: process.stderr.isTTY && !args.json ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
    if (args.json) printJson(result);
    else printText(result);
    // "No setting meets the budget" is a failed check, not bad input: exit 1, nothing written.
    if (!result.met) process.exitCode = 1;
  },
};
