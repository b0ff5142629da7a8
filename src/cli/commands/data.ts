import type { Argv, CommandModule } from "yargs";
import { exportDataset } from "../../data/export.ts";
import { datasetNames } from "../../data/registry.ts";
import { integerArg, intOption } from "../options.ts";

interface ExportArgs {
  name: string;
  out: string;
  "vocab-size"?: number;
  "max-len"?: number;
  json?: boolean;
}

const exportCommand: CommandModule<object, ExportArgs> = {
  command: "export <name>",
  describe: "Write a zoo data set as train/val/test JSONL, tokenizer.json, labels.json and meta.json",
  builder: (yargs: Argv) =>
    yargs
      .positional("name", { type: "string", demandOption: true, describe: `data set (${datasetNames.join(", ")})` })
      .option("out", { type: "string", demandOption: true, describe: "output folder (created if missing)" })
      .option("vocab-size", integerArg("vocab-size", 3, { describe: "vocabulary size, counting <pad> and <unk>" }))
      .option("max-len", integerArg("max-len", 1, { describe: "tokens kept per example" }))
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<ExportArgs>,
  handler: (argv) => {
    const meta = exportDataset(argv.name, argv.out, {
      vocabSize: intOption(argv["vocab-size"], "vocab-size", 3),
      maxLen: intOption(argv["max-len"], "max-len", 1),
    });
    const files = ["train.jsonl", "val.jsonl", "test.jsonl", "tokenizer.json", "labels.json", "meta.json", meta.license_file];
    if (argv.json) {
      process.stdout.write(JSON.stringify({ out: argv.out, files, ...meta }) + "\n");
      return;
    }
    const { sizes, labels, tokenizer } = meta;
    process.stdout.write(
      `exported ${meta.name} to ${argv.out}\n` +
        `  train ${sizes.train}, val ${sizes.val}, test ${sizes.test} examples; ${labels.length} classes: ${labels.join(", ")}\n` +
        `  vocabulary ${tokenizer.vocab_size}, max_len ${tokenizer.max_len}; licence: ${meta.license} (${meta.license_file})\n`,
    );
  },
};

/** `ptq-onnx data export NAME --out DIR`: the zoo's data sets as files other commands read. */
export const dataCommand: CommandModule = {
  command: "data",
  describe: `Zoo data sets (${datasetNames.join(", ")})`,
  builder: (yargs: Argv) => yargs.command(exportCommand).demandCommand(1, "a data subcommand is required (export)"),
  handler: () => {},
};
