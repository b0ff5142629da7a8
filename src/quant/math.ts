/**
 * The quantization math of ptq-onnx, in one place: integer ranges, scales and zero points,
 * ONNX's rounding, (fake-)quantization, per-tensor and per-channel. Every pass, observer and
 * report uses these functions so that they agree with each other and with onnxruntime.
 * Imports nothing of ours but qdq.ts (the one tensor dequantize and its scale indexing).
 */

import { dequantize as dequantizeCodes, paramIndexer } from "./qdq.ts";

/** How values are stored: bit width, signedness and narrow range (symmetric about zero). */
export interface IntFormat {
  bits: number;
  signed: boolean;
  /** Drop the most negative code (-128 for int8) so that the signed grid is symmetric. */
  narrow: boolean;
}

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

export const MIN_BITS = 2;
export const MAX_BITS = 8;

export function checkBits(bits: number, what = "bits"): void {
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new RangeError(`${what} must be an integer from ${MIN_BITS} to ${MAX_BITS}, got ${bits}`);
  }
}

/** The integer codes a format can hold. */
export function intRange(f: IntFormat): { qmin: number; qmax: number } {
  checkBits(f.bits);
  if (f.signed) {
    const half = 2 ** (f.bits - 1);
    return { qmin: f.narrow ? -half + 1 : -half, qmax: half - 1 };
  }
  return { qmin: 0, qmax: 2 ** f.bits - (f.narrow ? 2 : 1) };
}

/** Round half to even, as ONNX QuantizeLinear rounds. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends .5 up; step back to the even neighbour on exact ties.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Scale and zero point that map [min, max] onto the format's codes. The range is widened
 * to contain 0 so that zero (padding, ReLU outputs) is exactly representable.
 * Symmetric: zero point 0 (signed) or the middle code (unsigned); asymmetric: the range's
 * ends map to the ends of the code range.
 */
export function paramsFromRange(min: number, max: number, f: IntFormat, symmetric: boolean): QuantParams {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new RangeError(`invalid range [${min}, ${max}]`);
  }
  const { qmin, qmax } = intRange(f);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (symmetric) {
    const absMax = Math.max(-lo, hi);
    const halfSteps = (qmax - qmin) / 2;
    const scale = absMax > 0 ? Math.fround(absMax / Math.floor(halfSteps)) : 1;
    const zeroPoint = f.signed ? 0 : Math.ceil((qmin + qmax) / 2);
    return { scale, zeroPoint };
  }
  const scale = hi > lo ? Math.fround((hi - lo) / (qmax - qmin)) : 1;
  const zeroPoint = clamp(roundHalfEven(qmin - lo / scale), qmin, qmax);
  return { scale, zeroPoint };
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** The integer code of x, computed as onnxruntime does (float32 division, half-to-even, saturate). */
export function quantize(x: number, p: QuantParams, f: IntFormat): number {
  const { qmin, qmax } = intRange(f);
  return clamp(roundHalfEven(Math.fround(Math.fround(x) / p.scale)) + p.zeroPoint, qmin, qmax);
}

export function dequantize(q: number, p: QuantParams): number {
  return Math.fround((q - p.zeroPoint) * p.scale);
}

/** Quantize then dequantize: the value a Q/DQ pair hands on. */
export function fakeQuantize(x: number, p: QuantParams, f: IntFormat): number {
  return dequantize(quantize(x, p, f), p);
}

/**
 * A float tensor quantized along one axis (per channel) or as a whole (axis null). With
 * `blockSize`, the scales are blocked as ONNX DequantizeLinear (opset 21) reads them: shaped
 * like the tensor but with dims[axis] / blockSize along `axis`, element i along the axis
 * using block floor(i / blockSize).
 */
export interface QuantizedTensor {
  codes: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
  axis: number | null;
  blockSize?: number;
}

/**
 * Per-channel min and max of `data` (row-major, shape `dims`) along `axis`, or of the whole
 * tensor when axis is null.
 */
export function channelRanges(data: ArrayLike<number>, dims: readonly number[], axis: number | null): { min: Float64Array; max: Float64Array } {
  const channels = axis === null ? 1 : dims[axis];
  const inner = axis === null ? 1 : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const c = axis === null ? 0 : Math.floor(i / inner) % channels;
    const v = data[i];
    if (v < min[c]) min[c] = v;
    if (v > max[c]) max[c] = v;
  }
  return { min, max };
}

/**
 * How a weight's scale is chosen: `max` maps the channel's (block's) own min/max onto the
 * codes; `mse` shrinks that range by the factor (from 1 down to 0.2 in steps of 0.01) with the
 * least squared rounding error over the channel's values. Clipping a few large weights buys a
 * finer grid for the rest, which matters most at 2 and 3 bits (2-bit narrow codes are -1, 0, 1).
 */
export type ScaleChoice = "max" | "mse";

const CLIP_STEPS = 81;

/** Scales and zero points per parameter slot (`at(i)` of element i), from min/max or the MSE search. */
function chooseParams(
  data: ArrayLike<number>,
  at: (i: number) => number,
  count: number,
  f: IntFormat,
  symmetric: boolean,
  choice: ScaleChoice,
): { scales: Float32Array; zeroPoints: Int32Array } {
  const min = new Float64Array(count).fill(Infinity);
  const max = new Float64Array(count).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const c = at(i);
    if (data[i] < min[c]) min[c] = data[i];
    if (data[i] > max[c]) max[c] = data[i];
  }
  const scales = new Float32Array(count);
  const zeroPoints = new Int32Array(count);
  const fill = (factor: ArrayLike<number>) => {
    for (let c = 0; c < count; c++) {
      const p = paramsFromRange(min[c] * factor[c], max[c] * factor[c], f, symmetric);
      scales[c] = p.scale;
      zeroPoints[c] = p.zeroPoint;
    }
  };
  if (choice === "max") {
    fill(new Float64Array(count).fill(1));
    return { scales, zeroPoints };
  }
  const { qmin, qmax } = intRange(f);
  const best = new Float64Array(count).fill(Infinity);
  const bestFactor = new Float64Array(count).fill(1);
  const err = new Float64Array(count);
  const factor = new Float64Array(count);
  for (let k = 0; k < CLIP_STEPS; k++) {
    factor.fill(1 - k * 0.01);
    fill(factor);
    err.fill(0);
    for (let i = 0; i < data.length; i++) {
      const c = at(i);
      const s = scales[c];
      const z = zeroPoints[c];
      const q = clamp(Math.round(data[i] / s) + z, qmin, qmax);
      const d = data[i] - (q - z) * s;
      err[c] += d * d;
    }
    for (let c = 0; c < count; c++) {
      // Strictly less: ties keep the wider range (the first tried).
      if (err[c] < best[c]) {
        best[c] = err[c];
        bestFactor[c] = factor[c];
      }
    }
  }
  fill(bestFactor);
  return { scales, zeroPoints };
}

/** Round-to-nearest quantization of a weight tensor, scales from its own min/max (or their MSE clipping). */
export function quantizeTensor(
  data: ArrayLike<number>,
  dims: readonly number[],
  axis: number | null,
  f: IntFormat,
  symmetric: boolean,
  choice: ScaleChoice = "max",
): QuantizedTensor {
  if (axis !== null && (axis < 0 || axis >= dims.length)) {
    throw new RangeError(`per-channel axis ${axis} is outside a tensor of rank ${dims.length}`);
  }
  const channels = axis === null ? 1 : dims[axis];
  const inner = axis === null ? 1 : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = axis === null ? () => 0 : (i: number) => Math.floor(i / inner) % channels;
  const { scales, zeroPoints } = chooseParams(data, channelOf, channels, f, symmetric, choice);
  const codes = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const c = channelOf(i);
    codes[i] = quantize(data[i], { scale: scales[c], zeroPoint: zeroPoints[c] }, f);
  }
  return { codes, scales, zeroPoints, axis };
}

/** The float values a QuantizedTensor stands for (qdq.ts's dequantize, which reads blocks too). */
export function dequantizeTensor(t: QuantizedTensor, dims: readonly number[]): Float32Array {
  return dequantizeCodes({ ...t, dims: [...dims], blockSize: t.blockSize ?? null });
}

/** Group sizes `--group-size` accepts. */
export const GROUP_SIZES: readonly number[] = [32, 64, 128];

/**
 * The shape of blocked scales for a tensor quantized in blocks of `blockSize` along `axis`.
 * Refuses a block that does not divide the axis or is wider than it, so that every block
 * is whole (ONNX would allow a short last block; ptq-onnx does not make one).
 */
export function blockedScaleDims(dims: readonly number[], axis: number, blockSize: number): number[] {
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) throw new RangeError(`block axis ${axis} is outside a tensor of rank ${dims.length}`);
  const blocks = groupCount(dims[axis], blockSize);
  return dims.map((d, i) => (i === axis ? blocks : d));
}

/** The number of groups of `groupSize` in a width; refuses sizes that do not divide it or exceed it. */
export function groupCount(width: number, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`group size must be a positive integer, got ${groupSize}`);
  if (groupSize > width) throw new RangeError(`group size ${groupSize} exceeds the input width ${width}`);
  if (width % groupSize !== 0) throw new RangeError(`group size ${groupSize} does not divide the input width ${width}`);
  return width / groupSize;
}


/**
 * Round-to-nearest quantization with one scale per block of `blockSize` consecutive
 * elements along `axis` (the input axis of a weight: group-wise scales), each block from its
 * own min/max. The result's scales are laid out as `blockedScaleDims` says.
 */
export function quantizeTensorBlocked(
  data: ArrayLike<number>,
  dims: readonly number[],
  axis: number,
  blockSize: number,
  f: IntFormat,
  symmetric: boolean,
  choice: ScaleChoice = "max",
): QuantizedTensor {
  const scaleDims = blockedScaleDims(dims, axis, blockSize);
  const count = scaleDims.reduce((a, b) => a * b, 1);
  const at = paramIndexer({ dims: [...dims], axis, blockSize, scales: new Float32Array(count) });
  const { scales, zeroPoints } = chooseParams(data, at, count, f, symmetric, choice);
  const codes = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) codes[i] = quantize(data[i], { scale: scales[at(i)], zeroPoint: zeroPoints[at(i)] }, f);
  return { codes, scales, zeroPoints, axis, blockSize };
}
