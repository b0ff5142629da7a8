/**
 * What `quantize` says beyond quantizeModel's result: notes on options that had no effect,
 * and the float-versus-quantized accuracy check on a fixed sample of test rows.
 */
import { readFileSync } from "node:fs";
import { compareOnSample, hasTestData, loadSample, type SampleComparison } from "../eval/compare-sample.ts";
import { loadValidModel } from "../graph/index.ts";
import { makeProgress, type ProgressMode } from "./progress.ts";

export interface QuantizeRequest {
  model: string;
  wbits: number;
  packInt4: boolean;
  /** Evaluate unless false (`--no-eval`). */
  eval: boolean;
  evalData?: string;
  evalRows: number;
  tokenizer?: string;
  progress: ProgressMode;
}

export interface QuantizeExtras {
  /** Options that changed nothing, and why there is no evaluation when there is none. */
  notes: string[];
  evaluation: SampleComparison | null;
}

/** Options that were accepted but had no effect on this run. */
export function ignoredOptionNotes(req: Pick<QuantizeRequest, "wbits" | "packInt4">): string[] {
  const notes: string[] = [];
  if (req.packInt4 && req.wbits > 4) notes.push(`--pack-int4 ignored: weights are ${req.wbits} bits; INT4 packing applies to 4 bits or fewer`);
  return notes;
}

/**
 * Checks what the extras need before the long work: the float model and the evaluation
 * sample (a bad --eval-data fails here, before anything is written). Returns the step to
 * run on the written output.
 */
export function prepareExtras(req: QuantizeRequest): (output: string) => Promise<QuantizeExtras> {
  const notes = ignoredOptionNotes(req);
  if (!req.eval) return async () => ({ notes: [...notes, "not evaluated: --no-eval"], evaluation: null });
  const model = loadValidModel(req.model);
  if (!hasTestData(model, req.evalData)) return async () => ({ notes: [...notes, "not evaluated: no test data (--eval-data FILE)"], evaluation: null });
  const sample = loadSample(model, { data: req.evalData, tokenizer: req.tokenizer, rows: req.evalRows });
  return async (output) => {
    let which = "float";
    const bar = makeProgress(req.progress, () => `evaluating ${which}`);
    const evaluation = await compareOnSample(sample, { model, bytes: readFileSync(req.model) }, readFileSync(output), {
      onProgress: bar && ((w, d, t) => ((which = w), bar.update(d, t))),
    });
    bar?.done();
    return { notes, evaluation };
  };
}

export function extrasText(x: QuantizeExtras): string[] {
  const lines: string[] = [];
  const e = x.evaluation;
  if (e) {
    const f4 = (v: number) => v.toFixed(4);
    const delta = e.quantized_accuracy - e.float_accuracy;
    lines.push(
      `evaluation on ${e.rows} rows of ${e.source}: accuracy float ${f4(e.float_accuracy)}, quantized ${f4(e.quantized_accuracy)} (${delta >= 0 ? "+" : ""}${f4(delta)}), top-1 agreement ${f4(e.agreement)}`,
    );
  }
  for (const n of x.notes) lines.push(`note: ${n}`);
  return lines;
}
