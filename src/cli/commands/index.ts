import type { CommandModule } from "yargs";
import { benchCommand } from "./bench.ts";
import { buildCommand } from "./build.ts";
import { dataCommand } from "./data.ts";
import { evalCommand } from "./eval.ts";
import { inspectCommand } from "./inspect.ts";
import { lowerCommand } from "./lower.ts";
import { parityCommand } from "./parity.ts";
import { quantizeCommand } from "./quantize.ts";
import { robustnessCommand } from "./robustness.ts";
import { sensitivityCommand } from "./sensitivity.ts";
import { tuneCommand } from "./tune.ts";
import { statsCommand } from "./stats.ts";
import { studyCommand } from "./study.ts";

/** Every subcommand of the CLI; each lives in its own module beside this one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [inspectCommand, quantizeCommand, lowerCommand, dataCommand, evalCommand, robustnessCommand, benchCommand, parityCommand, statsCommand, studyCommand, buildCommand, sensitivityCommand, tuneCommand];
