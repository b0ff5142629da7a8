import { readFileSync } from "node:fs";
import { InputError } from "../graph/errors.ts";
import { removeTempsOnSignals } from "../graph/files.ts";
import { usageMessage, type KnownOptions } from "./usage.ts";

/** Exit codes of the contract: 0 success, 1 a failed check, 2 bad input or usage. */
export const EXIT_USAGE = 2;

function failLine(message: string): never {
  process.stderr.write(`ptq-onnx: ${message.split("\n")[0]}\n`);
  process.exit(EXIT_USAGE);
}

/** package.json is two folders up from both src/cli (a checkout) and dist/cli (the package). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

async function main(argv: string[]): Promise<void> {
  // `--version` answers before yargs and the commands (with onnxruntime) load: those cost
  // several times node's own start-up, which scripts probing the tool should not pay.
  if (argv.length === 1 && argv[0] === "--version") {
    process.stdout.write(packageVersion() + "\n");
    return;
  }
  const [{ default: yargs }, { commands }] = await Promise.all([import("yargs"), import("./commands/index.ts")]);
  let cli = yargs(argv)
    .scriptName("ptq-onnx")
    .version(packageVersion())
    .strict()
    .demandCommand(1, "a command is required (see --help)")
    .recommendCommands()
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      // yargs' own usage errors (YError, also for an option's coerce failing) are usage; the rest are the handler's.
      if (err && err.name !== "YError") throw err;
      failLine(usageMessage(msg || err.message, argv, (cli as unknown as { getOptions(): KnownOptions }).getOptions()));
    });
  for (const command of commands) cli = cli.command(command);
  await cli.parseAsync();
}

// Also makes every synchronous write (and the model + table install) finish before a signal acts.
removeTempsOnSignals();
main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof InputError) failLine(err.message);
  if (process.env.PTQ_ONNX_DEBUG) console.error(err);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`ptq-onnx: internal error: ${message}\n`);
  process.exit(1);
});
