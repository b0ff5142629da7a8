import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, listDir, runCli, tempDir } from "../helpers.ts";

describe("scripts/fuzz/fuzz.ts", () => {
  it("runs seeded mutants of a zoo model through inspect, quantize and eval within the bad-input contract", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", join(ROOT, "scripts", "fuzz", "fuzz.ts"), "--inspect", "6", "--quantize", "2", "--eval", "2", "--seed", "7", "--json"],
      { cwd: ROOT, encoding: "utf8", timeout: 600_000 },
    );
    const report = JSON.parse(r.stdout) as { summary: { command: string; runs: number; other_exit_codes: number; stack_traces: number; leftover_files: number; multi_line_errors: number }[] };
    expect(report.summary.map((s) => [s.command, s.runs])).toEqual([["inspect", 6], ["quantize", 2], ["eval", 2]]);
    for (const s of report.summary) {
      expect({ command: s.command, other: s.other_exit_codes, traces: s.stack_traces, leftovers: s.leftover_files, multiLine: s.multi_line_errors }).toEqual({
        command: s.command,
        other: 0,
        traces: 0,
        leftovers: 0,
        multiLine: 0,
      });
    }
    expect(r.status, r.stderr).toBe(0);
  });
});

describe("a model that loads but fails inside onnxruntime (fuzz mutant: wordnet8-disc with bit 3 of byte 2154 flipped)", () => {
  it("quantize and eval exit 2 with one line naming the file, and write nothing", () => {
    const dir = tempDir();
    const bytes = readFileSync(join(ROOT, "models", "wordnet8-disc.onnx"));
    bytes[2154] ^= 1 << 3; // a Gather's constant index, now out of range
    const model = join(dir, "model.onnx");
    writeFileSync(model, bytes);
    for (const args of [["quantize", model, "--bits", "4", "--calib", "balanced", "--calib-size", "16", "--no-eval"], ["eval", model, "--rows", "10"]]) {
      const r = runCli(args);
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${model}: onnxruntime failed running the model:`);
      expect(lines[0]).toContain("Gather");
    }
    expect(listDir(dir)).toEqual(["model.onnx"]);
  });
});
