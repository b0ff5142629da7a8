/**
 * sensitivity and tune on the tiny zoo fixture (a real 7k-parameter LSTM classifier and its
 * 60 labelled rows), through the real onnxruntime: every figure is checked against the float
 * model or against an independent route to the same number.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSensitivity } from "../../src/tune/sensitivity.ts";
import { runTune } from "../../src/tune/tune.ts";
import { ROOT, runCli, tempDir } from "../helpers.ts";

const TINY = join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx");
const DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");
const common = { data: DATA, calibSize: 30, threads: 1 };

describe("sensitivity", () => {
  it("scores each tensor alone at each width from one calibration; the uniform row matches quantize's model", async () => {
    const dir = tempDir();
    const model = join(dir, "tiny.onnx");
    copyFileSync(TINY, model);
    const q = runCli(["quantize", model, "--bits", "4", "--calib", "balanced", "--data", DATA, "--calib-size", "30", "--no-eval", "-o", join(dir, "q4.onnx")]);
    expect(q.status).toBe(0);
    const r = await runSensitivity({ model, bits: [8, 2, 4], against: join(dir, "q4.onnx"), ...common });
    expect(r.bits).toEqual([2, 4, 8]);
    expect(r.entries.map((e) => `${e.kind}:${e.tensor}`)).toEqual([
      "weight:emb.weight",
      "weight:head.weight",
      "weight:onnx::LSTM_149",
      "weight:onnx::LSTM_150",
      "activation:/lstm/Transpose_output_0",
      "activation:/If_output_0",
    ]);
    for (const e of r.entries) {
      expect(e.points.map((p) => p.bits)).toEqual([2, 4, 8]);
      // More bits, less error in the tensor itself: each width adds about 6 dB.
      const [p2, p4, p8] = e.points;
      expect(p4.tensor_sqnr_db).toBeGreaterThan(p2.tensor_sqnr_db + 6);
      if (e.kind === "weight") expect(p8.tensor_sqnr_db).toBeGreaterThan(p4.tensor_sqnr_db + 18);
      expect(p8.agreement).toBeGreaterThanOrEqual(59 / 60);
      for (const p of e.points) expect(p.drop_points).toBeCloseTo((r.float_accuracy - p.accuracy) * 100, 10);
    }
    // quantize's 4-bit model from the same calibration settings is the uniform 4-bit row: same scores.
    const u4 = r.uniform.find((u) => u.bits === 4)!;
    expect(r.against!.scores_sqnr_db).toBeCloseTo(u4.scores_sqnr_db, 6);
    expect(r.against!.accuracy).toBe(u4.accuracy);
    // Its weights, read back from the file, have the SQNR of each weight quantized alone at 4 bits.
    for (const w of r.against!.entries.filter((e) => e.kind === "weight")) {
      expect(w.sqnr_db).toBeCloseTo(r.entries.find((e) => e.tensor === w.tensor)!.points[1].tensor_sqnr_db, 6);
    }
    // The head's input carries the error of the LSTM before it too: at most its own quantization SQNR (plus rounding).
    const head = r.against!.entries.find((e) => e.tensor === "/If_output_0")!;
    expect(head.sqnr_db).toBeLessThan(r.entries.find((e) => e.tensor === "/If_output_0")!.points[1].tensor_sqnr_db + 0.5);
  });

  it("CLI: --json and --svg; bits outside 2..8 is one line, exit 2", () => {
    const dir = tempDir();
    const svg = join(dir, "s.svg");
    const r = runCli(["sensitivity", TINY, "--data", DATA, "--calib-size", "30", "--bits", "2,8", "--json", "--svg", svg]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).entries).toHaveLength(6);
    const chart = readFileSync(svg, "utf8");
    expect(chart.match(/class="series"/g)).toHaveLength(7);
    const bad = runCli(["sensitivity", TINY, "--data", DATA, "--bits", "1,8"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("ptq-onnx: --bits must be an integer from 2 to 8");
    // --against takes a ptq-onnx output of this float model, refused before any work.
    const notQuantized = runCli(["sensitivity", TINY, "--data", DATA, "--against", TINY]);
    expect(notQuantized.status).toBe(2);
    expect(notQuantized.stderr.trim()).toBe(`ptq-onnx: ${TINY}: is not a ptq-onnx quantized model (no ptq-onnx.quantization metadata)`);
  });
});

describe("tune", () => {
  it("meets the budget on validation, writes the model, a recipe quantize reruns to the same bytes, and the chart", async () => {
    const dir = tempDir();
    const model = join(dir, "tiny.onnx");
    copyFileSync(TINY, model);
    const r = await runTune({ model, maxDrop: 2, bits: [4, 8], testData: DATA, ...common });
    expect(r.met).toBe(true);
    const c = r.chosen!;
    expect(c.drop_points).toBeLessThanOrEqual(2);
    // The cheapest explored setting within the budget; uniform settings included.
    for (const p of r.explored.filter((p) => p.kind !== "alone" && p.drop_points <= 2)) expect(c.bytes).toBeLessThanOrEqual(p.bytes);
    expect(readFileSync(r.files!.model).length).toBe(c.bytes);
    const rerun = runCli(["quantize", model, "--recipe", r.files!.recipe, "--data", DATA, "--no-eval", "-o", join(dir, "rerun.onnx")]);
    expect(rerun.stderr).toBe("");
    expect(Buffer.compare(readFileSync(join(dir, "rerun.onnx")), readFileSync(r.files!.model))).toBe(0);
    expect(readFileSync(r.files!.chart, "utf8")).toContain(`chosen: ${c.label}`);
    // Test figures are on the test rows (here the same file), for the model written.
    expect(c.test_drop_points).toBeCloseTo((r.float.test_accuracy! - c.test_accuracy!) * 100, 10);
  });

  it("CLI: a budget no setting meets says the best found, exits 1 and writes nothing; a bad objective exits 2", () => {
    const dir = tempDir();
    const model = join(dir, "tiny.onnx");
    copyFileSync(TINY, model);
    // 2-bit weights and activations everywhere: the tiny model loses several points.
    const r = runCli(["tune", model, "--max-drop", "0", "--bits", "2", "--data", DATA, "--test-data", DATA, "--calib-size", "30"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/no setting meets the budget: the best found is .*; nothing written/);
    expect(readdirSync(dir)).toEqual(["tiny.onnx"]);
    const bad = runCli(["tune", model, "--max-drop", "0.5", "--objective", "speed", "--data", DATA]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("ptq-onnx: --objective must be size or latency, got 'speed'");
    expect(existsSync(join(dir, "tiny.tuned.onnx"))).toBe(false);
  });
});
