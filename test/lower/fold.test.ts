import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { addGaussianNoise, findEmbeddings } from "../../src/eval/noise.ts";
import { loadModel, serializeModel, validateModel, type Model } from "../../src/graph/index.ts";
import { lowerModel } from "../../src/lower/index.ts";
import { dropUnreadOutputs, lastStepRule } from "../../src/lower/last-step.ts";
import { cleanupPass } from "../../src/passes/pass.ts";
import { rulePass, type RuleOutcome } from "../../src/passes/rewrite.ts";
import { dequantize, readQdq } from "../../src/quant/qdq.ts";
import { ROOT, fixtureModel, maxScoreDiff, tempDir, writeIdPool } from "../helpers.ts";

const TINY_TEST = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");
const dir = tempDir("ptq-onnx-fold-");

function pool(model: Model, classes: number, n = 80): string {
  return writeIdPool(join(dir, `pool-${classes}-${n}.jsonl`), model, { classes, n, seed: 11 });
}

const CASES = [
  { name: "tiny-disc", file: join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx"), data: () => TINY_TEST },
  { name: "disc-tiny", file: fixtureModel("disc-tiny"), data: () => pool(loadModel(fixtureModel("disc-tiny")), 3) },
];

async function quantized(c: (typeof CASES)[number], bits: number): Promise<{ file: string; rows: number[][] }> {
  const data = c.data();
  const file = join(dir, `${c.name}.q${bits}.onnx`);
  await quantizeModel({ model: c.file, out: file, bits, calib: "balanced", data, calibSize: 40, saveCalibTable: false });
  return { file, rows: loadLabelledData(loadModel(file), { data, split: "test" }).ids };
}

/** The last-step rule alone (no lowering), as lowerModel runs it. */
function fold(model: Model): RuleOutcome[] {
  const log: RuleOutcome[] = [];
  rulePass(lastStepRule(model), log).run(model);
  cleanupPass.run(model);
  dropUnreadOutputs(model);
  cleanupPass.run(model);
  return log;
}

describe("the last-step selection taken from the LSTM's Y_h (lastStepRule)", () => {
  for (const c of CASES) {
    it(`${c.name}: exact on the Q/DQ model itself (float LSTM with sequence_lens), batch 1 and 16`, async () => {
      const { file, rows } = await quantized(c, 8);
      const model = loadModel(file);
      const log = fold(model);
      expect(log.map((o) => o.applied)).toEqual([true]);
      expect(validateModel(model)).toEqual([]);
      const ops = model.allNodes().map((n) => n.opType);
      for (const gone of ["GatherElements", "If", "Expand"]) expect(ops).not.toContain(gone);
      const lstm = model.allNodes().find((n) => n.opType === "LSTM")!;
      expect(lstm.inputs[4]?.producer?.opType).toBe("Cast");
      expect(lstm.outputs[0] ?? null, "Y is no longer written").toBeNull();
      for (const batch of [1, 16]) {
        const before = await predictScores(file, rows, { batch, intraOpThreads: 1 });
        const after = await predictScores(serializeModel(model), rows, { batch, intraOpThreads: 1 });
        // Measured 2026-11-30: identical to the last bit at both batch sizes.
        expect(maxScoreDiff(before, after), `batch ${batch}`).toBe(0);
      }
    });

    it(`${c.name}: lowered with and without it, identical at batch 1`, async () => {
      const { file, rows } = await quantized(c, 4);
      const folded = loadModel(file);
      const report = lowerModel(folded);
      expect(report.rewrites.map((f) => [f.rule, f.applied])).toEqual([["last-step-to-lstm-final-state", true]]);
      const plain = loadModel(file);
      expect(lowerModel(plain, { foldLastStep: false }).rewrites).toEqual([]);
      expect(folded.allNodes().length).toBeLessThan(plain.allNodes().length - 10);
      const a = await predictScores(serializeModel(plain), rows, { batch: 1, intraOpThreads: 1 });
      const b = await predictScores(serializeModel(folded), rows, { batch: 1, intraOpThreads: 1 });
      expect(maxScoreDiff(a, b)).toBe(0);
      // In a batch the kernel quantizes the hidden states of all rows with one range per step;
      // rows past their length no longer take part, so batched scores move slightly.
      const a16 = await predictScores(serializeModel(plain), rows, { batch: 16, intraOpThreads: 1 });
      const b16 = await predictScores(serializeModel(folded), rows, { batch: 16, intraOpThreads: 1 });
      const agree = a16.predictions.filter((p, i) => p === b16.predictions[i]).length / rows.length;
      expect(agree).toBeGreaterThanOrEqual(0.95);
    });
  }

  it("says why it does not apply: a reverse LSTM's Y_h is its first step, a bidirectional Y is reshaped; a packed export has nothing to fold", async () => {
    const { file } = await quantized(CASES[0], 8);
    const reverse = loadModel(file);
    reverse.allNodes().find((n) => n.opType === "LSTM")!.setAttribute("direction", "reverse");
    const log = fold(reverse);
    expect(log).toEqual([expect.objectContaining({ applied: false, reason: "the LSTM runs reverse: its Y_h is not the last step of every row" })]);
    expect(reverse.allNodes().some((n) => n.opType === "GatherElements")).toBe(true);

    // bilstm-tiny selects from both directions of Y (reshaped, not squeezed): left, with the reason.
    const bilstm = loadModel(fixtureModel("bilstm-tiny"));
    expect(fold(bilstm)).toEqual([expect.objectContaining({ applied: false, reason: "the data is not Y with its direction axis squeezed" })]);
    // wordnet8-bilstm (packed sequences) already feeds sequence_lens and reads Y_h: nothing to fold.
    expect(fold(loadModel(join(ROOT, "models", "wordnet8-bilstm.onnx")))).toEqual([]);
  });
});

describe("gauss noise on lowered models", () => {
  for (const bits of [8, 4]) {
    it(`finds the ${bits}-bit lowered embedding, with the Q/DQ model's values, and adds noise there`, async () => {
      const { file, rows } = await quantized(CASES[0], bits);
      const weight = readQdq(loadModel(file)).weights.find((w) => w.gathers.length > 0 || w.readers.some((r) => r.opType === "Gather"))!;
      const qdqTable = dequantize(weight);
      const lowered = loadModel(file);
      lowerModel(lowered);
      const sites = findEmbeddings(lowered);
      expect(sites.length).toBe(1);
      expect(sites[0].gather.opType).toBe("Gather");
      // 4 bits: two codes a byte (split nibbles); 8 bits: int8 rows.
      expect(sites[0].gather.inputs[0]!.initializer!.dims).toEqual(bits === 4 ? [weight.dims[0], weight.dims[1] / 2] : weight.dims);
      expect(Array.from(sites[0].table)).toEqual(Array.from(qdqTable));
      const clean = await predictScores(serializeModel(lowered), rows, { batch: 16, intraOpThreads: 1 });
      const inserted = addGaussianNoise(lowered, { level: 1, index: 0 }, 3);
      expect(inserted.length).toBe(1);
      expect(inserted[0].noise_std).toBeGreaterThan(0);
      const noisy = await predictScores(serializeModel(lowered), rows, { batch: 16, intraOpThreads: 1 });
      expect(maxScoreDiff(clean, noisy)).toBeGreaterThan(0);
    });
  }
});
