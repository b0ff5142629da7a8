import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { jsonDifferences } from "../helpers.ts";
import { loadReference, REFERENCE_PATH, RTOL, TINY } from "./reference.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "stats", "scipy_reference.py");

/** scipy's version under /usr/bin/python3, or null when it cannot import scipy. */
function scipyVersion(): string | null {
  const probe = spawnSync(PYTHON, ["-c", "import scipy; print(scipy.__version__)"], { encoding: "utf8" });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

const version = scipyVersion();
const committed = loadReference();

describe("scipy reference fixture", () => {
  // Values legitimately move between scipy releases, so only the release that produced the
  // fixture is expected to reproduce it. Even that release differs in the last digits between
  // machines (OpenBLAS picks a kernel per CPU: kstwo.sf(10, 0.45) is ...718164 on one and
  // ...717498 on another), so numbers are compared to 1e-9 relative, not byte for byte.
  it.skipIf(version === null || version !== committed.scipy_version)(
    "regenerates from scripts/stats/scipy_reference.py (numbers to 1e-9 relative)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "scipy-ref-"));
      try {
        const out = join(dir, "scipy_reference.json");
        const run = spawnSync(PYTHON, [SCRIPT, "--out", out], { encoding: "utf8", timeout: 120_000 });
        expect(run.status, run.stderr).toBe(0);
        const fresh: unknown = JSON.parse(readFileSync(out, "utf8"));
        expect(jsonDifferences(fresh, committed, { rtol: RTOL, atol: TINY })).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
