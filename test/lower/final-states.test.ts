import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { loadModel, parseModel, serializeModel, validateModel, type Model } from "../../src/graph/index.ts";
import { lowerModel } from "../../src/lower/index.ts";
import { NOT_FINAL_STATES, finalStatesRule } from "../../src/lower/final-states.ts";
import { packedSortRule } from "../../src/lower/packed-sort.ts";
import { cleanupPass } from "../../src/passes/pass.ts";
import { rulePass, type RuleOutcome } from "../../src/passes/rewrite.ts";
import { ROOT, maxScoreDiff, tempDir, writeIdPool } from "../helpers.ts";

// wordnet8-bilstm's head reads torch.cat([h_n[-2], h_n[-1]], dim=1): a Concat of both layers'
// Y_h, a Gather per direction and a Concat.
const BILSTM = join(ROOT, "models", "wordnet8-bilstm.onnx");
const dir = tempDir("ptq-onnx-final-states-");

/** Ops other than Constant (the Gathers' indices go with them). */
const ops = (m: Model) => m.allNodes().filter((n) => n.opType !== "Constant").length;

/** The rule's outcomes on Concats that join final states (the others are not candidates). */
function fold(model: Model): RuleOutcome[] {
  const log: RuleOutcome[] = [];
  rulePass(finalStatesRule(), log).run(model);
  cleanupPass.run(model);
  return log.filter((o) => o.reason !== NOT_FINAL_STATES);
}

describe("a bidirectional LSTM's final states joined by Transpose and Reshape (finalStatesRule)", () => {
  const data = writeIdPool(join(dir, "pool.jsonl"), loadModel(BILSTM), { classes: 8, n: 48, seed: 11 });
  const rows = loadLabelledData(loadModel(BILSTM), { data, split: "test" }).ids;

  it("float: applies to the head's Concat, four ops become two, scores identical to the last bit at batch 1 and 16", async () => {
    // The export unsorts the packed rows' final states before the head reads them: without that
    // sort (packedSortRule, exact) the Gathers read the layers' Y_h directly.
    const sorted = loadModel(BILSTM);
    rulePass(packedSortRule()).run(sorted);
    cleanupPass.run(sorted);
    const model = parseModel(serializeModel(sorted));
    const before = ops(model);
    expect(fold(model)).toEqual([expect.objectContaining({ rule: "final-states-concat-to-reshape", applied: true })]);
    expect(validateModel(model)).toEqual([]);
    expect(ops(model)).toBe(before - 2);
    const head = model.allNodes().find((n) => n.opType === "Gemm")!;
    expect(head.inputs[0]!.producer!.opType).toBe("Reshape");
    for (const batch of [1, 16]) {
      const a = await predictScores(serializeModel(sorted), rows, { batch, intraOpThreads: 1 });
      const b = await predictScores(serializeModel(model), rows, { batch, intraOpThreads: 1 });
      expect(maxScoreDiff(a, b), `batch ${batch}`).toBe(0);
    }
  });

  it("lowered (4 bits): reported, and identical to the lowering without it at batch 1 and 16", async () => {
    const file = join(dir, "bilstm.q4.onnx");
    await quantizeModel({ model: BILSTM, out: file, bits: 4, calib: "balanced", data, calibSize: 32, saveCalibTable: false });
    const folded = loadModel(file);
    const report = lowerModel(folded);
    expect(report.rewrites.filter((r) => r.rule === "final-states-concat-to-reshape")).toEqual([{ rule: "final-states-concat-to-reshape", node: "/Concat_1 (Concat)", applied: true }]);
    const plain = loadModel(file);
    expect(lowerModel(plain, { foldFinalStates: false }).rewrites.some((r) => r.rule === "final-states-concat-to-reshape")).toBe(false);
    expect(ops(folded)).toBe(ops(plain) - 2);
    for (const batch of [1, 16]) {
      const a = await predictScores(serializeModel(plain), rows, { batch, intraOpThreads: 1 });
      const b = await predictScores(serializeModel(folded), rows, { batch, intraOpThreads: 1 });
      expect(maxScoreDiff(a, b), `batch ${batch}`).toBe(0);
    }
  });

  it("says why it does not apply: the directions out of order", () => {
    const model = loadModel(BILSTM);
    rulePass(packedSortRule()).run(model);
    cleanupPass.run(model);
    const concat = model.allNodes().find((n) => n.opType === "Concat" && n.inputs.every((v) => v?.producer?.opType === "Gather") && n.getInt("axis", 0) === 1)!;
    const [first, second] = concat.inputs;
    concat.setInput(0, second!);
    concat.setInput(1, first!);
    expect(fold(model)).toEqual([expect.objectContaining({ applied: false, reason: "it does not take every direction of one LSTM, in order" })]);
    // A model without such a Concat has nothing to report.
    expect(fold(loadModel(join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx")))).toEqual([]);
  });
});
