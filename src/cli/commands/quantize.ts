import type { CommandModule } from "yargs";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER, quantizeModel, type QuantizeResult } from "../../pipeline/quantize-file.ts";
import { DEFAULT_SAMPLE_ROWS } from "../../eval/compare-sample.ts";
import { InputError } from "../../graph/errors.ts";
import { DEFAULT_DAMPENING, DEFAULT_EQUALIZE_ALPHA, GPFQ_INPUTS, ROUNDINGS, WEIGHT_CLIPS, type GpfqInputs, type Rounding, type WeightClip } from "../../passes/policy.ts";
import { integerArg, numberArg } from "../options.ts";
import { formatBytes, printJson, table } from "../output.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";
import { extrasText, prepareExtras, type QuantizeExtras } from "../quantize-report.ts";
import type { LowerReport } from "../../lower/index.ts";
import { FORMATS, lowerOptions, printLowerSummary, quantizeToOrt, withLowerOptions, type LowerArgs } from "./lower.ts";
import { applyRecipe, loadRecipe, parseOverrideSpec } from "../../pipeline/recipe.ts";

interface Args extends LowerArgs {
  model: string;
  bits?: number;
  wbits?: number;
  abits?: number;
  calib?: string;
  recipe?: string;
  override?: string | string[];
  o?: string;
  data?: string;
  tokenizer?: string;
  "skip-bad-labels": boolean;
  "calib-size"?: number;
  observer?: string;
  granularity?: string;
  "lstm-internals"?: boolean;
  "pack-int4"?: boolean;
  "calib-table"?: string;
  "save-calib-table"?: string;
  seed: number;
  rounding?: string;
  "act-order"?: boolean;
  dampening?: number;
  "gpfq-inputs"?: string;
  "group-size"?: number;
  "weight-clip"?: string;
  "bias-correction"?: boolean;
  "weight-symmetric"?: boolean;
  "gather-pass-through"?: boolean;
  "embedding-gptq"?: boolean;
  equalize?: boolean;
  "equalize-alpha"?: number;
  format: string;
  force: boolean;
  eval: boolean;
  "eval-data"?: string;
  "eval-rows": number;
  progress: string;
  json: boolean;
}

/** `wbits 4, abits 4, calib balanced, ...` from a model's ptq-onnx.quantization metadata. */
function madeWith(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .filter(([key]) => !key.endsWith("_sha256"))
    .map(([key, value]) => `${key} ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(", ");
}

function printSummary(r: QuantizeResult, extras: QuantizeExtras): void {
  const lines: string[] = [];
  lines.push(`wrote ${r.output}: ${formatBytes(r.bytes.output)} (float ${formatBytes(r.bytes.input)}, ${(r.bytes.output / r.bytes.input).toFixed(3)}x), weights ${r.wbits} bits, activations ${r.abits} bits`);
  const c = r.calibration;
  lines.push(`calibration: ${c.mode}, ${c.size} rows from ${c.source} (per class ${c.per_class.join("/")}), observer ${c.observer}${c.table ? `, table ${c.table}` : ""}`);
  for (const s of c.shortfalls) lines.push(`  class ${s.class}: asked for ${s.asked} rows, only ${s.available} available; used them all`);
  lines.push("", table([["quantized", "kind", "bits", "granularity", "rounding", "read by"], ...r.details.map((q) => [q.name, q.kind, q.bits, q.granularity, q.rounding ?? "-", q.op])]));
  const corrected = r.bias_correction.filter((b) => b.bias !== null);
  if (r.bias_correction.length) lines.push("", `bias correction: ${corrected.length} of ${r.bias_correction.length} weights (${corrected.map((b) => b.bias).join(", ")})`);
  for (const b of r.bias_correction) if (b.bias === null) lines.push(`  ${b.weight}: not corrected, ${b.reason}`);
  if (r.equalization) {
    lines.push(
      "",
      r.equalization.length
        ? `equalization: ${r.equalization.map((e) => `${e.embedding} and ${e.weight} (${e.scaled} columns rescaled)`).join("; ")}`
        : "equalization: nothing equalized (no float embedding table read only by one LSTM's X, with that LSTM's W read by nothing else)",
    );
  }
  if (r.left_float.length) lines.push("", table([["left float", "why"], ...r.left_float.map((l) => [l.name, l.reason])]));
  if (r.replaced) lines.push("", `replaced the existing ${r.output}${r.replaced_made_with ? ` (made with ${madeWith(r.replaced_made_with)})` : ""}`);
  const more = extrasText(extras);
  if (more.length) lines.push("", ...more);
  process.stdout.write(lines.join("\n") + "\n");
}

const BITS = { min: 2, max: 8 };

export const quantizeCommand: CommandModule<object, Args> = {
  command: "quantize <model>",
  describe: "Calibrate on real data and write a post-training-quantized ONNX model",
  builder: (y) =>
    withLowerOptions(y)
      .positional("model", { type: "string", demandOption: true, describe: "float ONNX model" })
      .option("bits", integerArg("bits", BITS, { describe: "bit width (2 to 8) of weights and activations (needed unless --wbits and --abits are both given)" }))
      .option("wbits", integerArg("wbits", BITS, { describe: "weight bit width (overrides --bits)" }))
      .option("abits", integerArg("abits", BITS, { describe: "activation bit width (overrides --bits)" }))
      .option("calib", { type: "string", describe: "balanced | natural | dist:p1,...,pC | classes:i,j (needed unless the recipe sets it)" })
      .option("recipe", { type: "string", describe: "a named recipe or a recipe JSON file (options given here win over it)" })
      .option("override", { type: "string", describe: "per-layer bits: LAYER:w4a8,LAYER:w8,LAYER:skip (LAYER: node name, op type or node-name segment)" })
      .option("o", { type: "string", alias: "out", describe: "output model (default MODEL.q{w}a{a}.onnx)" })
      .option("data", { type: "string", describe: "labelled JSONL calibration pool (default: the zoo model's validation split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("skip-bad-labels", { type: "boolean", default: false, describe: "leave out rows whose label is not a class of the model (with a warning) instead of failing" })
      .option("calib-size", integerArg("calib-size", 1, { describe: `calibration rows (default ${DEFAULT_CALIB_SIZE})` }))
      .option("observer", { type: "string", describe: `minmax | percentile:P | mse | entropy | batch-percentile:P (default ${DEFAULT_OBSERVER}; ${DEFAULT_INTERNALS_OBSERVER} with --lstm-internals; a table's own with --calib-table)` })
      .option("granularity", { type: "string", choices: ["per-channel", "per-tensor"], describe: "weight scales (default per-channel)" })
      .option("lstm-internals", { type: "boolean", describe: "decompose LSTMs and quantize gates, cell and hidden state" })
      .option("pack-int4", { type: "boolean", describe: "store weights of 4 bits or fewer as packed INT4 (opset 21)" })
      .option("calib-table", { type: "string", describe: "reuse a calibration table instead of calibrating" })
      .option("save-calib-table", { type: "string", describe: "where to write the calibration table (default OUT.calib.json)" })
      .option("rounding", { type: "string", choices: [...ROUNDINGS], describe: "weight rounding (default nearest): to nearest, or GPTQ / GPFQ error compensation from calibration inputs" })
      .option("gpfq-inputs", { type: "string", choices: [...GPFQ_INPUTS], describe: "GPFQ: fit against the quantized model's layer inputs, recorded layer by layer (quantized, the default), or take the float model's (float: one calibration pass)" })
      .option("act-order", { type: "boolean", describe: "GPTQ/GPFQ: round inputs by decreasing second moment (act-order)" })
      .option("dampening", numberArg("dampening", { min: 0 }, { describe: `GPTQ: dampening, as a fraction of the Hessian's mean diagonal (default ${DEFAULT_DAMPENING})` }))
      .option("group-size", integerArg("group-size", 1, { describe: "group-wise weight scales: one per output channel and 32, 64 or 128 inputs (blocked DequantizeLinear, opset 21)" }))
      .option("weight-clip", { type: "string", choices: [...WEIGHT_CLIPS], describe: "weight scales (default max): each channel's (group's) max, or the clipping of it with the least squared rounding error (mse)" })
      .option("bias-correction", { type: "boolean", describe: "fold each layer's mean output error (W - Q(W)) E[x] into its bias (LSTM B, Gemm C, MatMul's Add), E[x] from calibration" })
      .option("weight-symmetric", { type: "boolean", describe: "symmetric weight codes (zero point 0; the default); --no-weight-symmetric maps each channel's min/max onto every code (4 levels at 2 bits, not 3; lower stores up to 7 bits as q - z, exactly)" })
      .option("gather-pass-through", { type: "boolean", describe: "leave rows gathered from a quantized table (the embedding's output read by the LSTM) as the table's codes, one scale per row, instead of quantizing them again per tensor; only where the table is no wider than the activations" })
      .option("embedding-gptq", { type: "boolean", describe: "with --rounding gptq: round an embedding table's rows against the weight of the one layer that reads them (H = W^T W of the LSTM's input weight), not to nearest" })
      .option("equalize", { type: "boolean", describe: "exact embedding equalization before calibration: the embedding's column j divided by s_j and the LSTM's input weight column j multiplied by s_j (powers of two: the float scores are unchanged), s_j = max|E[:,j]|^alpha / max|W[:,j]|^(1-alpha) from the table's own column maxima (they bound every looked-up row); only where a float embedding's rows reach one LSTM's X with their columns in place (the zoo's discriminative models), else reported and skipped. A --calib-table calibrated under another --equalize setting is refused (the table records it). Off by default: it measured worse" })
      .option("equalize-alpha", {
        type: "string",
        requiresArg: true,
        describe: `with --equalize: migration strength alpha in (0, 1] (default ${DEFAULT_EQUALIZE_ALPHA})`,
        // Open at 0: alpha 0 would ignore the embedding's ranges altogether (makePolicy words its own check the same).
        coerce: (v: unknown) => {
          const n = Array.isArray(v) || String(v).trim() === "" ? NaN : Number(v);
          if (!(n > 0 && n <= 1)) throw new InputError(`--equalize-alpha must be in (0, 1], got '${Array.isArray(v) ? v.join(" ") : String(v)}'`);
          return n;
        },
      })
      .option("seed", integerArg("seed", 0, { default: 0, describe: "seed for choosing calibration rows" }))
      .option("format", { type: "string", default: "qdq", choices: [...FORMATS], describe: "qdq: portable Q/DQ model; ort: lowered to onnxruntime's integer kernels (see lower)" })
      .option("force", { type: "boolean", default: false, describe: "replace an existing default-named output made with other settings" })
      .option("eval", { type: "boolean", default: true, describe: "score float and quantized models on a fixed sample of test rows (--no-eval skips it)" })
      .option("eval-data", { type: "string", describe: "labelled JSONL test rows for that check (default: the zoo model's test split)" })
      .option("eval-rows", integerArg("eval-rows", 1, { default: DEFAULT_SAMPLE_ROWS, describe: "rows in the check's sample (eval --rows N's sample)" }))
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: async (args) => {
    // Options a recipe may set have no yargs defaults, so undefined here means "not given": those given win.
    const recipe = args.recipe !== undefined ? loadRecipe(args.recipe) : undefined;
    const s = applyRecipe(
      {
        bits: args.bits,
        wbits: args.wbits,
        abits: args.abits,
        calib: args.calib,
        calibSize: args["calib-size"],
        observer: args.observer,
        granularity: args.granularity as "per-channel" | "per-tensor" | undefined,
        lstmInternals: args["lstm-internals"],
        packInt4: args["pack-int4"],
        rounding: args.rounding as Rounding | undefined,
        actOrder: args["act-order"],
        dampening: args.dampening,
        gpfqInputs: args["gpfq-inputs"] as GpfqInputs | undefined,
        groupSize: args["group-size"],
        weightClip: args["weight-clip"] as WeightClip | undefined,
        biasCorrection: args["bias-correction"],
        weightSymmetric: args["weight-symmetric"],
        gatherPassThrough: args["gather-pass-through"],
        embeddingGptq: args["embedding-gptq"],
        equalize: args.equalize,
        equalizeAlpha: args["equalize-alpha"],
      },
      recipe,
    );
    const overrides = { ...recipe?.overrides, ...(args.override !== undefined ? parseOverrideSpec(args.override) : {}) };
    const bits = s.bits ?? (s.wbits !== undefined && s.abits !== undefined ? s.wbits : undefined);
    const unset = recipe ? ` (the recipe ${recipe.source} does not set it)` : "";
    if (bits === undefined) throw new InputError(`--bits is required unless both --wbits and --abits are given${unset}`);
    // yargs' own wording, as when --calib was a required option.
    if (s.calib === undefined) throw new InputError(`Missing required argument: calib${unset}`);
    const progress = progressMode(args.progress);
    const extras = prepareExtras({
      model: args.model,
      // The narrowest weight width anywhere (overrides included) decides whether INT4 packing applies.
      wbits: Math.min(s.wbits ?? bits, ...[...Object.values(overrides), ...Object.values(s.byNode ?? {}), ...Object.values(s.byOpType ?? {})].map((o) => o.wbits ?? 8)),
      packInt4: s.packInt4 ?? false,
      eval: args.eval,
      evalData: args["eval-data"],
      evalRows: args["eval-rows"],
      tokenizer: args.tokenizer,
      progress,
    });
    const lower = lowerOptions(args);
    if (args.format !== "ort" && Object.keys(lower).length) throw new InputError(`--chunk-rows and --float-weights are lowering options: they need --format ort`);
    const bar = makeProgress(progress, "calibrating");
    const options: Parameters<typeof quantizeModel>[0] = {
      model: args.model,
      out: args.o,
      ...s,
      bits,
      calib: s.calib,
      data: args.data,
      tokenizer: args.tokenizer,
      skipBadLabels: args["skip-bad-labels"],
      calibTable: args["calib-table"],
      saveCalibTable: args["save-calib-table"],
      seed: args.seed,
      overrides,
      recipe: recipe?.source,
      force: args.force,
      onProgress: bar?.update,
    };
    const result = await (args.format === "ort" ? quantizeToOrt(options, lower) : quantizeModel(options));
    bar?.done();
    const more = await extras(result.output);
    if (args.json) printJson({ ...result, ...more });
    else printSummary(result, more);
    if (!args.json && "lowered" in result) printLowerSummary(result.lowered as LowerReport);
  },
};
