import type { Argv, CommandModule } from "yargs";
import { compareModels, type CompareReport, type Outcome } from "../../compare/compare.ts";
import { EFFECT_SIZE, TEST_NAMES, testFromFiles, type TestName } from "../../compare/samples.ts";
import type { TestResult } from "../../stats/types.ts";
import { integerArg, intOption } from "../options.ts";
import { printJson, table } from "../output.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";

interface TestArgs {
  test: string;
  a: string;
  b?: string;
  json: boolean;
}

interface CompareArgs {
  a: string;
  b: string;
  float?: string;
  data?: string;
  tokenizer?: string;
  "calib-a"?: string;
  "calib-b"?: string;
  predictions: boolean;
  rows?: number;
  batch?: number;
  threads?: number;
  seed?: number;
  resamples?: number;
  "max-sample"?: number;
  top?: number;
  progress?: string;
  json: boolean;
}

/** A number for reports: p-values in scientific form when small, others to 4 significant digits. */
export function fmt(x: number | null | undefined, p = false): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (!Number.isFinite(x)) return String(x);
  // A p-value of exactly 0 lies below the smallest double: its tail underflowed.
  if (p) return x === 0 ? "<1e-300" : x < 1e-3 ? x.toExponential(2) : x.toFixed(4);
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(3) : Number(x.toPrecision(4)).toString();
}

function testText(r: TestResult, name: TestName): string {
  return [
    `${r.test}: statistic ${r.statistic}, p = ${r.p_value} (two-sided, ${r.method})`,
    `effect size ${r.effect_size} (${EFFECT_SIZE[name]})`,
    `n_a ${r.n_a}, n_b ${r.n_b}`,
  ].join("\n");
}

const testCommand: CommandModule<object, TestArgs> = {
  command: "test",
  describe: "One test on two samples given as JSON arrays in files (scipy.stats 1.10 defaults)",
  builder: (y) =>
    y
      .option("test", { type: "string", demandOption: true, describe: `${TEST_NAMES.join(" | ")}` })
      .option("a", { type: "string", demandOption: true, describe: "JSON array: first sample (McNemar: correctness of model A, booleans or 0/1)" })
      .option("b", { type: "string", describe: "JSON array: second sample (optional for wilcoxon: then --a holds the differences)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<TestArgs>,
  handler: (args) => {
    const r = testFromFiles(args.test, args.a, args.b);
    if (args.json) printJson({ ...r, effect_size_definition: EFFECT_SIZE[args.test as TestName], a: args.a, b: args.b ?? null });
    else process.stdout.write(testText(r, args.test as TestName) + "\n");
  },
};

function outcomeCells(o: Outcome): string[] {
  if (o.skipped !== undefined) return ["-", "-", "-"];
  return [fmt(o.statistic), fmt(o.p_value, true), fmt(o.p_holm, true)];
}

function printCompare(r: CompareReport): void {
  const L: string[] = [];
  const q = (m: CompareReport["a"]) => `w${m.quantization.wbits}a${m.quantization.abits} ${m.quantization.granularity}${m.quantization.lstm_internals ? " +lstm-internals" : ""}, calib ${m.quantization.calib} (${m.quantization.calib_size}, ${m.quantization.observer})`;
  L.push(`A: ${r.a.file}: ${q(r.a)}`);
  L.push(`B: ${r.b.file}: ${q(r.b)}`);
  L.push(`float model: ${r.float ? r.float.file : "(not given)"}, sha256 ${r.float_sha256.slice(0, 16)}...`);

  L.push("", `weights (${r.weights.layers.length} quantized layers in both; error tests: ${r.weights.error_tests})`);
  if (r.weights.layers.length) {
    L.push(
      table([
        ["layer", "elements", "changed", "rmse A", "rmse B", "MWU U", "p", "p_holm", "KS D", "p", "p_holm", "scales W", "p", "p_holm"],
        ...r.weights.layers.map((l) => [
          l.name,
          l.elements,
          fmt(l.changed_fraction),
          fmt(l.error_a?.rms),
          fmt(l.error_b?.rms),
          ...outcomeCells(l.tests.error_mann_whitney),
          ...outcomeCells(l.tests.error_ks),
          ...outcomeCells(l.tests.scales_wilcoxon),
        ]),
      ]),
    );
    const differing = r.weights.most_different.filter((m) => m.effect > 0 || m.changed_fraction > 0);
    L.push(
      differing.length
        ? `differ most: ${differing.map((m) => `${m.name} (effect ${fmt(m.effect)}, ${fmt(m.changed_fraction)} of values changed)`).join(", ")}`
        : "differ most: none; A and B hold the same quantized weights",
    );
    const skippedScales = [...new Set(r.weights.layers.map((l) => l.tests.scales_wilcoxon.skipped).filter(Boolean))];
    if (skippedScales.length) L.push(`scales test not run: ${skippedScales.join("; ")}`);
  }
  if (r.weights.only_in_a.length || r.weights.only_in_b.length) L.push(`quantized only in A: ${r.weights.only_in_a.join(", ") || "-"}; only in B: ${r.weights.only_in_b.join(", ") || "-"}`);

  const act = r.activations;
  L.push("", `activation ranges (${act.tensors.length} quantized activations in both; B wider in ${act.wider_in_b}, narrower in ${act.narrower_in_b})`);
  if (act.tensors.length) {
    L.push(
      table([
        ["activation", "bits", "range A", "range B", "log2 scale B/A"],
        ...act.tensors.map((t) => [t.name, t.a.bits === t.b.bits ? t.a.bits : `${t.a.bits}/${t.b.bits}`, `[${fmt(t.a.range[0])}, ${fmt(t.a.range[1])}]`, `[${fmt(t.b.range[0])}, ${fmt(t.b.range[1])}]`, fmt(t.log2_scale_ratio)]),
      ]),
    );
  }
  const w = act.scales_wilcoxon;
  L.push(w.skipped !== undefined ? `paired scales test: not run (${w.skipped})` : `paired scales, Wilcoxon signed-rank across tensors: W ${fmt(w.statistic)}, p ${fmt(w.p_value, true)}, rank-biserial ${fmt(w.effect_size)} (positive: B's ranges wider)`);

  const pr = r.profiles;
  L.push("", `activation profiles: ${pr.status}`);
  if (pr.tensors.length) {
    L.push(`calibration sets: A ${pr.mode_a} per class [${pr.composition_a}], B ${pr.mode_b} per class [${pr.composition_b}]`);
    L.push(
      table([
        ["tensor", "mean A", "std A", "mean B", "std B", "min B-A", "max B-A", "KS dist", "W1"],
        ...pr.tensors.map((t) => [t.name, fmt(t.a.mean), fmt(t.a.std), fmt(t.b.mean), fmt(t.b.std), fmt(t.min_diff), fmt(t.max_diff), fmt(t.distance?.ks_distance), fmt(t.distance?.wasserstein)]),
      ]),
    );
    // Per class: how far each class's activations sit from the pooled calibration set, averaged over tensors.
    const classes = Math.max(...pr.tensors.map((t) => t.per_class.length));
    const rows: (string | number)[][] = [["class", "rows A", "rows B", "mean KS A_c vs B_c", "mean KS class vs pooled A", "vs pooled B"]];
    for (let c = 0; c < classes; c++) {
      const cs = pr.tensors.map((t) => t.per_class[c]).filter(Boolean);
      const avg = (xs: (number | undefined)[]) => {
        const v = xs.filter((x): x is number => x !== undefined);
        return v.length ? v.reduce((s, x) => s + x, 0) / v.length : undefined;
      };
      rows.push([
        cs[0]?.label ? `${c} ${cs[0].label}` : String(c),
        pr.composition_a?.[c] ?? "-",
        pr.composition_b?.[c] ?? "-",
        fmt(avg(cs.map((x) => x.distance?.ks_distance))),
        fmt(avg(cs.map((x) => x.from_pooled_a?.ks_distance))),
        fmt(avg(cs.map((x) => x.from_pooled_b?.ks_distance))),
      ]);
    }
    L.push(table(rows));
  }

  const p = r.predictions;
  L.push("");
  if ("skipped" in p) L.push(`predictions: skipped (${p.skipped})`);
  else {
    const m = p.mcnemar;
    const ba = p.bootstrap.accuracy;
    const bf = p.bootstrap.macro_f1;
    L.push(`predictions on ${p.data} (${p.n} rows): accuracy A ${fmt(p.accuracy_a)}, B ${fmt(p.accuracy_b)}; macro-F1 A ${fmt(p.macro_f1_a)}, B ${fmt(p.macro_f1_b)}`);
    L.push(`McNemar (${m.method}): statistic ${fmt(m.statistic)}, p ${fmt(m.p_value, true)}, effect ${fmt(m.effect_size)}`);
    L.push(`paired bootstrap (${ba.resamples} resamples, seed ${ba.seed}), A - B: accuracy ${fmt(ba.observed)} [${fmt(ba.ci_low)}, ${fmt(ba.ci_high)}], macro-F1 ${fmt(bf.observed)} [${fmt(bf.ci_low)}, ${fmt(bf.ci_high)}] (${ba.confidence * 100}% CI)`);
  }
  for (const n of r.notes) L.push(`note: ${n}`);
  process.stdout.write(L.join("\n") + "\n");
}

function progress(mode: unknown): ((stage: string, done: number, total: number) => void) | undefined {
  let label = "";
  const bar = makeProgress(progressMode(mode), () => label);
  return bar && ((stage, done, total) => ((label = stage), bar.update(done, total), done === total && bar.done()));
}

const compareCommand: CommandModule<object, CompareArgs> = {
  command: "compare <a> <b>",
  describe: "Compare two quantizations of one float model: weights, activation ranges and profiles, predictions",
  builder: (y) =>
    y
      .positional("a", { type: "string", demandOption: true, describe: "quantized model A" })
      .positional("b", { type: "string", demandOption: true, describe: "quantized model B (of the same float model)" })
      .option("float", { type: "string", describe: "the float model both came from (needed for the quantization error)" })
      .option("data", { type: "string", describe: "labelled JSONL test data (default: the zoo model's test split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("calib-a", { type: "string", describe: "A's calibration table (default: A.calib.json beside A)" })
      .option("calib-b", { type: "string", describe: "B's calibration table (default: B.calib.json beside B)" })
      .option("predictions", { type: "boolean", default: true, describe: "score the test set (McNemar, bootstrap); --no-predictions skips it" })
      .option("rows", integerArg("rows", 1, { describe: "use a fixed random sample of N test rows" }))
      .option("batch", integerArg("batch", 1, { describe: "rows per onnxruntime run (default as eval)" }))
      .option("threads", integerArg("threads", 1, { describe: "onnxruntime intra-op threads" }))
      .option("seed", integerArg("seed", 0, { describe: "seed of the bootstrap and the subsamples (default 0)" }))
      .option("resamples", integerArg("resamples", 1, { describe: "bootstrap resamples (default 10000)" }))
      .option("max-sample", integerArg("max-sample", 8, { describe: "largest per-layer sample for the rank tests (default 10000)" }))
      .option("top", integerArg("top", 1, { describe: "how many layers and tensors to list as differing most (default 5)" }))
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<CompareArgs>,
  handler: async (args) => {
    const report = await compareModels({
      a: args.a,
      b: args.b,
      float: args.float,
      data: args.data,
      tokenizer: args.tokenizer,
      calibA: args["calib-a"],
      calibB: args["calib-b"],
      predictions: args.predictions,
      rows: intOption(args.rows, "rows", 1),
      batch: intOption(args.batch, "batch", 1),
      threads: intOption(args.threads, "threads", 1),
      seed: intOption(args.seed, "seed", 0),
      resamples: intOption(args.resamples, "resamples", 1),
      maxSample: intOption(args["max-sample"], "max-sample", 8),
      top: intOption(args.top, "top", 1),
      onProgress: progress(args.progress),
    });
    if (args.json) printJson(report);
    else printCompare(report);
  },
};

export const statsCommand: CommandModule<object, object> = {
  command: "stats",
  describe: "Nonparametric tests: one test on two samples, or two quantized models compared",
  builder: (y) => y.command(testCommand).command(compareCommand).demandCommand(1, "stats needs a subcommand: test or compare") as Argv<object>,
  handler: () => {},
};
