import type { Argv, CommandModule } from "yargs";
import { runBench, type BenchOutput } from "../../eval/run-bench.ts";
import { formatBytes, printJson, table } from "../output.ts";
import { integerArg } from "../options.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";

interface Args {
  models: string[];
  batch?: string | string[];
  threads?: string | string[];
  runs?: number;
  warmup?: number;
  data?: string;
  tokenizer?: string;
  "seq-len"?: number;
  seed?: number;
  progress?: string;
  json: boolean;
}

function printText(o: BenchOutput): void {
  const m = o.machine;
  const lines = [
    `machine: ${m.platform} ${m.arch} (${m.release}), ${m.cores} x ${m.cpu}, ${formatBytes(m.memory_bytes)}; node ${m.node}, onnxruntime ${m.onnxruntime}`,
    `${o.settings.warmup} warm-up runs, then ${o.settings.runs} timed runs per setting, each in a fresh process`,
    "",
  ];
  for (const mb of o.models) lines.push(`${mb.model}: ${formatBytes(mb.bytes)}${o.models.length > 1 ? ` (x${mb.bytes_vs_first.toFixed(2)})` : ""}, inputs ${mb.inputs}`);
  lines.push("");
  const multi = o.models.length > 1;
  const header = ["batch", "threads", "model", "p50 ms", "p90 ms", "p99 ms", "rows/s", "peak RSS"];
  if (multi) header.push("p50 x", "rows/s x", "RSS x");
  const rows: (string | number)[][] = [header];
  for (const batch of o.settings.batches) {
    for (const threads of o.settings.threads) {
      for (const mb of o.models) {
        const r = mb.results.find((x) => x.batch === batch && x.threads === threads)!;
        const row: (string | number)[] = [batch, threads, mb.model, r.latency_ms.p50.toFixed(3), r.latency_ms.p90.toFixed(3), r.latency_ms.p99.toFixed(3), r.throughput_rows_per_s.toFixed(1), formatBytes(r.peak_rss_bytes)];
        if (multi) row.push(r.vs_first!.p50.toFixed(2), r.vs_first!.throughput.toFixed(2), r.vs_first!.peak_rss.toFixed(2));
        rows.push(row);
      }
    }
  }
  lines.push(table(rows));
  process.stdout.write(lines.join("\n") + "\n");
}

export const benchCommand: CommandModule<object, Args> = {
  command: "bench <models..>",
  describe: "CPU latency (p50/p90/p99), throughput, peak memory and size of one or more models, side by side",
  builder: (y) =>
    y
      .positional("models", { type: "string", array: true, demandOption: true, describe: "ONNX model files; ratios are to the first" })
      .option("batch", { type: "string", default: "1,32", describe: "batch sizes, comma-separated" })
      .option("threads", { type: "string", describe: "onnxruntime intra-op thread counts, comma-separated (default: 1 and all cores)" })
      .option("runs", integerArg("runs", 1, { default: 100, describe: "timed runs per setting" }))
      .option("warmup", integerArg("warmup", 0, { default: 10, describe: "untimed runs first" }))
      .option("data", { type: "string", describe: "JSONL rows to time (default: the zoo model's test split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer.json for text rows" })
      .option("seq-len", integerArg("seq-len", 1, { describe: "time synthetic rows of this many tokens instead of data" }))
      .option("seed", integerArg("seed", 0, { default: 0, describe: "seed for the row order and synthetic ids" }))
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<Args>,
  handler: (args) => {
    const out = runBench(args.models.map(String), {
      batches: args.batch,
      threads: args.threads,
      runs: args.runs,
      warmup: args.warmup,
      seed: args.seed,
      data: args.data,
      tokenizer: args.tokenizer,
      seqLen: args["seq-len"],
      onProgress: makeProgress(progressMode(args.progress), "bench")?.message,
    });
    if (args.json) printJson(out);
    else printText(out);
  },
};
