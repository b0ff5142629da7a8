import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeProgress, PLAIN_INTERVAL_S } from "../../src/cli/progress.ts";
import { ROOT, runCli, tempDir } from "../helpers.ts";

const TINY = join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx");
const TINY_DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");

describe("--progress on the command line (stderr is a pipe here, not a terminal)", () => {
  const dir = tempDir();
  const quantize = (mode: string) =>
    runCli(["quantize", TINY, "--bits", "4", "--calib", "balanced", "--data", TINY_DATA, "--calib-size", "30", "--eval-data", TINY_DATA, "--eval-rows", "50", "-o", join(dir, `${mode}.onnx`), "--json", "--progress", mode]);

  it("plain: a line per stage and at each stage's end, on stderr only; stdout stays one JSON document", () => {
    const r = quantize("plain");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).evaluation.rows).toBe(50);
    const lines = r.stderr.trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(/^(calibrating|evaluating float|evaluating quantized): \d+\/\d+ rows \(\d+%\)$/);
    expect(lines).toContain("calibrating: 30/30 rows (100%)");
    expect(lines).toContain("evaluating float: 50/50 rows (100%)");
    expect(lines[lines.length - 1]).toBe("evaluating quantized: 50/50 rows (100%)");
    expect(r.stderr).not.toMatch(/\r|\x1b/);
  });

  it("auto (the default) and none print nothing when stderr is not a terminal", () => {
    for (const mode of ["auto", "none"]) {
      const r = quantize(mode);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
    }
  });

  it("eval and robustness take it too", () => {
    const ev = runCli(["eval", TINY, "--data", TINY_DATA, "--batch", "16", "--progress", "plain", "--json"]);
    expect(ev.status, ev.stderr).toBe(0);
    // The first batch and the last; a very slow machine may add one every few seconds between.
    const lines = ev.stderr.trimEnd().split("\n");
    expect([lines[0], lines[lines.length - 1]]).toEqual([`${TINY}: 16/60 rows (26%)`, `${TINY}: 60/60 rows (100%)`]);
    for (const line of lines) expect(line.replace(`${TINY}: `, "")).toMatch(/^(16|32|48|60)\/60 rows \(\d+%\)$/);
    const rb = runCli(["robustness", TINY, "--data", TINY_DATA, "--noise", "sub:0.1", "--seeds", "2", "--progress", "plain", "--json"]);
    expect(rb.status, rb.stderr).toBe(0);
    expect(rb.stderr.trimEnd().split("\n")).toEqual([`${TINY} clean: 60/60 rows (100%)`, `${TINY} sub:0.1 seed 0: 60/60 rows (100%)`, `${TINY} sub:0.1 seed 1: 60/60 rows (100%)`]);
  });
});

describe("plain progress lines", () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(): string[] {
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return lines;
  }

  it("the first update of a stage, then at most one every few seconds, and the last", () => {
    const lines = capture();
    let t = 0;
    const p = makeProgress("plain", "calibrating", { now: () => t })!;
    const step = PLAIN_INTERVAL_S * 1000;
    for (const [done, at] of [[32, 0], [64, step / 2], [96, step - 1], [128, step], [160, step * 1.5], [512, step * 1.6]]) {
      t = at;
      p.update(done, 512);
    }
    expect(lines).toEqual(["calibrating: 32/512 rows (6%)\n", "calibrating: 128/512 rows (25%)\n", "calibrating: 512/512 rows (100%)\n"]);
  });

  it("a new stage label prints at once; messages pass through", () => {
    const lines = capture();
    let stage = "a";
    const p = makeProgress("plain", () => stage, { now: () => 0, unit: "cells" })!;
    p.update(1, 4);
    p.update(2, 4);
    stage = "b";
    p.update(1, 4);
    p.message("b: cell done");
    expect(lines).toEqual(["a: 1/4 cells (25%)\n", "b: 1/4 cells (25%)\n", "b: cell done\n"]);
  });

  it("none gives no reporter", () => {
    expect(makeProgress("none", "x")).toBeUndefined();
  });
});
