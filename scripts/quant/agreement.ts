/**
 * Issue 4's report: top-1 agreement with the float model and test accuracy at 2..8 bits
 * (weights and activations, ranges from a min/max calibration table), plus file sizes with
 * 8-bit codes and with packed INT4 at 4 bits.
 *
 *   npx tsx scripts/quant/agreement.ts [MODELS...] [--rows N] [--lstm-internals]
 *
 * Defaults: models/wordnet8-disc.onnx and models/wordnet8-gen.onnx on their whole test split.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { accuracy, agreement, markdown, pct, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rows: { type: "string" }, "lstm-internals": { type: "boolean", default: false } },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx", "models/wordnet8-gen.onnx"];
const dir = scratchDir("ptq-agreement-");
const rows: (string | number)[][] = [];
const sizes: (string | number)[][] = [];

for (const path of models) {
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  const float = await predictions(path, set);
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  rows.push([name, "float", pct(accuracy(set.labels, float)), "100.0"]);
  let table: string | undefined;
  for (let bits = 8; bits >= 2; bits--) {
    const out = join(dir, `${name}.q${bits}.onnx`);
    const r = await quantizeModel({
      model: path,
      out,
      bits,
      calib: "balanced",
      observer: "minmax",
      lstmInternals: values["lstm-internals"],
      calibTable: table,
      saveCalibTable: table ? false : join(dir, `${name}.calib.json`),
    });
    table ??= r.calibration.table ?? undefined;
    const q = await predictions(out, set);
    rows.push([name, `${bits}`, pct(accuracy(set.labels, q)), pct(agreement(float, q))]);
    console.error(`${name} ${bits} bits: accuracy ${pct(accuracy(set.labels, q))}, agreement ${pct(agreement(float, q))}`);
  }
  const int4 = join(dir, `${name}.int4.onnx`);
  await quantizeModel({ model: path, out: int4, bits: 4, calib: "balanced", observer: "minmax", packInt4: true, calibTable: table });
  const floatBytes = statSync(path).size;
  const int8Bytes = statSync(join(dir, `${name}.q4.onnx`)).size;
  const int4Bytes = statSync(int4).size;
  sizes.push([name, floatBytes, `${int8Bytes} (${(int8Bytes / floatBytes).toFixed(3)})`, `${int4Bytes} (${(int4Bytes / floatBytes).toFixed(3)})`]);
}

console.log(`test rows: ${values.rows ?? "all"}; calibration: balanced, 512 validation rows, minmax${values["lstm-internals"] ? "; LSTM internals quantized" : ""}\n`);
console.log(markdown(["model", "bits (w = a)", "accuracy %", "agreement with float %"], rows));
console.log("\n" + markdown(["model", "float bytes", "4-bit, int8 codes (ratio)", "4-bit, packed INT4 (ratio)"], sizes));
