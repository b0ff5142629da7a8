/**
 * The `ptq-onnx.quantization` metadata of a quantized model: what it holds and how quantize
 * writes it. Here, below compare and study, so that the writer, the replace check and the
 * readers share one definition.
 */
import { serializeCalibrationTable, sha256Bytes, type CalibrationTable } from "../calibrate/table.ts";
import { roundingSpec, type Override, type QuantPolicy } from "../passes/index.ts";
import { overridesStamp } from "./recipe.ts";

/** The `ptq-onnx.quantization` metadata quantize writes. */
export interface QuantizationMeta {
  float_sha256: string;
  wbits: number;
  abits: number;
  granularity: "per-channel" | "per-tensor";
  lstm_internals: boolean;
  pack_int4: boolean;
  calib: string;
  calib_size: number;
  seed: number;
  observer: string;
  calib_sha256: string;
  /** The recipe (preset name or file) the settings came from, when one was given. */
  recipe?: string;
  /** With `--equalize`: its alpha (the float model was equalized before calibration). */
  equalize?: number;
  /** Per-layer bits (policy byOpType / byNode), when any. */
  overrides?: { by_op_type: Record<string, Override>; by_node: Record<string, Override> };
}

/** The `ptq-onnx.quantization` metadata: how the model was made, and from which float model and table. */
export function quantizationStamp(policy: QuantPolicy, table: CalibrationTable, floatSha256: string, observer: string, recipe?: string): string {
  const overrides = overridesStamp(policy);
  return JSON.stringify({
    float_sha256: floatSha256,
    wbits: policy.wbits,
    abits: policy.abits,
    granularity: policy.granularity,
    lstm_internals: policy.lstmInternals,
    pack_int4: policy.packInt4,
    calib: table.options.mode,
    calib_size: table.options.size,
    seed: table.options.seed,
    observer,
    rounding: roundingSpec(policy),
    ...(policy.groupSize !== undefined ? { group_size: policy.groupSize } : {}),
    // Defaults add nothing, so files made before these options keep their bytes.
    ...(policy.weightClip !== "max" ? { weight_clip: policy.weightClip } : {}),
    ...(policy.biasCorrection ? { bias_correction: true } : {}),
    ...(!policy.weightSymmetric ? { weight_symmetric: false } : {}),
    ...(policy.gatherPassThrough ? { gather_pass_through: true } : {}),
    ...(policy.embeddingGptq ? { embedding_gptq: true } : {}),
    ...(policy.equalize ? { equalize: policy.equalizeAlpha } : {}),
    ...(recipe !== undefined ? { recipe } : {}),
    ...(overrides ? { overrides } : {}),
    calib_sha256: sha256Bytes(serializeCalibrationTable(table)),
  });
}
