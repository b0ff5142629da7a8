import { describe, expect, it } from "vitest";
import { kernelBits, packRows, rowBlock } from "../../src/lower/pack.ts";

describe("kernel layouts", () => {
  it("widths: 2, 4 and 8 bits as they are, 3 in 4-bit storage, 5 to 7 in 8-bit", () => {
    expect([2, 3, 4, 5, 6, 7, 8].map(kernelBits)).toEqual([2, 4, 4, 8, 8, 8, 8]);
    expect(() => kernelBits(9)).toThrow(/no integer kernel takes 9-bit codes/);
  });

  it("block length: the least padding, then the longest block, never under 16", () => {
    expect([8, 16, 24, 100, 128, 192, 256, 300].map(rowBlock)).toEqual([16, 16, 32, 16, 128, 64, 256, 16]);
  });

  it("packs signed codes low bits first as unsigned around 2^(bits-1), padding with the zero point", () => {
    // Row 0: -1, 1, -2 at 2 bits -> 1, 3, 0, then the zero point 2 as padding: 0b10_00_11_01.
    expect(Array.from(packRows(1, 3, 4, 2, (_r, k) => [-1, 1, -2][k]))).toEqual([0b10001101]);
    // 4 bits: -8 and 7 -> 0 and 15, element 0 in the low nibble.
    expect(Array.from(packRows(2, 2, 2, 4, (r, k) => (r === 0 ? [-8, 7][k] : [0, -1][k])))).toEqual([0xf0, 0x78]);
    expect(Array.from(packRows(1, 2, 2, 8, (_r, k) => [-128, 127][k]))).toEqual([0, 255]);
    expect(() => packRows(1, 1, 2, 4, () => 8)).toThrow(/does not fit 4 bits/);
  });
});
