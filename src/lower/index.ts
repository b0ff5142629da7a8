export { lowerModel, ORT_FORMAT, type LowerOptions, type LowerReport } from "./lower.ts";
export { KERNEL_BITS, kernelBits } from "./pack.ts";
