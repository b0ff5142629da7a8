/**
 * ptq-onnx's library API: everything the CLI does is a call to these, so deployment
 * pipelines can run the same steps from code.
 */
export * from "./graph/index.ts";
export * from "./passes/index.ts";
export { quantizeModel, defaultOutput, type QuantizeOptions, type QuantizeResult } from "./calibrate/quantize.ts";
export { calibrate } from "./calibrate/calibrate.ts";
/** The staged pipeline: `pipeline.plan`, `pipeline.calibrate`, `pipeline.realize` (in memory). */
export * as pipeline from "./pipeline/index.ts";
