/**
 * The file side of lowering: `ptq-onnx lower` (a Q/DQ file to its integer-kernel form) and
 * `ptq-onnx quantize --format ort` (quantize and lower in memory, one atomic write of the
 * model and its calibration table). Outputs are checked before any work, as quantize's are:
 * not an input, a writable place, and an existing file at the default name replaced only when
 * it was made with the same settings (or with `force`).
 */
import { statSync } from "node:fs";
import { InputError, checkOutputs, externalDataFiles, loadValidModel, serializeModel, validateModel, writeFilesAtomic, type FileToWrite } from "../graph/index.ts";
import { quantizeInMemory, type QuantizeOptions, type QuantizeResult } from "../pipeline/quantize-file.ts";
import { checkReplace, type QuantSettings, type Replaced } from "../pipeline/replace.ts";
import { lowerModel, type LowerOptions, type LowerReport } from "./lower.ts";

export interface LowerResult extends LowerReport {
  output: string;
  bytes: { input: number; output: number };
  /** Whether an existing file at `output` was replaced, and its ptq-onnx settings if it had them. */
  replaced: boolean;
  replaced_made_with: Replaced["made_with"];
}

export interface LowerFileOptions extends LowerOptions {
  /** Output path (default MODEL.ort.onnx); a named path is replaced, as with quantize's -o. */
  out?: string;
  /** Replace an existing file at the default output path even if other settings made it. */
  force?: boolean;
}

/** MODEL.q4a4.onnx -> MODEL.q4a4.ort.onnx */
export function defaultLoweredOutput(model: string): string {
  return (model.endsWith(".onnx") ? model.slice(0, -5) : model) + ".ort.onnx";
}

/** Lowers a Q/DQ model file and writes the integer-kernel form atomically; nothing is written on error. */
export function lowerFile(model: string, opts: LowerFileOptions = {}): LowerResult {
  const out = opts.out ?? defaultLoweredOutput(model);
  const m = loadValidModel(model);
  checkOutputs({
    inputs: [{ path: model, role: "input model" }, ...externalDataFiles(m).map((path) => ({ path, role: "model's external data file" }))],
    files: [{ path: out, role: opts.out === undefined ? "lowered model" : "lowered model (-o)" }],
  });
  // The lowered form of a Q/DQ model carries its quantization settings: an existing output made
  // from a model quantized otherwise is not replaced unasked. A model that is not a ptq-onnx
  // output has no settings; lowerModel refuses it below.
  const stamp = m.metadata.get("ptq-onnx.quantization");
  const replaced = stamp
    ? checkReplace(out, () => JSON.parse(stamp) as QuantSettings, { defaultName: opts.out === undefined, force: opts.force ?? false, format: "ort" })
    : { replaced: false, made_with: null };
  const report = lowerModel(m, opts);
  const problems = validateModel(m);
  if (problems.length) throw new Error(`the lowered model is invalid: ${problems[0]}`);
  const bytes = serializeModel(m);
  writeFilesAtomic([{ path: out, data: bytes }]);
  return { output: out, bytes: { input: statSync(model).size, output: bytes.length }, replaced: replaced.replaced, replaced_made_with: replaced.made_with, ...report };
}

export type OrtQuantizeResult = QuantizeResult & { format: "ort"; lowered: LowerReport };

/**
 * `ptq-onnx quantize --format ort`: quantizes as quantizeModel does, lowers the model in memory
 * and writes OUT (default MODEL.q{w}a{a}.ort.onnx) and its calibration table as one atomic
 * pair; no Q/DQ file is written. `bytes.output` is the lowered model's size.
 */
export async function quantizeToOrt(opts: QuantizeOptions, lower: LowerOptions = {}): Promise<OrtQuantizeResult> {
  if (opts.lstmInternals) throw new InputError("--format ort cannot take --lstm-internals: that simulation format has no integer kernel");
  const q = await quantizeInMemory(opts, { format: "ort", defaultName: defaultLoweredOutput });
  const lowered = lowerModel(q.model, lower);
  const problems = validateModel(q.model);
  if (problems.length) throw new Error(`the lowered model is invalid: ${problems[0]}`);
  const bytes = serializeModel(q.model);
  const files: FileToWrite[] = [{ path: q.out, data: bytes }];
  if (q.table) files.push({ path: q.table.path, data: q.table.text });
  writeFilesAtomic(files);
  return { ...q.result, bytes: { input: q.result.bytes.input, output: bytes.length }, format: "ort", lowered };
}

