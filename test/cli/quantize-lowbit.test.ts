import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/graph/index.ts";
import { fixtureModel, idsFeed, runCli, runOrt, tempDir, writeIdPool } from "../helpers.ts";

describe("ptq-onnx quantize --gather-pass-through --embedding-gptq", () => {
  const dir = tempDir();
  const model = join(dir, "disc.onnx");
  writeFileSync(model, readFileSync(fixtureModel("disc-tiny")));
  const pool = writeIdPool(join(dir, "pool.jsonl"), loadModel(model), { classes: 3, n: 32, seed: 3 });

  it("records both settings, reports the LSTM input as the table's codes, and writes a model onnxruntime runs", async () => {
    const out = join(dir, "q.onnx");
    const r = runCli(["quantize", model, "--bits", "3", "--calib", "balanced", "--data", pool, "--calib-size", "16", "--rounding", "gptq", "--gather-pass-through", "--embedding-gptq", "--no-eval", "-o", out, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.details).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "activation", granularity: "per-row (the codes of emb.weight)", op: "LSTM" })]));
    expect(res.details.find((d: { name: string }) => d.name === "emb.weight").rounding).toBe("gptq");
    const q = loadModel(out);
    expect(JSON.parse(q.metadata.get("ptq-onnx.quantization")!)).toMatchObject({ gather_pass_through: true, embedding_gptq: true });
    const scores = (await runOrt(readFileSync(out), idsFeed([[5, 17, 30, 41], [9, 3]]))).logits.data as Float32Array;
    expect(scores.every(Number.isFinite)).toBe(true);
  });

  it("--embedding-gptq without --rounding gptq: one line, exit 2, nothing written", () => {
    const out = join(dir, "bad.onnx");
    const r = runCli(["quantize", model, "--bits", "3", "--calib", "balanced", "--data", pool, "--calib-size", "16", "--embedding-gptq", "--no-eval", "-o", out]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("--embedding-gptq applies to --rounding gptq only");
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir, "bad.calib.json"))).toBe(false);
  });
});
