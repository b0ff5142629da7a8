// Writes what onnxruntime's `quantize_dynamic` makes of a float LSTM classifier (its defaults:
// int8 weights, the embedding Gather too; src/lower/ort-dynamic.ts), the baseline that
// scripts/bench/lowered.sh benches beside the lowered models (the `ort-dyn` rows).
//
//   npx tsx scripts/bench/ort-dynamic.ts FLOAT.onnx OUT.onnx
import { loadModel, serializeModel, writeFileAtomic } from "../../src/graph/index.ts";
import { dynamicQuantize } from "../../src/lower/ort-dynamic.ts";

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error("usage: npx tsx scripts/bench/ort-dynamic.ts FLOAT.onnx OUT.onnx");
  process.exit(2);
}
const model = loadModel(src);
const done = dynamicQuantize(model, { gather: true });
writeFileAtomic(out, serializeModel(model));
console.error(`${out}: ${done.lstm} LSTM, ${done.matmul} MatMul/Gemm, ${done.gather} Gather quantized as onnxruntime's quantize_dynamic does`);
