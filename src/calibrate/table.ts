/**
 * The calibration table: one calibration run written down, so that `quantize --calib-table`
 * can reuse it at any bit width (and, for histogram observers, with another observer).
 *
 * ```json
 * {
 *   "format": "ptq-onnx.calibration",
 *   "version": 1,
 *   "model": {"file": "m.onnx", "sha256": "<64 hex>"},
 *   "data": {"file": "val.jsonl", "sha256": "<64 hex>", "rows": 1000},
 *   "options": {"mode": "balanced", "size": 256, "seed": 0, "observer": "percentile:99.99"},
 *   "composition": {"per_class": [64, 64, 64, 64], "shortfalls": [{"class": 3, "asked": 64, "available": 50}]},
 *   "tensors": {
 *     "<tensor name>": {
 *       "graph": "main",
 *       "stats": {"count", "nonfinite", "min", "max", "mean", "std", "histogram"},
 *       "per_class": [<stats of class 0>, ...],
 *       "observer": {"spec": "percentile:99.99", "kind": "histogram", "count", "min", "max", "hist", "abs_hist"}
 *     }
 *   }
 * }
 * ```
 * Histograms are {bins, width, offset, min, max, counts}: counts[i] covers
 * [(offset+i)*width, (offset+i+1)*width) (see histogram.ts). `graph` is "main" or the
 * path of the subgraph the tensor lives in. The file is written with a fixed key order,
 * tensors sorted by name, numbers in JavaScript's shortest round-trip form, 2-space
 * indentation and number arrays on one line, so the same calibration gives the same bytes.
 */
import { createHash } from "node:crypto";
import { InputError } from "../graph/errors.ts";
import { readInputFile, writeFileAtomic } from "../graph/files.ts";
import type { IntFormat } from "../quant/math.ts";
import { GrowingHistogram } from "./histogram.ts";
import { parseObserver, type Observer, type ObserverState } from "./observers.ts";
import { parseCalibMode, type Shortfall } from "./select.ts";
import type { StatsJSON, TensorStats } from "./stats.ts";

export const TABLE_FORMAT = "ptq-onnx.calibration";
export const TABLE_VERSION = 1;

export interface TensorEntry {
  /** "main" or the path of the subgraph that holds the tensor. */
  graph: string;
  stats: StatsJSON;
  per_class: StatsJSON[];
  observer: ObserverState;
}

export interface CalibrationTable {
  format: typeof TABLE_FORMAT;
  version: typeof TABLE_VERSION;
  model: { file: string; sha256: string };
  data: { file: string; sha256: string; rows: number };
  /** `equalize`: the alpha of the embedding equalization the calibrated model had (absent: none). */
  options: { mode: string; size: number; seed: number; observer: string; equalize?: number };
  composition: { per_class: number[]; shortfalls: Shortfall[] };
  tensors: Record<string, TensorEntry>;
  /**
   * Optional: per weight, the second moments of its layer's inputs (one per LSTM direction),
   * for error-compensating (GPTQ) rounding.
   */
  hessians?: Record<string, HessianEntry[]>;
  /**
   * Optional: per weight, the mean of its layer's inputs (one per LSTM direction for R: the
   * previous hidden state), for bias correction.
   */
  means?: Record<string, MeanEntry[]>;
  /**
   * Optional: GPFQ's moments with the quantized model's layer inputs (`--rounding gpfq`),
   * recorded layer by layer for one quantization setting (`setting`, as gpfqSetting in
   * src/pipeline/gpfq.ts writes it): unlike the rest of the table they hold for that setting only.
   */
  gpfq?: { setting: string; moments: Record<string, GpfqMomentEntry[]> };
}

/** One matrix's moments, as the calibration table stores them (`gpfq.moments`). */
export interface GpfqMomentEntry {
  /** The float model's layer input and the quantized model's. */
  input: string;
  quant_input: string;
  n: number;
  count: number;
  /** H̃ = Σ x̃ x̃ᵀ, n x n row-major. */
  data: number[];
  /** G = Σ x̃ xᵀ, n x n row-major: cross[i * n + j] = Σ x̃_i x_j. */
  cross: number[];
}

export interface MeanEntry {
  /** The activation the mean was taken from. */
  input: string;
  n: number;
  /** Input vectors averaged (an LSTM's zero initial states included). */
  count: number;
  /** E[x], n values. */
  mean: number[];
}

export interface HessianEntry {
  /** The activation the moments were taken from. */
  input: string;
  n: number;
  /** Input vectors accumulated. */
  count: number;
  /** Σ x xᵀ, n x n row-major. */
  data: number[];
}

/** SHA-256 of a file's bytes, lower-case hex. */
export function sha256File(path: string): string {
  return createHash("sha256").update(readInputFile(path, "an input file")).digest("hex");
}

export function sha256Bytes(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The table entry of one tensor, from its statistics and its observer. */
export function tensorEntry(stats: TensorStats, observer: Observer, graph = "main"): TensorEntry {
  const s = stats.toJSON();
  return { graph, stats: s.stats, per_class: s.per_class, observer: observer.state() };
}

/** Assembles a table (format and version filled in). */
export function makeCalibrationTable(parts: Omit<CalibrationTable, "format" | "version">): CalibrationTable {
  return { format: TABLE_FORMAT, version: TABLE_VERSION, ...parts };
}

// ---------------------------------------------------------------------------------------
// writing

/** Key order of every object the table holds; keys not listed follow, sorted. */
const KEY_ORDER = [
  "format", "version", "model", "data", "options", "composition", "tensors",
  "file", "sha256", "rows",
  "mode", "size", "seed",
  "graph", "stats", "per_class", "shortfalls", "observer",
  "class", "asked", "available",
  "spec", "kind", "p", "bins", "width", "offset",
  "count", "nonfinite", "min", "max", "mean", "std", "batches", "sum_low", "sum_high", "sum_abs",
  "histogram", "hist", "abs_hist", "counts",
];
const RANK = new Map(KEY_ORDER.map((k, i) => [k, i]));

function compareKeys(a: string, b: string): number {
  const ra = RANK.get(a) ?? Infinity;
  const rb = RANK.get(b) ?? Infinity;
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function formatNumber(n: number, where: string): string {
  if (!Number.isFinite(n)) throw new RangeError(`calibration table: ${where} is ${n}, which JSON cannot hold`);
  return JSON.stringify(n); // shortest round-trip form; -0 becomes 0
}

function emit(value: unknown, indent: string, where: string, sortKeys: (a: string, b: string) => number): string {
  if (value === null) return "null";
  if (typeof value === "number") return formatNumber(value, where);
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (value.every((v) => v === null || typeof v !== "object")) {
      return `[${value.map((v, i) => emit(v, inner, `${where}[${i}]`, compareKeys)).join(", ")}]`;
    }
    return `[\n${value.map((v, i) => inner + emit(v, inner, `${where}[${i}]`, compareKeys)).join(",\n")}\n${indent}]`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort(sortKeys);
    if (keys.length === 0) return "{}";
    const parts = keys.map((k) => {
      const child = (value as Record<string, unknown>)[k];
      // Tensor names are data, not keys of the format: sort them by name.
      const childSort = where === "" && k === "tensors" ? byCodeUnits : compareKeys;
      return `${inner}${JSON.stringify(k)}: ${emit(child, inner, where === "" ? k : `${where}.${k}`, childSort)}`;
    });
    return `{\n${parts.join(",\n")}\n${indent}}`;
  }
  throw new TypeError(`calibration table: ${where} has a value of type ${typeof value}`);
}

/** The table's bytes: deterministic key order and number formatting, ending in a newline. */
export function serializeCalibrationTable(table: CalibrationTable): string {
  return emit(table, "", "", compareKeys) + "\n";
}

/** The table's bytes after checking them (an invalid table is a bug: plain Error). */
export function checkedCalibrationTableText(path: string, table: CalibrationTable): string {
  const text = serializeCalibrationTable(table);
  try {
    validateCalibrationTable(JSON.parse(text));
  } catch (err) {
    throw new Error(`refusing to write an invalid calibration table to ${path}: ${(err as Error).message}`);
  }
  return text;
}

/** Writes the table atomically after checking it. */
export function writeCalibrationTable(path: string, table: CalibrationTable): void {
  writeFileAtomic(path, checkedCalibrationTableText(path, table));
}

// ---------------------------------------------------------------------------------------
// reading and validation

/** Reads and checks a table. Throws InputError naming the file for anything wrong. */
export function readCalibrationTable(path: string): CalibrationTable {
  const text = readInputFile(path, "a calibration table").toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`calibration table is not valid JSON: ${(err as Error).message}`, path);
  }
  return validateCalibrationTable(json, path);
}

type Obj = Record<string, unknown>;

/** Checks that `json` is a version-1 calibration table; throws InputError (naming `file`). */
export function validateCalibrationTable(json: unknown, file?: string): CalibrationTable {
  const fail = (msg: string): never => {
    throw new InputError(msg, file);
  };
  const obj = (v: unknown, where: string): Obj => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`${where} must be an object`);
    return v as Obj;
  };
  const str = (v: unknown, where: string): string => {
    if (typeof v !== "string" || v === "") fail(`${where} must be a non-empty string`);
    return v as string;
  };
  const int = (v: unknown, where: string, min: number): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) fail(`${where} must be an integer >= ${min}`);
    return v as number;
  };
  const hash = (v: unknown, where: string): string => {
    if (typeof v !== "string" || !/^[0-9a-f]{64}$/.test(v)) fail(`${where} must be a SHA-256 in lower-case hex`);
    return v as string;
  };

  const top = obj(json, "the calibration table");
  if (top.format !== TABLE_FORMAT) {
    fail(`not a ptq-onnx calibration table (format is ${JSON.stringify(top.format ?? null)}, expected "${TABLE_FORMAT}")`);
  }
  if (top.version !== TABLE_VERSION) {
    fail(`unsupported calibration table version ${JSON.stringify(top.version ?? null)}; this ptq-onnx reads version ${TABLE_VERSION}`);
  }
  const model = obj(top.model, "model");
  str(model.file, "model.file");
  hash(model.sha256, "model.sha256");
  const data = obj(top.data, "data");
  str(data.file, "data.file");
  hash(data.sha256, "data.sha256");
  int(data.rows, "data.rows", 0);
  const options = obj(top.options, "options");
  const mode = str(options.mode, "options.mode");
  int(options.size, "options.size", 1);
  if (typeof options.seed !== "number" || !Number.isSafeInteger(options.seed)) fail("options.seed must be an integer");
  const observerSpec = str(options.observer, "options.observer");
  if (options.equalize !== undefined && !(typeof options.equalize === "number" && options.equalize > 0 && options.equalize <= 1)) fail("options.equalize must be a number in (0, 1]");
  const composition = obj(top.composition, "composition");
  if (!Array.isArray(composition.per_class) || composition.per_class.length === 0) fail("composition.per_class must be a non-empty array");
  const perClass = composition.per_class as unknown[];
  perClass.forEach((c, i) => int(c, `composition.per_class[${i}]`, 0));
  const shortfalls = composition.shortfalls ?? [];
  if (!Array.isArray(shortfalls)) fail("composition.shortfalls must be an array");
  (shortfalls as unknown[]).forEach((s, i) => {
    const o = obj(s, `composition.shortfalls[${i}]`);
    int(o.class, `composition.shortfalls[${i}].class`, 0);
    int(o.asked, `composition.shortfalls[${i}].asked`, 0);
    int(o.available, `composition.shortfalls[${i}].available`, 0);
  });
  const guard = <T>(where: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof Error) fail(`${where}: ${err.message}`);
      throw err;
    }
  };
  guard("options.mode", () => parseCalibMode(mode, perClass.length));
  const factory = guard("options.observer", () => parseObserver(observerSpec));

  const tensors = obj(top.tensors, "tensors");
  for (const [name, entryValue] of Object.entries(tensors)) {
    const where = `tensors[${JSON.stringify(name)}]`;
    const entry = obj(entryValue, where);
    str(entry.graph, `${where}.graph`);
    checkStats(entry.stats, `${where}.stats`, fail);
    if (!Array.isArray(entry.per_class)) fail(`${where}.per_class must be an array`);
    (entry.per_class as unknown[]).forEach((s, i) => checkStats(s, `${where}.per_class[${i}]`, fail));
    const st = obj(entry.observer, `${where}.observer`);
    if (st.spec !== factory.spec) fail(`${where}.observer.spec is ${JSON.stringify(st.spec ?? null)}, but options.observer is "${factory.spec}"`);
    guard(`${where}.observer`, () => factory.restore(st));
  }
  if (top.hessians !== undefined) {
    for (const [name, list] of Object.entries(obj(top.hessians, "hessians"))) {
      const where = `hessians[${JSON.stringify(name)}]`;
      if (!Array.isArray(list) || list.length === 0) fail(`${where} must be a non-empty array`);
      (list as unknown[]).forEach((e, i) => {
        const h = obj(e, `${where}[${i}]`);
        str(h.input, `${where}[${i}].input`);
        const n = int(h.n, `${where}[${i}].n`, 1);
        int(h.count, `${where}[${i}].count`, 0);
        if (!Array.isArray(h.data) || h.data.length !== n * n || !h.data.every((x) => typeof x === "number" && Number.isFinite(x))) {
          fail(`${where}[${i}].data must hold ${n} x ${n} finite numbers`);
        }
      });
    }
  }
  if (top.gpfq !== undefined) {
    const g = obj(top.gpfq, "gpfq");
    str(g.setting, "gpfq.setting");
    for (const [name, list] of Object.entries(obj(g.moments, "gpfq.moments"))) {
      const where = `gpfq.moments[${JSON.stringify(name)}]`;
      if (!Array.isArray(list) || list.length === 0) fail(`${where} must be a non-empty array`);
      (list as unknown[]).forEach((e, i) => {
        const h = obj(e, `${where}[${i}]`);
        str(h.input, `${where}[${i}].input`);
        str(h.quant_input, `${where}[${i}].quant_input`);
        const n = int(h.n, `${where}[${i}].n`, 1);
        int(h.count, `${where}[${i}].count`, 0);
        for (const key of ["data", "cross"] as const) {
          const m = h[key];
          if (!Array.isArray(m) || m.length !== n * n || !m.every((x) => typeof x === "number" && Number.isFinite(x))) fail(`${where}[${i}].${key} must hold ${n} x ${n} finite numbers`);
        }
      });
    }
  }
  if (top.means !== undefined) {
    for (const [name, list] of Object.entries(obj(top.means, "means"))) {
      const where = `means[${JSON.stringify(name)}]`;
      if (!Array.isArray(list) || list.length === 0) fail(`${where} must be a non-empty array`);
      (list as unknown[]).forEach((e, i) => {
        const m = obj(e, `${where}[${i}]`);
        str(m.input, `${where}[${i}].input`);
        const n = int(m.n, `${where}[${i}].n`, 1);
        int(m.count, `${where}[${i}].count`, 0);
        if (!Array.isArray(m.mean) || m.mean.length !== n || !m.mean.every((x) => typeof x === "number" && Number.isFinite(x))) {
          fail(`${where}[${i}].mean must hold ${n} finite numbers`);
        }
      });
    }
  }
  return json as CalibrationTable;
}

function checkStats(v: unknown, where: string, fail: (msg: string) => never): void {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`${where} must be an object`);
  const s = v as Obj;
  const { count, nonfinite, min, max, mean, std } = s;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) fail(`${where}.count must be an integer >= 0`);
  if (nonfinite !== undefined && (typeof nonfinite !== "number" || !Number.isSafeInteger(nonfinite) || nonfinite < 0)) {
    fail(`${where}.nonfinite must be an integer >= 0`);
  }
  for (const [k, x] of [["min", min], ["max", max], ["mean", mean], ["std", std]] as const) {
    if (count === 0 ? x !== null : typeof x !== "number" || !Number.isFinite(x)) {
      fail(`${where}.${k} must be ${count === 0 ? "null when count is 0" : "a finite number"}`);
    }
  }
  if (count > 0 && ((min as number) > (max as number) || (std as number) < 0)) fail(`${where}: needs min <= max and std >= 0`);
  let h: GrowingHistogram;
  try {
    h = GrowingHistogram.fromJSON(s.histogram, `${where}.histogram`);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (h.count !== count) fail(`${where}.histogram holds ${h.count} values, but count is ${count}`);
}

// ---------------------------------------------------------------------------------------
// ranges

/**
 * Each tensor's clip range for `format` (one for all, or per tensor name), recomputed from the
 * stored observer state (so one calibration serves every bit width). `observer` re-evaluates
 * with another spec where the stored state allows it: `minmax` always; `percentile:P`, `mse`
 * and `entropy` from any histogram state; `batch-percentile:P` only from its own. Every tensor
 * sorted by name, or only `names` (those the table has) in their order.
 */
export function rangesFor(
  table: CalibrationTable,
  format: IntFormat | ((name: string) => IntFormat),
  symmetric: boolean,
  observer?: string,
  names?: readonly string[],
  /** The one op type that reads each quantized tensor, where there is one (`mse-tanh` needs it). */
  reader?: (name: string) => string | undefined,
): Map<string, [number, number]> {
  const factory = parseObserver(observer ?? table.options.observer);
  const formatOf = typeof format === "function" ? format : () => format;
  const out = new Map<string, [number, number]>();
  for (const name of names ?? Object.keys(table.tensors).sort(byCodeUnits)) {
    const entry = Object.hasOwn(table.tensors, name) ? table.tensors[name] : undefined;
    if (!entry) continue;
    let o: Observer;
    try {
      o = factory.restore(entry.observer);
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`tensor ${JSON.stringify(name)}: ${err.message}`);
      throw err;
    }
    out.set(name, o.range(formatOf(name), symmetric, reader?.(name)));
  }
  return out;
}
