import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Every directory a test file makes, removed after the file's tests by test/setup.ts: the
// suite made about 3,000 directories (7.5 GB) under /tmp per day of runs before this.
const made: string[] = [];

export function tempDir(prefix = "ptq-onnx-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
