import { describe, expect, it } from "vitest";
import { resolveShard } from "../../src/study/shard.ts";

describe("resolveShard (--shard auto)", () => {
  it("maps a 0-based engine index to the 1-based i/n the study and build take", () => {
    expect(resolveShard("auto", { env: { JOB_COMPLETION_INDEX: "0", PTQ_ONNX_SHARDS: "50" } })).toBe("1/50");
    expect(resolveShard("auto", { env: { JOB_COMPLETION_INDEX: "49", PTQ_ONNX_SHARDS: "50" } })).toBe("50/50");
    expect(resolveShard("auto", { count: 4, env: { JOB_COMPLETION_INDEX: "3" } })).toBe("4/4");
  });

  it("an index given as an argument (a CI matrix) wins over the environment", () => {
    expect(resolveShard("auto", { index: 1, count: 3, env: { JOB_COMPLETION_INDEX: "0", PTQ_ONNX_SHARDS: "9" } })).toBe("2/3");
  });

  it("passes i/n through and no shard when none is asked for", () => {
    expect(resolveShard("2/5")).toBe("2/5");
    expect(resolveShard(undefined, { env: { JOB_COMPLETION_INDEX: "3" } })).toBeUndefined();
  });

  it("refuses a missing, malformed or out-of-range index or count", () => {
    expect(() => resolveShard("auto", { env: {} })).toThrow(/no shard index/);
    expect(() => resolveShard("auto", { env: { JOB_COMPLETION_INDEX: "1" } })).toThrow(/no shard count \(pass --shards N or set PTQ_ONNX_SHARDS\)/);
    expect(() => resolveShard("auto", { env: { JOB_COMPLETION_INDEX: "x1", PTQ_ONNX_SHARDS: "2" } })).toThrow(/JOB_COMPLETION_INDEX must be a whole number, got 'x1'/);
    expect(() => resolveShard("auto", { env: { JOB_COMPLETION_INDEX: "2", PTQ_ONNX_SHARDS: "2" } })).toThrow(/JOB_COMPLETION_INDEX=2 is out of range for 2 shards \(0 to 1\)/);
    expect(() => resolveShard("auto", { count: 0, index: 0 })).toThrow(/--shards must be at least 1/);
    expect(() => resolveShard("1/2", { count: 2 })).toThrow(/go with --shard auto/);
    expect(() => resolveShard(undefined, { index: 0 })).toThrow(/go with --shard auto/);
    expect(() => resolveShard("0/2")).toThrow(/--shard 0\/2: i must be from 1 to n/);
  });
});
