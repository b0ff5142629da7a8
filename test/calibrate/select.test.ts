import { describe, expect, it } from "vitest";
import { largestRemainder, parseCalibMode, selectCalibrationRows } from "../../src/calibrate/select.ts";
import { InputError } from "../../src/graph/errors.ts";
import { rng } from "./gen.ts";

/** A pool with `sizes[c]` rows of class c, shuffled. */
function pool(sizes: number[], seed = 1): { label: number }[] {
  const rows = sizes.flatMap((n, c) => Array.from({ length: n }, () => ({ label: c })));
  return rng(seed).shuffle(rows);
}

function composition(rows: { label: number }[], indices: number[], C: number): number[] {
  const out = new Array(C).fill(0);
  for (const i of indices) out[rows[i].label]++;
  return out;
}

describe("parseCalibMode", () => {
  it("parses the four modes", () => {
    expect(parseCalibMode("balanced", 4)).toMatchObject({ kind: "balanced", numClasses: 4 });
    expect(parseCalibMode("natural", 4).kind).toBe("natural");
    expect(parseCalibMode("dist:0.7,0.1,0.1,0.1", 4)).toMatchObject({ kind: "dist", proportions: [0.7, 0.1, 0.1, 0.1] });
    expect(parseCalibMode("dist:0.5, 0.5, 0, 0", 4).spec).toBe("dist:0.5,0.5,0,0");
    expect(parseCalibMode("classes:2,0", 4)).toMatchObject({ kind: "classes", classes: [0, 2], spec: "classes:0,2" });
  });

  it("rejects what it cannot use with an InputError", () => {
    const bad: [string, RegExp][] = [
      ["stratified", /unknown calibration mode 'stratified'; valid modes: balanced, natural, dist:/],
      ["dist:0.5,0.5", /2 proportions for a model with 4 classes/],
      ["dist:0.5,0.3,0.1,0.2", /sum to 1\.1/],
      ["dist:0.5,0.6,-0.1,0", /proportion 3 .* negative/],
      ["dist:0.5,x,0.25,0.25", /proportion 2 \('x'\) is not a number/],
      ["dist:", /give 4 class proportions/],
      ["classes:", /one or more class indices/],
      ["classes:4", /'4' is not a class index in \[0, 4\)/],
      ["classes:-1", /not a class index/],
      ["classes:1.5", /not a class index/],
      ["classes:1,1", /listed twice/],
      ["balanced:2", /unknown calibration mode/],
    ];
    for (const [spec, msg] of bad) {
      expect(() => parseCalibMode(spec, 4), spec).toThrow(InputError);
      expect(() => parseCalibMode(spec, 4), spec).toThrow(msg);
    }
    expect(parseCalibMode("dist:0.3333333,0.3333333,0.3333334", 3).kind).toBe("dist");
  });
});

describe("selectCalibrationRows", () => {
  const sizes = [100, 50, 30, 20];
  const rows = pool(sizes);

  it("composes each mode exactly", () => {
    const cases: [string, number, number[]][] = [
      ["balanced", 42, [11, 11, 10, 10]], // remainder to the lowest classes
      ["natural", 30, [15, 8, 4, 3]], // 15, 7.5, 4.5, 3: the tie goes to the lower class
      ["natural", 200, [100, 50, 30, 20]],
      ["dist:0.7,0.1,0.1,0.1", 25, [18, 3, 2, 2]], // 17.5, 2.5, 2.5, 2.5
      ["dist:0,0.5,0.5,0", 9, [0, 5, 4, 0]],
      ["classes:0,2", 7, [4, 0, 3, 0]],
      ["classes:3", 5, [0, 0, 0, 5]],
    ];
    for (const [spec, size, want] of cases) {
      const s = selectCalibrationRows(rows, parseCalibMode(spec, 4), size, 0);
      expect(s.perClass, spec).toEqual(want);
      expect(composition(rows, s.indices, 4), spec).toEqual(want);
      expect(new Set(s.indices).size, spec).toBe(s.indices.length);
      expect(s.shortfalls, spec).toEqual([]);
    }
  });

  it("uses all of a short class and reports the shortfall", () => {
    const s = selectCalibrationRows(rows, parseCalibMode("balanced", 4), 100, 3);
    expect(s.perClass).toEqual([25, 25, 25, 20]);
    expect(s.shortfalls).toEqual([{ class: 3, asked: 25, available: 20 }]);
    expect(composition(rows, s.indices, 4)).toEqual([25, 25, 25, 20]);
    const d = selectCalibrationRows(rows, parseCalibMode("dist:0.1,0.1,0.1,0.7", 4), 100, 3);
    expect(d.shortfalls).toEqual([{ class: 3, asked: 70, available: 20 }]);
    expect(d.perClass).toEqual([10, 10, 10, 20]);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    const mode = parseCalibMode("balanced", 4);
    const a = selectCalibrationRows(rows, mode, 40, 7);
    expect(selectCalibrationRows(rows, mode, 40, 7)).toEqual(a);
    const b = selectCalibrationRows(rows, mode, 40, 8);
    expect(b.perClass).toEqual(a.perClass);
    expect([...b.indices].sort((x, y) => x - y)).not.toEqual([...a.indices].sort((x, y) => x - y));
    expect(selectCalibrationRows(rows, mode, 40, 2 ** 40 + 7).indices).not.toEqual(a.indices);
  });

  it("draws rows of a class uniformly", () => {
    const small = pool([10, 10], 2);
    const hits = new Array(small.length).fill(0);
    const mode = parseCalibMode("classes:0", 2);
    for (let seed = 0; seed < 2000; seed++) for (const i of selectCalibrationRows(small, mode, 3, seed).indices) hits[i]++;
    small.forEach((r, i) => {
      if (r.label === 0) expect(Math.abs(hits[i] - 600)).toBeLessThan(90); // 2000 * 3/10, sd about 20
      else expect(hits[i]).toBe(0);
    });
  });

  it("skips rows without a usable label, and fails when nothing is usable", () => {
    const mixed = [...pool([5, 5]), { label: -1 }, { label: 2 }, { label: 0.5 }];
    const s = selectCalibrationRows(mixed, parseCalibMode("balanced", 2), 10, 0);
    expect(s.unusable).toBe(3);
    expect(s.perClass).toEqual([5, 5]);
    expect(() => selectCalibrationRows([], parseCalibMode("balanced", 2), 10, 0)).toThrow(/data set is empty/);
    expect(() => selectCalibrationRows([{ label: 5 }], parseCalibMode("natural", 2), 10, 0)).toThrow(InputError);
    expect(() => selectCalibrationRows(pool([5, 0]), parseCalibMode("classes:1", 2), 10, 0)).toThrow(/asks for class 1, which the data set has no rows of/);
    expect(() => selectCalibrationRows(rows, parseCalibMode("balanced", 4), 0, 0)).toThrow(/positive integer/);
    expect(() => selectCalibrationRows(rows, parseCalibMode("balanced", 4), 10, 1.5)).toThrow(/seed/);
  });
});

describe("largestRemainder", () => {
  it("hands out exactly the total", () => {
    expect(largestRemainder(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(largestRemainder(7, [0.2, 0.2, 0.6])).toEqual([2, 1, 4]); // 1.4, 1.4, 4.2
    expect(largestRemainder(5, [0, 1, 0])).toEqual([0, 5, 0]);
    expect(largestRemainder(3, [0, 0])).toEqual([0, 0]);
  });
});
