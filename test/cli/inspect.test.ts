import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel, serializeModel } from "../../src/graph/index.ts";
import { fixtureModel, listDir, runCli, tempDir } from "../helpers.ts";

describe("ptq-onnx inspect", () => {
  it("--json prints the contract's fields", () => {
    const r = runCli(["inspect", fixtureModel("bilstm-tiny"), "--json"]);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ir_version).toBe(8);
    expect(s.opsets).toEqual({ "ai.onnx": 17 });
    expect(s.inputs).toEqual([
      { name: "input_ids", type: "int64", shape: ["batch", "seq"], role: "token_ids" },
      { name: "lengths", type: "int64", shape: ["batch"], role: "lengths" },
    ]);
    expect(s.outputs).toEqual([{ name: "logits", type: "float32", shape: ["batch", 4], role: "scores" }]);
    expect(s.ops.LSTM).toBe(1);
    // make_fixtures.py's Disc(vocab 40, emb 6, hidden 10, classes 4, bidirectional): embedding,
    // per direction W [4H, E], R [4H, H] and two biases [4H], head [2H -> 4] with bias.
    const [V, E, H, C] = [40, 6, 10, 4];
    const parameters = V * E + 2 * (4 * H * E + 4 * H * H + 8 * H) + 2 * H * C + C;
    expect(s.parameters).toBe(parameters);
    const lstmName = loadModel(fixtureModel("bilstm-tiny")).graph.nodes.find((n) => n.opType === "LSTM")!.name; // the exporter's
    expect(s.lstm).toEqual([{ name: lstmName, direction: "bidirectional", hidden_size: H, input_size: E, layout: 0, quantized_weights: false }]);
    expect(s.tensors_by_type.float32.elements).toBe(parameters);
  });

  it("prints a readable summary without --json", () => {
    const r = runCli(["inspect", fixtureModel("disc-tiny")]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\/lstm\/LSTM\s+forward\s+16\s+8\s+float/);
    expect(r.stdout).toMatch(/parameters: 2,115/);
  });
});

describe("bad input gives one line naming the file, exit 2, and writes nothing", () => {
  const dir = tempDir();
  const good = readFileSync(fixtureModel("disc-tiny"));
  const files: Record<string, Uint8Array | null> = {
    "missing.onnx": null,
    "empty.onnx": new Uint8Array(0),
    "truncated.onnx": good.subarray(0, Math.floor(good.length / 2)),
    "random.onnx": Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
  };
  const dangling = loadModel(fixtureModel("disc-tiny"));
  const gemm = dangling.graph.nodes.find((n) => n.opType === "Gemm")!;
  gemm.setInput(1, dangling.graph.defineValue("head.weight.missing"));
  files["dangling.onnx"] = serializeModel(dangling);
  const oldOpset = loadModel(fixtureModel("disc-tiny"));
  oldOpset.setOpset("", 9);
  files["opset9.onnx"] = serializeModel(oldOpset);
  for (const [name, bytes] of Object.entries(files)) if (bytes) writeFileSync(join(dir, name), bytes);

  const expectations: Record<string, RegExp> = {
    "missing.onnx": /missing\.onnx: no such file/,
    "empty.onnx": /empty\.onnx: empty file/,
    "truncated.onnx": /truncated\.onnx: (not a valid ONNX model|.*not produced)/,
    "random.onnx": /random\.onnx: not (a valid ONNX model|an ONNX model)/,
    "dangling.onnx": /dangling\.onnx: input 1 'head\.weight\.missing' of node .*Gemm.* is not produced/,
    "opset9.onnx": /opset9\.onnx: default-domain opset 9 is outside/,
  };
  for (const [name, pattern] of Object.entries(expectations)) {
    it(name, () => {
      const before = listDir(dir);
      const r = runCli(["inspect", join(dir, name), "--json"], { cwd: dir });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(listDir(dir)).toEqual(before);
    });
  }

  it("an unknown command or option is a usage error, exit 2", () => {
    expect(runCli(["inspekt", "x"]).status).toBe(2);
    expect(runCli(["inspect", fixtureModel("disc-tiny"), "--bogus"]).status).toBe(2);
  });
});
