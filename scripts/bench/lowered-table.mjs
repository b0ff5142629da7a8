// Prints the lowered-model table from scripts/bench/lowered.sh's JSON: per model and version,
// p50 latency at batch 1 and 32 (and as a multiple of float), rows/s at batch 32, file size
// (and multiple of float), accuracy and top-1 agreement with the float model; latencies and
// ratios are medians over the bench rounds (--rounds).
//   node scripts/bench/lowered-table.mjs OUT
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const dir = process.argv[2] ?? "out/lowered";
const read = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : null);
const rows = [["model", "version", "p50 b1 ms (x)", "p50 b32 ms (x)", "rows/s b32", "size (x)", "accuracy", "agreement", "eval rows"]];
// One bench file per round (NAME.bench.R.json; NAME.bench.json from older runs): each cell is
// the median over the rounds.
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rounds = new Map();
for (const file of readdirSync(dir).sort()) {
  const m = /^(.*)\.bench(\.\d+)?\.json$/.exec(file);
  if (m) rounds.set(m[1], [...(rounds.get(m[1]) ?? []), read(join(dir, file))]);
}
for (const [name, benches] of rounds) {
  for (const [i, m] of benches[0].models.entries()) {
    const tag = basename(m.model, ".onnx");
    const version = tag === name ? "float" : tag.slice(name.length + 1).replace(".ort", "-ort");
    const at = (b) => benches.map((bench) => bench.models[i].results.find((r) => r.batch === b && r.threads === 1)).filter(Boolean);
    const cell = (b) => (at(b).length ? `${median(at(b).map((r) => r.latency_ms.p50)).toFixed(3)} (${median(at(b).map((r) => r.vs_first.p50)).toFixed(2)})` : "-");
    const ev = read(join(dir, `${tag}.eval.json`));
    rows.push([
      name,
      version,
      cell(1),
      cell(32),
      at(32).length ? median(at(32).map((r) => r.throughput_rows_per_s)).toFixed(0) : "-",
      `${(m.bytes / 1024).toFixed(0)} KiB (${m.bytes_vs_first.toFixed(3)})`,
      ev ? (100 * ev.accuracy).toFixed(2) : "-",
      ev?.reference ? ev.reference.agreement.toFixed(4) : "-",
      ev ? String(ev.n) : "-",
    ]);
  }
}
console.log(`bench rounds per model: ${[...rounds].map(([n, b]) => `${n} ${b.length}`).join(", ")}`);
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r) => `| ${r.map((x, c) => x.padEnd(widths[c])).join(" | ")} |`;
console.log(line(rows[0]));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of rows.slice(1)) console.log(line(r));
