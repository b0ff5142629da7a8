#!/usr/bin/env bash
# Deployable integer models, measured: for each model, quantizes to 8 and 4 bits (Q/DQ,
# balanced calibration), lowers each to onnxruntime's integer kernels (ptq-onnx lower), makes
# the baseline onnxruntime's own `quantize_dynamic` would (ort-dyn: int8 weights,
# DynamicQuantizeLSTM; scripts/bench/ort-dynamic.ts), then runs one `ptq-onnx bench float q8
# q8-ort q4 q4-ort ort-dyn --batch 1,32 --threads 1` and `eval` on the test split, and prints
# the table (scripts/bench/lowered-table.mjs OUT).
#
#   scripts/bench/lowered.sh [--out DIR] [--only NAME[,NAME]] [--gen-rows N] [--runs N] [--rounds N] [--stages quantize,eval,bench]
#
# Models: the zoo (models/*.onnx: wordnet8-disc, wordnet26-disc, wordnet8-bilstm, wordnet8-gen, wordnet26-gen,
# spam-disc, spam-gen) and, from outside it, test/fixtures/models/disc-tiny.onnx
# (calibrated and evaluated on a seeded pool of random ids: its accuracy means nothing, its
# agreement with the float model does; timed on the same rows).
# --gen-rows N: evaluate generative models on a fixed sample of N test rows (default 0: all).
# --rounds N: run each model's bench N times (default 1); the table takes the median of each
#   latency and ratio over the rounds, which steadies them on a loaded machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=out/lowered
ONLY=""
GEN_ROWS=0
RUNS=100
ROUNDS=1
STAGES=quantize,eval,bench
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --gen-rows) GEN_ROWS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "lowered.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
CLI="node bin/ptq-onnx.js"
has() { [[ ",$STAGES," == *",$1,"* ]]; }
log() { echo "[$(date +%T)] $*" >&2; }
# Runs a command with stdout to FILE, written only when the command succeeds.
to() { local file=$1; shift; "$@" >"$file.tmp" && mv "$file.tmp" "$file"; }

# The outside model's pool: 600 rows of 4..20 ids below its vocabulary of 50, 3 labels, seeded.
POOL=$OUT/disc-tiny.pool.jsonl
[[ -f $POOL ]] || node -e '
  let s = 12345; const r = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines = [];
  for (let i = 0; i < 600; i++) lines.push(JSON.stringify({ ids: Array.from({ length: 4 + Math.floor(r() * 17) }, () => 2 + Math.floor(r() * 48)), label: i % 3 }));
  process.stdout.write(lines.join("\n") + "\n");' >"$POOL"

MODELS=(models/wordnet8-disc.onnx models/wordnet26-disc.onnx models/wordnet8-bilstm.onnx models/wordnet8-gen.onnx models/wordnet26-gen.onnx models/spam-disc.onnx models/spam-gen.onnx test/fixtures/models/disc-tiny.onnx)
for FLOAT in "${MODELS[@]}"; do
  NAME=$(basename "$FLOAT" .onnx)
  [[ -z $ONLY || ",$ONLY," == *",$NAME,"* ]] || continue
  [[ -f $FLOAT ]] || { log "$NAME: $FLOAT missing, skipped"; continue; }
  DATA=() BENCH_DATA=() ROWS=()
  [[ $NAME == disc-tiny ]] && DATA=(--data "$POOL") BENCH_DATA=(--data "$POOL")
  [[ $NAME == *gen* && $GEN_ROWS != 0 ]] && ROWS=(--rows "$GEN_ROWS")
  VERSIONS=("$FLOAT")
  for B in 8 4; do
    Q=$OUT/$NAME.q$B.onnx
    if has quantize && [[ ! -f $Q ]]; then
      log "$NAME: quantizing to $B bits"
      to "$OUT/$NAME.q$B.quantize.json" $CLI quantize "$FLOAT" --bits "$B" --calib balanced "${DATA[@]}" -o "$Q" --json
    fi
    if has quantize && [[ -f $Q && ! -f $OUT/$NAME.q$B.ort.onnx ]]; then
      log "$NAME: lowering the $B-bit model"
      to "$OUT/$NAME.q$B.lower.json" $CLI lower "$Q" -o "$OUT/$NAME.q$B.ort.onnx" --json
    fi
    VERSIONS+=("$Q" "$OUT/$NAME.q$B.ort.onnx")
  done
  # onnxruntime's own dynamic int8 quantization of the float model, the baseline to beat.
  DYN=$OUT/$NAME.ort-dyn.onnx
  if has quantize && [[ ! -f $DYN ]]; then
    log "$NAME: onnxruntime-style dynamic quantization"
    npx tsx scripts/bench/ort-dynamic.ts "$FLOAT" "$DYN"
  fi
  VERSIONS+=("$DYN")
  for V in "${VERSIONS[@]}"; do
    TAG=$(basename "$V" .onnx)
    if has eval && [[ -f $V ]]; then
      log "$TAG: eval"
      to "$OUT/$TAG.eval.json" $CLI eval "$V" "${DATA[@]}" "${ROWS[@]}" --reference "$FLOAT" --json
    fi
  done
  if has bench; then
    rm -f "$OUT/$NAME".bench*.json
    for ((R = 1; R <= ROUNDS; R++)); do
      log "$NAME: bench (round $R of $ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg))"
      to "$OUT/$NAME.bench.$R.json" $CLI bench "${VERSIONS[@]}" "${BENCH_DATA[@]}" --batch 1,32 --threads 1 --runs "$RUNS" --warmup 10 --json
    done
  fi
done
node scripts/bench/lowered-table.mjs "$OUT"
