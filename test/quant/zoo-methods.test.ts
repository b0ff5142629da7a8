import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { layerProblems, relativeOutputError, roundLayer, type LayerProblem } from "../../scripts/quant/layers.ts";
import { ROOT, tempDir } from "../helpers.ts";

// Real weights (the WordNet-8 discriminative zoo model's LSTM W, R and head) and real
// calibration moments (32 balanced validation rows through onnxruntime).
describe("rounding methods on the zoo model's real layers", () => {
  const dir = tempDir();
  let problems: LayerProblem[] = [];
  beforeAll(async () => {
    problems = await layerProblems(`${ROOT}/models/wordnet8-disc.onnx`, dir, 32);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds the LSTM's W and R and the head, with their moments", () => {
    expect(problems.map((p) => [p.kind, p.rows, p.cols])).toEqual([
      ["gemm", 8, 256],
      ["lstm-w", 1024, 128],
      ["lstm-r", 1024, 256],
    ]);
    for (const p of problems) expect(p.count).toBeGreaterThanOrEqual(32);
  });

  // Per-tensor scales (the study's recipe) at 3 bits only, to keep the test short.
  for (const [bits, grains] of [[2, [true]], [3, [true, false]]] as [number, boolean[]][]) {
    it(`at ${bits} bits, GPTQ (plain and act-order) and GPFQ give less layer output error than rounding to nearest`, () => {
      for (const p of problems) {
        for (const perChannel of grains) {
          const nearest = relativeOutputError(p, roundLayer(p, "nearest", bits, perChannel));
          expect(nearest).toBeGreaterThan(0);
          for (const method of ["gptq", "gptq-act-order", "gpfq"] as const) {
            expect(relativeOutputError(p, roundLayer(p, method, bits, perChannel)), `${p.name} ${method}`).toBeLessThan(nearest);
          }
        }
      }
    });
  }
});
