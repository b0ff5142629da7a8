/**
 * The second stage: runs the planned model on calibration rows and records every planned
 * activation (and, for GPTQ/GPFQ and bias correction, the planned layer inputs) into a calibration table. No file I/O.
 */
import { calibrate as calibrateTensors, type Calibration, type CalibrateOptions, type CalibrationData } from "../calibrate/calibrate.ts";
import type { QuantPlan } from "./plan.ts";

export type StageCalibrateOptions = Omit<CalibrateOptions, "gptq" | "means">;

/** One calibration of a plan; its table serves every bit width (rangesFor re-evaluates it). */
export async function calibrate(plan: QuantPlan, data: CalibrationData, opts: StageCalibrateOptions): Promise<Calibration> {
  const calibration = await calibrateTensors(plan.model, plan.activations.map((t) => t.value), data, { ...opts, gptq: plan.gptq, means: plan.means });
  // The ranges are those of the equalized float model: the table says so, so that reusing it
  // (--calib-table) under another equalization is refused rather than read with wrong ranges.
  const alpha = tableEqualization(plan);
  if (alpha !== undefined) calibration.table.options.equalize = alpha;
  return calibration;
}

/** The equalization alpha a plan's calibration ranges depend on: none when nothing was equalized. */
export function tableEqualization(plan: QuantPlan): number | undefined {
  return plan.equalized?.length ? plan.policy.equalizeAlpha : undefined;
}
