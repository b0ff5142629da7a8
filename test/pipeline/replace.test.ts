import { describe, expect, it } from "vitest";
import { settingsDiff, type QuantSettings } from "../../src/pipeline/replace.ts";

const now: QuantSettings = {
  wbits: 4,
  abits: 4,
  granularity: "per-channel",
  lstm_internals: false,
  pack_int4: false,
  calib: "dist:0.5,0.25,0.25",
  calib_size: 512,
  seed: 0,
  observer: "percentile:99.99",
  rounding: "nearest",
};

describe("settingsDiff", () => {
  it("is empty for the same settings, however the calibration mode was spelled", () => {
    expect(settingsDiff({ ...now, float_sha256: "a", calib_sha256: "b" }, now)).toEqual([]);
    expect(settingsDiff({ ...now, calib: "dist:0.5,0.25,0.25" }, { ...now, calib: "dist:0.50, 0.250,0.25" })).toEqual([]);
    expect(settingsDiff({ ...now, calib: "classes:0,2" }, { ...now, calib: "classes:2,0" })).toEqual([]);
  });

  it("names each setting that differs, with the old and new value", () => {
    expect(settingsDiff({ ...now, lstm_internals: true, observer: "mse" }, now)).toEqual([
      'lstm_internals (was true, now false)',
      'observer (was "mse", now "percentile:99.99")',
    ]);
    expect(settingsDiff({ ...now, calib: "classes:0,1" }, { ...now, calib: "classes:0,2" })).toEqual(['calib (was "classes:0,1", now "classes:0,2")']);
  });

  it("reads an output made before rounding was recorded as rounded to nearest", () => {
    const { rounding: _, ...older } = now;
    expect(settingsDiff(older, now)).toEqual([]);
    expect(settingsDiff(older, { ...now, rounding: "gptq" })).toEqual(['rounding (was "nearest", now "gptq")']);
  });

  it("reads an output made before weight clipping and bias correction were recorded as max and off", () => {
    expect(settingsDiff(now, { ...now, weight_clip: "max", bias_correction: false })).toEqual([]);
    expect(settingsDiff(now, { ...now, weight_clip: "mse", bias_correction: true })).toEqual(['weight_clip (was "max", now "mse")', "bias_correction (was false, now true)"]);
    expect(settingsDiff({ ...now, bias_correction: true }, now)).toEqual(["bias_correction (was true, now false)"]);
  });
});
