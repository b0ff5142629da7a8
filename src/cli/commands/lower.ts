import { rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { CommandModule } from "yargs";
import { defaultOutput, quantizeInputs, quantizeModel, tableOutput, type QuantizeOptions, type QuantizeResult } from "../../pipeline/quantize-file.ts";
import { InputError, checkOutputs, externalDataFiles, loadValidModel, serializeModel, validateModel, writeFileAtomic } from "../../graph/index.ts";
import { lowerModel, type LowerReport } from "../../lower/index.ts";
import { formatBytes, printJson, table } from "../output.ts";

interface Args {
  model: string;
  o?: string;
  json: boolean;
}

export interface LowerResult extends LowerReport {
  output: string;
  bytes: { input: number; output: number };
}

/** MODEL.q4a4.onnx -> MODEL.q4a4.ort.onnx */
export function defaultLoweredOutput(model: string): string {
  return (model.endsWith(".onnx") ? model.slice(0, -5) : model) + ".ort.onnx";
}

/** Lowers a Q/DQ model file and writes the integer-kernel form atomically; nothing is written on error. */
export function lowerFile(model: string, out = defaultLoweredOutput(model)): LowerResult {
  const m = loadValidModel(model);
  // main's output safety: the output is checked (writable folder, not an input) before any work.
  checkOutputs({
    inputs: [{ path: model, role: "input model" }, ...externalDataFiles(m).map((path) => ({ path, role: "model's external data file" }))],
    files: [{ path: out, role: "lowered model" }],
  });
  const report = lowerModel(m);
  const problems = validateModel(m);
  if (problems.length) throw new Error(`the lowered model is invalid: ${problems[0]}`);
  const bytes = serializeModel(m);
  writeFileAtomic(out, bytes);
  return { output: out, bytes: { input: statSync(model).size, output: bytes.length }, ...report };
}

/** The lowering summary; `quantize --format ort` prints it without the first line (it said what it wrote). */
export function printLowerSummary(r: LowerReport & Partial<Pick<LowerResult, "output" | "bytes">>): void {
  const lines = r.output && r.bytes ? [`wrote ${r.output}: ${formatBytes(r.bytes.output)} (Q/DQ ${formatBytes(r.bytes.input)}, ${(r.bytes.output / r.bytes.input).toFixed(3)}x)`] : [];
  lines.push("");
  lines.push(table([["node", "op", "kernel", "weights (bits, storage)"], ...r.lowered.map((l) => [l.node, l.op, l.kernel, l.weights.map((w) => `${w.name} (${w.bits}, ${w.storage})`).join(", ")])]));
  if (r.left.length) lines.push("", table([["left as Q/DQ", "op", "because"], ...r.left.map((l) => [l.node, l.op, l.reason])]));
  lines.push("", `activations: ${r.dropped_activations.length} Q/DQ pairs dropped (quantized to 8 bits per run by the kernels), ${r.static_activations.length} read as calibrated codes by MatMulIntegerToFloat, ${r.kept_activations.length} kept`);
  for (const k of r.kept_activations) lines.push(`  kept ${k.name}: ${k.reason}`);
  for (const f of r.folded) lines.push(f.applied ? `folded ${f.node}: each row's last step read from the LSTM's Y_h (sequence_lens = lengths)` : `not folded ${f.node}: ${f.reason}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export const lowerCommand: CommandModule<object, Args> = {
  command: "lower <model>",
  describe: "Turn a ptq-onnx Q/DQ model into onnxruntime's integer kernels (DynamicQuantizeLSTM, MatMulNBits, GatherBlockQuantized)",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "Q/DQ model written by ptq-onnx quantize" })
      .option("o", { type: "string", alias: "out", describe: "output model (default MODEL.ort.onnx)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: (args) => {
    const result = lowerFile(args.model, args.o);
    if (args.json) printJson(result);
    else printLowerSummary(result);
  },
};

/** `quantize --format`: the portable Q/DQ model (default) or onnxruntime's integer kernels. */
export const FORMATS = ["qdq", "ort"] as const;

/**
 * `quantize --format ort`: quantizes to a hidden temporary Q/DQ file beside the output, lowers
 * it to OUT (default MODEL.q{w}a{a}.ort.onnx) and removes the temporary file, so OUT is
 * either whole or absent. The calibration table is named after OUT as with `qdq`.
 */
export async function quantizeToOrt(opts: QuantizeOptions): Promise<QuantizeResult & { format: "ort"; lowered: LowerReport }> {
  if (opts.lstmInternals) throw new InputError("--format ort cannot take --lstm-internals: that simulation format has no integer kernel");
  const wbits = opts.wbits ?? opts.bits;
  const abits = opts.abits ?? opts.bits;
  const out = opts.out ?? defaultLoweredOutput(defaultOutput(opts.model, wbits, abits));
  checkOutputs({
    inputs: quantizeInputs(opts),
    files: [{ path: out, role: "lowered model" }],
  });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.qdq.onnx`);
  // Named after OUT, not the temporary Q/DQ file; false (none) with a reused table.
  const table = tableOutput(opts, out) ?? false;
  try {
    const q = await quantizeModel({ ...opts, out: tmp, saveCalibTable: table });
    const { output: _written, bytes, ...lowered } = lowerFile(tmp, out);
    return { ...q, output: out, bytes: { input: q.bytes.input, output: bytes.output }, format: "ort", lowered };
  } finally {
    rmSync(tmp, { force: true });
  }
}
