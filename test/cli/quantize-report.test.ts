import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, listDir, runCli, tempDir } from "../helpers.ts";

const TINY = join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx");
const TINY_DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");
const ZOO = join(ROOT, "models", "wordnet8-disc.onnx");
const base = ["--calib", "balanced", "--data", TINY_DATA, "--calib-size", "12"];

describe("quantize notes", () => {
  const dir = tempDir();
  it("--pack-int4 with 8-bit weights says it was ignored, in the summary and in --json", () => {
    const args = ["quantize", TINY, "--bits", "8", "--pack-int4", ...base, "--no-eval", "-o", join(dir, "p8.onnx")];
    const note = "--pack-int4 ignored: weights are 8 bits; INT4 packing applies to 4 bits or fewer";
    const json = runCli([...args, "--json"]);
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).notes).toEqual([note, "not evaluated: --no-eval"]);
    const text = runCli(args);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`note: ${note}\n`);
  });

  it("--pack-int4 with 4-bit weights packs (a smaller file) and has no such note", () => {
    const run = (extra: string[]) => runCli(["quantize", TINY, "--bits", "4", ...extra, ...base, "--no-eval", "-o", join(dir, `p4${extra.length}.onnx`), "--json"]);
    const [packed, plain] = [run(["--pack-int4"]), run([])];
    expect(packed.status, packed.stderr).toBe(0);
    expect(plain.status, plain.stderr).toBe(0);
    const [p, q] = [JSON.parse(packed.stdout), JSON.parse(plain.stdout)];
    expect(p.notes).toEqual(["not evaluated: --no-eval"]);
    expect(p.bytes.output).toBeLessThan(q.bytes.output);
  });
});

describe("quantize reports float and quantized accuracy on a fixed sample", () => {
  const dir = tempDir();

  it("with --eval-data: the same figures as eval --rows N --reference FLOAT", () => {
    const out = join(dir, "q4.onnx");
    const q = runCli(["quantize", TINY, "--bits", "4", ...base, "--eval-data", TINY_DATA, "--eval-rows", "40", "-o", out, "--json"]);
    expect(q.stderr).toBe("");
    expect(q.status).toBe(0);
    const e = JSON.parse(q.stdout).evaluation;
    expect(e).toMatchObject({ rows: 40, source: TINY_DATA });
    const ev = runCli(["eval", out, "--data", TINY_DATA, "--rows", "40", "--reference", TINY, "--json"]);
    expect(ev.status, ev.stderr).toBe(0);
    const r = JSON.parse(ev.stdout);
    expect(e.quantized_accuracy).toBe(r.accuracy);
    expect(e.float_accuracy).toBe(r.reference.accuracy);
    expect(e.agreement).toBe(r.reference.agreement);
    expect(e.mean_kl).toBeCloseTo(r.reference.mean_kl, 12);
    // The text summary carries the same figures.
    const text = runCli(["quantize", TINY, "--bits", "4", ...base, "--eval-data", TINY_DATA, "--eval-rows", "40", "-o", out]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`evaluation on 40 rows of ${TINY_DATA}: accuracy float ${e.float_accuracy.toFixed(4)}, quantized ${e.quantized_accuracy.toFixed(4)}`);
    expect(text.stdout).toContain(`top-1 agreement ${e.agreement.toFixed(4)}`);
  });

  it("a zoo model is checked on its test split by default", () => {
    const r = runCli(["quantize", ZOO, "--bits", "8", "--calib", "balanced", "--calib-size", "16", "--eval-rows", "60", "-o", join(dir, "zoo.onnx"), "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout).evaluation;
    expect(e).toMatchObject({ rows: 60, source: "zoo:wordnet8/test" });
    // models/manifest.json: this model scores about 0.88 on the whole test split; 8 bits keeps its predictions.
    expect(e.float_accuracy).toBeGreaterThan(0.7);
    expect(e.agreement).toBeGreaterThan(0.9);
  });

  it("without test data it says so; --no-eval skips the check", () => {
    const none = runCli(["quantize", TINY, "--bits", "4", ...base, "-o", join(dir, "n.onnx"), "--json"]);
    expect(none.status, none.stderr).toBe(0);
    expect(JSON.parse(none.stdout)).toMatchObject({ evaluation: null, notes: ["not evaluated: no test data (--eval-data FILE)"] });
    const text = runCli(["quantize", TINY, "--bits", "4", ...base, "-o", join(dir, "n.onnx")]);
    expect(text.stdout).toContain("note: not evaluated: no test data (--eval-data FILE)\n");
    const skipped = runCli(["quantize", TINY, "--bits", "4", ...base, "--eval-data", TINY_DATA, "--no-eval", "-o", join(dir, "n.onnx"), "--json"]);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ evaluation: null, notes: ["not evaluated: --no-eval"] });
  });

  it("a malformed --eval-data file fails before anything is written", () => {
    const bad = tempDir();
    const file = join(bad, "test.jsonl");
    writeFileSync(file, readFileSync(TINY_DATA, "utf8").split("\n").slice(0, 3).join("\n") + "\n{not json\n");
    const before = listDir(bad);
    const r = runCli(["quantize", TINY, "--bits", "4", ...base, "--eval-data", file, "-o", join(bad, "out.onnx")]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${file}: `);
    expect(r.stderr).toMatch(/line 4/);
    expect(listDir(bad)).toEqual(before);
  });
});
