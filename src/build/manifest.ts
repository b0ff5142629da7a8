/**
 * manifest.json and index.html of a build: a function of the plan and the entries found,
 * so one run and merged shards give the same manifest (apart from the latency figures) and
 * the same page. The page is one file in the study report's style: inline CSS and SVG.
 */
import { CSS, table } from "../study/report.ts";
import { esc, linePlot, PALETTE } from "../study/svg.ts";
import type { BuildPlan } from "./plan.ts";
import type { ManifestEntry } from "./tasks.ts";

export interface Manifest {
  format: "ptq-onnx.build.manifest";
  version: 1;
  tool_version: string;
  build_sha256: string;
  rows: number | null;
  bench: BuildPlan["bench"];
  complete: boolean;
  artifacts_total: number;
  /** Ids of the artifacts no entry was found for (other shards, or not yet built). */
  missing: string[];
  artifacts: ManifestEntry[];
}

export function makeManifest(plan: BuildPlan, entries: Map<string, ManifestEntry>): Manifest {
  const found = plan.artifacts.filter((a) => entries.has(a.hash));
  const missing = plan.artifacts.filter((a) => !entries.has(a.hash)).map((a) => a.id);
  return {
    format: "ptq-onnx.build.manifest",
    version: 1,
    tool_version: plan.tool_version,
    build_sha256: plan.build_sha256,
    rows: plan.rows,
    bench: plan.bench,
    complete: missing.length === 0,
    artifacts_total: plan.artifacts.length,
    missing,
    artifacts: found.map((a) => entries.get(a.hash)!),
  };
}

const pct = (x: number) => (100 * x).toFixed(2);
const ms = (e: ManifestEntry, batch: number) => (e.latency_ms?.[String(batch)] === undefined ? "–" : e.latency_ms[String(batch)].toFixed(3));

function sizePlot(plan: BuildPlan, m: Manifest): string {
  const series = plan.models
    .map((model, i) => ({
      name: model.name,
      color: PALETTE[i % PALETTE.length],
      points: m.artifacts
        .filter((e) => e.model === model.name)
        .map((e) => ({ x: 100 * e.size_ratio, y: 100 * e.accuracy }))
        .sort((a, b) => a.x - b.x),
    }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0) return "";
  return `<div class="plots">${linePlot({ id: "size-accuracy", title: "Accuracy against size", xLabel: "size (% of float)", yLabel: "accuracy (%)", series })}</div>`;
}

export function renderIndex(plan: BuildPlan, m: Manifest, info: { merged_from?: string[]; shard?: string | null }): string {
  const batches = plan.bench?.batches ?? [];
  const status = m.complete ? `all ${m.artifacts_total} artifacts built` : `<b>incomplete</b>: ${m.missing.length} of ${m.artifacts_total} artifacts missing (rerun the same command, or merge the other shards)`;
  const rows = m.artifacts.map((e) => [
    esc(e.model),
    esc(e.recipe),
    `W${e.wbits}A${e.abits}`,
    esc(e.format ?? "qdq"),
    `<a href="${esc(e.file)}">${esc(e.file.replace(/^artifacts\//, ""))}</a>`,
    e.bytes,
    pct(e.size_ratio),
    pct(e.accuracy),
    pct(e.float_accuracy - e.accuracy),
    pct(e.macro_f1),
    pct(e.agreement),
    ...batches.map((b) => ms(e, b)),
    `<code>${e.sha256.slice(0, 16)}</code>`,
  ]);
  const header = ["model", "recipe", "bits", "format", "file", "bytes", "size %", "accuracy %", "drop", "macro-F1 %", "agreement %", ...batches.map((b) => `p50 ms b${b}`), "sha256"];
  const commands = m.artifacts.map((e) => [esc(e.id), `<code>${esc(e.command)}</code>`]);
  const settings: [string, string][] = [
    ["tool version", plan.tool_version],
    ["build", plan.build_sha256],
    ["test rows", plan.rows === null ? "all" : `a fixed random sample of ${plan.rows} (all when fewer)`],
    ["latency", plan.bench ? `p50 of ${plan.bench.runs} runs after ${plan.bench.warmup} warm-up, 1 thread, each batch size in its own process` : "not measured"],
    ["models", plan.models.map((x) => `${x.name} (${x.zoo ? `zoo ${x.zoo}` : x.file}, sha256 ${x.sha256.slice(0, 12)}, ${x.test.n} test rows)`).join("; ")],
  ];
  if (info.shard) settings.push(["shard", info.shard]);
  if (info.merged_from) settings.push(["merged from", info.merged_from.join(", ")]);
  const body = [
    `<h1>ptq-onnx build: ${esc(plan.models.map((x) => x.name).join(", "))}</h1>`,
    `<p class="note">${status}. Accuracy, drop from float (points), macro-F1 and top-1 agreement with float on the test rows; latency at 1 thread.</p>`,
    `<h2 id="artifacts">Artifacts</h2>`,
    table(header, rows),
    m.missing.length ? `<p class="note">missing: ${m.missing.map(esc).join(", ")}</p>` : "",
    sizePlot(plan, m),
    `<h2 id="commands">Equivalent commands</h2>`,
    `<p class="note">Each writes the same model and calibration table as the build, in the folder it runs in.</p>`,
    table(["artifact", "command"], commands, "left"),
    `<h2 id="settings">Build settings</h2>`,
    table(["setting", "value"], settings.map(([k, v]) => [esc(k), esc(v)]), "left"),
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ptq-onnx build</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${CSS}</style></head>
<body>
${body.filter(Boolean).join("\n")}
</body></html>
`;
}
