import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli, tempDir, type CliResult } from "../helpers.ts";

const TINY = join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx");
const TINY_DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");

/** runCli without blocking, so that several usage checks share the start-up time. */
function runCliAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "ptq-onnx.js"), ...args], { cwd: ROOT, env: { ...process.env, PTQ_ONNX_DEBUG: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

function expectUsageError(r: CliResult, line: string): void {
  expect(r.stdout).toBe("");
  expect(r.stderr).toBe(`ptq-onnx: ${line}\n`);
  expect(r.status).toBe(2);
}

describe("numeric options echo what was typed", () => {
  const out = tempDir();
  // One numeric option of every command, each with a value yargs would have made NaN or let through.
  const cases: [string[], string][] = [
    [["quantize", TINY, "--bits", "abc", "--calib", "balanced"], "--bits must be an integer from 2 to 8, got 'abc'"],
    [["quantize", TINY, "--bits", "4", "--calib", "balanced", "--calib-size", "1.5"], "--calib-size must be an integer of at least 1, got '1.5'"],
    [["quantize", TINY, "--bits", "4", "--calib", "balanced", "--eval-rows", "0x10"], "--eval-rows must be an integer of at least 1, got '0x10'"],
    [["eval", TINY, "--batch", "many"], "--batch must be an integer of at least 1, got 'many'"],
    [["robustness", TINY, "--noise", "sub:0.1", "--seeds", "-2"], "--seeds must be an integer of at least 1, got '-2'"],
    [["bench", TINY, "--runs", "ten"], "--runs must be an integer of at least 1, got 'ten'"],
    [["bench", TINY, "--batch", "1,x"], "--batch must be an integer of at least 1, got 'x'"],
    [["parity", TINY, "--min-agreement", "most"], "--min-agreement must be a number from 0 to 1, got 'most'"],
    [["study", "--models", TINY, "--jobs", "2x", "--out", out], "--jobs must be an integer of at least 1, got '2x'"],
    [["stats", "compare", TINY, TINY, "--top", ""], "--top must be an integer of at least 1, got ''"],
    [["data", "export", "wordnet8", "--out", out, "--max-len", "NaN"], "--max-len must be an integer of at least 1, got 'NaN'"],
  ];
  it("one line naming the option, its range and the text as typed; exit 2", async () => {
    const results = await Promise.all(cases.map(([args]) => runCliAsync(args)));
    results.forEach((r, i) => expectUsageError(r, cases[i][1]));
  });

  it("an option given twice is named, not silently combined", () => {
    expectUsageError(runCli(["quantize", TINY, "--bits", "4", "--bits", "5", "--calib", "balanced"]), "--bits was given more than once (4 5)");
  });
});

describe("unknown and missing options", () => {
  it("--bitz is named as unknown, with the option it resembles, before any missing option", async () => {
    const [onlyTypo, withCalib, two] = await Promise.all([
      runCliAsync(["quantize", TINY, "--bitz", "4"]),
      runCliAsync(["quantize", TINY, "--bitz", "4", "--calib", "balanced"]),
      runCliAsync(["quantize", TINY, "--bits", "4", "--calib", "balanced", "--calib-sise", "8", "--frobnicate"]),
    ]);
    expectUsageError(onlyTypo, "Unknown argument: bitz (did you mean --bits?)");
    expectUsageError(withCalib, "Unknown argument: bitz (did you mean --bits?)");
    expectUsageError(two, "Unknown arguments: calib-sise (did you mean --calib-size?), frobnicate");
  });

  it("a missing option with no unknown one is still reported as missing", () => {
    expectUsageError(runCli(["quantize", TINY, "--bits", "4"]), "Missing required argument: calib");
  });

  it("a bad choice is one line", () => {
    expectUsageError(runCli(["eval", TINY, "--progress", "loud"]), 'Invalid values: Argument: progress, Given: "loud", Choices: "auto", "plain", "none"');
  });
});

describe("--bits is needed only when --wbits or --abits is missing", () => {
  const dir = tempDir();
  it("--wbits 2 --abits 8 alone quantizes W2A8", () => {
    const r = runCli(["quantize", TINY, "--wbits", "2", "--abits", "8", "--calib", "balanced", "--data", TINY_DATA, "--calib-size", "12", "--no-eval", "-o", join(dir, "w2a8.onnx"), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect([out.wbits, out.abits, out.output]).toEqual([2, 8, join(dir, "w2a8.onnx")]);
    expect(out.details.filter((d: { kind: string }) => d.kind === "weight").every((d: { bits: number }) => d.bits === 2)).toBe(true);
    expect(out.details.filter((d: { kind: string }) => d.kind === "activation").every((d: { bits: number }) => d.bits === 8)).toBe(true);
  });

  it("one side alone still needs --bits", () => {
    expectUsageError(runCli(["quantize", TINY, "--wbits", "2", "--calib", "balanced", "-o", join(dir, "x.onnx")]), "--bits is required unless both --wbits and --abits are given");
  });
});
