import { existsSync } from "node:fs";
import { InputError, loadModel } from "../graph/index.ts";
import { parseCalibMode } from "../calibrate/select.ts";
import type { QuantizationMeta } from "./stamp.ts";

/**
 * The settings in a quantized model's `ptq-onnx.quantization` metadata that decide what it is
 * (the hashes of the float model and the table are left out: they follow from the files).
 */
export type QuantSettings = Omit<QuantizationMeta, "float_sha256" | "calib_sha256"> & { rounding: string; group_size?: number; weight_clip?: string; bias_correction?: boolean; weight_symmetric?: boolean; gather_pass_through?: boolean; embedding_gptq?: boolean };

const SETTING_KEYS: (keyof QuantSettings)[] = ["wbits", "abits", "granularity", "lstm_internals", "pack_int4", "calib", "calib_size", "seed", "observer", "rounding", "group_size", "weight_clip", "bias_correction", "weight_symmetric", "gather_pass_through", "embedding_gptq", "equalize", "recipe", "overrides"];

/** Settings that outputs of earlier versions do not record, with the value those versions used. */
const RECORDED_LATER: Partial<Record<keyof QuantSettings, unknown>> = { rounding: "nearest", weight_clip: "max", bias_correction: false, weight_symmetric: true, gather_pass_through: false, embedding_gptq: false, equalize: false };

export interface Replaced {
  /** Whether a file is already at the output path (the write replaces it). */
  replaced: boolean;
  /** Its `ptq-onnx.quantization` metadata, or null when it has none. */
  made_with: Record<string, unknown> | null;
}

/** The `ptq-onnx.quantization` metadata of a file, or null when it is not a ptq-onnx output. */
export function quantizationMetadata(path: string): Record<string, unknown> | null {
  return outputMetadata(path).made;
}

/**
 * A file's `ptq-onnx.quantization` metadata (null when it is not a ptq-onnx output) and its
 * `ptq-onnx.format` (`qdq` when absent: Q/DQ outputs do not record it; `ort` for lowered ones).
 */
function outputMetadata(path: string): { made: Record<string, unknown> | null; format: string } {
  try {
    const meta = loadModel(path).metadata;
    const text = meta.get("ptq-onnx.quantization");
    const json: unknown = text === undefined ? null : JSON.parse(text);
    const made = json !== null && typeof json === "object" && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
    return { made, format: meta.get("ptq-onnx.format") ?? "qdq" };
  } catch {
    return { made: null, format: "qdq" };
  }
}

/** A calibration mode as parseCalibMode writes it (`dist:0.50,0.5` is `dist:0.5,0.5`). */
function canonicalCalib(spec: unknown): unknown {
  if (typeof spec !== "string") return spec;
  const list = spec.includes(":") ? spec.slice(spec.indexOf(":") + 1).split(",") : [];
  const classes = spec.trim().startsWith("dist") ? list.length : Math.max(0, ...list.map(Number)) + 1;
  try {
    return parseCalibMode(spec, Number.isSafeInteger(classes) && classes > 0 ? classes : 1).spec;
  } catch {
    return spec;
  }
}

/** `name (was OLD, now NEW)` for each setting that differs. */
export function settingsDiff(old: Record<string, unknown>, now: QuantSettings): string[] {
  const diff: string[] = [];
  for (const key of SETTING_KEYS) {
    const was = old[key] ?? RECORDED_LATER[key];
    const is = now[key] ?? RECORDED_LATER[key];
    const a = key === "calib" ? canonicalCalib(was) : was;
    const b = key === "calib" ? canonicalCalib(is) : is;
    // Per-layer overrides are objects, written with sorted keys (stamp.ts): compare their JSON.
    if (a === b || (typeof a === "object" && a !== null && JSON.stringify(a) === JSON.stringify(b))) continue;
    diff.push(`${key} (was ${JSON.stringify(was ?? null)}, now ${JSON.stringify(is ?? null)})`);
  }
  return diff;
}

/**
 * Decides, before any work, whether quantize may write `out`. The default output name is
 * shared by every run at one bit width, so an existing file there is replaced only when it
 * is a ptq-onnx output made with the same settings (a rerun), or with `force`. A path the
 * user named with -o is theirs to overwrite. `planned` gives the new run's settings; `format`,
 * the output's form (a Q/DQ model and its lowered form are different files even when made
 * with the same settings).
 */
export function checkReplace(out: string, planned: () => QuantSettings, opts: { defaultName: boolean; force: boolean; format?: "qdq" | "ort" }): Replaced {
  if (!existsSync(out)) return { replaced: false, made_with: null };
  const { made, format } = outputMetadata(out);
  if (opts.defaultName && !opts.force) {
    const hint = "pass --force to replace it or -o to write elsewhere";
    if (!made) throw new InputError(`already exists and is not a ptq-onnx output; ${hint}`, out);
    const diff = settingsDiff(made, planned());
    if (opts.format && format !== opts.format) diff.push(`format (was ${JSON.stringify(format)}, now ${JSON.stringify(opts.format)})`);
    if (diff.length) throw new InputError(`already exists, made with other settings: ${diff.join(", ")}; ${hint}`, out);
  }
  return { replaced: true, made_with: made };
}
