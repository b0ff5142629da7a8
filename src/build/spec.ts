/**
 * The build file (BUILD.json): which models, which recipes, how many test rows and how to
 * time them. Read strictly: an unknown key, a wrong type or a recipe `ptq-onnx quantize`
 * would refuse is an InputError naming the file and the entry (`recipes[1] "w4"`).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER } from "../pipeline/quantize-file.ts";
import { presetNames, RECIPE_PRESETS, type RecipeSettings } from "../pipeline/presets.ts";
import { applyRecipe, loadRecipe, parseOverrideValue, type LayerOverrides } from "../pipeline/recipe.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { GPFQ_INPUTS, makePolicy, ROUNDINGS, WEIGHT_CLIPS, type GpfqInputs, type Rounding, type WeightClip } from "../passes/policy.ts";
import { InputError, readInputFile } from "../graph/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The zoo: `{"zoo": "wordnet8-disc"}` names models/wordnet8-disc.onnx of this package. */
export const ZOO_DIR = join(ROOT, "models");
/** The version that made an artifact: package.json's, recorded in every manifest entry. */
export const TOOL_VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;

/**
 * Quantized-model formats a recipe may ask for, as `quantize --format`: `qdq` the portable Q/DQ
 * model, `ort` that model lowered to onnxruntime's integer kernels (src/lower).
 */
export const FORMATS = ["qdq", "ort"] as const;
export type Format = (typeof FORMATS)[number];

export interface ModelEntry {
  name: string;
  /** Absolute path of the float model. */
  file: string;
  /** The zoo name when given as one. */
  zoo: string | null;
  /** Absolute paths; null: the zoo model's own splits (or the model's metadata tokenizer). */
  calib_data: string | null;
  test_data: string | null;
  tokenizer: string | null;
}

/**
 * A recipe with every setting resolved (quantize's defaults, under the preset's settings, under
 * the recipe's own keys): what `quantize` is run with. All of it is part of the artifact's hash.
 */
export interface Recipe {
  name: string;
  /** A named preset (`quantize --recipe NAME`) whose settings the recipe's own keys override; null: none. */
  recipe: string | null;
  wbits: number;
  abits: number;
  calib: string;
  calib_size: number;
  observer: string;
  granularity: "per-channel" | "per-tensor";
  lstm_internals: boolean;
  pack_int4: boolean;
  rounding: Rounding;
  act_order: boolean;
  dampening: number;
  gpfq_inputs: GpfqInputs;
  /** Group-wise weight scales (32, 64 or 128 inputs); null: one scale per channel. */
  group_size: number | null;
  weight_clip: WeightClip;
  weight_symmetric: boolean;
  bias_correction: boolean;
  gather_pass_through: boolean;
  embedding_gptq: boolean;
  equalize: boolean;
  equalize_alpha: number;
  /** Per-layer bits (quantize's --override), keyed as written: node name, op type or name segment; {}: none. */
  override: LayerOverrides;
  seed: number;
  format: Format;
  /** Lowering options (format ort only): quantize's --chunk-rows and --float-weights; null: lower's default. */
  chunk_rows: number | null;
  float_weights: number | null;
}

/** makePolicy with no options: quantize's own defaults, the one place they are written. */
const POLICY_DEFAULTS = makePolicy({});

/**
 * The settings quantize takes for each optional key when neither the command line nor a preset
 * gives it (makePolicy's defaults): the equivalent command names a setting only where the
 * recipe's value differs from the preset's or, without one, from these.
 */
export const QUANTIZE_DEFAULTS = {
  lstmInternals: POLICY_DEFAULTS.lstmInternals,
  packInt4: POLICY_DEFAULTS.packInt4,
  actOrder: POLICY_DEFAULTS.actOrder,
  dampening: POLICY_DEFAULTS.dampening,
  gpfqInputs: POLICY_DEFAULTS.gpfqInputs,
  groupSize: POLICY_DEFAULTS.groupSize,
  weightClip: POLICY_DEFAULTS.weightClip,
  weightSymmetric: POLICY_DEFAULTS.weightSymmetric,
  biasCorrection: POLICY_DEFAULTS.biasCorrection,
  gatherPassThrough: POLICY_DEFAULTS.gatherPassThrough,
  embeddingGptq: POLICY_DEFAULTS.embeddingGptq,
  equalize: POLICY_DEFAULTS.equalize,
  equalizeAlpha: POLICY_DEFAULTS.equalizeAlpha,
} satisfies RecipeSettings;

/** The settings a recipe passes to quantizeModel, as `quantize`'s handler passes its options (bits, calib and all). */
export function recipeSettings(r: Recipe): RecipeSettings & { bits: number; calib: string } {
  return {
    bits: r.wbits,
    wbits: r.wbits,
    abits: r.abits,
    calib: r.calib,
    calibSize: r.calib_size,
    observer: r.observer,
    granularity: r.granularity,
    lstmInternals: r.lstm_internals,
    packInt4: r.pack_int4,
    rounding: r.rounding,
    actOrder: r.act_order,
    dampening: r.dampening,
    gpfqInputs: r.gpfq_inputs,
    groupSize: r.group_size ?? undefined,
    weightClip: r.weight_clip,
    weightSymmetric: r.weight_symmetric,
    biasCorrection: r.bias_correction,
    gatherPassThrough: r.gather_pass_through,
    embeddingGptq: r.embedding_gptq,
    equalize: r.equalize,
    equalizeAlpha: r.equalize_alpha,
  };
}

export interface BenchSpec {
  batches: number[];
  runs: number;
  warmup: number;
}

export interface BuildSpec {
  models: ModelEntry[];
  recipes: Recipe[];
  /** A fixed random sample of N test rows (eval --rows N); null: all. */
  rows: number | null;
  /** Latency at 1 thread; null: not measured. */
  bench: BenchSpec | null;
}

export const DEFAULT_BENCH: BenchSpec = { batches: [1, 32], runs: 50, warmup: 5 };

const TOP_KEYS = ["models", "recipes", "rows", "bench"];
const MODEL_KEYS = ["name", "path", "zoo", "calib_data", "test_data", "tokenizer"];
const RECIPE_KEYS = [
  "name",
  "recipe",
  "bits",
  "wbits",
  "abits",
  "calib",
  "calib_size",
  "observer",
  "granularity",
  "lstm_internals",
  "pack_int4",
  "rounding",
  "act_order",
  "dampening",
  "gpfq_inputs",
  "group_size",
  "weight_clip",
  "weight_symmetric",
  "bias_correction",
  "gather_pass_through",
  "embedding_gptq",
  "equalize",
  "equalize_alpha",
  "override",
  "seed",
  "format",
  "chunk_rows",
  "float_weights",
];
const BENCH_KEYS = ["batches", "runs", "warmup"];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Obj = Record<string, unknown>;

class Reader {
  constructor(readonly file: string) {}

  fail(where: string, message: string): never {
    throw new InputError(`${where}: ${message}`, this.file);
  }

  /** An object with only known keys; an entry with a name is named in the error. */
  object(v: unknown, where: string, keys: string[]): Obj {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(where, "must be an object");
    const name = (v as Obj).name ?? (v as Obj).zoo;
    const named = typeof name === "string" ? `${where} "${name}"` : where;
    for (const k of Object.keys(v as Obj)) if (!keys.includes(k)) this.fail(named, `unknown key "${k}" (known: ${keys.join(", ")})`);
    return v as Obj;
  }

  int(o: Obj, key: string, where: string, min: number, max?: number): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || (max !== undefined && v > max)) {
      this.fail(where, `${key} must be an integer ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A finite number of at least `min`. */
  num(o: Obj, key: string, where: string, min: number): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) this.fail(where, `${key} must be a number of at least ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  str(o: Obj, key: string, where: string): string | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v.trim() === "") this.fail(where, `${key} must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(o: Obj, key: string, where: string): boolean | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") this.fail(where, `${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(o: Obj, key: string, where: string, choices: readonly T[]): T | undefined {
    const v = this.str(o, key, where);
    if (v !== undefined && !choices.includes(v as T)) this.fail(where, `${key} must be ${choices.join(" or ")}, got "${v}"`);
    return v as T | undefined;
  }

  /** A path relative to the build file's folder, which must exist. */
  path(o: Obj, key: string, where: string): string | null {
    const v = this.str(o, key, where);
    if (v === undefined) return null;
    const abs = isAbsolute(v) ? v : resolve(dirname(this.file), v);
    if (!existsSync(abs)) this.fail(where, `${key} ${v}: no such file`);
    return abs;
  }
}

function readModel(r: Reader, v: unknown, i: number): ModelEntry {
  let where = `models[${i}]`;
  const o = r.object(v, where, MODEL_KEYS);
  const path = r.str(o, "path", where);
  const zoo = r.str(o, "zoo", where);
  if ((path === undefined) === (zoo === undefined)) r.fail(where, 'give exactly one of "path" (an ONNX file) and "zoo" (a zoo model name)');
  const name = r.str(o, "name", where) ?? (zoo ?? path!.replace(/^.*\//, "").replace(/\.onnx$/, ""));
  if (!NAME.test(name)) r.fail(where, `name "${name}" may use only letters, digits, '.', '_' and '-'`);
  where = `models[${i}] "${name}"`;
  let file: string;
  if (zoo !== undefined) {
    file = join(ZOO_DIR, `${zoo}.onnx`);
    if (!NAME.test(zoo) || !existsSync(file)) r.fail(where, `no zoo model "${zoo}" in ${ZOO_DIR}`);
  } else file = r.path(o, "path", where)!;
  return { name, file, zoo: zoo ?? null, calib_data: r.path(o, "calib_data", where), test_data: r.path(o, "test_data", where), tokenizer: r.path(o, "tokenizer", where) };
}

/** quantize's wording of an option (`--group-size`) as the build file's key (`group_size`). */
export const asKey = (message: string): string => message.replace(/--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g, (_, flag: string) => flag.replace(/-/g, "_"));

/**
 * `"override": {"lstm": "w4a8", "Gemm": "w8", "head": "skip"}`: quantize's `--override
 * lstm:w4a8,Gemm:w8,head:skip` as an object, each value parsed as quantize parses it. Which
 * layer a key names is checked against each model when the build is planned.
 */
function readOverride(r: Reader, o: Obj, where: string): LayerOverrides {
  const v = o.override;
  if (v === undefined) return {};
  const form = '{"LAYER": "w4a8" | "w4" | "a8" | "skip", ...}';
  if (v === null || typeof v !== "object" || Array.isArray(v) || Object.keys(v).length === 0) r.fail(where, `override must be a non-empty object ${form}, got ${JSON.stringify(v)}`);
  const out: LayerOverrides = {};
  for (const [key, spec] of Object.entries(v as Obj)) {
    // The command joins the entries as KEY:SPEC with commas: a key must survive that.
    if (key === "" || key.trim() !== key || key.includes(",")) r.fail(where, `override: layer key ${JSON.stringify(key)} must be non-empty, without a comma or surrounding spaces`);
    if (typeof spec !== "string") r.fail(where, `override ${key} must be a string ("w4a8", "w4", "a8" or "skip"), got ${JSON.stringify(spec)}`);
    try {
      out[key] = parseOverrideValue(spec, `override ${key}`);
    } catch (e) {
      r.fail(where, e instanceof Error ? e.message : String(e));
    }
  }
  return out;
}

function readRecipe(r: Reader, v: unknown, i: number): Recipe {
  let where = `recipes[${i}]`;
  const o = r.object(v, where, RECIPE_KEYS);
  const name = r.str(o, "name", where);
  if (name === undefined) r.fail(where, "needs a name (it names the artifacts)");
  if (!NAME.test(name)) r.fail(where, `name "${name}" may use only letters, digits, '.', '_' and '-'`);
  where = `recipes[${i}] "${name}"`;
  const presetName = r.str(o, "recipe", where);
  if (presetName !== undefined && !Object.hasOwn(RECIPE_PRESETS, presetName)) r.fail(where, `recipe must be a preset name (${presetNames().join(", ")}), got "${presetName}"`);
  const preset = presetName === undefined ? undefined : loadRecipe(presetName);
  // The recipe's own keys over the preset's settings, merged as quantize merges its options over --recipe.
  const s = applyRecipe(
    {
      bits: r.int(o, "bits", where, 2, 8),
      wbits: r.int(o, "wbits", where, 2, 8),
      abits: r.int(o, "abits", where, 2, 8),
      calib: r.str(o, "calib", where)?.trim(),
      calibSize: r.int(o, "calib_size", where, 1),
      observer: r.str(o, "observer", where),
      granularity: r.oneOf(o, "granularity", where, ["per-channel", "per-tensor"] as const),
      lstmInternals: r.bool(o, "lstm_internals", where),
      packInt4: r.bool(o, "pack_int4", where),
      rounding: r.oneOf(o, "rounding", where, ROUNDINGS),
      actOrder: r.bool(o, "act_order", where),
      dampening: r.num(o, "dampening", where, 0),
      gpfqInputs: r.oneOf(o, "gpfq_inputs", where, GPFQ_INPUTS),
      groupSize: r.int(o, "group_size", where, 1),
      weightClip: r.oneOf(o, "weight_clip", where, WEIGHT_CLIPS),
      weightSymmetric: r.bool(o, "weight_symmetric", where),
      biasCorrection: r.bool(o, "bias_correction", where),
      gatherPassThrough: r.bool(o, "gather_pass_through", where),
      embeddingGptq: r.bool(o, "embedding_gptq", where),
      equalize: r.bool(o, "equalize", where),
      equalizeAlpha: r.num(o, "equalize_alpha", where, 0),
    },
    preset,
  );
  // As quantize: --bits, else --wbits and --abits both.
  const bits = s.bits ?? (s.wbits !== undefined && s.abits !== undefined ? s.wbits : undefined);
  if (bits === undefined) r.fail(where, `needs bits (or both wbits and abits), as quantize's --bits${preset ? ` (the preset ${preset.source} does not set it)` : ""}`);
  if (s.calib === undefined) r.fail(where, "needs calib (balanced, natural, dist:p1,...,pC or classes:i,j), as quantize's --calib");
  const lstmInternals = s.lstmInternals ?? QUANTIZE_DEFAULTS.lstmInternals;
  let observer: string;
  try {
    observer = parseObserver(s.observer ?? (lstmInternals ? DEFAULT_INTERNALS_OBSERVER : DEFAULT_OBSERVER)).spec;
  } catch (e) {
    r.fail(where, `observer: ${e instanceof Error ? e.message : String(e)}`);
  }
  const format = r.oneOf(o, "format", where, FORMATS) ?? "qdq";
  const chunkRows = r.int(o, "chunk_rows", where, 0) ?? null;
  const floatWeights = r.int(o, "float_weights", where, 0) ?? null;
  const recipe: Recipe = {
    name,
    recipe: presetName ?? null,
    wbits: s.wbits ?? bits,
    abits: s.abits ?? bits,
    calib: s.calib,
    calib_size: s.calibSize ?? DEFAULT_CALIB_SIZE,
    observer,
    granularity: s.granularity ?? "per-channel",
    lstm_internals: lstmInternals,
    pack_int4: s.packInt4 ?? QUANTIZE_DEFAULTS.packInt4,
    rounding: s.rounding ?? "nearest",
    act_order: s.actOrder ?? QUANTIZE_DEFAULTS.actOrder,
    dampening: s.dampening ?? QUANTIZE_DEFAULTS.dampening,
    gpfq_inputs: s.gpfqInputs ?? QUANTIZE_DEFAULTS.gpfqInputs,
    group_size: s.groupSize ?? null,
    weight_clip: s.weightClip ?? QUANTIZE_DEFAULTS.weightClip,
    weight_symmetric: s.weightSymmetric ?? QUANTIZE_DEFAULTS.weightSymmetric,
    bias_correction: s.biasCorrection ?? QUANTIZE_DEFAULTS.biasCorrection,
    gather_pass_through: s.gatherPassThrough ?? QUANTIZE_DEFAULTS.gatherPassThrough,
    embedding_gptq: s.embeddingGptq ?? QUANTIZE_DEFAULTS.embeddingGptq,
    equalize: s.equalize ?? QUANTIZE_DEFAULTS.equalize,
    equalize_alpha: s.equalizeAlpha ?? QUANTIZE_DEFAULTS.equalizeAlpha,
    override: readOverride(r, o, where),
    seed: r.int(o, "seed", where, 0) ?? 0,
    format,
    chunk_rows: chunkRows,
    float_weights: floatWeights,
  };
  // What quantize would refuse for these options alone (not for a model), in its own words with the build file's key names.
  try {
    makePolicy(recipeSettings(recipe));
  } catch (e) {
    r.fail(where, asKey(e instanceof Error ? e.message : String(e)) + (presetName !== undefined ? ` (with the preset ${presetName}'s settings)` : ""));
  }
  if (format === "ort" && lstmInternals) {
    r.fail(where, `format "ort" cannot take lstm_internals${presetName !== undefined && o.lstm_internals === undefined ? ` (set by the preset ${presetName})` : ""}: that simulation format has no integer kernel`);
  }
  if (format !== "ort" && (chunkRows !== null || floatWeights !== null)) r.fail(where, 'chunk_rows and float_weights are lowering options: they need format "ort"');
  return recipe;
}

function readBench(r: Reader, v: unknown): BenchSpec | null {
  if (v === false) return null;
  if (v === undefined) return { ...DEFAULT_BENCH };
  const o = r.object(v, "bench", BENCH_KEYS);
  const batches = o.batches === undefined ? DEFAULT_BENCH.batches : o.batches;
  if (!Array.isArray(batches) || batches.length === 0 || batches.some((b) => !Number.isSafeInteger(b) || b < 1)) {
    r.fail("bench", `batches must be a list of positive integers, got ${JSON.stringify(batches)}`);
  }
  return { batches: [...new Set(batches as number[])], runs: r.int(o, "runs", "bench", 1) ?? DEFAULT_BENCH.runs, warmup: r.int(o, "warmup", "bench", 0) ?? DEFAULT_BENCH.warmup };
}

function unique(r: Reader, names: string[], what: string): void {
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) r.fail(`${what}[${names.lastIndexOf(dup)}] "${dup}"`, `the name "${dup}" is used twice`);
}

/** Reads and checks BUILD.json; paths in it are relative to its folder. */
export function readBuildFile(file: string): BuildSpec {
  const text = new TextDecoder().decode(readInputFile(file, "build file"));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(`is not JSON (${e instanceof Error ? e.message : String(e)})`, file);
  }
  const r: Reader = new Reader(file);
  const o = r.object(raw, "the build file", TOP_KEYS);
  if (!Array.isArray(o.models) || o.models.length === 0) r.fail("models", "must be a non-empty list");
  if (!Array.isArray(o.recipes) || o.recipes.length === 0) r.fail("recipes", "must be a non-empty list");
  const models = o.models.map((m, i) => readModel(r, m, i));
  const recipes = o.recipes.map((x, i) => readRecipe(r, x, i));
  unique(r, models.map((m) => m.name), "models");
  unique(r, recipes.map((x) => x.name), "recipes");
  return { models, recipes, rows: r.int(o, "rows", "rows", 1) ?? null, bench: readBench(r, o.bench) };
}
