/**
 * Calibration sets from labelled rows (the contract's `--calib MODE`, `--calib-size N`,
 * `--seed N`):
 *
 * - `balanced`: the same count from every class; `size` is split as evenly as possible,
 *   the remainder going one each to the lowest class indices.
 * - `natural`: the pool's own class mix, stratified: counts proportional to the class
 *   frequencies of the usable rows, rounded by largest remainder.
 * - `dist:p1,...,pC`: the given proportions (one per class, >= 0, summing to 1 within
 *   1e-6; used divided by their sum), rounded by largest remainder.
 * - `classes:i,j,...`: only those classes, equally (remainder to the lowest listed index).
 *
 * Largest remainder: each class gets floor(size * p), then the leftover units go to the
 * classes with the largest fractional parts (lower class index first on ties; classes with
 * proportion 0 get none). When a class has fewer rows than its share, all its rows are used
 * and the shortfall is reported; nothing is moved to other classes. Rows are drawn without
 * replacement by a seeded partial shuffle per class; the returned indices are in a seeded
 * random order so that consecutive calibration batches mix the classes.
 */
import { InputError } from "../graph/errors.ts";
import { Mulberry32 } from "../data/random.ts";

export type CalibMode =
  | { kind: "balanced"; numClasses: number; spec: string }
  | { kind: "natural"; numClasses: number; spec: string }
  | { kind: "dist"; numClasses: number; spec: string; proportions: number[] }
  | { kind: "classes"; numClasses: number; spec: string; classes: number[] };

export interface Shortfall {
  class: number;
  asked: number;
  available: number;
}

export interface CalibrationSelection {
  /** Row indices into the pool, in a seeded random order. */
  indices: number[];
  /** Rows chosen per class (length numClasses). */
  perClass: number[];
  /** Classes that had fewer rows than asked for, in class order. */
  shortfalls: Shortfall[];
  /** Rows per class asked for before shortfalls (length numClasses). */
  asked: number[];
  /** Rows of the pool left out because their label is not a class index in [0, C). */
  unusable: number;
}

export const CALIB_MODES = "balanced, natural, dist:p1,...,pC (class proportions summing to 1), classes:i,j,... (class indices)";

/** Parses a `--calib` spec for a model with `numClasses` classes. Throws InputError. */
export function parseCalibMode(spec: string, numClasses: number): CalibMode {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`numClasses must be an integer >= 1, got ${numClasses}`);
  const s = spec.trim();
  const C = numClasses;
  if (s === "balanced" || s === "natural") return { kind: s, numClasses: C, spec: s };
  const colon = s.indexOf(":");
  const name = colon < 0 ? s : s.slice(0, colon);
  const list = colon < 0 ? "" : s.slice(colon + 1);
  const items = list.split(",").map((x) => x.trim());
  const where = `calibration mode '${spec}'`;
  if (name === "dist") {
    if (list.trim() === "") throw new InputError(`${where}: give ${C} class proportions, e.g. dist:${Array(C).fill((1 / C).toFixed(2)).join(",")}`);
    if (items.length !== C) throw new InputError(`${where}: ${items.length} proportions for a model with ${C} classes`);
    const p = items.map((x, i) => {
      const v = x === "" ? NaN : Number(x);
      if (!Number.isFinite(v)) throw new InputError(`${where}: proportion ${i + 1} ('${x}') is not a number`);
      if (v < 0) throw new InputError(`${where}: proportion ${i + 1} (${x}) is negative`);
      return v;
    });
    const sum = p.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-6) throw new InputError(`${where}: the proportions sum to ${sum}, not 1`);
    return { kind: "dist", numClasses: C, spec: `dist:${p.join(",")}`, proportions: p };
  }
  if (name === "classes") {
    if (list.trim() === "") throw new InputError(`${where}: give one or more class indices, e.g. classes:0,2`);
    const seen = new Set<number>();
    for (const x of items) {
      const v = /^\d+$/.test(x) ? Number(x) : NaN;
      if (!Number.isSafeInteger(v) || v >= C) {
        throw new InputError(`${where}: '${x}' is not a class index in [0, ${C})`);
      }
      if (seen.has(v)) throw new InputError(`${where}: class ${v} is listed twice`);
      seen.add(v);
    }
    const classes = [...seen].sort((a, b) => a - b);
    return { kind: "classes", numClasses: C, spec: `classes:${classes.join(",")}`, classes };
  }
  throw new InputError(`unknown calibration mode '${spec}'; valid modes: ${CALIB_MODES}`);
}

/** Splits `total` by weights (largest remainder; ties to the lower index; zero weights get 0). */
export function largestRemainder(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = weights.map(() => 0);
  if (sum <= 0 || total <= 0) return out;
  const frac: { i: number; f: number }[] = [];
  let given = 0;
  weights.forEach((w, i) => {
    const exact = (total * w) / sum;
    // Shares a rounding error away from an integer count as that integer, and fractional
    // parts within 1e-9 of each other as ties, so that 0.7,0.1,0.1,0.1 splits as exactly.
    const fl = Math.floor(exact + 1e-9);
    out[i] = fl;
    given += fl;
    if (w > 0) frac.push({ i, f: Math.max(0, exact - fl) });
  });
  frac.sort((a, b) => (Math.abs(a.f - b.f) > 1e-9 ? b.f - a.f : a.i - b.i));
  for (let k = 0; given < total && frac.length > 0; k = (k + 1) % frac.length) {
    out[frac[k].i]++;
    given++;
  }
  return out;
}

/** Rows per class asked for by `mode` (before looking at what the pool holds). */
export function targetCounts(mode: CalibMode, size: number, available: readonly number[]): number[] {
  const C = mode.numClasses;
  const even = (classes: readonly number[]): number[] => {
    const out = Array(C).fill(0) as number[];
    const base = Math.floor(size / classes.length);
    const rem = size % classes.length;
    classes.forEach((c, k) => (out[c] = base + (k < rem ? 1 : 0)));
    return out;
  };
  switch (mode.kind) {
    case "balanced":
      return even(Array.from({ length: C }, (_, i) => i));
    case "classes":
      return even(mode.classes);
    case "natural":
      return largestRemainder(size, available);
    case "dist":
      return largestRemainder(size, mode.proportions);
  }
}

/**
 * Chooses `size` calibration rows from `rows` by `mode`, reproducibly from `seed`. Throws
 * InputError when the pool has no usable row (a label that is a class index) or when the
 * chosen classes have no rows at all, or for a size that is not a positive integer.
 */
export function selectCalibrationRows(rows: readonly { label: number }[], mode: CalibMode, size: number, seed: number): CalibrationSelection {
  if (!Number.isSafeInteger(size) || size < 1) throw new InputError(`calibration size must be a positive integer, got ${size}`);
  if (!Number.isSafeInteger(seed)) throw new InputError(`seed must be an integer, got ${seed}`);
  const C = mode.numClasses;
  const byClass: number[][] = Array.from({ length: C }, () => []);
  let unusable = 0;
  rows.forEach((r, i) => {
    const y = r.label;
    if (Number.isInteger(y) && y >= 0 && y < C) byClass[y].push(i);
    else unusable++;
  });
  const available = byClass.map((a) => a.length);
  if (rows.length - unusable === 0) {
    throw new InputError(
      rows.length === 0
        ? "no calibration rows: the data set is empty"
        : `no usable calibration row: none of the ${rows.length} rows has a label in [0, ${C})`,
    );
  }
  const asked = targetCounts(mode, size, available);
  const rng = new Mulberry32(seed);
  const perClass: number[] = [];
  const shortfalls: Shortfall[] = [];
  const indices: number[] = [];
  for (let c = 0; c < C; c++) {
    const take = Math.min(asked[c], available[c]);
    if (asked[c] > available[c]) shortfalls.push({ class: c, asked: asked[c], available: available[c] });
    perClass.push(take);
    indices.push(...rng.sample(byClass[c], take));
  }
  if (indices.length === 0) {
    const wanted = asked.map((a, c) => (a > 0 ? c : -1)).filter((c) => c >= 0);
    throw new InputError(`no calibration row: calibration mode '${mode.spec}' asks for class${wanted.length > 1 ? "es" : ""} ${wanted.join(", ")}, which the data set has no rows of`);
  }
  rng.shuffle(indices);
  return { indices, perClass, shortfalls, asked, unusable };
}
