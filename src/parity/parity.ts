/**
 * ARM and WASM parity: runs a classifier on the same rows natively and as arm64 under
 * qemu-user, once per CPU profile, and in onnxruntime-web's WebAssembly build (profile `wasm`),
 * and compares predictions and scores.
 *
 * Every side runs scripts/arm64/worker.mjs, in its own process, on one prepared set of batches
 * (same row order, padding and batch composition, one intra-op thread), so any difference comes
 * from the kernels onnxruntime picks for the CPU or WASM, not from the harness. Batch composition matters for
 * dynamically quantized models, whose activation scale is computed over the whole batch.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadLabelledData, modelTokenizer } from "../data/resolve.ts";
import { sampleRows } from "../eval/evaluate.ts";
import { argmax } from "../eval/metrics.ts";
import { openSession, resolveInputs, resolveOutput } from "../eval/predict.ts";
import { InputError, type Model } from "../graph/index.ts";
import { findEmulator, runEmulatedNode, type Emulator, type RunResult } from "./emulator.ts";
import { DEFAULT_PROFILES, findProfile, PROFILES, type CpuProfile } from "./profiles.ts";
import { firstFailingNode, unsupportedOps, WASM_TARGET } from "./wasm.ts";

export const WORKER = fileURLToPath(new URL("../../scripts/arm64/worker.mjs", import.meta.url));

/** Rows checked by default: emulation runs a few hundred times slower than native. */
export const DEFAULT_ROWS = 200;
export const DEFAULT_BATCH = 64;
/** Row indices listed per profile. */
export const LISTED_DISAGREEMENTS = 10;

export interface ParityOptions {
  /** Path of the model (the workers load it from there). */
  path: string;
  model: Model;
  data?: string;
  tokenizer?: string;
  /** Rows to check (a fixed sample, the one `eval --rows N` uses); default DEFAULT_ROWS. */
  rows?: number;
  profiles?: string[];
  batch?: number;
  /** A profile passes when its top-1 agreement is at least this (default 1). */
  minAgreement?: number;
  /** Kill an emulated or WASM run after this many seconds (default: none). */
  timeoutSeconds?: number;
  /** Called once per finished run (native or a profile), for progress. */
  onRunDone?: (name: string, seconds: number) => void;
}

/** A profile: an arm64 CPU under qemu-user, or the WASM target. */
export type ParityTarget = CpuProfile | typeof WASM_TARGET;

export interface ProfileParity {
  name: string;
  description: string;
  /** "onnxruntime-node" (arm64 under qemu-user) or "onnxruntime-web" (WASM). */
  runtime: string;
  /** null for the WASM target. */
  qemu_cpu: string | null;
  features: string | null;
  /** null when the profile could not run the model (see `error`). */
  accuracy: number | null;
  /** Fraction of rows whose top-1 class equals the native run's. */
  agreement: number | null;
  /** Largest |native - emulated| over all rows and classes. */
  max_score_diff: number | null;
  /** Number of rows whose top-1 differs from the native run's. */
  disagreement_count: number | null;
  /** The first few of them, as 0-based row indices of the data (file or zoo split). */
  disagreements: number[];
  passed: boolean;
  seconds: number;
  /** Why the profile could not run the model (one line); only then present. */
  error?: string;
  /** The ops it refused, "OP (node NAME)"; only present with `error`. */
  unsupported_ops?: string[];
}

export interface ParityResult {
  model: string;
  data: string;
  /** sha256 of the rows checked, as eval hashes them. */
  data_sha256: string;
  /** Rows checked. */
  rows: number;
  /** Rows in the data; `rows` of them are a fixed sample when fewer. */
  rows_available: number;
  note: string;
  batch: number;
  native: { arch: string; node: string; accuracy: number; seconds: number };
  profiles: ProfileParity[];
  min_agreement: number;
  /** Every profile's agreement is at least min_agreement. */
  passed: boolean;
  onnxruntime: string | null;
  /** The emulated arm64 Node.js; null when no arm64 profile ran. */
  arm64_node: string | null;
  /** onnxruntime-web's version; null when the wasm profile did not run. */
  onnxruntime_web: string | null;
  seconds: number;
}

interface WorkerOutput {
  arch: string;
  node: string;
  ort: string | null;
  classes: number;
  scores: number[][];
  /** Set when onnxruntime could not load ("load") or run ("run") the model. */
  stage?: "load" | "run";
  error?: string;
}

export const isWasm = (t: ParityTarget): t is typeof WASM_TARGET => t === WASM_TARGET;

export function parseProfiles(value: string[] | undefined): ParityTarget[] {
  const names = value && value.length ? value : DEFAULT_PROFILES;
  const out: ParityTarget[] = [];
  for (const name of names) {
    const p = name === WASM_TARGET.name ? WASM_TARGET : findProfile(name);
    if (!p) throw new InputError(`--profiles: unknown profile "${name}" (known: ${[...PROFILES.map((x) => x.name), WASM_TARGET.name].join(", ")})`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Batches as predictScores makes them: rows sorted by length (stable), cut every `batch`, right-padded. */
export function makeBatches(rows: number[][], batch: number, padId: number, fixedSeq?: number) {
  const cut = fixedSeq ? rows.map((r) => r.slice(0, fixedSeq)) : rows;
  const order = cut.map((_, i) => i).sort((a, b) => cut[a].length - cut[b].length || a - b);
  const batches: { rows: number[]; t: number; ids: number[]; lengths: number[] }[] = [];
  for (let start = 0; start < order.length; start += batch) {
    const idx = order.slice(start, start + batch);
    const t = fixedSeq ?? Math.max(...idx.map((i) => cut[i].length));
    const ids = new Array<number>(idx.length * t).fill(padId);
    idx.forEach((ri, k) => cut[ri].forEach((id, j) => (ids[k * t + j] = id)));
    batches.push({ rows: idx, t, ids, lengths: idx.map((i) => cut[i].length) });
  }
  return batches;
}

/** Runs `node ARGS...` on this machine; `timeoutMs` kills it (SIGKILL) after that long. */
function runNative(args: string[], timeoutMs?: number): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = timeoutMs ? setTimeout(() => child.kill("SIGKILL"), timeoutMs) : undefined;
    child.on("error", (err) => (clearTimeout(timer), reject(err)));
    child.on("close", (status, signal) => (clearTimeout(timer), resolve({ status, signal, stdout, stderr, seconds: (performance.now() - started) / 1000 })));
  });
}

/** The worker's output, which may report that onnxruntime refused the model (`error`). */
function readWorkerRaw(what: string, run: RunResult, out: string, timeoutSeconds?: number): WorkerOutput {
  if (run.status !== 0) {
    const lines = run.stderr.split("\n").map((l) => l.trim()).filter(Boolean);
    const why =
      run.signal === "SIGKILL" && timeoutSeconds
        ? `killed after ${timeoutSeconds} s (--timeout)`
        : (lines.find((l) => /error/i.test(l) && !/cpuinfo/i.test(l)) ?? lines.at(-1) ?? `exit ${run.status ?? run.signal}`);
    throw new Error(`${what} run failed: ${why}`);
  }
  return JSON.parse(readFileSync(out, "utf8")) as WorkerOutput;
}

/** The worker's scores; an onnxruntime refusal is an error here. */
function readWorker(what: string, run: RunResult, out: string, timeoutSeconds?: number): WorkerOutput {
  const w = readWorkerRaw(what, run, out, timeoutSeconds);
  if (w.error) throw new Error(`${what} run failed: onnxruntime could not ${w.stage} the model: ${w.error}`);
  return w;
}

function accuracyOf(scores: readonly ArrayLike<number>[], labels: readonly number[]): number {
  let hit = 0;
  scores.forEach((s, i) => (hit += argmax(s) === labels[i] ? 1 : 0));
  return labels.length ? hit / labels.length : 0;
}

export interface RunComparison {
  accuracy: number;
  agreement: number;
  max_score_diff: number;
  disagreement_count: number;
  disagreements: number[];
  passed: boolean;
}

/**
 * Compares an emulated run with the native one: accuracy against `labels`, top-1 agreement,
 * the largest score difference (Infinity when only one side is NaN) and the rows that differ,
 * reported as `rowIds[i]` (the data row each checked row came from).
 */
export function compareRuns(
  native: readonly ArrayLike<number>[],
  emulated: readonly ArrayLike<number>[],
  labels: readonly number[],
  rowIds: readonly number[],
  minAgreement = 1,
): RunComparison {
  if (native.length !== emulated.length || native.length !== labels.length) {
    throw new Error(`compareRuns: ${native.length} native rows, ${emulated.length} emulated, ${labels.length} labels`);
  }
  let maxDiff = 0;
  const differ: number[] = [];
  for (let i = 0; i < native.length; i++) {
    const a = native[i];
    const b = emulated[i];
    for (let c = 0; c < a.length; c++) {
      const d = Math.abs(a[c] - b[c]);
      if (Number.isNaN(d)) maxDiff = Number.isNaN(a[c]) && Number.isNaN(b[c]) ? maxDiff : Infinity;
      else maxDiff = Math.max(maxDiff, d);
    }
    if (argmax(a) !== argmax(b)) differ.push(rowIds[i]);
  }
  const agreement = native.length ? (native.length - differ.length) / native.length : 1;
  return {
    accuracy: accuracyOf(emulated, labels),
    agreement,
    max_score_diff: maxDiff,
    disagreement_count: differ.length,
    disagreements: differ.slice(0, LISTED_DISAGREEMENTS),
    passed: agreement >= minAgreement,
  };
}

export async function runParity(opts: ParityOptions): Promise<ParityResult> {
  const started = performance.now();
  const profiles = parseProfiles(opts.profiles);
  const armProfiles = profiles.filter((p): p is CpuProfile => !isWasm(p));
  const rowsWanted = opts.rows ?? DEFAULT_ROWS;
  const batch = opts.batch ?? DEFAULT_BATCH;
  const minAgreement = opts.minAgreement ?? 1;
  const data = loadLabelledData(opts.model, { data: opts.data, tokenizer: opts.tokenizer, split: "test" });
  const pick = sampleRows(data.ids.length, rowsWanted) ?? data.ids.map((_, i) => i);
  const ids = pick.map((i) => data.ids[i]);
  const labels = pick.map((i) => data.labels[i]);
  const empty = ids.findIndex((r) => r.length === 0);
  if (empty >= 0) throw new InputError(`row ${pick[empty] + 1} has no tokens`, opts.data ?? data.source);
  const hash = createHash("sha256");
  ids.forEach((r, i) => hash.update(`${labels[i]}:${r.join(",")}\n`));
  const rowsSha256 = hash.digest("hex");
  const padId = modelTokenizer(opts.model, opts.tokenizer)?.spec.pad_id ?? 0;

  // Emulation is checked after the inputs, so a bad model or data file is reported as such.
  // The WASM target needs none.
  const emu: Emulator | null = armProfiles.length ? findEmulator() : null;

  const session = await openSession(opts.path, { intraOpThreads: 1, file: opts.path });
  let config;
  try {
    const info = resolveInputs(session);
    config = {
      model: opts.path,
      threads: 1,
      output: resolveOutput(session),
      rows: ids.length,
      inputs: { ids: info.names.ids, idsType: info.idsType, lengths: info.names.lengths ?? null, lengthsType: info.lengthsType },
      batches: makeBatches(ids, batch, padId, info.fixedSeq),
    };
  } finally {
    await session.release();
  }

  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-parity-"));
  try {
    const cfgFile = join(dir, "config.json");
    writeFileSync(cfgFile, JSON.stringify(config));
    const timeoutMs = opts.timeoutSeconds ? opts.timeoutSeconds * 1000 : undefined;
    const nativeOut = join(dir, "native.json");
    const nativeRun = runNative([WORKER, cfgFile, nativeOut]).then((r) => (opts.onRunDone?.("native", r.seconds), r));
    // Profiles run side by side, one thread each; WASM in a plain Node process of its own.
    const emulated = profiles.map((p) => {
      const out = join(dir, `${p.name}.json`);
      const run = isWasm(p) ? runNative([WORKER, cfgFile, out, "wasm"], timeoutMs) : runEmulatedNode(emu!, p, [WORKER, cfgFile, out], { timeoutMs });
      return run.then((r) => (opts.onRunDone?.(p.name, r.seconds), { run: r, out }));
    });
    const runs = await Promise.all([nativeRun, ...emulated]);
    const native = readWorker("native", runs[0] as RunResult, nativeOut);

    let webVersion: string | null = null;
    const results: ProfileParity[] = profiles.map((p, k) => {
      const { run, out } = runs[k + 1] as { run: RunResult; out: string };
      if (isWasm(p)) {
        const w = readWorkerRaw("wasm", run, out, opts.timeoutSeconds);
        webVersion = w.ort;
        const base = { name: p.name, description: p.description, runtime: "onnxruntime-web", qemu_cpu: null, features: null, seconds: run.seconds };
        if (w.error) return { ...base, ...wasmRefusal(w, opts.model, dir) };
        if (w.classes !== native.classes) throw new Error(`wasm run gives ${w.classes} scores per row, native ${native.classes}`);
        return { ...base, ...compareRuns(native.scores, w.scores, labels, pick, minAgreement) };
      }
      const w = readWorker(`emulated ${p.name}`, run, out, opts.timeoutSeconds);
      if (w.arch !== "arm64") throw new Error(`emulated ${p.name} run reports architecture ${w.arch}, not arm64`);
      if (w.classes !== native.classes) throw new Error(`emulated ${p.name} run gives ${w.classes} scores per row, native ${native.classes}`);
      return {
        name: p.name,
        description: p.description,
        runtime: "onnxruntime-node",
        qemu_cpu: p.qemuCpu,
        features: p.features.join(" "),
        ...compareRuns(native.scores, w.scores, labels, pick, minAgreement),
        seconds: run.seconds,
      };
    });
    const sampled = ids.length < data.ids.length;
    const note =
      `${ids.length} of ${data.ids.length} rows${sampled ? " (a fixed sample, as eval --rows uses)" : ""}` +
      (armProfiles.length ? `: emulation runs a few hundred times slower than native, so parity checks ${DEFAULT_ROWS} rows unless --rows says otherwise` : "");
    return {
      model: opts.path,
      data: data.source,
      data_sha256: rowsSha256,
      rows: ids.length,
      rows_available: data.ids.length,
      note,
      batch,
      native: { arch: native.arch, node: native.node, accuracy: accuracyOf(native.scores, labels), seconds: (runs[0] as RunResult).seconds },
      profiles: results,
      min_agreement: minAgreement,
      passed: results.every((r) => r.passed),
      onnxruntime: native.ort,
      arm64_node: emu?.nodeVersion ?? null,
      onnxruntime_web: webVersion,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A failed WASM profile: onnxruntime-web could not load or run a model that native
 * onnxruntime runs. Names the ops it refused: from the message when onnxruntime names them,
 * else (a load failure) the first node whose graph prefix fails to load.
 */
function wasmRefusal(w: WorkerOutput, model: Model, dir: string) {
  let ops = unsupportedOps(w.error!);
  if (!ops.length && w.stage === "load") {
    const node = firstFailingNode(model, dir);
    if (node) ops = [node];
  }
  const error = `onnxruntime-web could not ${w.stage} the model${ops.length ? ` (${ops.join(", ")})` : ""}: ${w.error}`;
  return { accuracy: null, agreement: null, max_score_diff: null, disagreement_count: null, disagreements: [], passed: false, error, unsupported_ops: ops };
}
