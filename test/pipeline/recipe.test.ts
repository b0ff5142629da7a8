import { copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/graph/index.ts";
import { readQdq } from "../../src/quant/qdq.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { plan } from "../../src/pipeline/plan.ts";
import { applyRecipe, loadRecipe, parseOverrideSpec, quantizedNodes, resolveOverrides, validateRecipe } from "../../src/pipeline/recipe.ts";
import { ROOT, runCli, tempDir } from "../helpers.ts";

const TINY = join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx");
const DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");

function layersOf(path: string) {
  const p = plan(loadModel(path), makePolicy({ bits: 8, exclude: ["logits"] }));
  return { model: p.model, layers: quantizedNodes(p) };
}

describe("--override and recipe parsing", () => {
  it("parses LAYER:w<bits>a<bits> lists, keys with '::' and skip", () => {
    expect(parseOverrideSpec("lstm:w4a8, head:w8,onnx::LSTM_149:a6,emb:skip")).toEqual({
      lstm: { wbits: 4, abits: 8 },
      head: { wbits: 8 },
      "onnx::LSTM_149": { abits: 6 },
      emb: { skip: true },
    });
    expect(parseOverrideSpec(["lstm:w4", "lstm:w6"])).toEqual({ lstm: { wbits: 6 } });
  });

  it("refuses bits outside 2..8 and malformed entries, naming the entry", () => {
    expect(() => parseOverrideSpec("lstm:w9")).toThrow("--override lstm: weight bits must be an integer from 2 to 8, got 9");
    expect(() => parseOverrideSpec("lstm:a1")).toThrow("activation bits must be an integer from 2 to 8, got 1");
    expect(() => parseOverrideSpec("lstm")).toThrow("--override must be LAYER:w<bits>a<bits>");
    expect(() => parseOverrideSpec("lstm:x4")).toThrow("'x4' is not w<bits>a<bits>");
  });

  it("validates recipe files: version, unknown keys with near matches, field types and bits", () => {
    expect(validateRecipe({ version: 1, bits: 4, packInt4: true, overrides: { lstm: "w8" } }, "r.json")).toEqual({
      source: "r.json",
      settings: { bits: 4, packInt4: true },
      overrides: { lstm: { wbits: 8 } },
    });
    expect(() => validateRecipe({ bits: 4 }, "r.json")).toThrow("r.json: recipe 'version' must be 1, got null");
    expect(() => validateRecipe({ version: 1, calbi: "balanced" }, "r.json")).toThrow("unknown recipe key 'calbi' (did you mean calib?)");
    expect(() => validateRecipe({ version: 1, wbits: 12 }, "r.json")).toThrow("recipe field 'wbits' must be an integer from 2 to 8, got 12");
    expect(() => validateRecipe({ version: 1, byNode: { "/head/Gemm": { wbits: 4, bias: 1 } } }, "r.json")).toThrow("unknown key 'bias'");
    expect(() => validateRecipe({ version: 1, granularity: "per-row" }, "r.json")).toThrow("per-channel or per-tensor");
  });

  it("takes a preset by name and names the presets for a missing file", () => {
    expect(loadRecipe("default")).toEqual({ source: "default", settings: {}, overrides: {} });
    expect(() => loadRecipe("no-such-recipe.json")).toThrow(/neither a preset \(default[^)]*\) nor a readable file/);
  });

  it("lets explicit options win over the recipe; --bits replaces the recipe's wbits/abits", () => {
    const recipe = { source: "r", settings: { bits: 4, wbits: 2, calib: "natural", packInt4: true, byNode: { a: { wbits: 4 } } }, overrides: {} };
    expect(applyRecipe({ calib: "balanced", bits: undefined }, recipe)).toEqual({ bits: 4, wbits: 2, calib: "balanced", packInt4: true, byNode: { a: { wbits: 4 } } });
    expect(applyRecipe({ bits: 8 }, recipe)).toEqual({ bits: 8, calib: "natural", packInt4: true, byNode: { a: { wbits: 4 } } });
    expect(applyRecipe({ bits: 8, wbits: 3 }, recipe).wbits).toBe(3);
  });
});

describe("layer names", () => {
  const { model, layers } = layersOf(TINY);

  it("resolves exact node names, op types and node-name segments", () => {
    expect(layers.map((n) => n.name)).toEqual(["/emb/Gather", "/lstm/LSTM", "/head/Gemm"]);
    expect(resolveOverrides(model, layers, { lstm: { wbits: 4 }, Gemm: { wbits: 8 }, "/emb/Gather": { abits: 6 } }, "--override")).toEqual({
      byNode: { "/lstm/LSTM": { wbits: 4 }, "/emb/Gather": { abits: 6 } },
      byOpType: { Gemm: { wbits: 8 } },
    });
  });

  it("names near matches for an unknown layer and refuses a node that reads nothing quantized", () => {
    expect(() => resolveOverrides(model, layers, { lstn: { wbits: 4 } }, "--override")).toThrow(
      "--override: unknown layer 'lstn'; did you mean LSTM, lstm? (layers: /emb/Gather, /lstm/LSTM, /head/Gemm)",
    );
    const other = [...model.allNodes()].find((n) => !layers.includes(n))!;
    expect(() => resolveOverrides(model, layers, { [other.name]: { wbits: 4 } }, "--override")).toThrow("reads no quantized weight or activation");
  });

  it("refuses a segment that names several layers (a decomposed LSTM's nodes share its name)", () => {
    const p = plan(loadModel(TINY), makePolicy({ bits: 8, lstmInternals: true, exclude: ["logits"] }));
    const l = quantizedNodes(p);
    expect(l.filter((n) => n.name.split("/").includes("lstm")).length).toBeGreaterThan(1);
    expect(() => resolveOverrides(p.model, l, { lstm: { wbits: 4 } }, "--override")).toThrow(/layer 'lstm' is ambiguous: it names \/lstm\/.*; give the full node name/);
  });
});

describe("quantize --recipe / --override", () => {
  const dir = tempDir();
  const model = join(dir, "tiny.onnx");
  copyFileSync(TINY, model);
  const base = ["quantize", model, "--data", DATA, "--calib-size", "30", "--no-eval", "--json"];

  it("quantizes each layer at its own width and records the overrides and recipe in the metadata", () => {
    const recipe = join(dir, "mixed.json");
    writeFileSync(recipe, JSON.stringify({ version: 1, bits: 8, calib: "balanced", packInt4: true, overrides: { lstm: "w4a8", head: "w3" } }));
    const out = join(dir, "mixed.onnx");
    // --override wins over the recipe's entry for the same layer.
    const r = runCli([...base, "--recipe", recipe, "--override", "head:w2", "-o", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const bits = Object.fromEntries(JSON.parse(r.stdout).details.map((d: { name: string; bits: number; kind: string }) => [`${d.kind}:${d.name}`, d.bits]));
    expect(bits).toMatchObject({ "weight:emb.weight": 8, "weight:head.weight": 2, "weight:onnx::LSTM_149": 4, "weight:onnx::LSTM_150": 4, "activation:/If_output_0": 8 });
    // The codes in the file are on those grids (the Q/DQ reader), INT4-packed where 4 bits or fewer.
    const q = loadModel(out);
    const weights = readQdq(q).weights;
    const head = weights.find((w) => w.name === "head.weight")!;
    expect(Math.max(...head.codes.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(head.packed).toBe(true);
    expect(weights.find((w) => w.name === "emb.weight")!.packed).toBe(false);
    const meta = JSON.parse(q.metadata.get("ptq-onnx.quantization")!);
    expect(meta.recipe).toBe(recipe);
    expect(meta.overrides).toEqual({ by_op_type: {}, by_node: { "/head/Gemm": { wbits: 2 }, "/lstm/LSTM": { wbits: 4, abits: 8 } } });
  });

  it("replaces a default-named output only when made with the same overrides", () => {
    const first = runCli([...base, "--bits", "8", "--calib", "balanced", "--override", "lstm:w4"]);
    expect(first.status).toBe(0);
    expect(runCli([...base, "--bits", "8", "--calib", "balanced", "--override", "lstm:w4"]).status).toBe(0);
    const other = runCli([...base, "--bits", "8", "--calib", "balanced", "--override", "lstm:w6"]);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/made with other settings: overrides \(was .*"wbits":4.*now .*"wbits":6/);
  });

  it("bad layer names and bits are one line, exit 2, nothing written", () => {
    const empty = tempDir();
    const m = join(empty, "tiny.onnx");
    copyFileSync(TINY, m);
    for (const [args, message] of [
      [["--override", "lstn:w4"], "unknown layer 'lstn'; did you mean LSTM, lstm?"],
      [["--override", "lstm:w1"], "weight bits must be an integer from 2 to 8, got 1"],
      [["--recipe", "nope"], "is neither a preset"],
    ] as const) {
      const r = runCli(["quantize", m, "--bits", "8", "--calib", "balanced", "--data", DATA, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    expect(readdirSync(empty)).toEqual(["tiny.onnx"]);
    expect(existsSync(join(empty, "tiny.q8a8.onnx"))).toBe(false);
  });
});
