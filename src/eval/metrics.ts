/**
 * Classification metrics: pure functions over arrays of class indices.
 *
 * `labels` are the true classes and `predictions` the predicted ones, both integers in
 * [0, classes). Precision, recall and F1 of a class with no support or no predictions are 0
 * (scikit-learn's `zero_division=0`); macro-F1 is the unweighted mean over all classes.
 */

export interface ClassMetrics {
  /** Class index. */
  label: number;
  precision: number;
  recall: number;
  f1: number;
  /** Number of rows whose true class is this one. */
  support: number;
}

export interface Metrics {
  n: number;
  accuracy: number;
  macro_f1: number;
  per_class: ClassMetrics[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

type IntArray = ArrayLike<number>;

function checkPair(labels: IntArray, predictions: IntArray): void {
  if (labels.length !== predictions.length) {
    throw new Error(`labels (${labels.length}) and predictions (${predictions.length}) differ in length`);
  }
}

function inferClasses(labels: IntArray, predictions: IntArray): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) max = Math.max(max, labels[i], predictions[i]);
  return max + 1;
}

/** Fraction of rows whose prediction equals the label (0 for no rows). */
export function accuracy(labels: IntArray, predictions: IntArray): number {
  checkPair(labels, predictions);
  if (labels.length === 0) return 0;
  let hit = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predictions[i]) hit++;
  return hit / labels.length;
}

/**
 * confusion[t][p] = number of rows with label t predicted as p. `classes` defaults to one more
 * than the largest index seen.
 */
export function confusionMatrix(labels: IntArray, predictions: IntArray, classes?: number): number[][] {
  checkPair(labels, predictions);
  const k = classes ?? inferClasses(labels, predictions);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (!Number.isInteger(t) || t < 0 || t >= k) throw new Error(`label ${t} at row ${i} is not a class in [0, ${k})`);
    if (!Number.isInteger(p) || p < 0 || p >= k) throw new Error(`prediction ${p} at row ${i} is not a class in [0, ${k})`);
    m[t][p]++;
  }
  return m;
}

/** Per-class precision, recall, F1 and support from a confusion matrix. */
export function perClassFromConfusion(confusion: number[][]): ClassMetrics[] {
  const k = confusion.length;
  const out: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c][j];
      predicted += confusion[j][c];
    }
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    out.push({ label: c, precision, recall, f1, support });
  }
  return out;
}

/** Unweighted mean of the per-class F1 scores. */
export function macroF1(labels: IntArray, predictions: IntArray, classes?: number): number {
  const per = perClassFromConfusion(confusionMatrix(labels, predictions, classes));
  return per.length === 0 ? 0 : per.reduce((s, c) => s + c.f1, 0) / per.length;
}

/** All of the above in the shape of the contract's `eval --json`. */
export function classificationReport(labels: IntArray, predictions: IntArray, classes?: number): Metrics {
  const confusion = confusionMatrix(labels, predictions, classes);
  const per_class = perClassFromConfusion(confusion);
  const macro_f1 = per_class.length === 0 ? 0 : per_class.reduce((s, c) => s + c.f1, 0) / per_class.length;
  return { n: labels.length, accuracy: accuracy(labels, predictions), macro_f1, per_class, confusion };
}

/** Index of the largest value (the first one on ties); -1 for an empty row. NaN never wins. */
export function argmax(row: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (best < 0 && !Number.isNaN(v)) {
      best = i;
      bestValue = v;
    } else if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}
