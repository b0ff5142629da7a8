/** Content hashes of study inputs: canonical JSON (sorted keys) through sha256. */
import { createHash } from "node:crypto";
import { readInputFile } from "../graph/files.ts";

/**
 * Bump when a change to the study code changes what a cell computes (its results or their
 * meaning): every cell hash includes it, so old cached cells are no longer found.
 */
// 2: the generative models' label embedding gets one scale per class (per-channel cells change).
export const STUDY_CODE_VERSION = "ptq-onnx-study/2";

/** JSON with object keys sorted at every level; undefined members are left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`canonicalJson: ${value} has no JSON form`);
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function fileSha256(path: string): string {
  return sha256Hex(readInputFile(path, "an input file"));
}

/** The hash that names a cell or a calibration: 24 hex digits of sha256(canonical JSON of its key). */
export function keyHash(key: unknown): string {
  return sha256Hex(canonicalJson(key)).slice(0, 24);
}
