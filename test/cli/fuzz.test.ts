import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers.ts";

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
