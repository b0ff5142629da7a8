/**
 * Mutation fuzzing of the command line: seeded byte mutations of a real zoo model, each run
 * through `inspect`, `quantize` and `eval` in a child process of its own, in a fresh folder.
 * The contract for bad input is exit 0 or 2, a one-line message, no stack trace and no file
 * left behind; this script counts every run that breaks it and prints the worst offenders.
 *
 *   npx tsx scripts/fuzz/fuzz.ts [--model models/wordnet8-disc.onnx] [--inspect 1000]
 *       [--quantize 200] [--eval 200] [--seed 0] [--jobs 2] [--keep DIR] [--json]
 *
 * Mutants are deterministic in (seed, command, index). Half of the edits land in the bytes
 * that describe the graph (everything but the large weight payloads), where a few bytes
 * change structure rather than a weight value. Exit status 1 when any run broke the contract.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { loadModel } from "../../src/graph/index.ts";
import { Mulberry32, mixSeed } from "../../src/data/random.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const CLI = join(ROOT, "bin", "ptq-onnx.js");
const RUN_TIMEOUT_MS = 180_000;

type Command = "inspect" | "quantize" | "eval";

interface RunResult {
  command: Command;
  index: number;
  edits: string[];
  status: number | null;
  signal: string | null;
  timedOut: boolean;
  stderrLines: number;
  firstLine: string;
  stackTrace: boolean;
  leftovers: string[];
}

/** Byte ranges of the large weight payloads, found by locating each raw_data in the file. */
function payloadRanges(bytes: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const t of fromBinary(ModelProtoSchema, bytes).graph?.initializer ?? []) {
    const raw = t.rawData;
    if (raw.length < 256) continue;
    const at = buf.indexOf(Buffer.from(raw.subarray(0, 64)));
    if (at >= 0) ranges.push([at, at + raw.length]);
  }
  return ranges.sort((a, b) => a[0] - b[0]);
}

/** Offsets outside every payload: the graph's nodes, names, shapes, opsets and metadata. */
function structureOffsets(size: number, payloads: [number, number][]): Int32Array {
  const inside = new Uint8Array(size);
  for (const [a, b] of payloads) inside.fill(1, a, b);
  const out: number[] = [];
  for (let i = 0; i < size; i++) if (!inside[i]) out.push(i);
  return Int32Array.from(out);
}

/**
 * One to three seeded edits. Most keep the file's length (bit flips, special or random bytes),
 * so the protobuf still parses and the damage reaches names, types, dims, attributes and
 * weight values; a few insert, delete, duplicate or truncate.
 */
function mutate(original: Uint8Array, structure: Int32Array, rng: Mulberry32): { bytes: Uint8Array; edits: string[] } {
  let bytes: Uint8Array = Uint8Array.from(original);
  const edits: string[] = [];
  const count = 1 + rng.nextInt(3);
  for (let e = 0; e < count && bytes.length > 1; e++) {
    const inStructure = rng.chance(0.5) && structure.length > 0;
    let at = inStructure ? structure[rng.nextInt(structure.length)] : rng.nextInt(bytes.length);
    at = Math.min(at, bytes.length - 1);
    const roll = rng.nextInt(100);
    const kind = roll < 40 ? 0 : roll < 70 ? 1 : roll < 85 ? 2 : roll < 90 ? 3 : roll < 95 ? 4 : roll < 98 ? 5 : 6;
    if (kind === 0) {
      const bit = rng.nextInt(8);
      bytes[at] ^= 1 << bit;
      edits.push(`flip ${at}.${bit}`);
    } else if (kind === 1) {
      const value = [0x00, 0xff, 0x7f, 0x80, 0x01][rng.nextInt(5)];
      bytes[at] = value;
      edits.push(`set ${at}=0x${value.toString(16)}`);
    } else if (kind === 2) {
      const value = rng.nextInt(256);
      bytes[at] = value;
      edits.push(`set ${at}=0x${value.toString(16)}`);
    } else if (kind === 3) {
      const n = 1 + rng.nextInt(8);
      const ins = Uint8Array.from({ length: n }, () => rng.nextInt(256));
      bytes = concat(bytes.subarray(0, at), ins, bytes.subarray(at));
      edits.push(`insert ${n}@${at}`);
    } else if (kind === 4) {
      const n = 1 + rng.nextInt(16);
      bytes = concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + n)));
      edits.push(`delete ${n}@${at}`);
    } else if (kind === 5) {
      const n = 1 + rng.nextInt(16);
      bytes = concat(bytes.subarray(0, at), bytes.subarray(at, at + n), bytes.subarray(at));
      edits.push(`duplicate ${n}@${at}`);
    } else {
      // Truncation at most once per mutant.
      if (edits.some((x) => x.startsWith("truncate"))) continue;
      bytes = bytes.subarray(0, at);
      edits.push(`truncate ${at}`);
    }
  }
  return { bytes, edits };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function runChild(args: string[], cwd: string): Promise<{ status: number | null; signal: string | null; stderr: string; timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PTQ_ONNX_DEBUG: "" } });
    let stderr = "";
    let timedOut = false;
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 64_000) stderr += d.toString("utf8");
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, RUN_TIMEOUT_MS);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, stderr, timedOut });
    });
  });
}

/** The files a successful run may leave beside the mutant; anything else is a leftover. */
function expectedOutputs(command: Command, status: number | null): Set<string> {
  const files = new Set(["model.onnx", "calib.jsonl", "eval.jsonl"]);
  if (command === "quantize" && status === 0) {
    files.add("model.q4a4.onnx");
    files.add("model.q4a4.calib.json");
  }
  return files;
}

function commandArgs(command: Command): string[] {
  if (command === "inspect") return ["inspect", "model.onnx"];
  if (command === "quantize") return ["quantize", "model.onnx", "--bits", "4", "--calib", "balanced", "--calib-size", "32", "--data", "calib.jsonl", "--eval-data", "eval.jsonl", "--eval-rows", "32"];
  return ["eval", "model.onnx", "--data", "eval.jsonl"];
}

async function fuzzOne(
  command: Command,
  index: number,
  seed: number,
  original: Uint8Array,
  structure: Int32Array,
  dataFiles: { calib: string; eval: string },
  keep: string | undefined,
): Promise<RunResult> {
  const commandCode = ["inspect", "quantize", "eval"].indexOf(command);
  const rng = Mulberry32.fromState(mixSeed(seed, commandCode, index));
  const { bytes, edits } = mutate(original, structure, rng);
  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-fuzz-"));
  try {
    writeFileSync(join(dir, "model.onnx"), bytes);
    copyFileSync(dataFiles.calib, join(dir, "calib.jsonl"));
    copyFileSync(dataFiles.eval, join(dir, "eval.jsonl"));
    const r = await runChild(commandArgs(command), dir);
    const allowed = expectedOutputs(command, r.status);
    const leftovers = readdirSync(dir).filter((f) => !allowed.has(f));
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
    const result: RunResult = {
      command,
      index,
      edits,
      status: r.status,
      signal: r.signal,
      timedOut: r.timedOut,
      stderrLines: lines.length,
      firstLine: lines[0] ?? "",
      stackTrace: /^\s+at .+[(:]\d+/m.test(r.stderr) || /internal error/.test(r.stderr),
      leftovers,
    };
    if (keep && isBad(result)) {
      mkdirSync(keep, { recursive: true });
      writeFileSync(join(keep, `${command}-${index}.onnx`), bytes);
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The most frequent error lines, with file paths and numbers folded so that alike ones count together. */
function commonMessages(rs: RunResult[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const r of rs) {
    if (!r.firstLine) continue;
    const key = r.firstLine.replace(/\/[^\s:]+/g, "PATH").replace(/\d+(\.\d+)?/g, "N").slice(0, 120);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 6);
}

function isBad(r: RunResult): boolean {
  return r.timedOut || (r.status !== 0 && r.status !== 2) || r.stackTrace || r.leftovers.length > 0 || (r.status === 2 && r.stderrLines !== 1);
}

/** Small calibration and evaluation files from the model's own validation and test splits. */
function writeDataFiles(modelPath: string, dir: string): { calib: string; eval: string } {
  const model = loadModel(modelPath);
  const write = (split: "val" | "test", rows: number, name: string): string => {
    const data = loadLabelledData(model, { split });
    const lines: string[] = [];
    // Every class represented: take rows round-robin over the labels in file order.
    const byClass = new Map<number, number[]>();
    data.labels.forEach((y, i) => byClass.set(y, [...(byClass.get(y) ?? []), i]));
    for (let k = 0; lines.length < rows; k++) {
      let added = false;
      for (const idx of byClass.values()) {
        if (k < idx.length && lines.length < rows) {
          lines.push(JSON.stringify({ ids: data.ids[idx[k]], label: data.labels[idx[k]] }));
          added = true;
        }
      }
      if (!added) break;
    }
    const path = join(dir, name);
    writeFileSync(path, lines.join("\n") + "\n");
    return path;
  };
  return { calib: write("val", 64, "calib.jsonl"), eval: write("test", 64, "eval.jsonl") };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: join(ROOT, "models", "wordnet8-disc.onnx") },
      inspect: { type: "string", default: "1000" },
      quantize: { type: "string", default: "200" },
      eval: { type: "string", default: "200" },
      seed: { type: "string", default: "0" },
      jobs: { type: "string", default: "2" },
      keep: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const counts: Record<Command, number> = { inspect: Number(values.inspect), quantize: Number(values.quantize), eval: Number(values.eval) };
  const seed = Number(values.seed);
  const jobs = Math.max(1, Number(values.jobs));
  const modelPath = resolve(values.model);
  if (!existsSync(modelPath)) throw new Error(`${modelPath}: no such model`);
  const original = new Uint8Array(readFileSync(modelPath));
  const structure = structureOffsets(original.length, payloadRanges(original));
  const work = mkdtempSync(join(tmpdir(), "ptq-onnx-fuzz-data-"));
  const dataFiles = writeDataFiles(modelPath, work);

  const queue: [Command, number][] = [];
  for (const command of ["inspect", "quantize", "eval"] as Command[]) for (let i = 0; i < counts[command]; i++) queue.push([command, i]);
  const results: RunResult[] = [];
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length) {
      const [command, index] = queue[next++];
      results.push(await fuzzOne(command, index, seed, original, structure, dataFiles, values.keep));
      if (results.length % 50 === 0) {
        process.stderr.write(`fuzz: ${results.length}/${queue.length} runs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  rmSync(work, { recursive: true, force: true });
  results.sort((a, b) => a.command.localeCompare(b.command) || a.index - b.index);

  const summary = (["inspect", "quantize", "eval"] as Command[]).map((command) => {
    const rs = results.filter((r) => r.command === command);
    const exitCodes: Record<string, number> = {};
    for (const r of rs) {
      const key = r.timedOut ? "timeout" : r.signal ? `signal ${r.signal}` : String(r.status);
      exitCodes[key] = (exitCodes[key] ?? 0) + 1;
    }
    return {
      command,
      runs: rs.length,
      exit_codes: exitCodes,
      other_exit_codes: rs.filter((r) => r.timedOut || (r.status !== 0 && r.status !== 2)).length,
      stack_traces: rs.filter((r) => r.stackTrace).length,
      multi_line_errors: rs.filter((r) => r.status === 2 && r.stderrLines !== 1).length,
      leftover_files: rs.filter((r) => r.leftovers.length > 0).length,
      common_messages: commonMessages(rs),
    };
  });
  const bad = results.filter(isBad);
  const report = {
    model: modelPath,
    seed,
    seconds: Math.round((Date.now() - started) / 1000),
    summary,
    offenders: bad.slice(0, 20).map((r) => ({ command: r.command, index: r.index, edits: r.edits, status: r.status, first_line: r.firstLine, leftovers: r.leftovers })),
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    console.log(`fuzz ${modelPath}, seed ${seed}, ${report.seconds} s`);
    for (const s of summary) {
      console.log(
        `${s.command.padEnd(9)} runs ${s.runs}, exit codes ${JSON.stringify(s.exit_codes)}, other than 0/2: ${s.other_exit_codes}, stack traces: ${s.stack_traces}, multi-line errors: ${s.multi_line_errors}, leftover files: ${s.leftover_files}`,
      );
    }
    for (const s of summary) for (const [message, n] of s.common_messages) console.log(`  ${s.command} ${n}x ${message}`);
    for (const r of report.offenders) console.log(`  ${r.command} #${r.index} [${r.edits.join(", ")}] exit ${r.status}: ${r.first_line}${r.leftovers.length ? ` leftovers ${r.leftovers.join(" ")}` : ""}`);
  }
  process.exitCode = bad.length ? 1 : 0;
}

await main();
