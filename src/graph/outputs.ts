import { accessSync, constants, existsSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "./errors.ts";
import { removeStaleTemps } from "./files.ts";

/** A path a command reads or writes, with what messages call it (`output model (-o)`, `--data file`). */
export interface NamedPath {
  path: string | null | undefined;
  role: string;
}

export interface OutputPlan {
  /** Every file the command reads: the model, data, tokenizer, tables, external data. */
  inputs?: NamedPath[];
  /** Files the command will write. */
  files?: NamedPath[];
  /** Folders the command will create (with their parents) if missing and write into. */
  dirs?: NamedPath[];
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The path with every link resolved; for a file not there yet, its folder's real path. */
function realPath(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Same file: the same real path, or (hard links) the same device and inode. */
export function sameFile(a: string, b: string): boolean {
  if (realPath(a) === realPath(b)) return true;
  const sa = statOrNull(a);
  const sb = statOrNull(b);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

function checkWritableDir(dir: string, output: string, role: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new InputError(`cannot write the ${role}: folder ${dir} is not writable (${(err as NodeJS.ErrnoException).code})`, output);
  }
}

/** The nearest folder that exists at or above `path` (what mkdir -p would write into). */
function existingAncestor(path: string): string {
  let dir = resolve(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * Checks, before any work, that every output can be written and that none of them is one of
 * the inputs or another output; removes stale temporary files of earlier killed runs beside
 * the output files. Throws an InputError naming the output and the problem.
 */
export function checkOutputs(plan: OutputPlan): void {
  const inputs = (plan.inputs ?? []).filter((i): i is { path: string; role: string } => !!i.path);
  const files = (plan.files ?? []).filter((o): o is { path: string; role: string } => !!o.path);
  const dirs = (plan.dirs ?? []).filter((o): o is { path: string; role: string } => !!o.path);

  for (const d of dirs) {
    const st = statOrNull(d.path);
    if (st && !st.isDirectory()) throw new InputError(`the ${d.role} must be a folder, but this is a file`, d.path);
    const base = existingAncestor(d.path);
    if (!statOrNull(base)?.isDirectory()) throw new InputError(`cannot create the ${d.role}: ${base} is not a folder`, d.path);
    checkWritableDir(base, d.path, d.role);
  }

  const created = dirs.map((d) => resolve(d.path));
  files.forEach((f, i) => {
    if (statOrNull(f.path)?.isDirectory()) throw new InputError(`the ${f.role} is a folder; give a file name`, f.path);
    const parent = dirname(resolve(f.path));
    const parentStat = statOrNull(parent);
    if (!parentStat) {
      if (!created.includes(parent)) throw new InputError(`cannot write the ${f.role}: no such folder ${parent}`, f.path);
    } else {
      if (!parentStat.isDirectory()) throw new InputError(`cannot write the ${f.role}: ${parent} is not a folder`, f.path);
      checkWritableDir(parent, f.path, f.role);
    }
    const input = inputs.find((inp) => sameFile(inp.path, f.path));
    if (input) throw new InputError(`the ${f.role} is the ${input.role} this command reads; write it elsewhere`, f.path);
    const other = files.slice(0, i).find((o) => sameFile(o.path, f.path));
    if (other) throw new InputError(`the ${f.role} is also the ${other.role}`, f.path);
  });

  for (const f of files) removeStaleTemps(f.path);
}
