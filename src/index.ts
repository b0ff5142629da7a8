/**
 * ptq-onnx's library API: everything the CLI does is a call to these, so deployment
 * pipelines can run the same steps from code. One typed function per command:
 *
 *   inspect     inspectFile / inspectModel          (src/graph)
 *   quantize    quantizeModel                       (src/calibrate)
 *   eval        runEval                             (src/eval)
 *   robustness  runRobustness                       (src/eval)
 *   bench       runBench                            (src/eval)
 *   parity      runParity                           (src/parity)
 *   stats test  testFromFiles, or the tests themselves on arrays (src/stats)
 *   stats compare  compareModels                    (src/compare)
 *   study       runStudy, mergeStudies              (src/study)
 *   lower       lowerFile, lowerModel               (src/lower)
 *   quantize --format ort  quantizeToOrt            (src/lower)
 *   data export exportDataset                       (src/data)
 *   sensitivity runSensitivity                      (src/tune)
 *   tune        runTune                             (src/tune)
 *
 * Every one throws `InputError` (a one-line message naming the file) for bad input.
 */
export * from "./graph/index.ts";
export * from "./passes/index.ts";
export { quantizeModel, defaultOutput, type QuantizeOptions, type QuantizeResult } from "./pipeline/quantize-file.ts";
export { calibrate } from "./calibrate/calibrate.ts";
export { evaluateModel, type ModelEvaluation, type DataSelection, type RunOptions, type EvalMetrics } from "./eval/index.ts";
export { runEval, type EvalOptions, type EvalResult } from "./eval/run-eval.ts";
export { runRobustness, type RobustnessOptions, type RobustnessPoint, type RobustnessResult, type RobustnessRun } from "./eval/robustness.ts";
export { runBench, type BenchOptions, type BenchOutput } from "./eval/run-bench.ts";
export { runParity, type ParityOptions, type ParityResult } from "./parity/parity.ts";
export * from "./stats/index.ts";
export { EFFECT_SIZE, TEST_NAMES, testFromFiles, type TestName } from "./compare/samples.ts";
export { compareModels, type CompareOptions, type CompareReport } from "./compare/compare.ts";
export { mergeStudies, runStudy, type MergeSummary, type RunSummary } from "./study/study.ts";
export { exportDataset, type ExportMeta } from "./data/export.ts";
export { mergeBuilds, runBuild, type BuildMergeSummary, type BuildRunOptions, type BuildSummary } from "./build/build.ts";
export {
  defaultLoweredOutput,
  lowerFile,
  lowerModel,
  quantizeToOrt,
  ORT_FORMAT,
  type LowerFileOptions,
  type LowerOptions,
  type LowerReport,
  type LowerResult,
  type OrtQuantizeResult,
} from "./lower/index.ts";
export { readQdq, dequantize, weightOf, activationOf, quantizationMeta, type QdqModel, type QuantizedWeight, type QuantizedActivation, type QuantizedCodes } from "./quant/qdq.ts";
export { runSensitivity, compareLayers, type SensitivityOptions, type SensitivityResult, type SensitivityEntry, type SensitivityPoint, type AgainstResult, type AgainstEntry } from "./tune/sensitivity.ts";
export { runTune, OBJECTIVES, type Objective, type TuneOptions, type TuneResult, type ExploredPoint } from "./tune/tune.ts";
export { applyRecipe, loadRecipe, parseOverrideSpec, recipeFileText, resolveOverrides, validateRecipe, RECIPE_VERSION, type LayerOverrides, type Recipe } from "./pipeline/recipe.ts";
export type { RecipeSettings } from "./pipeline/presets.ts";
/** The staged pipeline: `pipeline.plan`, `pipeline.calibrate`, `pipeline.realize` (in memory). */
export * as pipeline from "./pipeline/index.ts";
