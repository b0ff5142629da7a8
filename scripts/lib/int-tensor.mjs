// Shared by the plain-JavaScript workers (bench, and arm64 parity, which runs under qemu
// without tsx): an integer onnxruntime tensor from a flat list of ids or lengths.
export function intTensor(ort, type, values, dims) {
  if (type === "int32") return new ort.Tensor("int32", Int32Array.from(values), dims);
  const a = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
  return new ort.Tensor("int64", a, dims);
}
