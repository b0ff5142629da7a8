/**
 * Calibration: streaming activation observers (minmax, percentile, MSE, entropy, Brevitas'
 * batch percentile), per-tensor and per-class statistics, seeded calibration-set selection
 * by class mix, and the versioned calibration table that stores it all for reuse at any
 * bit width. Pure modules: the onnxruntime runner that feeds them lives elsewhere.
 */
export { GrowingHistogram } from "./histogram.ts";
export type { HistogramBins, HistogramJSON } from "./histogram.ts";
export { DEFAULT_HISTOGRAM_BINS, OBSERVER_NAMES, histogramMse, klThresholdBins, parseObserver, selectQuantile } from "./observers.ts";
export type {
  BatchPercentileState,
  HistogramState,
  MinMaxState,
  Observer,
  ObserverFactory,
  ObserverKind,
  ObserverOptions,
  ObserverState,
} from "./observers.ts";
export { Accumulator, DEFAULT_STATS_BINS, TensorStats } from "./stats.ts";
export type { StatsJSON, TensorStatsJSON } from "./stats.ts";
export { CALIB_MODES, largestRemainder, parseCalibMode, selectCalibrationRows, targetCounts } from "./select.ts";
export type { CalibMode, CalibrationSelection, Shortfall } from "./select.ts";
export {
  TABLE_FORMAT,
  TABLE_VERSION,
  makeCalibrationTable,
  rangesFor,
  readCalibrationTable,
  serializeCalibrationTable,
  sha256Bytes,
  sha256File,
  tensorEntry,
  validateCalibrationTable,
  writeCalibrationTable,
} from "./table.ts";
export type { CalibrationTable, TensorEntry } from "./table.ts";
export { Mulberry32 } from "../data/random.ts";
