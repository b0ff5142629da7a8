/**
 * ptq-onnx's library API: everything the CLI does is a call to these, so deployment
 * pipelines can run the same steps from code.
 */
export * from "./graph/index.ts";
export * from "./passes/index.ts";
export { quantizeModel, defaultOutput, type QuantizeOptions, type QuantizeResult } from "./calibrate/quantize.ts";
export { calibrate } from "./calibrate/calibrate.ts";
export { lowerModel, ORT_FORMAT, type LowerOptions, type LowerReport } from "./lower/index.ts";
export { readQdq, dequantize, weightOf, activationOf, quantizationMeta, type QdqModel, type QuantizedWeight, type QuantizedActivation, type QuantizedCodes } from "./quant/qdq.ts";
