/**
 * The staged quantization pipeline (TVM's annotate / calibrate / realize):
 * `plan(model, policy)` -> `calibrate(plan, data, options)` -> `realize(plan, table)`, all in
 * memory. `quantizeModel` (quantize-file.ts) is the file wrapper over these three.
 */
export { plan, type QuantPlan } from "./plan.ts";
export { calibrate, type StageCalibrateOptions } from "./calibrate.ts";
export { gpfqPasses, recordGpfq, type GpfqStageOptions } from "./gpfq.ts";
export { gpfqSetting, needsGpfqMoments } from "./gpfq-setting.ts";
export { realize, RealizeMemo, type RealizeOptions, type Realized } from "./realize.ts";
export { copyModel, type ModelCopy } from "./copy.ts";
