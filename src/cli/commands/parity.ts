import type { Argv, CommandModule } from "yargs";
import { InputError, loadValidModel } from "../../graph/index.ts";
import { DEFAULT_BATCH, DEFAULT_ROWS, runParity, type ParityResult } from "../../parity/parity.ts";
import { DEFAULT_PROFILES, PROFILES } from "../../parity/profiles.ts";
import { integerArg, intOption, numberArg, numberOption } from "../options.ts";
import { WASM_TARGET } from "../../parity/wasm.ts";
import { printJson, table } from "../output.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";

interface Args {
  model: string;
  data?: string;
  tokenizer?: string;
  rows?: number;
  profiles?: string[];
  batch?: number;
  "min-agreement"?: number;
  timeout?: number;
  progress?: string;
  json: boolean;
}

function printText(r: ParityResult): void {
  const f4 = (x: number | null) => (x === null ? "-" : x.toFixed(4));
  const lines: string[] = [];
  lines.push(`${r.model} on ${r.data}: ${r.note}`);
  const sides = [`native ${r.native.arch} (node ${r.native.node})`];
  if (r.arm64_node) sides.push(`arm64 node ${r.arm64_node} under qemu-user`);
  if (r.onnxruntime_web) sides.push(`onnxruntime-web ${r.onnxruntime_web} (wasm)`);
  lines.push(`onnxruntime ${r.onnxruntime ?? "?"}; ${sides.join(", ")}; batch ${r.batch}, 1 thread`);
  lines.push("");
  lines.push(
    table([
      ["run", "cpu", "accuracy", "agreement", "max score diff", "disagree", "seconds"],
      ["native", r.native.arch, f4(r.native.accuracy), "-", "-", "-", r.native.seconds.toFixed(1)],
      ...r.profiles.map((p) => [
        p.name,
        p.qemu_cpu?.split(",")[0] ?? "wasm32",
        f4(p.accuracy),
        f4(p.agreement),
        p.max_score_diff === null ? "-" : p.max_score_diff.toExponential(2),
        p.disagreement_count ?? "-",
        p.seconds.toFixed(1),
      ]),
    ]),
  );
  for (const p of r.profiles) {
    if (p.error) lines.push(`${p.name}: ${p.error}`);
    if (p.disagreement_count) {
      const more = p.disagreement_count > p.disagreements.length ? `, ... (${p.disagreement_count} in all)` : "";
      lines.push(`${p.name}: top-1 differs from native on rows ${p.disagreements.join(", ")}${more} (0-based data rows)`);
    }
  }
  lines.push("");
  const failed = r.profiles.filter((p) => !p.passed && !p.error).map((p) => p.name);
  const refused = r.profiles.filter((p) => p.error).map((p) => p.name);
  lines.push(
    failed.length || refused.length
      ? `FAILED: ${[
          ...(failed.length ? [`${failed.join(", ")} below ${r.min_agreement} top-1 agreement with native`] : []),
          ...(refused.length ? [`${refused.join(", ")} cannot run the model`] : []),
        ].join("; ")}`
      : `passed: every profile agrees with native on at least ${r.min_agreement} of the rows`,
  );
  process.stdout.write(lines.join("\n") + "\n");
}

export const parityCommand: CommandModule<object, Args> = {
  command: "parity <model>",
  describe: "Run the model natively, as arm64 under qemu-user per CPU profile and in onnxruntime-web (wasm); compare top-1 and scores",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "ONNX model file" })
      .option("data", { type: "string", describe: "JSONL data file (default: the zoo model's test split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer.json (default: the model's metadata, or MODEL.tokenizer.json)" })
      .option("rows", integerArg("rows", 1, { describe: `rows to check, a fixed sample (default ${DEFAULT_ROWS}: emulation is a few hundred times slower)` }))
      .option("profiles", {
        type: "string",
        array: true,
        describe: `CPU profiles, comma-separated (default ${DEFAULT_PROFILES.join(",")}; known: ${PROFILES.map((p) => p.name).join(", ")}; ${WASM_TARGET.name}: onnxruntime-web in Node)`,
      })
      .option("batch", integerArg("batch", 1, { default: DEFAULT_BATCH, describe: "rows per onnxruntime run (the same batches on every side)" }))
      .option("min-agreement", numberArg("min-agreement", { min: 0, max: 1 }, { default: 1, describe: "exit 1 when a profile's top-1 agreement with native is below this" }))
      .option("timeout", integerArg("timeout", 1, { describe: "seconds after which an emulated or wasm run is killed (default: none)" }))
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<Args>,
  handler: async (args) => {
    const rows = intOption(args.rows, "rows", 1);
    const batch = intOption(args.batch, "batch", 1);
    const timeout = intOption(args.timeout, "timeout", 1);
    const minAgreement = numberOption(args["min-agreement"], "min-agreement", { min: 0, max: 1 }) ?? 1;
    const profiles = args.profiles?.flatMap((p) => String(p).split(",")).map((p) => p.trim()).filter(Boolean);
    if (args.profiles && !profiles?.length) throw new InputError("--profiles needs at least one profile name");
    const model = loadValidModel(args.model);
    const log = makeProgress(progressMode(args.progress), "parity")?.message;
    log?.(`parity: running native and ${(profiles ?? DEFAULT_PROFILES).join(", ")}...`);
    const result = await runParity({
      path: args.model,
      model,
      data: args.data,
      tokenizer: args.tokenizer,
      rows,
      profiles,
      batch,
      minAgreement,
      timeoutSeconds: timeout,
      onRunDone: log && ((name, s) => log(`parity: ${name} done in ${s.toFixed(1)} s`)),
    });
    if (args.json) printJson(result);
    else printText(result);
    if (!result.passed) process.exitCode = 1;
  },
};
