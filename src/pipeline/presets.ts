/**
 * Named recipes: a whole quantization setting under one name (`--recipe study`). A recipe
 * file (`--recipe FILE.json`) has the same fields plus per-layer overrides; see recipe.ts.
 * Every field is optional; a field a recipe leaves out keeps the command's default, and an
 * option given on the command line wins over the recipe.
 */
import type { Override, Rounding } from "../passes/policy.ts";

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
  groupSize?: number;
  biasCorrection?: boolean;
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
};

export function presetNames(): string[] {
  return Object.keys(RECIPE_PRESETS);
}
