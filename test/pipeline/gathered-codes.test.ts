import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { InputError, findRoles, loadModel, type Model } from "../../src/graph/index.ts";
import { makePolicy, readerHessian, tableReaders } from "../../src/passes/index.ts";
import { calibrate, plan, realize } from "../../src/pipeline/index.ts";
import { outputError } from "../../src/quant/layout.ts";
import { dequantize, readQdq } from "../../src/quant/qdq.ts";
import { fixtureModel, seededPool, rowScores } from "../helpers.ts";



/** The first LSTM: its X is the embedding's rows (through moves only). */
const firstLstm = (m: Model) => m.graph.nodes.find((n) => n.opType === "LSTM")!;

// disc-tiny: Gather -> Transpose -> LSTM; bilstm-tiny: Gather -> Gather (the packed-sequence sort) -> Transpose -> LSTM;
// gen-tiny: Concat of the word rows and the label embedding expanded over time -> LSTM.
const CASES = [
  { name: "disc-tiny", vocab: 50, classes: 3 },
  { name: "bilstm-tiny", vocab: 40, classes: 4 },
  { name: "gen-tiny", vocab: 30, classes: 3 },
];

describe("--gather-pass-through and --embedding-gptq", () => {
  for (const c of CASES) {
    it(`${c.name}: the embedding's rows reach the LSTM as the table's codes (no second Q/DQ), reported per row; the only change from the plain plan`, async () => {
      const source = loadModel(fixtureModel(c.name));
      const exclude = [findRoles(source).scores.name];
      const data = seededPool(48, c.vocab, c.classes);
      const on = plan(source, makePolicy({ bits: 3, exclude, gatherPassThrough: true }));
      const off = plan(source, makePolicy({ bits: 3, exclude }));
      const x = firstLstm(on.model).inputs[0]!;
      expect(on.gathered.map((g) => [g.value.name, g.table.name, g.bits])).toEqual([[x.name, "emb.weight", 3]]);
      expect(off.activations.map((a) => a.value.name)).toContain(x.name);
      expect(on.activations.map((a) => a.value.name)).not.toContain(x.name);
      // Every other activation is planned alike.
      expect(on.activations.map((a) => a.value.name)).toEqual(off.activations.map((a) => a.value.name).filter((n) => n !== x.name));

      const { table } = await calibrate(off, data, { mode: "balanced", size: 48, seed: 0, observer: "minmax", numClasses: c.classes, modelFile: `${c.name}.onnx`, modelSha256: "0".repeat(64) });
      const q = realize(on, table);
      const lstm = firstLstm(q.model);
      // The LSTM reads the gathered rows directly (a Mul by the gathered row scales), not a DequantizeLinear of its own.
      expect(lstm.inputs[0]!.producer?.opType).not.toBe("DequantizeLinear");
      expect(q.report.quantized.find((r) => r.name === x.name)).toMatchObject({ kind: "activation", bits: 3, granularity: "per-row (the codes of emb.weight)" });
      // Realized without the option, the only difference is that Q/DQ: its scores differ, both stay near float.
      const plain = realize(off, table);
      const rows = data.ids.slice(0, 12);
      const [f, a, b] = [await rowScores(source, rows), await rowScores(q.model, rows), await rowScores(plain.model, rows)];
      const err = (s: Float32Array[]) => s.reduce((t, r, i) => t + r.reduce((u, v, j) => u + (v - f[i][j]) ** 2, 0), 0);
      expect(err(a)).not.toBe(err(b));
      expect(err(a)).toBeLessThan(err(b) * 4);
    });
  }

  it("a table wider than the activations is quantized again as usual (W8A3: 8-bit codes are not 3-bit activations)", () => {
    const source = loadModel(fixtureModel("disc-tiny"));
    const p = plan(source, makePolicy({ wbits: 8, abits: 3, exclude: [findRoles(source).scores.name], gatherPassThrough: true }));
    expect(p.gathered).toEqual([]);
    expect(p.activations.map((a) => a.value.name)).toContain(firstLstm(p.model).inputs[0]!.name);
  });

  for (const c of [CASES[0]]) {
    it(`${c.name}: --embedding-gptq rounds the table's rows against the LSTM's W: less error in W e than rounding to nearest`, async () => {
      const source = loadModel(fixtureModel(c.name));
      const exclude = [findRoles(source).scores.name];
      const data = seededPool(48, c.vocab, c.classes);
      const base = plan(source, makePolicy({ wbits: 2, abits: 8, exclude, rounding: "gptq" }));
      const { table } = await calibrate(base, data, { mode: "balanced", size: 48, seed: 0, observer: "minmax", numClasses: c.classes, modelFile: `${c.name}.onnx`, modelSha256: "0".repeat(64) });
      const eg = realize(plan(source, makePolicy({ wbits: 2, abits: 8, exclude, rounding: "gptq", embeddingGptq: true })), table);
      const plain = realize(base, table);
      expect(eg.report.quantized.find((r) => r.name === "emb.weight")?.rounding).toBe("gptq");
      expect(plain.report.quantized.find((r) => r.name === "emb.weight")?.rounding).toBe("nearest");
      // Same grid (scales), other codes; every other weight identical.
      const [qe, qp] = [readQdq(eg.model), readQdq(plain.model)];
      const emb = (r: ReturnType<typeof readQdq>) => r.weights.find((w) => w.name === "emb.weight")!;
      expect(Array.from(emb(qe).scales)).toEqual(Array.from(emb(qp).scales));
      for (const w of qp.weights.filter((w) => w.name !== "emb.weight")) expect(Array.from(qe.weights.find((x) => x.name === w.name)!.codes)).toEqual(Array.from(w.codes));

      const e = source.graph.lookup("emb.weight")!.initializer!;
      const W = firstLstm(source).inputs[1]!.initializer!;
      const [vocab, dim] = e.dims as number[];
      const [dirs, rows, cols] = W.dims as number[];
      const H = readerHessian(W.data as Float32Array, W.dims, "dirs-out-in");
      expect(cols).toBe(dim);
      // H = Σ_d W_dᵀ W_d: symmetric, its diagonal the squared column norms.
      let col0 = 0;
      for (let d = 0; d < dirs; d++) for (let r = 0; r < rows; r++) col0 += (W.data as Float32Array)[(d * rows + r) * cols] ** 2;
      expect(H[0]).toBeCloseTo(col0, 4);
      expect(H[1]).toBeCloseTo(H[dim], 8);
      const float = e.data as Float32Array;
      const [de, dp] = [dequantize(emb(qe)), dequantize(emb(qp))];
      const [errEg, errNearest] = [outputError(float, de, vocab, dim, H, 1), outputError(float, dp, vocab, dim, H, 1)];
      // GPTQ's guarantee is not a margin; on these tiny tables it removes a few percent.
      expect(errEg).toBeLessThan(errNearest);
    });
  }

  it("gen-tiny: --embedding-gptq leaves word rows concatenated with the label embedding to nearest rounding", () => {
    const source = loadModel(fixtureModel("gen-tiny"));
    const p = plan(source, makePolicy({ wbits: 2, abits: 8, exclude: [findRoles(source).scores.name], rounding: "gptq", embeddingGptq: true }));
    expect(tableReaders(p.model, p.weights)).toEqual([]);
  });

  it("--embedding-gptq without --rounding gptq is bad input", () => {
    expect(() => makePolicy({ bits: 3, embeddingGptq: true })).toThrow(InputError);
    expect(() => makePolicy({ bits: 3, embeddingGptq: true })).toThrow("--embedding-gptq applies to --rounding gptq only");
  });
});
