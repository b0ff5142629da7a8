/** The two quantized models compared: loading, their quantization metadata, their calibration tables. */
import { existsSync } from "node:fs";
import { readCalibrationTable, serializeCalibrationTable, sha256Bytes, type CalibrationTable } from "../calibrate/table.ts";
import { InputError, type Model } from "../graph/index.ts";
import { NOT_SAME_FLOAT, type QuantizationMeta } from "./report.ts";

/** The model's `ptq-onnx.quantization` metadata; InputError naming the file when absent or malformed. */
export function quantizationMeta(model: Model, file: string): QuantizationMeta {
  const raw = model.metadata.get("ptq-onnx.quantization");
  if (!raw) {
    throw new InputError(
      "has no ptq-onnx.quantization metadata (not written by ptq-onnx quantize), so nothing shows it is a quantization of the same float model as the other; stats compare needs two",
      file,
    );
  }
  let meta: unknown;
  try {
    meta = JSON.parse(raw);
  } catch {
    throw new InputError("metadata ptq-onnx.quantization is not valid JSON", file);
  }
  const m = meta as Partial<QuantizationMeta>;
  if (typeof m !== "object" || m === null || typeof m.float_sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.float_sha256)) {
    throw new InputError("metadata ptq-onnx.quantization has no float_sha256", file);
  }
  return m as QuantizationMeta;
}

/**
 * Checks that A and B were quantized from the same float model (and from `float` when
 * given); throws InputError saying they are not otherwise.
 */
export function checkSameFloat(a: { file: string; meta: QuantizationMeta }, b: { file: string; meta: QuantizationMeta }, float?: { file: string; sha256: string }): void {
  if (a.meta.float_sha256 !== b.meta.float_sha256) {
    throw new InputError(
      `${a.file} and ${b.file} are ${NOT_SAME_FLOAT}: their float_sha256 differ (${a.meta.float_sha256.slice(0, 12)}... vs ${b.meta.float_sha256.slice(0, 12)}...)`,
    );
  }
  if (float && float.sha256 !== a.meta.float_sha256) {
    throw new InputError(
      `${a.file} and ${b.file} are ${NOT_SAME_FLOAT} ${float.file}: they were quantized from float model sha256 ${a.meta.float_sha256.slice(0, 12)}..., ` +
        `but ${float.file} has sha256 ${float.sha256.slice(0, 12)}...`,
    );
  }
}

/** The calibration table beside a model (`X.calib.json` for `X.onnx`), when its hash is the model's. */
export function findTable(file: string, meta: QuantizationMeta, given: string | undefined, notes: string[], which: string): { path: string; table: CalibrationTable } | null {
  const path = given ?? (file.endsWith(".onnx") ? file.slice(0, -5) : file) + ".calib.json";
  if (!given && !existsSync(path)) return null;
  const table = readCalibrationTable(path);
  const hash = sha256Bytes(serializeCalibrationTable(table));
  if (meta.calib_sha256 && hash !== meta.calib_sha256) {
    if (given) throw new InputError(`is not the calibration table ${file} was quantized with (its sha256 ${hash.slice(0, 12)}... is not calib_sha256 ${meta.calib_sha256.slice(0, 12)}...)`, path);
    notes.push(`${path} was not used for ${which}: it is not the table the model was quantized with (sha256 mismatch)`);
    return null;
  }
  return { path, table };
}
