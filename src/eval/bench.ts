/**
 * CPU benchmarks of classifiers in onnxruntime-node: latency percentiles, throughput, peak
 * resident memory and file size. Each (model, batch, threads) setting runs in a child
 * process (scripts/bench/worker.mjs) so that memory peaks do not mix; the parent prepares the
 * input batches (real rows of the model's data, or synthetic ids) and gathers the figures.
 * Nothing here is specific to a CPU architecture.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { embeddingRows, loadLabelledData, modelTokenizer } from "../data/resolve.ts";
import { InputError, findRoles, type Model } from "../graph/index.ts";
import { sessionError } from "../graph/session.ts";
import { seededRng } from "../data/random.ts";

export const WORKER = fileURLToPath(new URL("../../scripts/bench/worker.mjs", import.meta.url));

export interface BenchInputs {
  /** Where the rows come from: a file, `zoo:<name>/test`, or `synthetic`. */
  source: string;
  rows: number[][];
  padId: number;
}

/**
 * Rows to benchmark with: `seqLen` forces synthetic rows of that length (ids drawn uniformly
 * from the vocabulary, <pad> and <unk> excluded); else the given data file or the zoo model's
 * test split, so that lengths are realistic; else synthetic rows of 32 tokens.
 */
export function benchInputs(model: Model, opts: { data?: string; tokenizer?: string; seqLen?: number; seed?: number }): BenchInputs {
  const tokenizer = modelTokenizer(model, opts.tokenizer);
  const padId = tokenizer?.spec.pad_id ?? 0;
  const haveData = opts.data !== undefined || model.metadata.has("ptq-onnx.dataset");
  if (opts.seqLen === undefined && haveData) {
    const d = loadLabelledData(model, { data: opts.data, tokenizer: opts.tokenizer, split: "test" });
    return { source: d.source, rows: d.ids, padId };
  }
  const seqLen = opts.seqLen ?? 32;
  const vocab = tokenizer?.vocabSize ?? embeddingRows(model);
  if (vocab === undefined) throw new InputError("no data and no vocabulary size for synthetic rows (give --data or --tokenizer)", model.path);
  const special = new Set(tokenizer ? [tokenizer.spec.pad_id, tokenizer.spec.unk_id] : [0]);
  const allowed: number[] = [];
  for (let i = 0; i < vocab; i++) if (!special.has(i)) allowed.push(i);
  if (allowed.length === 0) throw new InputError("the vocabulary has no ordinary tokens for synthetic rows", model.path);
  const rng = seededRng(opts.seed ?? 0);
  const rows = Array.from({ length: 256 }, () => Array.from({ length: seqLen }, () => allowed[rng.nextInt(allowed.length)]));
  return { source: `synthetic (${seqLen} tokens)`, rows, padId };
}

export interface WorkerBatch {
  b: number;
  t: number;
  ids: number[];
  lengths: number[];
}

/**
 * Batches of `batch` rows in a seeded shuffled order of the rows (so each batch mixes lengths
 * as real traffic would), padded to their longest row (or cut and padded to a fixed length);
 * at most `count` of them, fewer when the rows run out.
 */
export function makeBatches(rows: number[][], batch: number, count: number, padId: number, seed: number, fixedSeq?: number): WorkerBatch[] {
  const order = rows.map((_, i) => i);
  const rng = seededRng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const distinct = Math.max(1, Math.min(count, Math.ceil(rows.length / batch)));
  const out: WorkerBatch[] = [];
  for (let k = 0; k < distinct; k++) {
    const picked = Array.from({ length: batch }, (_, i) => rows[order[(k * batch + i) % order.length]]);
    const cut = fixedSeq ? picked.map((r) => r.slice(0, fixedSeq)) : picked;
    const t = fixedSeq ?? Math.max(...cut.map((r) => r.length));
    const ids = new Array<number>(batch * t).fill(padId);
    cut.forEach((r, b) => r.forEach((id, j) => (ids[b * t + j] = id)));
    out.push({ b: batch, t, ids, lengths: cut.map((r) => r.length) });
  }
  return out;
}

/** Linear-interpolation percentile (numpy's default) of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

export interface BenchResult {
  batch: number;
  threads: number;
  latency_ms: { p50: number; p90: number; p99: number; mean: number; min: number; max: number };
  throughput_rows_per_s: number;
  tokens_per_row: number;
  peak_rss_bytes: number;
  /** The worker's peak before the session was created (node, onnxruntime and the inputs). */
  baseline_rss_bytes: number;
  load_ms: number;
  /** The machine's 1-minute load average just before the measurement (0 where the OS has none): a busy machine skews timings. */
  load_1min: number;
  /** Ratios to the first model's figures for the same batch and threads. */
  vs_first?: { p50: number; throughput: number; peak_rss: number };
}

export interface ModelBench {
  model: string;
  bytes: number;
  bytes_vs_first: number;
  inputs: string;
  results: BenchResult[];
}

export interface MachineInfo {
  platform: string;
  arch: string;
  release: string;
  cpu: string;
  cores: number;
  memory_bytes: number;
  node: string;
  onnxruntime: string;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    platform: platform(),
    arch: arch(),
    release: release(),
    cpu: c[0]?.model?.trim() || "unknown",
    cores: c.length,
    memory_bytes: totalmem(),
    node: process.version,
    onnxruntime: ort.env.versions?.common ?? "unknown",
  };
}

export interface BenchSettings {
  batches: number[];
  threads: number[];
  runs: number;
  warmup: number;
  seed: number;
  data?: string;
  tokenizer?: string;
  seqLen?: number;
}

/** Runs one measurement in a child process and summarises it. */
export function runWorker(config: { model: string; [key: string]: unknown }, dir: string, tag: string): { latencies_ms: number[]; rows: number; tokens: number; load_ms: number; baseline_rss_bytes: number; peak_rss_bytes: number } {
  const file = join(dir, `${tag}.json`);
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(process.execPath, [WORKER, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  rmSync(file, { force: true });
  // Exit 2 is the worker's word for a model onnxruntime refuses (scripts/lib/session.mjs): bad input.
  if (r.status === 2) throw sessionError(r.stderr.trim().split("\n").pop() ?? "", config.model);
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n").filter(Boolean);
    throw new Error(`bench worker failed: ${why.find((l) => /Error|error/.test(l)) ?? why[0] ?? "no output"}`);
  }
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

export function benchModels(models: { path: string; model: Model }[], s: BenchSettings, progress?: (msg: string) => void): ModelBench[] {
  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-bench-"));
  try {
    const out: ModelBench[] = [];
    for (const [mi, { path, model }] of models.entries()) {
      const roles = findRoles(model);
      const inputs = benchInputs(model, { data: s.data, tokenizer: s.tokenizer, seqLen: s.seqLen, seed: s.seed });
      const results: BenchResult[] = [];
      for (const batch of s.batches) {
        const batches = makeBatches(inputs.rows, batch, s.runs + s.warmup, inputs.padId, s.seed, roles.tokenIds.seqLen ?? undefined);
        for (const threads of s.threads) {
          progress?.(`${path}: batch ${batch}, ${threads} thread${threads > 1 ? "s" : ""}`);
          const load = loadavg()[0];
          const w = runWorker(
            {
              model: path,
              threads,
              warmup: s.warmup,
              runs: s.runs,
              output: roles.scores.name,
              inputs: { ids: roles.tokenIds.name, idsType: roles.tokenIds.elemType, lengths: roles.lengths?.name ?? null, lengthsType: "int64" },
              batches,
            },
            dir,
            `m${mi}-b${batch}-t${threads}`,
          );
          const sorted = [...w.latencies_ms].sort((a, b) => a - b);
          const total = w.latencies_ms.reduce((a, b) => a + b, 0);
          results.push({
            batch,
            threads,
            latency_ms: {
              p50: percentile(sorted, 50),
              p90: percentile(sorted, 90),
              p99: percentile(sorted, 99),
              mean: total / sorted.length,
              min: sorted[0],
              max: sorted[sorted.length - 1],
            },
            throughput_rows_per_s: w.rows / (total / 1000),
            tokens_per_row: w.tokens / w.rows,
            peak_rss_bytes: w.peak_rss_bytes,
            baseline_rss_bytes: w.baseline_rss_bytes,
            load_ms: w.load_ms,
            load_1min: load,
          });
        }
      }
      out.push({ model: path, bytes: statSync(path).size, bytes_vs_first: 1, inputs: inputs.source, results });
    }
    const first = out[0];
    for (const m of out) {
      m.bytes_vs_first = m.bytes / first.bytes;
      for (const r of m.results) {
        const f = first.results.find((x) => x.batch === r.batch && x.threads === r.threads)!;
        r.vs_first = { p50: r.latency_ms.p50 / f.latency_ms.p50, throughput: r.throughput_rows_per_s / f.throughput_rows_per_s, peak_rss: r.peak_rss_bytes / f.peak_rss_bytes };
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
