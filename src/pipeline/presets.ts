/**
 * Named recipes: a whole quantization setting under one name (`--recipe study`). A recipe
 * file (`--recipe FILE.json`) has the same fields plus per-layer overrides; see recipe.ts.
 * Every field is optional; a field a recipe leaves out keeps the command's default, and an
 * option given on the command line wins over the recipe.
 */
import { InputError } from "../graph/errors.ts";
import type { GpfqInputs, Override, Rounding, WeightClip } from "../passes/policy.ts";

export interface RecipeSettings {
  /** Weight and activation bits; `wbits`/`abits` override one side. */
  bits?: number;
  wbits?: number;
  abits?: number;
  calib?: string;
  calibSize?: number;
  observer?: string;
  granularity?: "per-channel" | "per-tensor";
  lstmInternals?: boolean;
  packInt4?: boolean;
  rounding?: Rounding;
  actOrder?: boolean;
  dampening?: number;
  gpfqInputs?: GpfqInputs;
  groupSize?: number;
  weightClip?: WeightClip;
  weightSymmetric?: boolean;
  biasCorrection?: boolean;
  gatherPassThrough?: boolean;
  embeddingGptq?: boolean;
  /** Exact embedding equalization before calibration, and its alpha in (0, 1]. */
  equalize?: boolean;
  equalizeAlpha?: number;
  /** Per op type (`LSTM`, `Gemm`, ...) and per node name. */
  byOpType?: Record<string, Override>;
  byNode?: Record<string, Override>;
}

export interface RecipePreset {
  describe: string;
  settings: RecipeSettings;
}

export const RECIPE_PRESETS: Record<string, RecipePreset> = {
  default: { describe: "ptq-onnx's defaults: per-channel weights, rounding to nearest, LSTM as one op", settings: {} },
  study: {
    describe:
      "the study's setting (arXiv 2507.09687, Brevitas): per-tensor symmetric weights, LSTM internals (gates, cell, hidden state) re-quantized every step, GPFQ rounding, weights and activations at the same width (--bits); weight scales clipped for the least squared error, activation ranges from mse-tanh (mse, with the cell state's range fitted after the Tanh that reads it: plain mse spends the cell state's codes on values Tanh flattens and collapses both models at 3 bits; the study's 99.99th percentile collapses the decomposed LSTM at 4 bits, and entropy collapses the generative one)",
    settings: { granularity: "per-tensor", lstmInternals: true, rounding: "gpfq", weightClip: "mse", observer: "mse-tanh" },
  },
  best: {
    describe:
      "what measures best over wordnet8-disc, wordnet8-bilstm and wordnet26-disc at W3A3, W4A4 and W2A8 (scripts/quant/lowbit.ts, README: Low-bit accuracy): per-channel asymmetric weights clipped for the least squared error, GPTQ rounding with act-order on that grid, the embedding's rows GPTQ-rounded against the LSTM's input weight and read by the LSTM as the table's own codes (one scale per row, no second rounding), activation ranges from the 99.9th percentile; LSTM as one op. lower deploys it: asymmetric codes up to 7 bits are stored as q - z (int8, zero point 0) or with MatMulNBits' zero points, bit for bit",
    settings: {
      rounding: "gptq",
      weightClip: "mse",
      observer: "percentile:99.9",
      actOrder: true,
      weightSymmetric: false,
      embeddingGptq: true,
      gatherPassThrough: true,
    },
  },
};

export function presetNames(): string[] {
  return Object.keys(RECIPE_PRESETS);
}

/** The preset of that name; an unknown name is bad input, listing the names there are. */
export function presetByName(name: string): RecipePreset {
  const preset = Object.hasOwn(RECIPE_PRESETS, name) ? RECIPE_PRESETS[name] : undefined;
  if (!preset) throw new InputError(`--recipe: unknown recipe '${name}' (known: ${presetNames().join(", ")})`);
  return preset;
}
