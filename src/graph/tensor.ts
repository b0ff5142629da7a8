import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, TensorProto_DataLocation, TensorProto_DataType, type TensorProto } from "onnx-buf";

export { TensorProto_DataType as DataType };

/** Element storage per ONNX type. 4-bit types hold one unpacked value per element; float16 holds raw bits. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

interface TypeInfo {
  name: string;
  /** Bits per element as stored in raw_data. */
  bits: number;
  make: (n: number) => TensorData;
}

const T = TensorProto_DataType;
const TYPES: Partial<Record<number, TypeInfo>> = {
  [T.FLOAT]: { name: "float32", bits: 32, make: (n) => new Float32Array(n) },
  [T.DOUBLE]: { name: "float64", bits: 64, make: (n) => new Float64Array(n) },
  [T.FLOAT16]: { name: "float16", bits: 16, make: (n) => new Uint16Array(n) },
  [T.BFLOAT16]: { name: "bfloat16", bits: 16, make: (n) => new Uint16Array(n) },
  [T.INT8]: { name: "int8", bits: 8, make: (n) => new Int8Array(n) },
  [T.UINT8]: { name: "uint8", bits: 8, make: (n) => new Uint8Array(n) },
  [T.BOOL]: { name: "bool", bits: 8, make: (n) => new Uint8Array(n) },
  [T.INT16]: { name: "int16", bits: 16, make: (n) => new Int16Array(n) },
  [T.UINT16]: { name: "uint16", bits: 16, make: (n) => new Uint16Array(n) },
  [T.INT32]: { name: "int32", bits: 32, make: (n) => new Int32Array(n) },
  [T.UINT32]: { name: "uint32", bits: 32, make: (n) => new Uint32Array(n) },
  [T.INT64]: { name: "int64", bits: 64, make: (n) => new BigInt64Array(n) },
  [T.UINT64]: { name: "uint64", bits: 64, make: (n) => new BigUint64Array(n) },
  [T.INT4]: { name: "int4", bits: 4, make: (n) => new Int8Array(n) },
  [T.UINT4]: { name: "uint4", bits: 4, make: (n) => new Uint8Array(n) },
  [T.FLOAT8E4M3FN]: { name: "float8e4m3fn", bits: 8, make: (n) => new Uint8Array(n) },
  [T.FLOAT8E4M3FNUZ]: { name: "float8e4m3fnuz", bits: 8, make: (n) => new Uint8Array(n) },
  [T.FLOAT8E5M2]: { name: "float8e5m2", bits: 8, make: (n) => new Uint8Array(n) },
  [T.FLOAT8E5M2FNUZ]: { name: "float8e5m2fnuz", bits: 8, make: (n) => new Uint8Array(n) },
};

/** A readable name for an ONNX element type ("float32", "int4", ...). */
export function dataTypeName(dataType: number): string {
  return TYPES[dataType]?.name ?? T[dataType]?.toLowerCase() ?? `type${dataType}`;
}

export function isFloatType(dataType: number): boolean {
  return dataType === T.FLOAT || dataType === T.DOUBLE || dataType === T.FLOAT16 || dataType === T.BFLOAT16;
}

/** Storage bits of the element types the IR does not decode but a model may hold. */
const OTHER_BITS: Partial<Record<number, number>> = {
  [T.COMPLEX64]: 64,
  [T.COMPLEX128]: 128,
  [T.FLOAT4E2M1]: 4,
  [T.FLOAT8E8M0]: 8,
  [T.UINT2]: 2,
  [T.INT2]: 2,
};

/**
 * Why a tensor's stored data cannot be its declared shape, or undefined when it can: the length
 * of raw_data (or of the external data, `externalBytes`), else of the typed field the type
 * lives in, must match the dims exactly. Only lengths are compared, so a shape claiming
 * terabytes costs nothing to refuse.
 */
export function tensorDataProblem(proto: TensorProto, externalBytes?: number): string | undefined {
  const dims = proto.dims.map(Number);
  const shape = `[${dims.join(", ")}]`;
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) return `has an impossible shape ${shape}`;
  const count = numElements(dims);
  if (!Number.isSafeInteger(count)) return `has an impossible shape ${shape} (${count} elements)`;
  const type = dataTypeName(proto.dataType);
  const values = `shape ${shape} holds ${count} ${type} value${count === 1 ? "" : "s"}`;
  const stored = externalBytes ?? (proto.rawData.length > 0 ? proto.rawData.length : undefined);
  const where = externalBytes !== undefined ? "external data" : "raw_data";
  if (proto.dataType === T.STRING) {
    if (stored !== undefined) return `is a string tensor with ${where} (strings live in string_data)`;
    return proto.stringData.length === count ? undefined : `${values} but string_data has ${proto.stringData.length}`;
  }
  const bits = TYPES[proto.dataType]?.bits ?? OTHER_BITS[proto.dataType];
  if (bits === undefined) return `has unknown element type ${proto.dataType}`;
  if (stored !== undefined) {
    const expected = Math.ceil((count * bits) / 8);
    return stored === expected ? undefined : `${values} (${expected} bytes) but has ${stored} bytes of ${where}`;
  }
  const [field, entries, expected] = typedField(proto, count, bits);
  if (entries === expected) return undefined;
  return entries === 0 ? `${values} but has no data` : `${values} (${expected} entries of ${field}) but ${field} has ${entries}`;
}

/** The repeated field a type's values live in without raw_data, its length, and the length the count needs. */
function typedField(proto: TensorProto, count: number, bits: number): [string, number, number] {
  switch (proto.dataType) {
    case T.FLOAT:
    case T.COMPLEX64:
      return ["float_data", proto.floatData.length, count * (bits / 32)];
    case T.DOUBLE:
    case T.COMPLEX128:
      return ["double_data", proto.doubleData.length, count * (bits / 64)];
    case T.INT64:
      return ["int64_data", proto.int64Data.length, count];
    case T.UINT32:
    case T.UINT64:
      return ["uint64_data", proto.uint64Data.length, count];
    default:
      // Sub-byte types pack into int32_data one byte per entry (two 4-bit or four 2-bit values).
      return ["int32_data", proto.int32Data.length, bits < 8 ? Math.ceil((count * bits) / 8) : count];
  }
}

/** Bytes that `count` elements of the type occupy in raw_data (4-bit types pack two per byte). */
export function storageBytes(dataType: number, count: number): number {
  const info = TYPES[dataType];
  if (!info) return 0;
  return Math.ceil((count * info.bits) / 8);
}

export function numElements(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Where an external tensor's bytes are; the loader fills `data` from it. */
export interface ExternalRef {
  location: string;
  offset: number;
  length?: number;
}

export function externalRef(proto: TensorProto): ExternalRef | undefined {
  if (proto.dataLocation !== TensorProto_DataLocation.EXTERNAL) return undefined;
  const entries = new Map(proto.externalData.map((e) => [e.key, e.value]));
  const location = entries.get("location");
  if (!location) return undefined;
  const length = entries.get("length");
  return { location, offset: Number(entries.get("offset") ?? 0), length: length === undefined ? undefined : Number(length) };
}

/**
 * An initializer (or Constant value). Until its data is replaced it serialises to the exact
 * TensorProto it was read from, so untouched tensors keep every byte.
 */
export class Tensor {
  name: string;
  readonly dataType: number;
  readonly dims: number[];
  private original?: TensorProto;
  private decoded?: TensorData;
  private externalBytes?: Uint8Array;

  private constructor(name: string, dataType: number, dims: number[]) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims;
  }

  static fromProto(proto: TensorProto, externalBytes?: Uint8Array): Tensor {
    const t = new Tensor(proto.name, proto.dataType, proto.dims.map(Number));
    t.original = proto;
    t.externalBytes = externalBytes;
    return t;
  }

  static fromData(name: string, dataType: number, dims: number[], data: TensorData): Tensor {
    if (!TYPES[dataType]) throw new Error(`tensor ${name}: unsupported element type ${dataTypeName(dataType)}`);
    if (data.length !== numElements(dims)) {
      throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(", ")}]`);
    }
    const t = new Tensor(name, dataType, [...dims]);
    t.decoded = data;
    return t;
  }

  static float32(name: string, dims: number[], values: ArrayLike<number>): Tensor {
    return Tensor.fromData(name, T.FLOAT, dims, Float32Array.from(values));
  }

  static int64(name: string, dims: number[], values: ArrayLike<number | bigint>): Tensor {
    return Tensor.fromData(name, T.INT64, dims, BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
  }

  get size(): number {
    return numElements(this.dims);
  }

  /** True when this tensor will be written from new data rather than its original proto. */
  get modified(): boolean {
    return this.original === undefined;
  }

  get data(): TensorData {
    this.decoded ??= decodeTensorData(this.original!, this.externalBytes);
    return this.decoded;
  }

  /** Values as plain numbers (float16 decoded, int64 converted), for math and reports. */
  toNumbers(): Float64Array {
    const d = this.data;
    const out = new Float64Array(d.length);
    if (this.dataType === T.FLOAT16) for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i] as number);
    else if (d instanceof BigInt64Array || d instanceof BigUint64Array) for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    else for (let i = 0; i < d.length; i++) out[i] = d[i] as number;
    return out;
  }

  toProto(): TensorProto {
    if (this.original && !this.externalBytes) {
      this.original.name = this.name;
      return this.original;
    }
    const proto = create(TensorProtoSchema, {
      name: this.name,
      dataType: this.dataType,
      dims: this.dims.map((d) => BigInt(d)),
      rawData: encodeRawData(this.dataType, this.data),
    });
    if (this.original) {
      proto.docString = this.original.docString;
      proto.metadataProps = this.original.metadataProps;
    }
    return proto;
  }
}

function typeInfo(dataType: number): TypeInfo {
  const info = TYPES[dataType];
  if (!info) throw new Error(`unsupported tensor element type ${dataTypeName(dataType)}`);
  return info;
}

/** Decodes raw_data, the typed repeated fields or external bytes into a typed array. */
export function decodeTensorData(proto: TensorProto, externalBytes?: Uint8Array): TensorData {
  const info = typeInfo(proto.dataType);
  const count = numElements(proto.dims.map(Number));
  const out = info.make(count);
  const raw = externalBytes ?? (proto.rawData.length > 0 ? proto.rawData : undefined);
  if (raw) {
    const expected = storageBytes(proto.dataType, count);
    if (raw.length !== expected) {
      throw new Error(`tensor ${proto.name}: ${raw.length} data bytes for ${count} ${info.name} values (expected ${expected})`);
    }
    // raw_data may sit at an unaligned offset inside the decoded buffer: copy before viewing.
    const bytes = new Uint8Array(raw);
    if (info.bits === 4) unpack4(bytes, out as Int8Array | Uint8Array, proto.dataType === T.INT4);
    else new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  switch (proto.dataType) {
    case T.FLOAT:
      (out as Float32Array).set(proto.floatData);
      break;
    case T.DOUBLE:
      (out as Float64Array).set(proto.doubleData);
      break;
    case T.INT64:
      (out as BigInt64Array).set(proto.int64Data);
      break;
    case T.UINT32:
      for (let i = 0; i < count; i++) (out as Uint32Array)[i] = Number(proto.uint64Data[i]);
      break;
    case T.UINT64:
      (out as BigUint64Array).set(proto.uint64Data);
      break;
    case T.INT4:
    case T.UINT4:
      // int32_data holds one packed byte per entry for 4-bit types.
      unpack4(Uint8Array.from(proto.int32Data), out as Int8Array | Uint8Array, proto.dataType === T.INT4);
      break;
    default:
      // int8, uint8, bool, int16, uint16, int32, float16 and float8 bit patterns live in int32_data.
      for (let i = 0; i < count; i++) (out as Int32Array)[i] = proto.int32Data[i] ?? 0;
  }
  if (count > 0 && proto.floatData.length + proto.doubleData.length + proto.int32Data.length + proto.int64Data.length + proto.uint64Data.length === 0) {
    throw new Error(`tensor ${proto.name}: has ${count} elements but no data`);
  }
  return out;
}

export function encodeRawData(dataType: number, data: TensorData): Uint8Array<ArrayBuffer> {
  const info = typeInfo(dataType);
  if (info.bits === 4) return pack4(data as Int8Array | Uint8Array);
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(view);
}

/** Packs 4-bit values two per byte as onnxruntime expects: element 2k in the low nibble. */
export function pack4(values: Int8Array | Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const nibble = values[i] & 0x0f;
    out[i >> 1] |= i & 1 ? nibble << 4 : nibble;
  }
  return out;
}

export function unpack4(bytes: Uint8Array, out: Int8Array | Uint8Array, signed: boolean): void {
  for (let i = 0; i < out.length; i++) {
    const nibble = i & 1 ? bytes[i >> 1] >> 4 : bytes[i >> 1] & 0x0f;
    out[i] = signed && nibble >= 8 ? nibble - 16 : nibble;
  }
}

export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
