#!/usr/bin/env node
// Markdown tables from the JSON that scripts/bench/zoo-report.sh writes:
//   node scripts/bench/summarize.mjs [OUT]   (default out/report)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const dir = process.argv[2] ?? "out/report";
if (!existsSync(dir)) {
  process.stderr.write(`summarize: no folder ${dir}\n`);
  process.exit(2);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort();
const read = (f) => JSON.parse(readFileSync(join(dir, f), "utf8"));
const pct = (x) => (100 * x).toFixed(2);
const mib = (b) => (b / 1024 / 1024).toFixed(1);
const table = (rows) => [rows[0], rows[0].map(() => "---"), ...rows.slice(1)].map((r) => `| ${r.join(" | ")} |`).join("\n");
/** wordnet8-disc.q4a4.eval.json -> { base: "wordnet8-disc", version: "q4a4" } */
const parse = (f, suffix) => {
  const stem = basename(f, suffix);
  const m = /^(.*?)(?:\.(q\d+a\d+))?$/.exec(stem);
  return { base: m[1], version: m[2] ?? "float" };
};
const out = [];

const evals = files.filter((f) => f.endsWith(".eval.json"));
if (evals.length) {
  out.push("### Test accuracy (float32 reference: the zoo model)", "");
  const rows = [["model", "version", "rows", "accuracy %", "macro-F1 %", "top-1 agreement %", "mean KL (nats)"]];
  for (const f of evals) {
    const { base, version } = parse(f, ".eval.json");
    const r = read(f);
    rows.push([base, version, r.n, pct(r.accuracy), pct(r.macro_f1), r.reference ? pct(r.reference.agreement) : "", r.reference ? r.reference.mean_kl.toExponential(2) : ""]);
  }
  out.push(table(rows), "");
}

const robust = files.filter((f) => f.endsWith(".robustness.json"));
const byBase = new Map();
for (const f of robust) {
  const { base, version } = parse(f, ".robustness.json");
  if (!byBase.has(base)) byBase.set(base, new Map());
  byBase.get(base).set(version, read(f));
}
for (const [base, versions] of byBase) {
  const names = [...versions.keys()].sort((a, b) => (a === "float" ? -1 : b === "float" ? 1 : b.localeCompare(a, "en", { numeric: true })));
  const any = versions.get(names[0]);
  out.push(`### Robustness: ${base} (${any.n} rows of ${any.data}, seeds ${any.seeds.join(", ")}; accuracy % mean ± std [min, max])`, "");
  const rows = [["noise", ...names]];
  rows.push(["clean", ...names.map((v) => pct(versions.get(v).clean.accuracy))]);
  for (const curve of any.curves) {
    for (const p of curve.points) {
      if (p.level === 0) continue;
      rows.push([
        `${curve.kind}:${p.level}`,
        ...names.map((v) => {
          const c = versions.get(v).curves.find((x) => x.kind === curve.kind)?.points.find((x) => x.level === p.level);
          return c ? `${pct(c.accuracy.mean)} ± ${pct(c.accuracy.std)} [${pct(c.accuracy.min)}, ${pct(c.accuracy.max)}]` : "";
        }),
      ]);
    }
  }
  out.push(table(rows), "");
}

for (const f of files.filter((x) => x.endsWith(".bench.json"))) {
  const b = read(f);
  const m = b.machine;
  out.push(
    `### Bench: ${basename(f, ".bench.json")}`,
    "",
    `${m.platform} ${m.arch}, ${m.cores} x ${m.cpu}, ${mib(m.memory_bytes)} MiB; node ${m.node}, onnxruntime ${m.onnxruntime}; ` +
      `${b.settings.warmup} warm-up + ${b.settings.runs} timed runs per setting, each setting in its own process; inputs ${b.models[0].inputs}`,
    "",
  );
  const rows = [["model", "size MiB", "batch", "threads", "p50 ms", "p90 ms", "p99 ms", "rows/s", "peak RSS MiB", "p50 x", "rows/s x", "RSS x", "load"]];
  for (const batch of b.settings.batches) {
    for (const threads of b.settings.threads) {
      for (const mb of b.models) {
        const r = mb.results.find((x) => x.batch === batch && x.threads === threads);
        rows.push([basename(mb.model), `${mib(mb.bytes)} (x${mb.bytes_vs_first.toFixed(2)})`, batch, threads, r.latency_ms.p50.toFixed(2), r.latency_ms.p90.toFixed(2), r.latency_ms.p99.toFixed(2), r.throughput_rows_per_s.toFixed(0), mib(r.peak_rss_bytes), r.vs_first.p50.toFixed(2), r.vs_first.throughput.toFixed(2), r.vs_first.peak_rss.toFixed(2), r.load_1min?.toFixed(1) ?? ""]);
      }
    }
  }
  out.push(table(rows), "");
}
process.stdout.write(out.join("\n") + "\n");
