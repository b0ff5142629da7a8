/**
 * quantizeModel's output, byte for byte, on the zoo's tiny fixtures: a refactoring of the graph
 * builder, the passes or the pipeline must not change a single byte. Calibration is read from
 * committed tables (test/fixtures/identity, made by `ptq-onnx quantize --data
 * test/zoo/fixtures/tiny-test.jsonl --calib natural --calib-size 40 --observer mse --rounding
 * gptq --seed 3`, with and without `--lstm-internals`), so the hashes depend on no onnxruntime
 * kernel. The hashes were recorded before the builder was split out of decompose-lstm.ts.
 */
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel, type QuantizeOptions } from "../../src/index.ts";
import { ROOT, tempDir } from "../helpers.ts";

const TABLES = join(ROOT, "test", "fixtures", "identity");
const ZOO = join(ROOT, "test", "zoo", "fixtures");

type Case = [name: string, model: "disc" | "gen", table: string, options: Partial<QuantizeOptions>, sha256: string];

const CASES: Case[] = [
  ["disc 8 bits", "disc", "tiny-disc", { bits: 8 }, "24748a306764fb92ec1cd7ec33a1b598e786086730676db31ee04f18250fc5e0"],
  ["disc 4 bits", "disc", "tiny-disc", { bits: 4 }, "ef0a0ae757ec994d5e2972ba2bc4ae2ba88d8ffb9e070c865ef44cf2e37a3648"],
  ["disc 4 bits per-tensor percentile", "disc", "tiny-disc", { bits: 4, granularity: "per-tensor", observer: "percentile:99.9" }, "6fbf91e1be2f6d07cfdb24a810baf3cb155f9019e1cb04df7f7d28cd438b20ef"],
  ["disc 4 bits gptq", "disc", "tiny-disc", { bits: 4, rounding: "gptq" }, "9cebd3bd208d77270c447af6bd539199fa7034061b518b051df0684a4740b782"],
  ["disc 4 bits pack-int4", "disc", "tiny-disc", { bits: 4, packInt4: true }, "14387140a85532c74b637b18f936aa72942740d5b9ad9786b765e437d7f8ecb0"],
  ["disc 8 bits lstm-internals", "disc", "tiny-disc.internals", { bits: 8, lstmInternals: true }, "2c68a2617df4d5b5900e07412fb12a122470d4e2f8341959b441baea7db0c3f0"],
  ["disc 4 bits lstm-internals gptq", "disc", "tiny-disc.internals", { bits: 4, lstmInternals: true, rounding: "gptq" }, "04a5e3cdd3a836cd96af656b1bf17866306061763f1bd7deae9ef5cd08cfb2be"],
  ["gen 8 bits", "gen", "tiny-gen", { bits: 8 }, "653ad0226a1602bd245409d968e349a9f5b78bede79d19b6af4c0f113640e9cd"],
  ["gen 4 bits gptq pack-int4", "gen", "tiny-gen", { bits: 4, rounding: "gptq", packInt4: true }, "6bcd5b7d783fc571afe5fcb40596e49b578161f09d3ca42b8f550d983b7d6072"],
];

async function quantizedSha256(model: "disc" | "gen", table: string, options: Partial<QuantizeOptions>): Promise<string> {
  const dir = tempDir();
  const input = join(dir, `tiny-${model}.onnx`);
  copyFileSync(join(ZOO, `tiny-${model}.onnx`), input);
  const out = join(dir, "q.onnx");
  await quantizeModel({ model: input, out, calib: "natural", bits: 8, calibTable: join(TABLES, `${table}.calib.json`), ...options });
  return createHash("sha256").update(readFileSync(out)).digest("hex");
}

describe("quantizeModel output is byte-identical to the recorded one", () => {
  for (const [name, model, table, options, sha256] of CASES) {
    it(name, async () => {
      expect(await quantizedSha256(model, table, options)).toBe(sha256);
    });
  }
});
