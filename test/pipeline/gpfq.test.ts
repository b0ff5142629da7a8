import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { runCalibration } from "../../src/calibrate/runner.ts";
import { exposeScanInternals } from "../../src/calibrate/expose.ts";
import { selectCalibrationRows, parseCalibMode } from "../../src/calibrate/select.ts";
import { findRoles, loadModel, type Model } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, plan, realize, recordGpfq } from "../../src/pipeline/index.ts";
import { fixtureModel, seededPool, rowScores, squaredError } from "../helpers.ts";



const CASES = [
  { name: "disc-tiny", vocab: 50, classes: 4, internals: false },
  { name: "disc-tiny", vocab: 50, classes: 4, internals: true },
  { name: "bilstm-tiny", vocab: 40, classes: 4, internals: false },
];

describe("GPFQ with the quantized model's layer inputs (recordGpfq, layer by layer)", () => {
  for (const c of CASES) {
    it(`${c.name}${c.internals ? " (LSTM internals)" : ""}: records H̃ and G per layer against the model quantized so far, and rounds with them`, async () => {
      const source = loadModel(fixtureModel(c.name));
      const scoresName = findRoles(source).scores.name;
      const data = seededPool(48, c.vocab, c.classes, "1".repeat(64));
      const policy = (bits: number, extra = {}) => makePolicy({ bits, granularity: "per-tensor", lstmInternals: c.internals, rounding: "gpfq", exclude: [scoresName], ...extra });
      const planned = plan(source, policy(3));
      const calibOpts = { mode: "balanced", size: 48, seed: 0, observer: "minmax", numClasses: c.classes, modelFile: "m.onnx", modelSha256: "0".repeat(64) };
      const { table } = await calibrate(planned, data, calibOpts);
      expect(() => realize(planned, table)).toThrow(/no GPFQ moments of the quantized model's layer inputs/);
      const withGpfq = await recordGpfq(planned, table, data, { numClasses: c.classes });
      expect(table.gpfq).toBeUndefined();
      const moments = withGpfq.gpfq!.moments;
      expect(Object.keys(moments).sort()).toEqual(planned.gptq.map((t) => t.weight.name).sort());
      for (const t of planned.gptq) expect(moments[t.weight.name].length).toBe(t.kind === "lstm-r" ? (t.weight.initializer!.dims[0] as number) : 1);
      // Deterministic: the same rows, the same sums.
      expect(JSON.stringify((await recordGpfq(planned, table, data, { numClasses: c.classes })).gpfq)).toBe(JSON.stringify(withGpfq.gpfq));

      // The head's G, recomputed from separate recordings: x from the float model, x̃ from the
      // model realized with every earlier layer on its GPFQ codes (what recordGpfq ran).
      const head = planned.gptq.find((t) => t.kind === "gemm" || t.kind === "matmul")!;
      const [entry] = moments[head.weight.name];
      const earlier = { ...withGpfq, gpfq: { setting: withGpfq.gpfq!.setting, moments: Object.fromEntries(Object.entries(moments).filter(([k]) => k !== head.weight.name)) } };
      const quantSoFar = realize(planned, earlier).model;
      const order = selectCalibrationRows(data.labels.map((label) => ({ label })), parseCalibMode("balanced", c.classes), 48, 0).indices;
      const record = async (model: Model, name: string) => {
        const parts: Float32Array[] = [];
        const expose = (copy: Model, values: Parameters<typeof exposeScanInternals>[1]) => new Map(exposeScanInternals(copy, values).map((e) => [e.value.name, e.output.name]));
        await runCalibration(model, [name], data, order, { tensor: (_n, v) => parts.push(Float32Array.from(v)), endBatch() {} }, { expose }, findRoles(model));
        return parts;
      };
      const xs = await record(planned.model, entry.input);
      const xqs = await record(quantSoFar, entry.quant_input);
      expect(entry.quant_input).not.toBe(entry.input); // the quantized layer reads the DequantizeLinear's output
      const n = entry.n;
      const G = new Float64Array(n * n);
      let count = 0;
      xs.forEach((x, k) => {
        for (let s = 0; s < x.length / n; s++, count++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) G[i * n + j] += xqs[k][s * n + i] * x[s * n + j];
      });
      expect(entry.count).toBe(count);
      const scale = Math.max(...G.map(Math.abs));
      entry.cross.forEach((g, i) => expect(Math.abs(g - G[i])).toBeLessThan(1e-9 * scale + 1e-12));

      // Checked against the float model: the scores' error is below round-to-nearest's on the same grid.
      const float = await rowScores(source, data.ids);
      const error = async (m: Model) => squaredError(await rowScores(m, data.ids), float);
      const gpfq = realize(planned, withGpfq);
      expect(gpfq.report.quantized.filter((q) => q.rounding === "gpfq").map((q) => q.name).sort()).toEqual(Object.keys(moments).sort());
      const nearest = realize(plan(source, makePolicy({ bits: 3, granularity: "per-tensor", lstmInternals: c.internals, exclude: [scoresName] })), table);
      const [eg, en] = [await error(gpfq.model), await error(nearest.model)];
      expect(eg).toBeLessThan(en);

      // The moments belong to their setting: a 4-bit realize refuses them; float inputs need none.
      expect(() => realize(plan(source, policy(4)), withGpfq)).toThrow(/GPFQ moments were recorded for another setting/);
      expect(realize(plan(source, policy(3, { gpfqInputs: "float" })), table).report.quantized.some((q) => q.rounding === "gpfq")).toBe(true);
    });
  }
});
