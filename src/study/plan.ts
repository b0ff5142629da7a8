/**
 * The study grid: options normalized into settings, and the plan: every model with its data
 * hashes, every calibration and every cell with the content hash that names its cache file.
 */
import { basename } from "node:path";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER } from "../pipeline/quantize-file.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { parseCalibMode } from "../calibrate/select.ts";
import { loadLabelledData, modelLabels } from "../data/resolve.ts";
import { defaultBatch, loadEvalData } from "../eval/evaluate.ts";
import { parseNoiseLevels, type NoiseKind } from "../eval/noise.ts";
import { findRoles, InputError, loadModel, validateModel, type Model } from "../graph/index.ts";
import { DEFAULT_EQUALIZE_ALPHA, makePolicy, ROUNDINGS, type Rounding, type WeightClip } from "../passes/policy.ts";
import { presetByName } from "../pipeline/presets.ts";
import { canonicalJson, fileSha256, keyHash, STUDY_CODE_VERSION } from "./hash.ts";

export const DEFAULT_BITS = [3, 4, 5, 6, 8];
export const DEFAULT_CALIB = ["balanced", "natural", "classes:0"];
export const DEFAULT_NOISE = ["gauss:0.002,0.006,0.01"];
export const DEFAULT_SEEDS = 3;
export const DEFAULT_RESAMPLES = 10000;

/** What `--quick` sets for every option not given: a grid CI runs in a few minutes on 2 cores. */
export const QUICK = {
  bits: [8, 4],
  calib: ["balanced", "classes:0"],
  noise: ["gauss:0.006"],
  seeds: 1,
  calibSize: 256,
  rows: 300,
  resamples: 2000,
};

export type ModelKind = "discriminative" | "generative" | "unknown";

/** Everything `ptq-onnx study` takes (the library form of its options). */
export interface StudyOptions {
  models: string[];
  bits?: number[];
  calib?: string[];
  /** `KIND:L1,L2,...` per noise kind. */
  noise?: string[];
  /** Noise seeds per level: 0 .. seeds-1. */
  seeds?: number;
  /** Calibration sampling seeds per (model, bits, calibration mode): 0 .. calibSeeds-1. */
  calibSeeds?: number;
  calibSize?: number;
  observer?: string;
  lstmInternals?: boolean;
  rounding?: Rounding;
  granularity?: "per-channel" | "per-tensor";
  weightClip?: WeightClip;
  biasCorrection?: boolean;
  /** GPTQ act-order, asymmetric weight codes, the embedding's rows as codes, the table GPTQ-rounded (set by a recipe such as `best`). */
  actOrder?: boolean;
  weightSymmetric?: boolean;
  gatherPassThrough?: boolean;
  embeddingGptq?: boolean;
  /** Exact embedding equalization before calibration (recipe field `equalize`), and its alpha. */
  equalize?: boolean;
  equalizeAlpha?: number;
  /**
   * A named recipe (RECIPE_PRESETS: `study`, `best`, ...): its settings fill in the options
   * above that are not given; one the study cannot vary (its own grid sets bits and calibration) is refused.
   */
  recipe?: string;
  /** Test rows: a fixed random sample of N (0 or undefined: all). */
  rows?: number;
  calibData?: string;
  testData?: string;
  tokenizer?: string;
  /** Rows per onnxruntime run; default per model (eval's rule). */
  batch?: number;
  /** Model kinds, one per model, for models without `ptq-onnx.kind` metadata. */
  kinds?: string[];
  /** Bootstrap resamples for the confidence intervals. */
  resamples?: number;
  quick?: boolean;
}

/** The normalized grid: what the results depend on (no output folder, jobs or shard). */
export interface StudySettings {
  bits: number[];
  calib: string[];
  /** The calibration every other mode is compared with: balanced when listed, else the first. */
  reference_calib: string;
  noise: { kind: NoiseKind; levels: number[] }[];
  seeds: number[];
  calib_seeds: number[];
  calib_size: number;
  observer: string;
  lstm_internals: boolean;
  rounding: Rounding;
  granularity: "per-channel" | "per-tensor";
  /** Set only when not the default (`max`, off), so earlier studies keep their results' bytes. */
  weight_clip?: WeightClip;
  bias_correction?: boolean;
  act_order?: boolean;
  /** false: asymmetric weight codes. */
  weight_symmetric?: boolean;
  gather_pass_through?: boolean;
  embedding_gptq?: boolean;
  /** With equalization: its alpha. */
  equalize?: number;
  /** The recipe named with --recipe, if any. */
  recipe?: string;
  rows: number | null;
  calib_data: string | null;
  test_data: string | null;
  tokenizer: string | null;
  batch: number | null;
  resamples: number;
  quick: boolean;
}

export interface PlanModel {
  index: number;
  file: string;
  name: string;
  sha256: string;
  kind: ModelKind;
  /** Where the kind came from: metadata, --kinds, or the file name. */
  kind_source: "metadata" | "option" | "file name" | "none";
  labels: string[] | null;
  classes: number;
  dataset: string | null;
  batch: number;
  tokenizer_sha256: string | null;
  test: { source: string; sha256: string; n: number; labels: string };
  calib_data: { source: string; sha256: string };
}

export interface CalibrationSpec {
  hash: string;
  model: number;
  mode: string;
  seed: number;
  key: Record<string, unknown>;
}

export interface CellSpec {
  hash: string;
  type: "float" | "quant";
  model: number;
  bits: number | null;
  calib: string | null;
  calib_seed: number | null;
  /** The calibration this cell quantizes with, and the reference one it is compared with. */
  calibration: string | null;
  reference: string | null;
  key: Record<string, unknown>;
}

export interface Plan {
  format: "ptq-onnx.study.plan";
  version: 1;
  code_version: string;
  settings: StudySettings;
  models: PlanModel[];
  calibrations: CalibrationSpec[];
  cells: CellSpec[];
}

function intList(values: number[], what: string, min: number, max: number): number[] {
  for (const v of values) {
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new InputError(`--${what}: ${v} is not an integer from ${min} to ${max}`);
  }
  return [...new Set(values)];
}

function positive(v: number | undefined, what: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min) throw new InputError(`--${what} must be an integer of at least ${min}, got ${v}`);
  return v;
}

export function normalizeSettings(given: StudyOptions): StudySettings {
  const opts = withRecipe(given);
  const q = opts.quick ?? false;
  const bits = intList(opts.bits ?? (q ? QUICK.bits : DEFAULT_BITS), "bits", 2, 8).sort((a, b) => a - b);
  const calib = [...new Set((opts.calib ?? (q ? QUICK.calib : DEFAULT_CALIB)).map((c) => c.trim()))];
  if (calib.length === 0 || calib.some((c) => c === "")) throw new InputError("--calib: empty calibration mode");
  const noise = (opts.noise ?? (q ? QUICK.noise : DEFAULT_NOISE)).map((spec) => {
    const parsed = parseNoiseLevels(spec);
    return { kind: parsed.kind, levels: parsed.levels.filter((l) => l > 0).sort((a, b) => a - b) };
  });
  const kinds = noise.map((n) => n.kind);
  const dup = kinds.find((k, i) => kinds.indexOf(k) !== i);
  if (dup) throw new InputError(`--noise: ${dup} is given twice (list its levels in one --noise ${dup}:L1,L2,...)`);
  const seeds = positive(opts.seeds, "seeds") ?? (q ? QUICK.seeds : DEFAULT_SEEDS);
  const calibSeeds = positive(opts.calibSeeds, "calib-seeds") ?? 1;
  const calibSize = positive(opts.calibSize, "calib-size") ?? (q ? QUICK.calibSize : DEFAULT_CALIB_SIZE);
  const lstmInternals = opts.lstmInternals ?? false;
  const observer = parseObserver(opts.observer ?? (lstmInternals ? DEFAULT_INTERNALS_OBSERVER : DEFAULT_OBSERVER)).spec;
  const rounding = opts.rounding ?? "nearest";
  if (!(ROUNDINGS as readonly string[]).includes(rounding)) throw new InputError(`--rounding must be ${ROUNDINGS.join(", ")}, got ${String(rounding)}`);
  const granularity = opts.granularity ?? "per-channel";
  // makePolicy checks the rest (granularity and clip names) as quantize does.
  makePolicy({ bits: 8, granularity, rounding, weightClip: opts.weightClip, biasCorrection: opts.biasCorrection, actOrder: opts.actOrder, embeddingGptq: opts.embeddingGptq, equalize: opts.equalize, equalizeAlpha: opts.equalizeAlpha });
  const weightClip = opts.weightClip ?? "max";
  const biasCorrection = opts.biasCorrection ?? false;
  const rowsOpt = opts.rows === undefined ? (q ? QUICK.rows : undefined) : opts.rows === 0 ? undefined : positive(opts.rows, "rows");
  return {
    bits,
    calib,
    reference_calib: calib.includes("balanced") ? "balanced" : calib[0],
    noise,
    seeds: Array.from({ length: seeds }, (_, i) => i),
    calib_seeds: Array.from({ length: calibSeeds }, (_, i) => i),
    calib_size: calibSize,
    observer,
    lstm_internals: lstmInternals,
    rounding,
    granularity,
    ...(weightClip !== "max" ? { weight_clip: weightClip } : {}),
    ...(biasCorrection ? { bias_correction: true } : {}),
    ...(opts.actOrder ? { act_order: true } : {}),
    ...(opts.weightSymmetric === false ? { weight_symmetric: false } : {}),
    ...(opts.gatherPassThrough ? { gather_pass_through: true } : {}),
    ...(opts.embeddingGptq ? { embedding_gptq: true } : {}),
    ...(opts.equalize ? { equalize: opts.equalizeAlpha ?? DEFAULT_EQUALIZE_ALPHA } : {}),
    ...(opts.recipe !== undefined ? { recipe: opts.recipe } : {}),
    rows: rowsOpt ?? null,
    calib_data: opts.calibData ?? null,
    test_data: opts.testData ?? null,
    tokenizer: opts.tokenizer ?? null,
    batch: positive(opts.batch, "batch") ?? null,
    resamples: positive(opts.resamples, "resamples") ?? (q ? QUICK.resamples : DEFAULT_RESAMPLES),
    quick: q,
  };
}

function kindOf(model: Model | undefined, file: string, given: string | undefined): { kind: ModelKind; source: PlanModel["kind_source"] } {
  const norm = (k: string): ModelKind | undefined => {
    const t = k.trim().toLowerCase();
    if (["discriminative", "disc", "d"].includes(t)) return "discriminative";
    if (["generative", "gen", "g"].includes(t)) return "generative";
    if (t === "unknown") return "unknown";
    return undefined;
  };
  if (given !== undefined) {
    const k = norm(given);
    if (!k) throw new InputError(`--kinds: "${given}" is not discriminative, generative or unknown`);
    return { kind: k, source: "option" };
  }
  const meta = model?.metadata.get("ptq-onnx.kind");
  if (meta && norm(meta)) return { kind: norm(meta)!, source: "metadata" };
  const name = basename(file).toLowerCase();
  if (/gen/.test(name)) return { kind: "generative", source: "file name" };
  if (/disc/.test(name)) return { kind: "discriminative", source: "file name" };
  return { kind: "unknown", source: "none" };
}

function numClasses(model: Model, labels: string[] | undefined, dataLabels: number[]): number {
  if (labels) return labels.length;
  const out = model.graph.outputs.find((v) => v.name === findRoles(model).scores.name);
  const dim = out?.shape?.[1];
  return typeof dim === "number" ? dim : Math.max(...dataLabels) + 1;
}

/** Labels as one string: base-36 digits when every class fits one, else comma-separated. */
/** Recipe settings the study takes, as StudyOptions' names; the others it cannot vary per cell. */
const STUDY_RECIPE_FIELDS = ["observer", "lstmInternals", "rounding", "granularity", "weightClip", "biasCorrection", "actOrder", "weightSymmetric", "gatherPassThrough", "embeddingGptq", "equalize", "equalizeAlpha", "calibSize"] as const;

/**
 * The options with a named recipe's settings filled in where the options leave them open
 * (an option given wins). A recipe's `bits` becomes the grid's one width unless --bits is
 * given; a setting the study cannot take (calibration mode, separate widths, act-order, ...) is refused.
 */
export function withRecipe(opts: StudyOptions): StudyOptions {
  if (opts.recipe === undefined) return opts;
  const { settings } = presetByName(opts.recipe);
  const out: StudyOptions = { ...opts };
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (key === "bits") {
      out.bits ??= [value as number];
      continue;
    }
    if (!(STUDY_RECIPE_FIELDS as readonly string[]).includes(key)) {
      throw new InputError(`--recipe ${opts.recipe}: sets ${key}, which the study runner does not take (it takes ${STUDY_RECIPE_FIELDS.join(", ")} and bits)`);
    }
    const k = key as (typeof STUDY_RECIPE_FIELDS)[number];
    if (out[k] === undefined) (out as unknown as Record<string, unknown>)[k] = value;
  }
  return out;
}

export function encodeLabels(values: ArrayLike<number>, classes: number): string {
  const out: string[] = [];
  if (classes <= 36) {
    for (let i = 0; i < values.length; i++) out.push(values[i].toString(36));
    return out.join("");
  }
  for (let i = 0; i < values.length; i++) out.push(String(values[i]));
  return out.join(",");
}

export function decodeLabels(text: string, classes: number): Int32Array {
  if (classes <= 36) {
    const out = new Int32Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = parseInt(text[i], 36);
    return out;
  }
  return text === "" ? new Int32Array(0) : Int32Array.from(text.split(",").map(Number));
}

/** The files a study plans, checked: each once, in order; --kinds, if given, one per file. */
function modelFiles(opts: StudyOptions): string[] {
  if (!opts.models || opts.models.length === 0) throw new InputError("--models A.onnx,B.onnx is required");
  const files = [...new Set(opts.models)];
  if (opts.kinds && opts.kinds.length !== files.length) {
    throw new InputError(`--kinds gives ${opts.kinds.length} kinds for ${files.length} models`);
  }
  return files;
}

/** Reads one model and its data (tokenizing its test and calibration splits) and checks the grid against them. */
function planModel(opts: StudyOptions, settings: StudySettings, files: string[], index: number, tokenizerSha: string | null): PlanModel {
  const file = files[index];
  const model = loadModel(file);
  const problems = validateModel(model);
  if (problems.length) throw new InputError(problems[0], file);
  const sha256 = fileSha256(file);
  const labels = modelLabels(model);
  const test = loadEvalData(model, { data: settings.test_data ?? undefined, tokenizer: settings.tokenizer ?? undefined, rows: settings.rows ?? undefined });
  const classes = numClasses(model, labels, test.labels);
  for (const mode of settings.calib) parseCalibMode(mode, classes);
  const calibSource = settings.calib_data
    ? { source: settings.calib_data, sha256: fileSha256(settings.calib_data) }
    : (() => {
        const d = loadLabelledData(model, { tokenizer: settings.tokenizer ?? undefined, split: "val" });
        return { source: d.source, sha256: d.sha256 };
      })();
  const { kind, source } = kindOf(model, file, opts.kinds?.[index]);
  return {
    index,
    file,
    name: modelName(files, index),
    sha256,
    kind,
    kind_source: source,
    labels: labels ?? null,
    classes,
    dataset: model.metadata.get("ptq-onnx.dataset") ?? null,
    batch: settings.batch ?? defaultBatch(model, test.tokenizer, test.labelNames),
    tokenizer_sha256: tokenizerSha,
    test: { source: test.source, sha256: test.sha256, n: test.ids.length, labels: encodeLabels(test.labels, classes) },
    calib_data: calibSource,
  };
}

/** A model's name in the study: its file name, with `#position` when another file has the same name. */
function modelName(files: string[], index: number): string {
  const names = files.map((f) => basename(f).replace(/\.onnx$/, ""));
  return names.indexOf(names[index]) !== index ? `${names[index]}#${index + 1}` : names[index];
}

/** Reads every model and its data, checks the grid against them, and names every cell. */
export function buildPlan(opts: StudyOptions, settings = normalizeSettings(opts)): Plan {
  const files = modelFiles(opts);
  const tokenizerSha = settings.tokenizer ? fileSha256(settings.tokenizer) : null;
  const models = files.map((_, index) => planModel(opts, settings, files, index, tokenizerSha));
  return { format: "ptq-onnx.study.plan", version: 1, code_version: STUDY_CODE_VERSION, settings, models, ...planCells(settings, models) };
}

/**
 * A shard's plan from the plan another run wrote (its study.json: `study ... --max-cells 0`
 * plans once), so that a shard reads no model it does not run, and tokenizes no data set at
 * planning: on a zoo of M models every shard would otherwise load and tokenize all M. Checked
 * here: the file is a plan of this study code with these settings, model files (and --kinds),
 * its calibrations and cells are the ones its models give, and the model files this shard runs
 * (`owned`, model positions given the plan) still have the planned sha256. The data hashes
 * are checked where the data is read: by the tasks (test rows in the cells, the calibration
 * pool in the calibrations), against the plan. `planFile` names the file in errors.
 */
export function planFromFile(
  opts: StudyOptions,
  planFile: string,
  text: string,
  owned: (plan: Plan) => number[],
  settings = normalizeSettings(opts),
): Plan {
  const files = modelFiles(opts);
  let given: Plan;
  try {
    given = JSON.parse(text) as Plan;
  } catch {
    throw new InputError("--plan: not JSON (give the study.json a study run wrote)", planFile);
  }
  if (given?.format !== "ptq-onnx.study.plan" || given.version !== 1 || !Array.isArray(given.models) || !Array.isArray(given.cells)) {
    throw new InputError("--plan: not a ptq-onnx study plan (give the study.json a study run wrote)", planFile);
  }
  if (given.code_version !== STUDY_CODE_VERSION) throw new InputError(`--plan: written by study code ${given.code_version}, this is ${STUDY_CODE_VERSION}`, planFile);
  if (canonicalJson(given.settings) !== canonicalJson(settings)) throw new InputError("--plan: its grid settings differ from these options", planFile);
  const planned = given.models.map((m) => m.file);
  if (canonicalJson(planned) !== canonicalJson(files)) throw new InputError(`--plan: plans models ${planned.join(",")}, not --models ${files.join(",")}`, planFile);
  given.models.forEach((m, i) => {
    const kind = opts.kinds?.[i];
    if (kind === undefined ? m.kind_source === "option" : m.kind_source !== "option" || kindOf(undefined, m.file, kind).kind !== m.kind) {
      throw new InputError(`--plan: ${m.file} was planned with kind ${m.kind} (${m.kind_source}), not as --kinds gives now`, planFile);
    }
  });
  const tokenizerSha = settings.tokenizer ? fileSha256(settings.tokenizer) : null;
  const plan: Plan = { format: "ptq-onnx.study.plan", version: 1, code_version: STUDY_CODE_VERSION, settings, models: given.models, ...planCells(settings, given.models) };
  if (canonicalJson(plan) !== canonicalJson(given) || given.models.some((m, i) => m.index !== i || m.tokenizer_sha256 !== tokenizerSha)) {
    throw new InputError("--plan: its calibrations or cells are not the ones its models give (plan the study again)", planFile);
  }
  if (settings.calib_data) {
    const sha = fileSha256(settings.calib_data);
    if (given.models.some((m) => m.calib_data.sha256 !== sha)) throw new InputError(`--plan: ${settings.calib_data} changed since the plan was written (plan the study again)`, planFile);
  }
  for (const index of new Set(owned(given))) {
    const m = given.models[index];
    if (fileSha256(m.file) !== m.sha256) throw new InputError(`--plan: ${m.file} changed since the plan was written (plan the study again)`, planFile);
  }
  return plan;
}

/** Every calibration and cell of the grid over the planned models, each named by its inputs' hashes. */
function planCells(settings: StudySettings, models: PlanModel[]): Pick<Plan, "calibrations" | "cells"> {
  const calibrations: CalibrationSpec[] = [];
  const calibIndex = new Map<string, CalibrationSpec>();
  const calibration = (m: PlanModel, mode: string, seed: number): CalibrationSpec => {
    const key = {
      code: STUDY_CODE_VERSION,
      what: "calibration",
      model: m.sha256,
      data: m.calib_data.sha256,
      tokenizer: m.tokenizer_sha256,
      mode,
      seed,
      size: settings.calib_size,
      observer: settings.observer,
      lstm_internals: settings.lstm_internals,
      rounding: settings.rounding,
      // Bias correction needs the means in the table (absent: an earlier study's key, unchanged).
      ...(settings.bias_correction ? { bias_correction: true } : {}),
      // The embedding's rows as codes: one activation fewer to observe.
      ...(settings.gather_pass_through ? { gather_pass_through: true } : {}),
      // Equalization changes the float model calibration runs.
      ...(settings.equalize !== undefined ? { equalize: settings.equalize } : {}),
    };
    const hash = keyHash(key);
    let spec = calibIndex.get(hash);
    if (!spec) {
      spec = { hash, model: m.index, mode, seed, key };
      calibIndex.set(hash, spec);
      calibrations.push(spec);
    }
    return spec;
  };

  const cells: CellSpec[] = [];
  for (const m of models) {
    const evalKey = {
      code: STUDY_CODE_VERSION,
      model: m.sha256,
      test: m.test.sha256,
      tokenizer: m.tokenizer_sha256,
      batch: m.batch,
      noise: settings.noise,
      seeds: settings.seeds,
    };
    const floatKey = { ...evalKey, what: "float" };
    cells.push({ hash: keyHash(floatKey), type: "float", model: m.index, bits: null, calib: null, calib_seed: null, calibration: null, reference: null, key: floatKey });
    for (const bits of settings.bits) {
      for (const mode of settings.calib) {
        for (const seed of settings.calib_seeds) {
          const own = calibration(m, mode, seed);
          const ref = mode === settings.reference_calib ? null : calibration(m, settings.reference_calib, seed);
          const key = {
            ...evalKey,
            what: "quant",
            bits,
            granularity: settings.granularity,
            ...(settings.weight_clip ? { weight_clip: settings.weight_clip } : {}),
            ...(settings.bias_correction ? { bias_correction: true } : {}),
            ...(settings.act_order ? { act_order: true } : {}),
            ...(settings.weight_symmetric === false ? { weight_symmetric: false } : {}),
            ...(settings.embedding_gptq ? { embedding_gptq: true } : {}),
            ...(settings.equalize !== undefined ? { equalize: settings.equalize } : {}),
            calibration: own.key,
            reference: ref?.key ?? null,
          };
          cells.push({ hash: keyHash(key), type: "quant", model: m.index, bits, calib: mode, calib_seed: seed, calibration: own.hash, reference: ref?.hash ?? null, key });
        }
      }
    }
  }
  return { calibrations, cells };
}

/** Parses `--shard i/n` (1 <= i <= n). */
export function parseShard(text: string | undefined): { index: number; count: number } | null {
  if (text === undefined) return null;
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new InputError(`--shard must be i/n (e.g. 1/2), got "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new InputError(`--shard ${text}: i must be from 1 to n`);
  return { index, count };
}

/**
 * The cells of shard i of n: the i-th of n contiguous runs of the plan (models, then bit
 * widths, calibration modes and seeds), cut so that each run holds about 1/n of the cells'
 * estimated `cost` (by default every cell costs the same); a cell belongs to the run that
 * holds the midpoint of its cost. Contiguous rather than every n-th cell, because a shard
 * loads, calibrates and scores the float model of every model it holds a cell of: every n-th
 * cell puts a cell of every model in every shard (a 100-model quick study on 50 shards: 10
 * models and their calibrations for a shard's 10 cells, where contiguous runs give 2). The
 * same plan always gives the same split.
 */
export function shardCells<T>(cells: readonly T[], shard: { index: number; count: number } | null, cost: (cell: T) => number = () => 1): T[] {
  if (!shard) return [...cells];
  let costs = cells.map((c) => Math.max(0, cost(c)));
  let total = costs.reduce((a, b) => a + b, 0);
  if (!(total > 0) || !Number.isFinite(total)) {
    costs = cells.map(() => 1);
    total = cells.length;
  }
  const out: T[] = [];
  let before = 0;
  cells.forEach((c, i) => {
    const run = Math.min(shard.count - 1, Math.floor(((before + costs[i] / 2) * shard.count) / total));
    before += costs[i];
    if (run === shard.index - 1) out.push(c);
  });
  return out;
}

/**
 * A cell's estimated cost, relative to the others: test rows x evaluations (clean and every
 * noise level and seed), 10x for a generative model (it scores every class), 1.5x for a
 * quantized cell (its model's quantization and the comparison with the reference). Orders the
 * pool's tasks and balances the shards.
 */
export function cellCost(plan: Plan, cell: CellSpec): number {
  const m = plan.models[cell.model];
  const evals = 1 + plan.settings.noise.reduce((a, n) => a + n.levels.length, 0) * plan.settings.seeds.length;
  return (m.kind === "generative" ? 10 : 1) * m.test.n * evals * (cell.type === "quant" ? 1.5 : 1);
}
