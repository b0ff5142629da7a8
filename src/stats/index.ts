/**
 * Nonparametric statistics for comparing models: rank tests and the KS test matching
 * scipy.stats 1.10 defaults, McNemar's test, a seeded paired bootstrap, and Holm's
 * multiple-comparison adjustment.
 */
export type { TestResult } from "./types.ts";
export { mannWhitneyU } from "./mannwhitney.ts";
export { wilcoxon } from "./wilcoxon.ts";
export { ks2samp } from "./ks.ts";
export { mcnemar } from "./mcnemar.ts";
export { BootstrapBatch, bootstrapMean, pairedBootstrap, quantileSorted, type BootResult } from "./bootstrap.ts";
export type { BootstrapMetric, Label, PairedBootstrapOptions, PairedBootstrapResult } from "./bootstrap.ts";
export { holm } from "./holm.ts";
export { Xoshiro128 } from "./random.ts";
