/**
 * The build file (BUILD.json): which models, which recipes, how many test rows and how to
 * time them. Read strictly: an unknown key, a wrong type or a recipe `ptq-onnx quantize`
 * would refuse is an InputError naming the file and the entry (`recipes[1] "w4"`).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER } from "../pipeline/quantize-file.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { InputError, readInputFile } from "../graph/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The zoo: `{"zoo": "wordnet8-disc"}` names models/wordnet8-disc.onnx of this package. */
export const ZOO_DIR = join(ROOT, "models");
/** The version that made an artifact: package.json's, recorded in every manifest entry. */
export const TOOL_VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;

/** Quantized-model formats a recipe may ask for: Q/DQ is what `quantize` writes. */
export const FORMATS = ["qdq"] as const;

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

/** A recipe with every default filled in: what `quantize` is run with. */
export interface Recipe {
  name: string;
  wbits: number;
  abits: number;
  calib: string;
  calib_size: number;
  observer: string;
  granularity: "per-channel" | "per-tensor";
  lstm_internals: boolean;
  pack_int4: boolean;
  rounding: "nearest" | "gptq";
  seed: number;
  format: (typeof FORMATS)[number];
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
const RECIPE_KEYS = ["name", "bits", "wbits", "abits", "calib", "calib_size", "observer", "granularity", "lstm_internals", "pack_int4", "rounding", "seed", "format"];
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

function readRecipe(r: Reader, v: unknown, i: number): Recipe {
  let where = `recipes[${i}]`;
  const o = r.object(v, where, RECIPE_KEYS);
  const name = r.str(o, "name", where);
  if (name === undefined) r.fail(where, "needs a name (it names the artifacts)");
  if (!NAME.test(name)) r.fail(where, `name "${name}" may use only letters, digits, '.', '_' and '-'`);
  where = `recipes[${i}] "${name}"`;
  const bits = r.int(o, "bits", where, 2, 8);
  const wbits = r.int(o, "wbits", where, 2, 8) ?? bits;
  const abits = r.int(o, "abits", where, 2, 8) ?? bits;
  if (wbits === undefined || abits === undefined) r.fail(where, "needs bits (or both wbits and abits), as quantize's --bits");
  const calib = r.str(o, "calib", where);
  if (calib === undefined) r.fail(where, "needs calib (balanced, natural, dist:p1,...,pC or classes:i,j), as quantize's --calib");
  const lstmInternals = r.bool(o, "lstm_internals", where) ?? false;
  const observerText = r.str(o, "observer", where) ?? (lstmInternals ? DEFAULT_INTERNALS_OBSERVER : DEFAULT_OBSERVER);
  let observer: string;
  try {
    observer = parseObserver(observerText).spec;
  } catch (e) {
    r.fail(where, `observer: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    name,
    wbits,
    abits,
    calib: calib.trim(),
    calib_size: r.int(o, "calib_size", where, 1) ?? DEFAULT_CALIB_SIZE,
    observer,
    granularity: r.oneOf(o, "granularity", where, ["per-channel", "per-tensor"] as const) ?? "per-channel",
    lstm_internals: lstmInternals,
    pack_int4: r.bool(o, "pack_int4", where) ?? false,
    rounding: r.oneOf(o, "rounding", where, ["nearest", "gptq"] as const) ?? "nearest",
    seed: r.int(o, "seed", where, 0) ?? 0,
    format: r.oneOf(o, "format", where, FORMATS) ?? "qdq",
  };
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
