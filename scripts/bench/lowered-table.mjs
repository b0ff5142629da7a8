// Prints the lowered-model table from scripts/bench/lowered.sh's JSON: per model and version,
// p50 latency at batch 1 and 32 (and as a multiple of float), rows/s at batch 32, file size
// (and multiple of float), accuracy and top-1 agreement with the float model.
//   node scripts/bench/lowered-table.mjs OUT
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const dir = process.argv[2] ?? "out/lowered";
const read = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : null);
const rows = [["model", "version", "p50 b1 ms (x)", "p50 b32 ms (x)", "rows/s b32", "size (x)", "accuracy", "agreement", "eval rows"]];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".bench.json")).sort()) {
  const bench = read(join(dir, file));
  const name = file.slice(0, -".bench.json".length);
  for (const m of bench.models) {
    const tag = basename(m.model, ".onnx");
    const version = tag === name ? "float" : tag.slice(name.length + 1).replace(".ort", "-ort");
    const at = (b) => m.results.find((r) => r.batch === b && r.threads === 1);
    const cell = (b) => (at(b) ? `${at(b).latency_ms.p50.toFixed(3)} (${at(b).vs_first.p50.toFixed(2)})` : "-");
    const ev = read(join(dir, `${tag}.eval.json`));
    rows.push([
      name,
      version,
      cell(1),
      cell(32),
      at(32) ? at(32).throughput_rows_per_s.toFixed(0) : "-",
      `${(m.bytes / 1024).toFixed(0)} KiB (${m.bytes_vs_first.toFixed(3)})`,
      ev ? (100 * ev.accuracy).toFixed(2) : "-",
      ev?.reference ? ev.reference.agreement.toFixed(4) : "-",
      ev ? String(ev.n) : "-",
    ]);
  }
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r) => `| ${r.map((x, c) => x.padEnd(widths[c])).join(" | ")} |`;
console.log(line(rows[0]));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of rows.slice(1)) console.log(line(r));
