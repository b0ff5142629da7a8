/**
 * Progress on stderr for the long commands (`--progress auto|plain|none`). auto: a bar that
 * redraws itself when stderr is a terminal, nothing otherwise (the contract keeps pipes
 * clean); plain: a plain line every few seconds and at the end, for logs and CI; none: nothing.
 */
import type { Options } from "yargs";
import { InputError } from "../graph/errors.ts";

export const PROGRESS_MODES = ["auto", "plain", "none"] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** Seconds between two plain lines of one counter. */
export const PLAIN_INTERVAL_S = 5;

export interface Progress {
  /** `done` of `total` rows (or units) of the current stage. */
  update: (done: number, total: number) => void;
  /** A line that stands on its own (a stage finished, a cell computed). */
  message: (line: string) => void;
  /** Clears the bar; call before printing results. */
  done: () => void;
}

/** The yargs declaration every long command shares. */
export const progressOption = {
  type: "string" as const,
  choices: [...PROGRESS_MODES],
  default: "auto",
  describe: "progress on stderr: auto (a bar on a terminal, else nothing), plain (a line every few seconds), none",
} satisfies Options;

export function progressMode(value: unknown): ProgressMode {
  const mode = value ?? "auto";
  if (!(PROGRESS_MODES as readonly unknown[]).includes(mode)) throw new InputError(`--progress must be one of ${PROGRESS_MODES.join(", ")}, got '${String(mode)}'`);
  return mode as ProgressMode;
}

function percent(done: number, total: number): string {
  return total > 0 ? `${Math.floor((done / total) * 100)}%` : "100%";
}

/** A fixed label, or one read at each update (a command that moves through stages). */
export type ProgressLabel = string | (() => string);

const text = (label: ProgressLabel): string => (typeof label === "string" ? label : label());

function barProgress(label: ProgressLabel, unit: string): Progress {
  const width = 30;
  let drawn = false;
  const clear = () => {
    if (drawn) process.stderr.write("\r\x1b[K");
    drawn = false;
  };
  return {
    update(done, total) {
      const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
      process.stderr.write(`\r\x1b[K${text(label)} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total} ${unit}`);
      drawn = true;
    },
    message(line) {
      clear();
      process.stderr.write(`${line}\n`);
    },
    done: clear,
  };
}

function plainProgress(label: ProgressLabel, unit: string, now: () => number): Progress {
  let last = -Infinity;
  let stage: string | undefined;
  return {
    update(done, total) {
      const t = now();
      const name = text(label);
      // The first update of a stage, its last, and one every few seconds between.
      if (name !== stage || done >= total || t - last >= PLAIN_INTERVAL_S * 1000) {
        process.stderr.write(`${name}: ${done}/${total} ${unit} (${percent(done, total)})\n`);
        last = t;
      }
      stage = done >= total ? undefined : name;
    },
    message(line) {
      process.stderr.write(`${line}\n`);
    },
    done() {},
  };
}

/**
 * The progress reporter for `mode`, or undefined when nothing is to be shown (so callers
 * can pass `p?.update` straight to the work's onProgress).
 */
export function makeProgress(mode: ProgressMode, label: ProgressLabel, opts: { unit?: string; now?: () => number } = {}): Progress | undefined {
  const unit = opts.unit ?? "rows";
  if (mode === "none") return undefined;
  if (mode === "plain") return plainProgress(label, unit, opts.now ?? (() => performance.now()));
  return process.stderr.isTTY ? barProgress(label, unit) : undefined;
}
