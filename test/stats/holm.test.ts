import { describe, expect, it } from "vitest";
import { holm } from "../../src/stats/index.ts";

describe("holm", () => {
  it("matches a hand computation, in input order", () => {
    // sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> max 0.06)
    const adjusted = holm([0.03, 0.01, 0.04, 0.02]);
    const want = [0.06, 0.04, 0.06, 0.06];
    adjusted.forEach((p, i) => expect(p).toBeCloseTo(want[i], 15));
  });

  it("is monotone in the raw p-values and capped at 1", () => {
    const raw = [0.2, 0.001, 0.5, 0.04, 0.3];
    const adjusted = holm(raw);
    // sorted 0.001 x5 = 0.005, 0.04 x4 = 0.16, 0.2 x3 = 0.6, 0.3 x2 = 0.6, 0.5 x1 = 0.5 -> 0.6
    const want = [0.6, 0.005, 0.6, 0.16, 0.6];
    adjusted.forEach((p, i) => expect(p).toBeCloseTo(want[i], 15));
    expect(holm([0.4, 0.6, 0.9])).toEqual([1, 1, 1]);
    const order = raw.map((_, i) => i).sort((i, j) => raw[i] - raw[j]);
    for (let k = 1; k < order.length; k++) expect(adjusted[order[k]]).toBeGreaterThanOrEqual(adjusted[order[k - 1]]);
  });

  it("handles edge cases", () => {
    expect(holm([])).toEqual([]);
    expect(holm([0.03])).toEqual([0.03]);
    expect(holm([0, 1])).toEqual([0, 1]);
    expect(holm([0.01, 0.01])).toEqual([0.02, 0.02]);
  });
});
