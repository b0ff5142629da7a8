#!/usr/bin/env bash
# The evidence for the zoo: quantizes each float zoo model to 8 and 4 bits (balanced
# calibration, the quantizer's defaults), then evaluates every version against the float one,
# draws robustness curves and benchmarks float against quantized. JSON goes to OUT, and
# scripts/bench/summarize.mjs OUT prints the Markdown tables.
#
#   scripts/bench/zoo-report.sh [--models DIR] [--out DIR] [--only NAME[,NAME]]
#                               [--gen-rows N] [--seeds N] [--runs N] [--stages quantize,eval,robustness,bench]
#
# --gen-rows N: robustness of generative models on a fixed sample of N test rows (default 0:
# all; a pass over WordNet-8's 5767 test rows takes about 10 s on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."

MODELS=models
OUT=out/report
ONLY=""
GEN_ROWS=0
SEEDS=3
RUNS=100
STAGES=quantize,eval,robustness,bench
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) MODELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --gen-rows) GEN_ROWS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "zoo-report.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f $MODELS/manifest.json ]] || { echo "zoo-report.sh: no $MODELS/manifest.json" >&2; exit 2; }
mkdir -p "$OUT"
CLI="node bin/ptq-onnx.js"
has() { [[ ",$STAGES," == *",$1,"* ]]; }
log() { echo "[$(date +%T)] $*" >&2; }
# Runs a command with stdout to FILE, written only when the command succeeds.
to() { local file=$1; shift; "$@" >"$file.tmp" && mv "$file.tmp" "$file"; }

NAMES=$(node -e 'for (const m of require(process.argv[1]).models) console.log(m.name + " " + m.kind)' "$(realpath "$MODELS/manifest.json")")
while read -r NAME KIND; do
  [[ -z $ONLY || ",$ONLY," == *",$NAME,"* ]] || continue
  FLOAT=$MODELS/$NAME.onnx
  VERSIONS=("$FLOAT")
  for B in 8 4; do
    Q=$OUT/$NAME.q${B}a${B}.onnx
    if has quantize && [[ ! -f $Q ]]; then
      log "$NAME: quantizing to $B bits"
      to "$OUT/$NAME.q${B}a${B}.quantize.json" $CLI quantize "$FLOAT" --bits "$B" --calib balanced -o "$Q" --json
    fi
    [[ -f $Q ]] && VERSIONS+=("$Q")
  done
  ROWS=()
  NOISE=(--noise sub:0,0.05,0.1,0.2 --noise sub-unigram:0.1 --noise del:0.1,0.2 --noise ins:0.1
    --noise swap:0.2 --noise typo:0.02,0.05,0.1 --noise gauss:0.002,0.01,0.05,0.2)
  [[ $KIND == generative && $GEN_ROWS != 0 ]] && ROWS=(--rows "$GEN_ROWS")
  for V in "${VERSIONS[@]}"; do
    TAG=$(basename "$V" .onnx)
    if has eval; then
      log "$TAG: eval"
      to "$OUT/$TAG.eval.json" $CLI eval "$V" --reference "$FLOAT" --json
    fi
    if has robustness; then
      log "$TAG: robustness"
      to "$OUT/$TAG.robustness.json" $CLI robustness "$V" "${ROWS[@]}" --seeds "$SEEDS" "${NOISE[@]}" --json
    fi
  done
  if has bench; then
    log "$NAME: bench"
    to "$OUT/$NAME.bench.json" $CLI bench "${VERSIONS[@]}" --batch 1,32 --runs "$RUNS" --warmup 10 --json
  fi
done <<<"$NAMES"
log "done: node scripts/bench/summarize.mjs $OUT"
