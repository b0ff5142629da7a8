/**
 * The build plan: every model with the hashes of its data, every (model, recipe) artifact with
 * the content hash that names its cache entry and the `ptq-onnx quantize` command that makes
 * the same bytes. Everything is checked here, before any output is written.
 */
import { parseCalibMode } from "../calibrate/select.ts";
import { loadLabelledData, modelLabels } from "../data/resolve.ts";
import { defaultBatch, loadEvalData } from "../eval/evaluate.ts";
import { findRoles, InputError, loadModel, validateModel, type Model } from "../graph/index.ts";
import type { LowerOptions } from "../lower/index.ts";
import { UnsupportedLstmError } from "../passes/index.ts";
import type { RecipeSettings } from "../pipeline/presets.ts";
import type { QuantizeOptions } from "../pipeline/quantize-file.ts";
import { plan as planQuantization } from "../pipeline/plan.ts";
import { layerPolicy } from "../pipeline/quantize-file.ts";
import { loadRecipe, type LayerOverrides } from "../pipeline/recipe.ts";
import { canonicalJson, fileSha256, keyHash, sha256Hex } from "../study/hash.ts";
import { asKey, QUANTIZE_DEFAULTS, recipeSettings, TOOL_VERSION, type BenchSpec, type BuildSpec, type ModelEntry, type Recipe } from "./spec.ts";

/** Bump when a change to the build code changes what an artifact's entry holds. 2: recipes' format ort, presets and every quantize option; entries' format. */
export const BUILD_CODE_VERSION = "ptq-onnx-build/2";

export interface BuildModel extends ModelEntry {
  index: number;
  sha256: string;
  classes: number;
  batch: number;
  tokenizer_sha256: string | null;
  calib: { source: string; sha256: string };
  test: { source: string; sha256: string; n: number };
  /** The model's `ptq-onnx.kind` metadata (a generative model's artifacts cost about 10x). */
  kind: string | null;
}

export interface ArtifactSpec {
  /** MODEL.RECIPE: names the files in OUT/artifacts. */
  id: string;
  hash: string;
  model: number;
  recipe: number;
  command: string;
  key: Record<string, unknown>;
}

export interface BuildPlan {
  format: "ptq-onnx.build.plan";
  version: 1;
  tool_version: string;
  code_version: string;
  /** sha256 of the normalized build (models with their data hashes, recipes, rows, bench): shards of one build share it. */
  build_sha256: string;
  build_file: string;
  rows: number | null;
  bench: BenchSpec | null;
  models: BuildModel[];
  recipes: Recipe[];
  artifacts: ArtifactSpec[];
}

function numClasses(model: Model, labels: string[] | undefined, dataLabels: number[]): number {
  if (labels) return labels.length;
  const out = model.graph.outputs.find((v) => v.name === findRoles(model).scores.name);
  const dim = out?.shape?.[1];
  return typeof dim === "number" ? dim : Math.max(...dataLabels) + 1;
}

/** A shell word: quoted only when it needs to be. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** quantize's optional settings and their flags, in the order the equivalent command names them. */
const OPTIONAL_FLAGS: [keyof typeof QUANTIZE_DEFAULTS, string][] = [
  ["lstmInternals", "lstm-internals"],
  ["packInt4", "pack-int4"],
  ["actOrder", "act-order"],
  ["dampening", "dampening"],
  ["gpfqInputs", "gpfq-inputs"],
  ["groupSize", "group-size"],
  ["weightClip", "weight-clip"],
  ["weightSymmetric", "weight-symmetric"],
  ["biasCorrection", "bias-correction"],
  ["gatherPassThrough", "gather-pass-through"],
  ["embeddingGptq", "embedding-gptq"],
  ["equalize", "equalize"],
  ["equalizeAlpha", "equalize-alpha"],
];

/**
 * The `ptq-onnx quantize` command that writes the same model and calibration table (run in
 * the folder that should receive them). Paths are absolute, as the build passes them:
 * the table records the model's and data's paths, so the bytes depend on them. Bits, calib,
 * calib size, observer, granularity, rounding and seed are always named; any other setting
 * only where it differs from what quantize takes without its flag (the preset's value with
 * `--recipe`, else quantize's default), booleans as `--flag` or `--no-flag`.
 */
export function quantizeCommand(m: ModelEntry, r: Recipe, id: string): string {
  const args = ["ptq-onnx", "quantize", m.file];
  if (r.recipe !== null) args.push("--recipe", r.recipe);
  if (r.wbits === r.abits) args.push("--bits", String(r.wbits));
  else args.push("--wbits", String(r.wbits), "--abits", String(r.abits));
  args.push("--calib", r.calib, "--calib-size", String(r.calib_size), "--observer", r.observer, "--granularity", r.granularity, "--rounding", r.rounding);
  const preset: RecipeSettings = r.recipe !== null ? loadRecipe(r.recipe).settings : {};
  const settings = recipeSettings(r);
  for (const [key, flag] of OPTIONAL_FLAGS) {
    const value = settings[key];
    if (value === undefined || value === (preset[key] ?? QUANTIZE_DEFAULTS[key])) continue;
    if (typeof value === "boolean") args.push(value ? `--${flag}` : `--no-${flag}`);
    else args.push(`--${flag}`, String(value));
  }
  if (Object.keys(r.override).length) args.push("--override", overrideSpec(r.override));
  args.push("--seed", String(r.seed));
  if (r.format !== "qdq") args.push("--format", r.format);
  if (r.chunk_rows !== null) args.push("--chunk-rows", String(r.chunk_rows));
  if (r.float_weights !== null) args.push("--float-weights", String(r.float_weights));
  if (m.calib_data) args.push("--data", m.calib_data);
  if (m.tokenizer) args.push("--tokenizer", m.tokenizer);
  args.push("-o", `${id}.onnx`, "--save-calib-table", `${id}.calib.json`, "--no-eval");
  return args.map(shellWord).join(" ");
}

/** `lstm:w4a8,head:skip`: per-layer overrides as quantize's --override takes them (parseOverrideSpec's inverse). */
export function overrideSpec(overrides: LayerOverrides): string {
  const spec = (o: LayerOverrides[string]) => (o.skip ? "skip" : `${o.wbits !== undefined ? `w${o.wbits}` : ""}${o.abits !== undefined ? `a${o.abits}` : ""}`);
  return Object.entries(overrides)
    .map(([key, o]) => `${key}:${spec(o)}`)
    .join(",");
}

/** What quantizeModel (or quantizeToOrt) is called with for an artifact: the options `quantize` passes for its command. */
export function quantizeOptions(m: ModelEntry, r: Recipe, files: { model: string; table: string }): QuantizeOptions {
  return {
    model: m.file,
    out: files.model,
    saveCalibTable: files.table,
    ...recipeSettings(r),
    seed: r.seed,
    data: m.calib_data ?? undefined,
    tokenizer: m.tokenizer ?? undefined,
    overrides: r.override,
    // quantize records a preset's name in the model's ptq-onnx.quantization metadata.
    recipe: r.recipe ?? undefined,
  };
}

/** The lowering options of a format-ort recipe (unset ones keep lowerModel's defaults). */
export function recipeLowerOptions(r: Recipe): LowerOptions {
  return {
    ...(r.chunk_rows !== null ? { chunkRows: r.chunk_rows } : {}),
    ...(r.float_weights !== null ? { floatWeights: r.float_weights } : {}),
  };
}

/**
 * Plans each recipe's quantization of the model (graph only, no data), as quantize does before
 * it calibrates: what quantize refuses for this model (a group size that does not divide a
 * weight's input width, ...) stops the build here, naming the recipe and the model.
 */
function checkRecipes(spec: BuildSpec, e: ModelEntry, index: number, model: Model, file: string): void {
  const scores = findRoles(model).scores.name;
  spec.recipes.forEach((r, ri) => {
    try {
      planQuantization(model, layerPolicy(model, quantizeOptions(e, r, { model: "", table: "" }), scores));
    } catch (err) {
      // An LSTM that lstm_internals cannot decompose is this model's limit too, not a bug.
      if (!(err instanceof InputError || err instanceof UnsupportedLstmError)) throw err;
      const message = err instanceof InputError && err.file && err.message.startsWith(`${err.file}: `) ? err.message.slice(err.file.length + 2) : err.message;
      throw new RecipeError(`recipes[${ri}] "${r.name}": ${asKey(message)} (for models[${index}] "${e.name}")`, file);
    }
  });
}

/** A recipe refused for one model: named as such, not re-worded as the model entry's error. */
class RecipeError extends InputError {}

function planModel(spec: BuildSpec, e: ModelEntry, index: number, file: string): BuildModel {
  const where = `models[${index}] "${e.name}"`;
  const inEntry = (err: unknown): never => {
    const message = err instanceof Error ? err.message : String(err);
    throw new InputError(`${where}: ${message}`, file);
  };
  try {
    const model = loadModel(e.file);
    const problems = validateModel(model);
    if (problems.length) throw new InputError(problems[0], e.file);
    if (!e.test_data && !model.metadata.get("ptq-onnx.dataset")) throw new Error("no test data: give test_data (labelled JSONL), or use a zoo model");
    if (!e.calib_data && !model.metadata.get("ptq-onnx.dataset")) throw new Error("no calibration data: give calib_data (labelled JSONL), or use a zoo model");
    const tokenizer = e.tokenizer ?? undefined;
    const test = loadEvalData(model, { data: e.test_data ?? undefined, tokenizer, rows: spec.rows ?? undefined });
    const calib = e.calib_data
      ? { source: e.calib_data, sha256: fileSha256(e.calib_data) }
      : (() => {
          const d = loadLabelledData(model, { tokenizer, split: "val" });
          return { source: d.source, sha256: d.sha256 };
        })();
    const labels = modelLabels(model);
    const classes = numClasses(model, labels, test.labels);
    checkRecipes(spec, e, index, model, file);
    return {
      ...e,
      index,
      sha256: fileSha256(e.file),
      classes,
      batch: defaultBatch(model, test.tokenizer, test.labelNames),
      tokenizer_sha256: e.tokenizer ? fileSha256(e.tokenizer) : null,
      calib,
      test: { source: test.source, sha256: test.sha256, n: test.ids.length },
      kind: model.metadata.get("ptq-onnx.kind") ?? null,
    };
  } catch (err) {
    if (err instanceof RecipeError) throw err;
    return inEntry(err);
  }
}

/** Loads every model and its data, checks every recipe against every model, names every artifact. */
export function planBuild(spec: BuildSpec, buildFile: string): BuildPlan {
  const models = spec.models.map((e, i) => planModel(spec, e, i, buildFile));
  spec.recipes.forEach((r, ri) => {
    for (const m of models) {
      try {
        parseCalibMode(r.calib, m.classes);
      } catch (err) {
        throw new InputError(`recipes[${ri}] "${r.name}": calib: ${err instanceof Error ? err.message : String(err)} (for models[${m.index}] "${m.name}")`, buildFile);
      }
    }
  });
  const artifacts: ArtifactSpec[] = [];
  for (const m of models) {
    spec.recipes.forEach((r, ri) => {
      const id = `${m.name}.${r.name}`;
      const key = {
        code: BUILD_CODE_VERSION,
        tool: TOOL_VERSION,
        id,
        model: { file: m.file, sha256: m.sha256 },
        calib_data: m.calib,
        test: m.test.sha256,
        tokenizer: m.tokenizer ? { file: m.tokenizer, sha256: m.tokenizer_sha256 } : null,
        batch: m.batch,
        recipe: r,
        bench: spec.bench,
      };
      artifacts.push({ id, hash: keyHash(key), model: m.index, recipe: ri, command: quantizeCommand(m, r, id), key });
    });
  }
  const identity = { models: models.map((m) => ({ name: m.name, file: m.file, sha256: m.sha256, calib: m.calib, test: m.test })), recipes: spec.recipes, rows: spec.rows, bench: spec.bench };
  return {
    format: "ptq-onnx.build.plan",
    version: 1,
    tool_version: TOOL_VERSION,
    code_version: BUILD_CODE_VERSION,
    build_sha256: sha256Hex(canonicalJson(identity)),
    build_file: buildFile,
    rows: spec.rows,
    bench: spec.bench,
    models,
    recipes: spec.recipes,
    artifacts,
  };
}

/**
 * An artifact's estimated cost, relative to the others: its model's test rows, 10x for a
 * generative model (it scores every class; measured 8-10x on the zoo). Orders the pool's tasks
 * and balances the shards.
 */
export function artifactCost(plan: BuildPlan, a: ArtifactSpec): number {
  const m = plan.models[a.model];
  return m.test.n * (m.kind === "generative" ? 10 : 1);
}
