import { describe, expect, it } from "vitest";
import { evaluateModel } from "../../src/index.ts";
import { fixtureModel, runCli } from "../helpers.ts";
import { writeTestData } from "./testdata.ts";

const td = writeTestData();

describe("evaluateModel (the library's eval)", () => {
  for (const name of ["disc-tiny", "gen-tiny"]) {
    it(`reports what ptq-onnx eval --json reports (${name})`, async () => {
      const model = fixtureModel(name);
      const cli = runCli(["eval", model, "--data", td.text, "--tokenizer", td.tokenizer, "--json"]);
      expect(cli.stderr).toBe("");
      const expected = JSON.parse(cli.stdout);
      const r = await evaluateModel(model, { data: td.text, tokenizer: td.tokenizer, threads: 1 });
      expect(r.n).toBe(60);
      expect(r.data).toBe(expected.data);
      expect(r.data_sha256).toBe(expected.data_sha256);
      expect(r.confusion).toEqual(expected.confusion);
      expect(r.accuracy).toBe(expected.accuracy);
      expect(r.per_class).toEqual(expected.per_class);
    });
  }

  it("names the file when the model is not one", async () => {
    await expect(evaluateModel(td.text, { data: td.text })).rejects.toThrow(td.text);
  });
});
