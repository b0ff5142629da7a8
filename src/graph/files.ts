import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "./errors.ts";

/**
 * Writes a file so that readers see either the old content or the whole new one, never a
 * partial file: the bytes go to a temporary file beside the target, which is then renamed.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
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
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
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
