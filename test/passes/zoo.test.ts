import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { loadModel, serializeModel, validateModel } from "../../src/graph/index.ts";
import { PassManager, decomposeLstm } from "../../src/passes/index.ts";
import * as ort from "onnxruntime-node";
import { ROOT, idsFeed, tempDir } from "../helpers.ts";

const ZOO = ["wordnet8-disc", "wordnet8-gen"].map((n) => join(ROOT, "models", `${n}.onnx`));
const haveZoo = ZOO.every(existsSync);

/** A few hundred real test rows (fewer for the generative model, whose scoring costs more). */
function rows(path: string, n: number): number[][] {
  return loadLabelledData(loadModel(path), { split: "test" }).ids.slice(0, n);
}

describe.skipIf(!haveZoo)("zoo models", () => {
  for (const path of ZOO) {
    const name = path.split("/").pop()!;
    it(`${name}: the decomposed LSTM matches the LSTM op (max abs diff < 1e-5)`, async () => {
      const ids = rows(path, 24);
      const original = loadModel(path);
      // Compare the LSTM's own output: generative scores are sums of ~30 log-probabilities near
      // -150, where one float32 step is 1.5e-5, so they are compared relatively instead.
      const y = original.allNodes().find((n) => n.opType === "LSTM")!.outputs[0]!.name;
      const decomposed = loadModel(path);
      new PassManager([decomposeLstm()], { validate: true }).run(decomposed);
      expect(decomposed.allNodes().some((n) => n.opType === "LSTM")).toBe(false);
      for (const m of [original, decomposed]) m.graph.addOutput(m.graph.lookup(y)!, 1);
      const run = async (m: typeof original) => {
        const session = await ort.InferenceSession.create(serializeModel(m));
        const feeds = idsFeed(ids);
        const out = await session.run(feeds);
        await session.release();
        return { y: out[y].data as Float32Array, scores: out[session.outputNames[0]].data as Float32Array };
      };
      const a = await run(original);
      const b = await run(decomposed);
      expect(b.y.length).toBe(a.y.length);
      expect(a.y.reduce((m, v, i) => Math.max(m, Math.abs(v - b.y[i])), 0)).toBeLessThan(1e-5);
      expect(a.scores.reduce((m, v, i) => Math.max(m, Math.abs(v - b.scores[i]) / Math.max(1, Math.abs(v))), 0)).toBeLessThan(1e-6);
    });

    it(`${name}: 8-bit weights and activations from a min/max table keep >= 99% top-1 agreement`, async () => {
      const ids = rows(path, name.includes("gen") ? 200 : 1000);
      const out = join(tempDir(), "q8.onnx");
      await quantizeModel({ model: path, out, bits: 8, calib: "balanced", calibSize: 128, observer: "minmax", saveCalibTable: false });
      expect(validateModel(loadModel(out))).toEqual([]);
      const batch = name.includes("gen") ? 16 : 256;
      const f = await predictScores(path, ids, { batch });
      const q = await predictScores(out, ids, { batch });
      const agree = f.predictions.filter((p, i) => p === q.predictions[i]).length / ids.length;
      expect(agree).toBeGreaterThanOrEqual(0.99);
    });
  }
});
