/**
 * The second stage: runs the planned model on calibration rows and records every planned
 * activation (and, for GPTQ/GPFQ and bias correction, the planned layer inputs) into a calibration table. No file I/O.
 */
import { calibrate as calibrateTensors, type Calibration, type CalibrateOptions, type CalibrationData } from "../calibrate/calibrate.ts";
import type { QuantPlan } from "./plan.ts";

export type StageCalibrateOptions = Omit<CalibrateOptions, "gptq" | "means">;

/** One calibration of a plan; its table serves every bit width (rangesFor re-evaluates it). */
export function calibrate(plan: QuantPlan, data: CalibrationData, opts: StageCalibrateOptions): Promise<Calibration> {
  return calibrateTensors(plan.model, plan.activations.map((t) => t.value), data, { ...opts, gptq: plan.gptq, means: plan.means });
}
