import type { CommandModule } from "yargs";
import { dataCommand } from "./data.ts";
import { inspectCommand } from "./inspect.ts";
import { quantizeCommand } from "./quantize.ts";

/** Every subcommand of the CLI; each lives in its own module beside this one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [inspectCommand, quantizeCommand, dataCommand];
