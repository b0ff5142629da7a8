#!/usr/bin/env node
// In a checkout (src/ beside bin/) the CLI runs the TypeScript sources through tsx, so tests
// and scripts never run a stale dist/; the published package has no src/ and runs the
// compiled dist/ without tsx.
import { existsSync } from "node:fs";

const sources = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(sources)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(sources.href);
} else {
  await import("../dist/cli/main.js");
}
