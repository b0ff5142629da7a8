/**
 * Integer layouts of onnxruntime's contrib kernels, from the codes the Q/DQ reader returns.
 * MatMulNBits and GatherBlockQuantized read unsigned codes packed low bits first along the
 * reduced (or row) axis, with the implicit zero point 2^(bits-1), in blocks of a power of two
 * of at least 16 elements: a signed code c on an n-bit grid is stored as c + 2^(bits-1), and
 * one block spanning the whole row carries the per-channel scale, so the weights the kernel
 * dequantizes are bit-for-bit those of the Q/DQ model.
 */

/** The widths MatMulNBits and GatherBlockQuantized take on onnxruntime 1.30's CPU (3, 5, 6 and 7 are refused). */
export const KERNEL_BITS = [2, 4, 8] as const;

/** The narrowest kernel width holding codes of `bits` bits (3 -> 4, 5..7 -> 8). */
export function kernelBits(bits: number): 2 | 4 | 8 {
  const k = KERNEL_BITS.find((b) => b >= bits);
  if (k === undefined) throw new RangeError(`no integer kernel takes ${bits}-bit codes`);
  return k;
}

/**
 * The block length for rows of `length` elements (the kernels take powers of two of at least
 * 16): the one that pads a row least, the longest among those. Every block of a row carries
 * the row's scale, so the choice changes size and speed, never values. K = 192 takes three
 * blocks of 64 (no padding), K = 24 one block of 32 (8 codes of padding, holding the zero
 * point, which add nothing).
 */
export function rowBlock(length: number): number {
  let best = 16;
  for (let b = 16; b <= Math.max(16, 2 ** Math.ceil(Math.log2(Math.max(1, length)))); b *= 2) {
    if (Math.ceil(length / b) * b <= Math.ceil(length / best) * best) best = b;
  }
  return best;
}

/**
 * Packs rows of signed codes (`rows` x `length`, read through `at(row, k)`) as unsigned
 * `bits`-bit values, low bits first, each row padded with the zero point to `padded` elements.
 */
export function packRows(rows: number, length: number, padded: number, bits: 2 | 4 | 8, at: (row: number, k: number) => number): Uint8Array<ArrayBuffer> {
  const half = 2 ** (bits - 1);
  if ((padded * bits) % 8 !== 0 || padded < length) throw new RangeError(`rows of ${padded} ${bits}-bit codes do not fill whole bytes`);
  const rowBytes = (padded * bits) / 8;
  const out = new Uint8Array(rows * rowBytes);
  const perByte = 8 / bits;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < padded; k++) {
      const u = k < length ? at(r, k) + half : half;
      if (u < 0 || u >= 2 * half) throw new RangeError(`code ${u - half} does not fit ${bits} bits`);
      out[r * rowBytes + Math.floor(k / perByte)] |= u << ((k % perByte) * bits);
    }
  }
  return out;
}
