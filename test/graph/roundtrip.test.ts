import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, StringStringEntryProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { inspectModel, loadModel, parseModel, serializeModel } from "../../src/graph/index.ts";
import { DEBIAN_PYTHON, FIXTURES, ROOT, fixtureModel, idsFeed, pythonHas, runOrt, tempDir } from "../helpers.ts";

const FIXTURE_NAMES = ["disc-tiny", "bilstm-tiny", "gen-tiny"];
const expected = JSON.parse(readFileSync(join(FIXTURES, "models", "models.json"), "utf8")) as Record<
  string,
  { output: string; parameters: number; lstm: { hidden: number; input: number; direction: string } }
>;

function checkRoundTrip(path: string): void {
  const original = readFileSync(path);
  const saved = serializeModel(loadModel(path));
  expect(Buffer.compare(Buffer.from(saved), original)).toBe(0);
}

function checkInspect(path: string, name: string): void {
  const s = inspectModel(loadModel(path));
  const want = expected[name];
  expect(s.parameters).toBe(want.parameters);
  expect(s.lstm).toHaveLength(1);
  expect(s.lstm[0]).toMatchObject({ hidden_size: want.lstm.hidden, input_size: want.lstm.input, direction: want.lstm.direction });
  expect(s.outputs[0]).toMatchObject({ name: want.output, role: "scores" });
  expect(s.inputs.map((i) => i.role)).toEqual(["token_ids", "lengths"]);
}

describe("load then save", () => {
  for (const name of FIXTURE_NAMES) {
    it(`is byte-identical for the committed TorchScript export ${name}`, () => checkRoundTrip(fixtureModel(name)));
    it(`inspects ${name} with the LSTM sizes and parameter count PyTorch reported`, () => checkInspect(fixtureModel(name), name));
  }

  it.skipIf(!pythonHas("torch"))("is byte-identical for fresh torch.onnx.export models (opset 17)", () => {
    const dir = tempDir();
    const r = spawnSync(DEBIAN_PYTHON, [join(ROOT, "scripts", "fixtures", "make_fixtures.py"), dir], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    for (const name of FIXTURE_NAMES) {
      checkRoundTrip(join(dir, `${name}.onnx`));
      checkInspect(join(dir, `${name}.onnx`), name);
    }
  });

  it("keeps node metadata_props, doc strings and unknown fields (what dynamo exports carry)", async () => {
    const proto = loadModel(fixtureModel("disc-tiny")).toProto();
    for (const node of proto.graph!.node) {
      node.metadataProps.push(create(StringStringEntryProtoSchema, { key: "pkg.torch.onnx.stack_trace", value: `at ${node.name}` }));
    }
    proto.graph!.node[0].docString = "a doc string";
    const bytes = toBinary(ModelProtoSchema, proto);
    // An unknown field (number 1000, varint) appended to the model: a newer schema's field.
    const withUnknown = Buffer.concat([Buffer.from(bytes), Buffer.from([0xc0, 0x3e, 0x05])]);
    const saved = serializeModel(parseModel(withUnknown));
    expect(Buffer.compare(Buffer.from(saved), withUnknown)).toBe(0);
    const out = await runOrt(saved, idsFeed([[3, 4, 5]]));
    expect(out.logits.dims).toEqual([1, 3]);
  });

  it("a model edited and saved still runs and gives the same scores", async () => {
    const path = fixtureModel("gen-tiny");
    const model = loadModel(path);
    model.setMetadata("ptq-onnx.kind", "generative");
    const saved = serializeModel(model);
    expect(loadModel(path).metadata.get("ptq-onnx.kind")).toBeUndefined();
    expect(parseModel(saved).metadata.get("ptq-onnx.kind")).toBe("generative");
    const feeds = idsFeed([[1, 2, 3, 4], [5, 6]]);
    const a = await runOrt(readFileSync(path), feeds);
    const b = await runOrt(saved, feeds);
    expect(Array.from(b.scores.data as Float32Array)).toEqual(Array.from(a.scores.data as Float32Array));
  });
});
