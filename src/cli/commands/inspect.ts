import type { CommandModule } from "yargs";
import { inspectFile, loadValidModel, type ModelSummary } from "../../graph/index.ts";
import { formatBytes, printJson, table } from "../output.ts";

interface Args {
  model: string;
  json: boolean;
}

function shapeText(shape: ModelSummary["inputs"][number]["shape"]): string {
  return shape ? `[${shape.map((d) => d ?? "?").join(", ")}]` : "?";
}

function printText(s: ModelSummary & { bytes: number }): void {
  const lines: string[] = [];
  lines.push(`${s.file}: ${formatBytes(s.bytes)}, IR ${s.ir_version}, opsets ${Object.entries(s.opsets).map(([d, v]) => `${d} ${v}`).join(", ")}${s.producer ? `, from ${s.producer}` : ""}`);
  lines.push("", table([["input", "type", "shape", "role"], ...s.inputs.map((i) => [i.name, i.type, shapeText(i.shape), i.role ?? "-"])]));
  lines.push("", table([["output", "type", "shape", "role"], ...s.outputs.map((o) => [o.name, o.type, shapeText(o.shape), o.role ?? "-"])]));
  if (s.lstm.length) {
    lines.push("", table([["LSTM", "direction", "hidden", "input", "weights"], ...s.lstm.map((l) => [l.name, l.direction, l.hidden_size ?? "?", l.input_size ?? "?", l.quantized_weights ? "quantized" : "float"])]));
  }
  if (s.integer_kernels.length) {
    lines.push("", table([["integer kernel", "op", "weights (storage, bits)"], ...s.integer_kernels.map((k) => [k.name, k.op, k.weights.map((w) => `${w.name} (${w.storage}, ${w.bits})`).join(", ")])]));
  }
  lines.push("", `parameters: ${s.parameters.toLocaleString("en-US")}`);
  lines.push(table([["tensor type", "tensors", "elements", "bytes"], ...Object.entries(s.tensors_by_type).map(([t, e]) => [t, e.tensors, e.elements, e.bytes])]));
  lines.push("", `ops (${s.nodes} nodes): ${Object.entries(s.ops).map(([op, n]) => `${op} ${n}`).join(", ")}`);
  const meta = Object.entries(s.metadata);
  if (meta.length) {
    lines.push("", "metadata:");
    for (const [k, v] of meta) lines.push(`  ${k}: ${v.length > 100 ? v.slice(0, 97) + "..." : v}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}

export const inspectCommand: CommandModule<object, Args> = {
  command: "inspect <model>",
  describe: "Describe an ONNX classifier: inputs and roles, ops, parameters, LSTMs, metadata",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "ONNX model file" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }),
  handler: (args) => {
    const model = loadValidModel(args.model);
    const summary = inspectFile(model, args.model);
    if (args.json) printJson(summary);
    else printText(summary);
  },
};
