/**
 * Comparing two quantizations A and B of one float model (for example balanced against
 * class-imbalanced calibration at the same bit width), in the manner of the study behind
 * ptq-onnx, which tests whether imbalanced calibration leaves weights less well adapted:
 *
 * - weights: per quantized layer, the distribution of the quantization error (dequantized
 *   minus float weight; needs the float model), of the scales and of the zero points, with
 *   Mann-Whitney U and two-sample KS tests on the error distributions and a Wilcoxon
 *   signed-rank test on the paired per-channel scales, each Holm-adjusted across layers;
 * - activations: the ranges each model's QuantizeLinear/DequantizeLinear pairs encode;
 * - activation profiles: per tensor and per class, from the calibration tables found beside
 *   the models, summary statistics and histograms compared between the two calibration sets;
 * - predictions: McNemar's test and seeded paired-bootstrap intervals on the test set.
 */
import { existsSync } from "node:fs";
import { sha256File } from "../calibrate/table.ts";
import { modelLabels } from "../data/resolve.ts";
import { InputError, loadValidModel } from "../graph/index.ts";
import { intOption } from "../eval/options.ts";
import { compareActivations } from "./activations.ts";
import { checkSameFloat, findTable, quantizationMeta } from "./models.ts";
import { comparePredictions } from "./predictions.ts";
import { compareProfiles } from "./profiles.ts";
import { DEFAULT_MAX_SAMPLE, DEFAULT_RESAMPLES, DEFAULT_TOP, type CompareOptions, type CompareReport } from "./report.ts";
import { compareWeights } from "./weights.ts";

export * from "./report.ts";
export { activationRanges } from "./activations.ts";
export { histogramDistance, type HistogramDistance } from "./histograms.ts";
export { checkSameFloat, quantizationMeta } from "./models.ts";
export { compareProfiles } from "./profiles.ts";

/** Everything `ptq-onnx stats compare` reports. Throws InputError for bad input. */
export async function compareModels(opts: CompareOptions): Promise<CompareReport> {
  const seed = intOption(opts.seed, "seed", 0) ?? 0;
  const resamples = intOption(opts.resamples, "resamples", 1) ?? DEFAULT_RESAMPLES;
  const maxSample = intOption(opts.maxSample, "max-sample", 8) ?? DEFAULT_MAX_SAMPLE;
  const top = intOption(opts.top, "top", 1) ?? DEFAULT_TOP;
  intOption(opts.rows, "rows", 1);
  const ma = loadValidModel(opts.a);
  const mb = loadValidModel(opts.b);
  const metaA = quantizationMeta(ma, opts.a);
  const metaB = quantizationMeta(mb, opts.b);
  let float: { file: string; sha256: string } | null = null;
  if (opts.float) {
    if (!existsSync(opts.float)) throw new InputError("no such file", opts.float);
    float = { file: opts.float, sha256: sha256File(opts.float) };
  }
  checkSameFloat({ file: opts.a, meta: metaA }, { file: opts.b, meta: metaB }, float ?? undefined);
  const notes: string[] = [];

  const weights = compareWeights(ma, mb, { a: metaA, b: metaB }, opts.float, { seed, maxSample, top }, notes);
  const activations = compareActivations(ma, mb, top);

  const tableA = findTable(opts.a, metaA, opts.calibA, notes, "A");
  const tableB = findTable(opts.b, metaB, opts.calibB, notes, "B");
  let profiles: CompareReport["profiles"];
  if (tableA && tableB) {
    profiles = { status: `from ${tableA.path} and ${tableB.path}`, ...compareProfiles(tableA.table, tableB.table, modelLabels(ma), top) };
  } else {
    const missing = [!tableA ? opts.a : null, !tableB ? opts.b : null].filter(Boolean).join(" and ");
    profiles = {
      status: `skipped: no calibration table found beside ${missing} (quantize writes MODEL.calib.json; or give --calib-a/--calib-b)`,
      composition_a: tableA?.table.composition.per_class ?? null,
      composition_b: tableB?.table.composition.per_class ?? null,
      mode_a: metaA.calib ?? null,
      mode_b: metaB.calib ?? null,
      tensors: [],
      most_different: [],
      method: "",
    };
  }

  let predictions: CompareReport["predictions"];
  if (opts.predictions === false) predictions = { skipped: "not asked for (--no-predictions)" };
  else if (!opts.data && !ma.metadata.get("ptq-onnx.dataset")) predictions = { skipped: "no --data given and the models name no zoo data set (metadata ptq-onnx.dataset)" };
  else predictions = await comparePredictions(opts, ma, seed, resamples);

  return {
    a: { file: opts.a, sha256: sha256File(opts.a), quantization: metaA, calibration_table: tableA?.path ?? null },
    b: { file: opts.b, sha256: sha256File(opts.b), quantization: metaB, calibration_table: tableB?.path ?? null },
    float,
    float_sha256: metaA.float_sha256,
    weights,
    activations,
    profiles,
    predictions,
    notes,
  };
}
