#!/usr/bin/env bash
# The study's quick grid on the WordNet-8 zoo (zoo.sh --quick), at a base commit and at the
# working tree, alternately on this machine, each into a fresh folder: wall time and the work
# done (calibrations, quantizations), and whether both gave the same results.json.
#
#   scripts/study/before-after.sh BASE [ROUNDS]      e.g. scripts/study/before-after.sh 1d5bc53 2
#
# On a shared machine the wall times move with its load: compare runs of one round.
set -euo pipefail
cd "$(dirname "$0")/../.."
base="${1:?usage: scripts/study/before-after.sh BASE [ROUNDS]}"
rounds="${2:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git archive "$base" | tar -x -C "$work" --one-top-level=base
ln -s "$PWD/node_modules" "$work/base/node_modules"

run() { # name dir
  local out="$work/out-$1-$r"
  STUDY_OUT="$out" bash "$2/scripts/study/zoo.sh" --quick >"$work/$1-$r.log" 2>&1
  node -e '
    const r = require(process.argv[1] + "/run.json");
    const c = r.counters;
    console.log(`${process.argv[2].padEnd(7)} round ${process.argv[3]}: wall ${r.wall_seconds.toFixed(1)} s; ${c.calibrations} calibrations, ${c.quantizations} quantizations counted, ${c.evaluations} evaluations, ${c.cells} cells`);
  ' "$out" "$1" "$r"
}
for r in $(seq 1 "$rounds"); do
  run base "$work/base"
  run current "$PWD"
  if cmp -s "$work/out-base-$r/results.json" "$work/out-current-$r/results.json"; then echo "round $r: results.json identical"; else echo "round $r: results.json DIFFERS"; fi
done
