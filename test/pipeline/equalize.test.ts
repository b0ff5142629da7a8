import { describe, expect, it } from "vitest";
import { findRoles, loadModel, serializeModel } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { plan } from "../../src/pipeline/index.ts";
import { applyRecipe, loadRecipe } from "../../src/pipeline/recipe.ts";
import { fixtureModel, rowScores, tempDir } from "../helpers.ts";
import { rng } from "../quant/problems.ts";

/** Seeded rows of 1..12 ids below the vocabulary (never pad or unknown). */
function rows(vocab: number): number[][] {
  const r = rng(11);
  return Array.from({ length: 12 }, (_, i) => Array.from({ length: 1 + (i % 12) }, () => 2 + Math.floor(r() * (vocab - 2))));
}

describe("plan with equalize", () => {
  for (const name of ["disc-tiny", "bilstm-tiny"]) {
    it(`${name}: equalizes the plan's copy (embedding and LSTM W), leaves the input model alone, and the planned float scores equal the input's (< 1e-5)`, async () => {
      const source = loadModel(fixtureModel(name));
      const before = serializeModel(source);
      const p = plan(source, makePolicy({ bits: 3, equalize: true, exclude: [findRoles(source).scores.name] }));
      expect(p.equalized).toHaveLength(1);
      expect(p.equalized![0]).toMatchObject({ embedding: "emb.weight", weight: source.graph.nodes.find((n) => n.opType === "LSTM")!.inputs[1]!.name });
      expect(p.equalized![0].scaled).toBeGreaterThan(0);
      expect(Buffer.from(serializeModel(source)).equals(Buffer.from(before))).toBe(true);
      const emb = (m: typeof source) => Array.from(m.graph.lookup("emb.weight")!.initializer!.data as Float32Array);
      expect(emb(p.model)).not.toEqual(emb(source));
      const ids = rows(source.graph.lookup("emb.weight")!.initializer!.dims[0]);
      const [want, got] = [await rowScores(source, ids), await rowScores(p.model, ids)];
      let worst = 0;
      for (let i = 0; i < want.length; i++) for (let j = 0; j < want[i].length; j++) worst = Math.max(worst, Math.abs(got[i][j] - want[i][j]));
      expect(worst).toBeLessThan(1e-5);
    });
  }

  it("gen-tiny (no embedding feeds one LSTM's X alone): nothing equalized, reported as an empty list, not an error; null when off", () => {
    const source = loadModel(fixtureModel("gen-tiny"));
    const exclude = [findRoles(source).scores.name];
    expect(plan(source, makePolicy({ bits: 4, equalize: true, exclude })).equalized).toEqual([]);
    expect(plan(source, makePolicy({ bits: 4, exclude })).equalized).toBeNull();
  });

  it("alpha outside (0, 1] or without equalize is bad input", () => {
    expect(() => makePolicy({ equalize: true, equalizeAlpha: 0 })).toThrow("--equalize-alpha must be in (0, 1], got 0");
    expect(() => makePolicy({ equalize: true, equalizeAlpha: 1.5 })).toThrow("--equalize-alpha must be in (0, 1], got 1.5");
    expect(() => makePolicy({ equalizeAlpha: 0.25 })).toThrow("--equalize-alpha applies to --equalize only");
    expect(makePolicy({ equalize: true, equalizeAlpha: 1 })).toMatchObject({ equalize: true, equalizeAlpha: 1 });
  });

  it("a recipe file's `equalize` and `equalizeAlpha` reach the policy; a field of the wrong type is bad input naming the file", () => {
    const dir = tempDir();
    const good = join(dir, "eq.json");
    writeFileSync(good, JSON.stringify({ version: 1, equalize: true, equalizeAlpha: 0.25 }));
    const settings = applyRecipe({ bits: 3 }, loadRecipe(good));
    expect(makePolicy(settings)).toMatchObject({ equalize: true, equalizeAlpha: 0.25 });
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ version: 1, equalize: "yes" }));
    expect(() => loadRecipe(bad)).toThrow(/equalize/);
  });
});
