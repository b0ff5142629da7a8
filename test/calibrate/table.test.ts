import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseObserver, type Observer } from "../../src/calibrate/observers.ts";
import { TensorStats } from "../../src/calibrate/stats.ts";
import {
  makeCalibrationTable,
  rangesFor,
  readCalibrationTable,
  serializeCalibrationTable,
  sha256Bytes,
  tensorEntry,
  writeCalibrationTable,
  type CalibrationTable,
} from "../../src/calibrate/table.ts";
import { InputError } from "../../src/graph/errors.ts";
import type { IntFormat } from "../../src/quant/math.ts";
import { tempDir } from "../helpers.ts";
import { gaussian, laplacian, rng } from "./gen.ts";

const int = (bits: number): IntFormat => ({ bits, signed: true, narrow: true });

/** A calibration of three tensors over 3 classes, with observers kept for comparison. */
function calibrate(spec: string, order: string[] = ["lstm.h", "embed.out", "head/logits"]): { table: CalibrationTable; observers: Map<string, Observer> } {
  const r = rng(30);
  const batches = Array.from({ length: 6 }, (_, k) => ({ cls: k % 3, x: gaussian(r, 600, k * 0.1, 1 + k), y: laplacian(r, 400, 0.5) }));
  const observers = new Map<string, Observer>();
  const tensors: CalibrationTable["tensors"] = {};
  for (const name of order) {
    const o = parseObserver(spec, { bins: 256 }).create(); // small histograms keep the test fast
    const s = new TensorStats({ numClasses: 3 });
    for (const b of batches) {
      const v = name === "embed.out" ? b.x : name === "lstm.h" ? b.y.map(Math.tanh) : b.x.map((x, i) => x - b.y[i % b.y.length]);
      o.observe(v);
      o.endBatch?.();
      s.observe(v, b.cls);
    }
    observers.set(name, o);
    tensors[name] = tensorEntry(s, o, name === "lstm.h" ? "main/Loop_body" : "main");
  }
  const table = makeCalibrationTable({
    model: { file: "models/disc-tiny.onnx", sha256: sha256Bytes("model") },
    data: { file: "val.jsonl", sha256: sha256Bytes("data"), rows: 900 },
    options: { mode: "balanced", size: 6, seed: 0, observer: parseObserver(spec).spec },
    composition: { per_class: [2, 2, 2], shortfalls: [] },
    tensors,
  });
  return { table, observers };
}

describe("calibration table", () => {
  it("writes atomically, reads back equal, and gives the same bytes for the same calibration", () => {
    const dir = tempDir();
    const { table } = calibrate("percentile:99.99");
    const a = join(dir, "a.calib.json");
    writeCalibrationTable(a, table);
    expect(readCalibrationTable(a)).toEqual(JSON.parse(JSON.stringify(table)));
    // Insertion order of tensors does not matter; a rewrite of what was read is identical.
    const b = join(dir, "b.calib.json");
    writeCalibrationTable(b, calibrate("percentile:99.99", ["head/logits", "lstm.h", "embed.out"]).table);
    expect(readFileSync(b)).toEqual(readFileSync(a));
    writeCalibrationTable(b, readCalibrationTable(a));
    expect(readFileSync(b)).toEqual(readFileSync(a));
    expect(readdirSync(dir).sort()).toEqual(["a.calib.json", "b.calib.json"]); // no temporary files left
    const text = readFileSync(a, "utf8");
    expect(text.startsWith('{\n  "format": "ptq-onnx.calibration",\n  "version": 1,\n  "model"')).toBe(true);
    expect(text.indexOf('"embed.out"')).toBeLessThan(text.indexOf('"head/logits"'));
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("recomputes each tensor's range for any bit width from the stored state, as the live observer does", () => {
    for (const spec of ["minmax", "percentile:99.9", "mse", "entropy", "batch-percentile:99.9"]) {
      const dir = tempDir();
      const { table, observers } = calibrate(spec);
      const path = join(dir, "t.json");
      writeCalibrationTable(path, table);
      const back = readCalibrationTable(path);
      for (const bits of [8, 4, 3]) {
        for (const sym of [true, false]) {
          const ranges = rangesFor(back, int(bits), sym);
          expect([...ranges.keys()]).toEqual(["embed.out", "head/logits", "lstm.h"]);
          for (const [name, o] of observers) expect(ranges.get(name), `${spec} ${name} ${bits}`).toEqual(o.range(int(bits), sym));
        }
      }
    }
  });

  it("re-evaluates a histogram table with another observer", () => {
    const { table } = calibrate("percentile:99.99");
    const { observers } = calibrate("mse");
    const ranges = rangesFor(table, int(4), true, "mse");
    for (const [name, o] of observers) expect(ranges.get(name)).toEqual(o.range(int(4), true));
    expect(() => rangesFor(table, int(4), true, "batch-percentile:99")).toThrow(InputError);
  });

  it("rejects other files with an InputError naming the file", () => {
    const dir = tempDir();
    const { table } = calibrate("mse");
    const good = JSON.parse(serializeCalibrationTable(table));
    const cases: [string, unknown, RegExp][] = [
      ["format.json", { ...good, format: "onnxruntime.calibration" }, /not a ptq-onnx calibration table/],
      ["version.json", { ...good, version: 2 }, /unsupported calibration table version 2/],
      ["hash.json", { ...good, model: { file: "m.onnx", sha256: "abc" } }, /model\.sha256/],
      ["mode.json", { ...good, options: { ...good.options, mode: "dist:0.5,0.5" } }, /options\.mode.*2 proportions for a model with 3 classes/],
      ["observer.json", { ...good, options: { ...good.options, observer: "max" } }, /options\.observer.*unknown observer/],
      ["spec.json", { ...good, options: { ...good.options, observer: "entropy" } }, /observer\.spec is "mse", but options\.observer is "entropy"/],
      ["count.json", { ...good, tensors: { x: { ...good.tensors["embed.out"], stats: { ...good.tensors["embed.out"].stats, count: 5 } } } }, /tensors\["x"\]\.stats\.histogram holds/],
      ["hist.json", { ...good, tensors: { x: { ...good.tensors["embed.out"], observer: { ...good.tensors["embed.out"].observer, hist: { bins: 8 } } } } }, /tensors\["x"\]\.observer: malformed observer state/],
      ["array.json", [1, 2], /must be an object/],
    ];
    for (const [file, content, msg] of cases) {
      const path = join(dir, file);
      writeFileSync(path, JSON.stringify(content));
      expect(() => readCalibrationTable(path), file).toThrow(InputError);
      expect(() => readCalibrationTable(path), file).toThrow(msg);
      expect(() => readCalibrationTable(path), file).toThrow(path);
    }
    writeFileSync(join(dir, "broken.json"), "{ not json");
    expect(() => readCalibrationTable(join(dir, "broken.json"))).toThrow(/not valid JSON/);
    expect(() => readCalibrationTable(join(dir, "missing.json"))).toThrow(/missing\.json: no such file/);
  });

  it("refuses to write a table that would not read back", () => {
    const dir = tempDir();
    const { table } = calibrate("minmax");
    const bad = { ...table, options: { ...table.options, size: 0 } };
    expect(() => writeCalibrationTable(join(dir, "x.json"), bad)).toThrow(/refusing to write/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
