import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { seededRng } from "../../src/data/random.ts";
import { findRoles, loadModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, plan, realize } from "../../src/pipeline/index.ts";
import { meanOutputShift } from "../../src/quant/bias-correction.ts";
import { dequantize, readQdq } from "../../src/quant/qdq.ts";
import { fixtureModel } from "../helpers.ts";

/** Seeded rows of the fixture vocabulary, labelled by row. */
function pool(n: number, vocab: number, classes: number) {
  const rng = seededRng(11);
  const ids = Array.from({ length: n }, () => Array.from({ length: 3 + (rng.nextUint32() % 6) }, () => 2 + (rng.nextUint32() % (vocab - 2))));
  return { ids, labels: ids.map((_, i) => i % classes), source: "test:pool", sha256: "0".repeat(64) };
}

/** The mean score vector over rows, each row run alone (no padding). */
async function meanScores(model: Model, rows: number[][]): Promise<Float64Array> {
  const roles = findRoles(model);
  const session = await ort.InferenceSession.create(serializeModel(model), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    let sum: Float64Array | null = null;
    for (const r of rows) {
      const feeds: Record<string, ort.Tensor> = { [roles.tokenIds.name]: new ort.Tensor("int64", BigInt64Array.from(r, BigInt), [1, r.length]) };
      if (roles.lengths) feeds[roles.lengths.name] = new ort.Tensor("int64", BigInt64Array.from([BigInt(r.length)]), [1]);
      const out = (await session.run(feeds))[roles.scores.name].data as Float32Array;
      sum ??= new Float64Array(out.length);
      out.forEach((v, i) => (sum![i] += v));
    }
    return sum!.map((v) => v / rows.length);
  } finally {
    await session.release();
  }
}

const CASES = [
  { name: "disc-tiny", vocab: 50, classes: 4, corrected: ["gemm", "lstm-r", "lstm-w"] },
  { name: "bilstm-tiny", vocab: 40, classes: 4, corrected: ["gemm", "lstm-r", "lstm-w"] },
  // The generative head is a MatMul with an Add of its bias.
  { name: "gen-tiny", vocab: 30, classes: 3, corrected: ["lstm-r", "lstm-w", "matmul"] },
];

describe("bias correction (--bias-correction)", () => {
  for (const c of CASES) {
    it(`${c.name}: B and C take (W - Q(W)) E[x] from the table's means, and the mean scores move toward float`, async () => {
      const source = loadModel(fixtureModel(c.name));
      const scores = findRoles(source).scores.name;
      const data = pool(64, c.vocab, c.classes);
      const opts = { wbits: 2, abits: 8, exclude: [scores] };
      const planned = plan(source, makePolicy({ ...opts, biasCorrection: true }));
      expect(planned.means.map((t) => t.kind).sort()).toEqual(c.corrected);
      const { table } = await calibrate(planned, data, { mode: "balanced", size: 64, seed: 0, observer: "minmax", numClasses: c.classes, modelFile: `${c.name}.onnx`, modelSha256: "0".repeat(64) });
      expect(Object.keys(table.means ?? {}).sort()).toEqual(planned.means.map((t) => t.weight.name).sort());
      // R's mean input is per direction; W's is shared by the directions.
      for (const t of planned.means) expect(table.means![t.weight.name].length).toBe(t.kind === "lstm-r" ? (t.weight.initializer!.dims[0] as number) : 1);

      const corrected = realize(planned, table);
      const plain = realize(plan(source, makePolicy(opts)), table);
      expect(corrected.report.biasCorrection.every((b) => b.bias !== null)).toBe(true);
      expect(plain.report.biasCorrection).toEqual([]);

      // Each LSTM's B: float B plus the shift of W (first 4H per direction) and of R (last 4H).
      const qdq = readQdq(corrected.model);
      for (const lstm of source.graph.nodes.filter((n) => n.opType === "LSTM")) {
        const [W, R, B] = [1, 2, 3].map((i) => lstm.inputs[i]!);
        const [dirs, G, input] = W.initializer!.dims as number[];
        const H = G / 4;
        const expected = Float64Array.from(B.initializer!.data as Float32Array);
        for (const [w, cols, offset] of [[W, input, 0], [R, H, G]] as const) {
          const q = dequantize(qdq.weights.find((x) => x.name === w.name)!);
          for (let d = 0; d < dirs; d++) {
            const mean = table.means![w.name][Math.min(d, table.means![w.name].length - 1)].mean;
            const f = (w.initializer!.data as Float32Array).subarray(d * G * cols, (d + 1) * G * cols);
            const shift = meanOutputShift(f, q.subarray(d * G * cols, (d + 1) * G * cols), G, cols, mean);
            shift.forEach((s, g) => (expected[d * 2 * G + offset + g] += s));
          }
        }
        const got = corrected.model.graph.lookup(B.name)!.initializer!.data as Float32Array;
        got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
        // Not a no-op at 2 bits.
        expect(Math.max(...got.map((v, i) => Math.abs(v - (B.initializer!.data as Float32Array)[i])))).toBeGreaterThan(1e-3);
      }

      // Checked against the float model: the mean scores over the calibration rows move toward float's.
      const float = await meanScores(source, data.ids);
      const gap = async (m: Model) => {
        const s = await meanScores(m, data.ids);
        return Math.sqrt(s.reduce((a, v, i) => a + (v - float[i]) ** 2, 0));
      };
      expect(await gap(corrected.model)).toBeLessThan(await gap(plain.model));
    });
  }

  it("needs the means in the table: a table calibrated without them is refused", async () => {
    const source = loadModel(fixtureModel("disc-tiny"));
    const p = plan(source, makePolicy({ bits: 4, exclude: ["logits"] }));
    expect(p.means).toEqual([]);
    const { table } = await calibrate(p, pool(16, 50, 4), { mode: "balanced", size: 16, seed: 0, observer: "minmax", numClasses: 4, modelFile: "m.onnx", modelSha256: "0".repeat(64) });
    expect(table.means).toBeUndefined();
    expect(() => realize(plan(source, makePolicy({ bits: 4, biasCorrection: true, exclude: ["logits"] })), table)).toThrow(/no layer-input means for bias correction/);
  });
});
