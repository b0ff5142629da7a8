#!/usr/bin/env bash
# Start-up time of the installed package's CLI next to loading onnxruntime-node alone
# (issue 18's target: `npx ptq-onnx --version` within 2x of `node -e "require('onnxruntime-node')"`).
# Packs the repository (or takes a tarball), installs it into an empty temporary project the
# way a consumer does, then runs each command RUNS times (default 15) in turn and prints the
# minimum and median wall-clock time. The minimum is the figure to compare on a busy machine.
#
# Usage: scripts/package/startup.sh [ptq-onnx-X.Y.Z.tgz]     (RUNS=N to change the count)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-15}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ptq-onnx-startup-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A surrounding `npm run` would point the inner npm at this repository.
unset npm_config_local_prefix INIT_CWD

if [ $# -ge 1 ]; then
  tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  (cd "$ROOT" && npm pack --silent --pack-destination "$WORK" >/dev/null)
  tarball=$(ls "$WORK"/ptq-onnx-*.tgz)
fi
mkdir "$WORK/consumer"
cd "$WORK/consumer"
echo '{"name":"consumer","private":true,"type":"module"}' > package.json
# npx's own cost: a local bin that only prints a line (npx loads the project's package tree
# before it runs any bin, which takes longer than onnxruntime-node's load on its own).
mkdir noop-bin
echo '{"name":"noop-bin","version":"1.0.0","bin":{"noop-bin":"./bin.js"}}' > noop-bin/package.json
printf '#!/usr/bin/env node\nconsole.log("1.0.0");\n' > noop-bin/bin.js
chmod +x noop-bin/bin.js
ONNXRUNTIME_NODE_INSTALL=skip npm install "$tarball" ./noop-bin --prefer-offline --no-audit --no-fund --silent

node - "$RUNS" <<'JS'
const { spawnSync } = require("node:child_process");
const runs = Number(process.argv[2]);
const commands = [
  ["node -e \"require('onnxruntime-node')\"", "node", ["-e", "require('onnxruntime-node')"]],
  ["npx ptq-onnx --version", "npx", ["--no-install", "ptq-onnx", "--version"]],
  ["npx noop-bin (npx's own cost)", "npx", ["--no-install", "noop-bin"]],
  ["node_modules/.bin/ptq-onnx --version", "node_modules/.bin/ptq-onnx", ["--version"]],
  ["node_modules/.bin/ptq-onnx --help", "node_modules/.bin/ptq-onnx", ["--help"]],
];
const times = commands.map(() => []);
// Interleaved, so that a burst of load on the machine hits every command alike.
for (let i = 0; i < runs; i++) {
  commands.forEach(([label, cmd, args], k) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`${label} exited ${r.status}: ${r.stderr}`);
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
  });
}
const stat = (t) => { const s = [...t].sort((a, b) => a - b); return { min: s[0], median: s[s.length >> 1] }; };
const base = stat(times[0]);
console.log(`${runs} runs each, wall-clock ms`);
console.log(["command".padEnd(40), "min".padStart(7), "median".padStart(7), "min / ort".padStart(10)].join(" "));
commands.forEach(([label], k) => {
  const s = stat(times[k]);
  console.log([label.padEnd(40), s.min.toFixed(0).padStart(7), s.median.toFixed(0).padStart(7), (s.min / base.min).toFixed(2).padStart(10)].join(" "));
});
const verdict = (k) => {
  const ratio = stat(times[k]).min / base.min;
  return `${ratio.toFixed(2)}x onnxruntime-node's load (target <= 2x: ${ratio <= 2 ? "met" : "NOT met"})`;
};
console.log(`ptq-onnx --version: ${verdict(3)}`);
console.log(`npx ptq-onnx --version: ${verdict(1)}; ptq-onnx's part of it ${(stat(times[1]).min - stat(times[2]).min).toFixed(0)} ms over npx running a bin that only prints`);
JS
