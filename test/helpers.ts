import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { seededRng } from "../src/data/random.ts";
import { findRoles, serializeModel, tokenLookups, type Model } from "../src/graph/index.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const FIXTURES = join(ROOT, "test", "fixtures");
export const fixtureModel = (name: string): string => join(FIXTURES, "models", `${name}.onnx`);

/** Debian's interpreter, which has torch/onnx/scipy when CI installed them (the python3 on PATH has none). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

export function pythonHas(module: string): boolean {
  return spawnSync(DEBIAN_PYTHON, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0;
}

export { tempDir } from "./temp.ts";

export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (bin/ptq-onnx.js) in a child process; `timeoutMs` kills a run that would hang. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "ptq-onnx.js"), ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: "utf8",
    env: { ...process.env, PTQ_ONNX_DEBUG: "" },
    timeout: opts.timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a model in onnxruntime-node on the CPU and returns its outputs as plain arrays. */
export async function runOrt(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  opts: ort.InferenceSession.SessionOptions = {},
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, ...opts });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function idsFeed(rows: number[][]): { input_ids: ort.Tensor; lengths: ort.Tensor } {
  const seq = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * seq);
  rows.forEach((r, b) => r.forEach((t, i) => (ids[b * seq + i] = BigInt(t))));
  return {
    input_ids: new ort.Tensor("int64", ids, [rows.length, seq]),
    lengths: new ort.Tensor("int64", BigInt64Array.from(rows.map((r) => BigInt(r.length))), [rows.length]),
  };
}

/**
 * Where two JSON values differ: numbers may differ by `rtol` relative to the larger magnitude
 * (or by `atol` near zero), everything else must be equal. Returns at most `limit` paths with
 * both values, so a failing fixture test prints the first differences, not the whole document.
 */
export function jsonDifferences(actual: unknown, expected: unknown, opts: { rtol?: number; atol?: number; limit?: number } = {}): string[] {
  const rtol = opts.rtol ?? 0;
  const atol = opts.atol ?? 0;
  const limit = opts.limit ?? 5;
  const out: string[] = [];
  const show = (v: unknown): string => {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  const walk = (a: unknown, e: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (typeof a === "number" && typeof e === "number") {
      const close = a === e || (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= Math.max(atol, rtol * Math.max(Math.abs(a), Math.abs(e)));
      if (!close) out.push(`${path}: ${a} != ${e}`);
      return;
    }
    if (Array.isArray(a) && Array.isArray(e)) {
      if (a.length !== e.length) out.push(`${path}: length ${a.length} != ${e.length}`);
      for (let i = 0; i < Math.min(a.length, e.length); i++) walk(a[i], e[i], `${path}[${i}]`);
      return;
    }
    if (a !== null && e !== null && typeof a === "object" && typeof e === "object" && !Array.isArray(a) && !Array.isArray(e)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(e)])].sort();
      for (const k of keys) {
        if (!(k in a)) out.push(`${path}.${k}: missing, expected ${show((e as Record<string, unknown>)[k])}`);
        else if (!(k in e)) out.push(`${path}.${k}: unexpected ${show((a as Record<string, unknown>)[k])}`);
        else walk((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k], `${path}.${k}`);
        if (out.length >= limit) return;
      }
      return;
    }
    if (a !== e) out.push(`${path}: ${show(a)} != ${show(e)}`);
  };
  walk(actual, expected, "$");
  return out;
}

/**
 * Writes a seeded labelled pool for a fixture without data: `n` rows of 1..12 token ids drawn
 * below the model's vocabulary (never the pad or unknown id), labels cycling through `classes`.
 */
export function writeIdPool(path: string, model: Model, opts: { classes: number; n: number; seed: number }): string {
  const vocab = tokenLookups(model)[0].table.initializer!.dims[0];
  let s = opts.seed;
  const rand = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines = Array.from({ length: opts.n }, (_, i) => JSON.stringify({ ids: Array.from({ length: 1 + Math.floor(rand() * 12) }, () => 2 + Math.floor(rand() * (vocab - 2))), label: i % opts.classes }));
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** The largest absolute difference between two runs' scores, row by row. */
export function maxScoreDiff(a: { scores: readonly ArrayLike<number>[] }, b: { scores: readonly ArrayLike<number>[] }): number {
  let m = 0;
  a.scores.forEach((row, i) => Array.from(row).forEach((v, j) => (m = Math.max(m, Math.abs(v - b.scores[i][j])))));
  return m;
}

/** Seeded rows of ids in [2, vocab) of 3 to 8 tokens, labelled by row (i mod classes), as a calibration pool. */
export function seededPool(n: number, vocab: number, classes: number, sha256 = "0".repeat(64)) {
  const rng = seededRng(5);
  const ids = Array.from({ length: n }, () => Array.from({ length: 3 + (rng.nextUint32() % 6) }, () => 2 + (rng.nextUint32() % (vocab - 2))));
  return { ids, labels: ids.map((_, i) => i % classes), source: "test:pool", sha256 };
}

/** Every row's score vector, each row run alone (no padding), 1 thread. */
export async function rowScores(model: Model, rows: number[][]): Promise<Float32Array[]> {
  const roles = findRoles(model);
  const session = await ort.InferenceSession.create(serializeModel(model), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out: Float32Array[] = [];
    for (const r of rows) {
      const feeds: Record<string, ort.Tensor> = { [roles.tokenIds.name]: new ort.Tensor("int64", BigInt64Array.from(r, BigInt), [1, r.length]) };
      if (roles.lengths) feeds[roles.lengths.name] = new ort.Tensor("int64", BigInt64Array.from([BigInt(r.length)]), [1]);
      out.push((await session.run(feeds))[roles.scores.name].data as Float32Array);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Sum of squared differences between two sets of score vectors. */
export function squaredError(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  let sum = 0;
  a.forEach((row, r) => {
    for (let j = 0; j < row.length; j++) sum += (row[j] - b[r][j]) ** 2;
  });
  return sum;
}
