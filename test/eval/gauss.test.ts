import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadEvalData, ModelRunner, noisyIds } from "../../src/eval/evaluate.ts";
import { addGaussianNoise, findEmbeddings, parseNoiseSpec } from "../../src/eval/noise.ts";
import { DataType, Tensor, loadModel, parseModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { fixtureModel } from "../helpers.ts";
import { writeTestData } from "./testdata.ts";

const td = writeTestData();
const ROWS = [
  [2, 3, 4, 5],
  [6, 7],
  [8, 9, 10, 11, 12, 13],
  [3],
];

function population(values: Float64Array): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

function withNoise(name: string, level: number, seed: number): { bytes: Uint8Array; model: Model } {
  const model = loadModel(fixtureModel(name));
  addGaussianNoise(model, { level, index: 0 }, seed);
  return { bytes: serializeModel(model), model };
}

const flat = (scores: Float32Array[]) => scores.flatMap((s) => Array.from(s));

describe("gauss noise as a graph rewrite", () => {
  it.each([
    ["disc-tiny", [50, 8]],
    ["bilstm-tiny", [40, 6]],
    ["gen-tiny", [30, 8]],
  ])("finds the embedding of %s", (name, dims) => {
    const sites = findEmbeddings(loadModel(fixtureModel(name)));
    expect(sites).toHaveLength(1);
    expect(sites[0].gather.opType).toBe("Gather");
    expect(sites[0].dims).toEqual(dims);
  });

  it("level 0 leaves the model byte-identical", () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    expect(addGaussianNoise(model, { level: 0, index: 0 }, 1)).toEqual([]);
    expect(Buffer.from(serializeModel(model)).equals(readFileSync(fixtureModel("disc-tiny")))).toBe(true);
  });

  it("runs in onnxruntime, changes scores at level > 0, and the same seed repeats them", async () => {
    const clean = await predictScores(fixtureModel("disc-tiny"), ROWS, { intraOpThreads: 1 });
    const model = loadModel(fixtureModel("disc-tiny"));
    const [ins] = addGaussianNoise(model, { level: 0.5, index: 0 }, 1);
    const table = findEmbeddings(loadModel(fixtureModel("disc-tiny")))[0].table;
    expect(ins.table_std).toBeCloseTo(population(table), 10);
    expect(ins.noise_std).toBeCloseTo(0.5 * ins.table_std, 12);
    expect(model.graph.nodes.map((n) => n.opType)).toContain("RandomNormalLike");
    const a = await predictScores(serializeModel(model), ROWS, { intraOpThreads: 1 });
    const b = await predictScores(withNoise("disc-tiny", 0.5, 1).bytes, ROWS, { intraOpThreads: 2 });
    const c = await predictScores(withNoise("disc-tiny", 0.5, 2).bytes, ROWS, { intraOpThreads: 1 });
    expect(flat(a.scores)).not.toEqual(flat(clean.scores));
    expect(flat(b.scores)).toEqual(flat(a.scores));
    expect(flat(c.scores)).not.toEqual(flat(a.scores));
  });

  it("larger levels move scores further", async () => {
    const clean = flat((await predictScores(fixtureModel("gen-tiny"), ROWS)).scores);
    const dist = async (level: number) => {
      const s = flat((await predictScores(withNoise("gen-tiny", level, 3).bytes, ROWS)).scores);
      return s.reduce((a, v, i) => a + Math.abs(v - clean[i]), 0);
    };
    const small = await dist(0.01);
    const large = await dist(0.5);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
  });

  it("dequantizes a quantized embedding table for its std: DQ before or after the Gather, or per-row scales gathered", async () => {
    const base = loadModel(fixtureModel("disc-tiny"));
    const site = findEmbeddings(base)[0];
    const floatStd = population(site.table);
    const [rows, cols] = site.dims;
    const scale = Math.fround(Math.max(...site.table.map(Math.abs)) / 127); // as stored (float32)
    const q = Int8Array.from(site.table, (v) => Math.round(v / scale));
    const rowScale = Float32Array.from({ length: rows }, (_, r) => Math.max(1e-6, ...site.table.slice(r * cols, (r + 1) * cols).map(Math.abs)) / 127);
    const qRow = Int8Array.from(site.table, (v, i) => Math.round(v / rowScale[Math.floor(i / cols)]));

    for (const where of ["before", "after", "rows"] as const) {
      const m = parseModel(readFileSync(fixtureModel("disc-tiny")), "q.onnx");
      const gather = findEmbeddings(m)[0].gather;
      const g = m.graph;
      const codes = where === "rows" ? qRow : q;
      const qv = g.addInitializer(Tensor.fromData("emb_q", DataType.INT8, site.dims, codes));
      const sv = g.addInitializer(Tensor.float32("emb_scale", [], [scale]));
      const zv = g.addInitializer(Tensor.fromData("emb_zp", DataType.INT8, [], new Int8Array(1)));
      // As onnxruntime dequantizes: float32 products.
      const expected = where === "rows" ? Float64Array.from(qRow, (v, i) => Math.fround(v * rowScale[Math.floor(i / cols)])) : Float64Array.from(q, (v) => Math.fround(v * scale));
      if (where === "before") {
        const dq = g.addNode({ opType: "DequantizeLinear", inputs: [qv, sv, zv], outputs: ["emb_deq"] }, { before: gather });
        gather.setInput(0, dq.outputs[0]);
      } else {
        // Gather the integer codes, then turn the gathered rows into floats.
        const out = gather.outputs[0]!;
        const gathered = g.newValue("emb_codes");
        const deqOut = g.newValue("emb_deq_out");
        out.replaceAllUsesWith(deqOut);
        gather.outputs[0] = gathered;
        gathered.producer = gather;
        out.producer = null;
        gather.setInput(0, qv);
        if (where === "after") {
          g.addNode({ opType: "DequantizeLinear", inputs: [gathered, sv, zv], outputs: [deqOut] }, { after: gather });
        } else {
          const scales = g.addInitializer(Tensor.float32("emb_row_scales", [rows], rowScale));
          const axes = g.addInitializer(Tensor.int64("emb_last_axis", [1], [-1]));
          const cast = g.addNode({ opType: "Cast", inputs: [gathered], outputs: ["emb_float"], attributes: { to: DataType.FLOAT } }, { after: gather });
          const sg = g.addNode({ opType: "Gather", inputs: [scales, gather.inputs[1]], outputs: ["emb_scales_g"], attributes: { axis: 0 } }, { after: cast });
          const un = g.addNode({ opType: "Unsqueeze", inputs: [sg.outputs[0], axes], outputs: ["emb_scales_col"] }, { after: sg });
          g.addNode({ opType: "Mul", inputs: [cast.outputs[0], un.outputs[0]], outputs: [deqOut] }, { after: un });
        }
      }
      g.cleanup();
      const found = findEmbeddings(m);
      expect(found, where).toHaveLength(1);
      expect(Array.from(found[0].table)).toEqual(Array.from(expected));
      const clean = await predictScores(serializeModel(m), ROWS);
      const [ins] = addGaussianNoise(m, { level: 0.3, index: 0 }, 0);
      expect(ins.table_std).toBeCloseTo(population(expected), 10);
      expect(Math.abs(ins.table_std - floatStd) / floatStd).toBeLessThan(0.01);
      const r = await predictScores(serializeModel(m), ROWS);
      expect(r.scores).toHaveLength(ROWS.length);
      expect(flat(r.scores).every(Number.isFinite)).toBe(true);
      expect(flat(r.scores)).not.toEqual(flat(clean.scores));
    }
  });
});

describe("ModelRunner: noise at level 0 is bit-identical, seeds repeat", () => {
  it("clean, level-0 token and gauss noise give identical scores; a seed repeats; seeds differ", async () => {
    const model = loadModel(fixtureModel("bilstm-tiny"));
    const data = loadEvalData(model, { data: td.text, tokenizer: td.tokenizer });
    const runner = new ModelRunner(fixtureModel("bilstm-tiny"), model, { batch: 16, threads: 1 });
    const clean = (await runner.score(data.ids)).result;
    const zero = parseNoiseSpec("sub:0+sub-unigram:0+del:0+ins:0+swap:0+typo:0+gauss:0");
    const zeroIds = noisyIds(data, zero, 7);
    zeroIds.forEach((r, i) => expect(r).toBe(data.ids[i]));
    const z = await runner.score(zeroIds, zero, 7);
    expect(z.gauss).toEqual([]);
    expect(flat(z.result.scores)).toEqual(flat(clean.scores));

    const spec = parseNoiseSpec("sub:0.2+gauss:0.3");
    const a = await runner.score(noisyIds(data, spec, 1), spec, 1);
    const b = await runner.score(noisyIds(data, spec, 1), spec, 1);
    const c = await runner.score(noisyIds(data, spec, 2), spec, 2);
    expect(flat(b.result.scores)).toEqual(flat(a.result.scores));
    expect(flat(c.result.scores)).not.toEqual(flat(a.result.scores));
    expect(flat(a.result.scores)).not.toEqual(flat(clean.scores));
    await runner.release();
  });
});
