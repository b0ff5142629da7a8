import { closeSync, constants, copyFileSync, existsSync, fstatSync, fsyncSync, linkSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "./errors.ts";

/**
 * This process's temporary files that exist right now (staged writes and the backups of an
 * install). A SIGINT or SIGTERM handled by removeTempsOnSignals deletes them before exiting.
 */
const liveTemps = new Set<string>();

/** `.NAME.PID.tmp` beside `path` (`.NAME.old.PID.tmp` for the backup of the file it replaces). */
export function tempPath(path: string, tag = ""): string {
  return join(dirname(path), `.${basename(path)}${tag}.${process.pid}.tmp`);
}

function removeTemp(tmp: string): void {
  rmSync(tmp, { force: true });
  liveTemps.delete(tmp);
}

function writeTemp(path: string, data: Uint8Array | string): string {
  const tmp = tempPath(path);
  liveTemps.add(tmp);
  try {
    const fd = openSync(tmp, "w");
    try {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    removeTemp(tmp);
    throw err;
  }
  return tmp;
}

/**
 * Writes a file so that readers see either the old content or the whole new one, never a
 * partial file: the bytes go to a temporary file beside the target, which is then renamed.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  stageFiles([{ path, data }]).install();
}

export interface FileToWrite {
  path: string;
  data: Uint8Array | string;
}

/** Files whose bytes are on disk beside their targets, waiting to be installed together. */
export interface StagedFiles {
  /**
   * Renames every staged file onto its target. If one rename fails, the targets already
   * installed get their old content back (or are removed when there was none) and the error
   * is rethrown, so the files change together or not at all. `onInstalled` runs after each
   * rename (a test uses it to pause inside the window).
   */
  install(onInstalled?: (path: string) => void): void;
  /** Removes the staged files, leaving the targets as they were. */
  discard(): void;
}

/**
 * Writes each file's bytes to its temporary file (registered for removal on a signal) and
 * returns them staged. A failure here removes what was staged and touches no target.
 *
 * The install is synchronous: once removeTempsOnSignals has installed its handlers, a SIGINT
 * or SIGTERM is handled on the event loop, so it waits until the install window is over.
 */
export function stageFiles(files: FileToWrite[]): StagedFiles {
  const temps: string[] = [];
  try {
    for (const f of files) temps.push(writeTemp(f.path, f.data));
  } catch (err) {
    temps.forEach(removeTemp);
    throw err;
  }
  return {
    install(onInstalled) {
      const done: { path: string; backup: string | null }[] = [];
      try {
        files.forEach((f, i) => {
          // Only a file that a later rename could still undo needs its old content kept.
          const backup = i < files.length - 1 && existsSync(f.path) ? keepBackup(f.path) : null;
          renameSync(temps[i], f.path);
          liveTemps.delete(temps[i]);
          done.push({ path: f.path, backup });
          onInstalled?.(f.path);
        });
      } catch (err) {
        for (const d of done.reverse()) {
          if (d.backup) renameSync(d.backup, d.path);
          else rmSync(d.path, { force: true });
          if (d.backup) liveTemps.delete(d.backup);
        }
        temps.forEach(removeTemp);
        files.forEach((f) => removeTemp(tempPath(f.path, ".old")));
        throw err;
      }
      for (const d of done) if (d.backup) removeTemp(d.backup);
    },
    discard() {
      temps.forEach(removeTemp);
    },
  };
}

/** Writes several files as one: all of them are installed, or none (see stageFiles). */
export function writeFilesAtomic(files: FileToWrite[], onInstalled?: (path: string) => void): void {
  stageFiles(files).install(onInstalled);
}

/** A second name for the file about to be replaced, so that a failed install can restore it. */
function keepBackup(path: string): string {
  const backup = tempPath(path, ".old");
  liveTemps.add(backup);
  rmSync(backup, { force: true });
  try {
    linkSync(path, backup);
  } catch {
    copyFileSync(path, backup); // file systems without hard links
  }
  return backup;
}

let signalsHandled = false;

/**
 * On SIGINT or SIGTERM, removes this process's temporary files and exits with 128 + the
 * signal number (130, 143). For a command-line process: a library should not exit its host.
 */
export function removeTempsOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      for (const tmp of [...liveTemps]) removeTemp(tmp);
      process.exit(code);
    });
  }
}

/** Whether a process with this id is running (EPERM: it is, but not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary files that a killed earlier run left beside `path` (`.NAME.PID.tmp`
 * and `.NAME.old.PID.tmp` whose process is gone). Returns the names removed.
 */
export function removeStaleTemps(path: string): string[] {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(`.${name}.`) || !entry.endsWith(".tmp")) continue;
    const m = /^(?:old\.)?(\d+)\.tmp$/.exec(entry.slice(name.length + 2));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    rmSync(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}

/** A regular file opened for reading, with its size; the caller closes `fd`. */
export interface OpenedFile {
  fd: number;
  size: number;
}

/**
 * Opens a user-given file for reading, refusing anything but a regular file (after following
 * links) with an InputError naming it. The open itself is non-blocking, so a FIFO with no
 * writer is refused instead of hanging, and the type is checked on the opened descriptor, so
 * the file cannot be swapped between the check and the read.
 */
export function openRegularFile(path: string, what: string): OpenedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError("no such file", path);
    if (code === "EISDIR") throw new InputError(`is a directory, not ${what}`, path);
    throw new InputError(`cannot read ${what}: ${code ?? (err as Error).message}`, path);
  }
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw new InputError(`is ${fileKind(stat)}, not ${what} (only regular files are read)`, path);
  }
  return { fd, size: stat.size };
}

/** Reads a whole user-given input file; see `openRegularFile` for what is refused. */
export function readInputFile(path: string, what: string): Buffer {
  const { fd, size } = openRegularFile(path, what);
  try {
    return readRange(fd, 0, size, path);
  } finally {
    closeSync(fd);
  }
}

/** `length` bytes at `offset` of an open file; a file that shrank meanwhile is an InputError. */
export function readRange(fd: number, offset: number, length: number, path: string): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, offset + done);
    if (n === 0) throw new InputError(`file ended after ${done} of ${length} bytes (changed while being read?)`, path);
    done += n;
  }
  return out;
}

function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO()) return "a FIFO (named pipe)";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "a special file";
}
