import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REFERENCE_PATH = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "stats", "scipy_reference.json");

export interface SampleCase {
  name: string;
  statistic: number;
  p_value: number;
  method: "exact" | "asymptotic";
}
export interface TwoSampleCase extends SampleCase {
  /** A sample, or the name of one in shared_samples. */
  a: number[] | string;
  b: number[];
}
export interface WilcoxonCase extends SampleCase {
  x: number[];
  y?: number[];
}
export interface McNemarCase extends SampleCase {
  b: number;
  c: number;
  both_right: number;
  both_wrong: number;
}
export interface Reference {
  scipy_version: string;
  mannwhitneyu: TwoSampleCase[];
  wilcoxon: WilcoxonCase[];
  ks_2samp: TwoSampleCase[];
  mcnemar: McNemarCase[];
  special: {
    norm_sf: [number, number][];
    chi2_sf_df1: [number, number][];
    kstwo_sf: [number, number, number][];
    smirnov_sf: [number, number, number][];
    kstwobign_sf: [number, number][];
  };
  shared_samples: Record<string, number[]>;
}

export function loadReference(path = REFERENCE_PATH): Reference {
  return JSON.parse(readFileSync(path, "utf8")) as Reference;
}

/** Below this, p-values are compared absolutely: they are at the edge of double range. */
export const TINY = 1e-300;
export const RTOL = 1e-9;

/** Relative error, with an absolute floor for values too small to compare relatively. */
export function relErr(actual: number, expected: number): number {
  if (actual === expected) return 0;
  if (Math.abs(expected) < TINY) return Math.abs(actual) < TINY ? 0 : Infinity;
  return Math.abs(actual - expected) / Math.abs(expected);
}
