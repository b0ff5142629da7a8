export { FLOAT_WEIGHTS, lowerModel, ORT_FORMAT, type LowerOptions, type LowerReport } from "./lower.ts";
export { defaultLoweredOutput, lowerFile, quantizeToOrt, type LowerFileOptions, type LowerResult, type OrtQuantizeResult } from "./file.ts";
export { KERNEL_BITS, kernelBits } from "./pack.ts";
