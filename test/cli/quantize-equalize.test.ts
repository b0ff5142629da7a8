import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/graph/index.ts";
import { fixtureModel, listDir, rowScores, runCli, tempDir, writeIdPool } from "../helpers.ts";

// Ids below both fixtures' vocabularies (bilstm-tiny has 40).
const ROWS = [[5, 17, 30, 38], [9, 3], [12, 7, 7, 22, 31, 4, 8]];

describe("ptq-onnx quantize --equalize", () => {
  const dir = tempDir();
  const common = (model: string, pool: string) => ["quantize", model, "--bits", "3", "--calib", "balanced", "--data", pool, "--calib-size", "16", "--no-eval", "--json"];

  for (const [name, alpha] of [["disc-tiny", undefined], ["bilstm-tiny", "1"]] as const) {
    it(`${name}${alpha ? ` --equalize-alpha ${alpha}` : ""}: reports the equalized pair, records it in the metadata, and the quantized model differs from the unequalized one`, async () => {
      const model = join(dir, `${name}.onnx`);
      writeFileSync(model, readFileSync(fixtureModel(name)));
      const pool = writeIdPool(join(dir, `${name}.pool.jsonl`), loadModel(model), { classes: 3, n: 32, seed: 3 });
      const eqOut = join(dir, `${name}.q3a3.onnx`);
      const eq = runCli([...common(model, pool), "--equalize", ...(alpha ? ["--equalize-alpha", alpha] : [])]);
      expect(eq.status, eq.stderr).toBe(0);
      expect(JSON.parse(eq.stdout).equalization).toEqual([expect.objectContaining({ embedding: "emb.weight", scaled: expect.any(Number) })]);
      const meta = JSON.parse(loadModel(eqOut).metadata.get("ptq-onnx.quantization")!);
      expect(meta.equalize).toBe(alpha ? Number(alpha) : 0.5);
      // The default-named output was made with equalization: the replace check names the setting.
      const again = runCli(common(model, pool));
      expect(again.status).toBe(2);
      expect(again.stderr).toContain("equalize (was");
      const plainOut = join(dir, `${name}.plain.onnx`);
      const plain = runCli([...common(model, pool), "-o", plainOut]);
      expect(plain.status, plain.stderr).toBe(0);
      expect(JSON.parse(plain.stdout).equalization).toBeNull();
      expect(JSON.parse(loadModel(plainOut).metadata.get("ptq-onnx.quantization")!).equalize).toBeUndefined();
      // The table records the equalization: reused under another setting it is refused, under the same one read.
      const eqTable = JSON.parse(eq.stdout).calibration.table as string;
      expect(JSON.parse(readFileSync(eqTable, "utf8")).options.equalize).toBe(alpha ? Number(alpha) : 0.5);
      const mismatched = runCli([...common(model, pool), "--calib-table", eqTable, "-o", join(dir, `${name}.mismatch.onnx`)]);
      expect(mismatched.status).toBe(2);
      expect(mismatched.stderr.trim().split("\n")).toEqual([expect.stringMatching(/calib.*: was calibrated with --equalize-alpha [\d.]+, but this quantization runs without --equalize: its ranges belong to another float model$/)]);
      expect(existsSync(join(dir, `${name}.mismatch.onnx`))).toBe(false);
      const plainTable = JSON.parse(plain.stdout).calibration.table as string;
      expect(runCli([...common(model, pool), "--equalize", ...(alpha ? ["--equalize-alpha", alpha] : []), "--calib-table", plainTable, "-o", join(dir, `${name}.mismatch2.onnx`)]).status).toBe(2);
      const reused = runCli([...common(model, pool), "--equalize", ...(alpha ? ["--equalize-alpha", alpha] : []), "--calib-table", eqTable, "-o", join(dir, `${name}.reused.onnx`)]);
      expect(reused.status, reused.stderr).toBe(0);
      const [a, b] = [await rowScores(loadModel(eqOut), ROWS), await rowScores(loadModel(plainOut), ROWS)];
      expect(a.every((r) => r.every(Number.isFinite))).toBe(true);
      expect(a.map((r) => Array.from(r))).not.toEqual(b.map((r) => Array.from(r)));
    });
  }

  it("gen-tiny (no embedding feeds one LSTM's X alone): one report line, not an error", () => {
    const model = join(dir, "gen-tiny.onnx");
    writeFileSync(model, readFileSync(fixtureModel("gen-tiny")));
    const pool = writeIdPool(join(dir, "gen.pool.jsonl"), loadModel(model), { classes: 3, n: 32, seed: 3 });
    const r = runCli(["quantize", model, "--bits", "4", "--calib", "balanced", "--data", pool, "--calib-size", "16", "--no-eval", "--equalize", "-o", join(dir, "gen.q.onnx")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("equalization: nothing equalized"))).toHaveLength(1);
  });

  for (const alpha of ["0", "1.5"]) {
    it(`--equalize-alpha ${alpha}: one line, exit 2, nothing written`, () => {
      const sub = join(dir, `bad-${alpha}`);
      const model = fixtureModel("disc-tiny");
      const r = runCli(["quantize", model, "--bits", "3", "--calib", "balanced", "--calib-size", "16", "--no-eval", "--equalize", "--equalize-alpha", alpha, "-o", join(sub, "q.onnx")]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(`--equalize-alpha must be in (0, 1], got '${alpha}'`);
      expect(existsSync(sub) ? listDir(sub) : []).toEqual([]);
    });
  }
});
