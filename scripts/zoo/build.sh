#!/usr/bin/env bash
# Rebuilds the model zoo from a clean clone: exports the data sets, trains the seven models
# with fixed seeds and writes models/*.onnx and models/manifest.json.
#
#   scripts/zoo/build.sh [--jobs N] [--stage all|data|train|finalize] [--work DIR] [--only NAME[,NAME]]
#
# Needs `npm ci` done and Debian's python3-torch and python3-onnx (run by /usr/bin/python3,
# not the python3 on PATH). Work files (exported data, raw models, logs) go to DIR (default
# out/zoo, ignored by git); training logs are DIR/logs/<model>.log. With --jobs N up to N models
# train at once, the largest (wordnet8-gen) first; each training process uses one thread, so the
# result is the same either way. --only trains (and finalizes) just the named models.
# Measured here: about 40 minutes with --jobs 2 on a 2-core machine shared with other work
# (wordnet8-gen alone takes about 100 s an epoch when it has a core to itself); the three newer
# members (wordnet26-gen, wordnet26-disc, wordnet8-bilstm) about 38 minutes with --jobs 3 there.
set -euo pipefail

cd "$(dirname "$0")/../.."
JOBS=1
STAGE=all
WORK=out/zoo
ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --stage) STAGE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$STAGE" in all|data|train|finalize) ;; *) echo "build.sh: unknown stage $STAGE" >&2; exit 2 ;; esac

PY=/usr/bin/python3
if ! "$PY" -c 'import torch, onnx' 2>/dev/null; then
  echo "build.sh: $PY lacks torch or onnx (apt-get install -y python3-torch python3-onnx)" >&2
  exit 2
fi
# glibc returns big freed blocks to the OS by default, so every training step page-faults its
# [tokens x vocab] tensors in again; keeping freed memory in the heap makes steps steadier.
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824

mkdir -p "$WORK/data" "$WORK/train" "$WORK/logs"

# The zoo: name, data set, kind, train.py flags. Keep in step with models/manifest.json.
MODELS=(
  "wordnet8-gen  wordnet8 gen  --seed 1 --epochs 8 --batch 64 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --label-emb 32 --hidden 192"
  "wordnet8-disc wordnet8 disc --seed 1 --epochs 8 --batch 64 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --hidden 256"
  "spam-disc     spam     disc --seed 1 --epochs 6 --batch 32 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --hidden 256"
  "spam-gen      spam     gen  --seed 1 --epochs 4 --batch 32 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --label-emb 32 --hidden 192"
  "wordnet26-gen  wordnet26 gen  --seed 1 --epochs 2 --batch 64 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --label-emb 32 --hidden 128 --max-val 2000"
  "wordnet26-disc wordnet26 disc --seed 1 --epochs 3 --batch 64 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --hidden 128"
  "wordnet8-bilstm wordnet8 disc --seed 1 --epochs 2 --batch 64 --lr 2e-3 --lr-decay 0.85 --dropout 0.3 --clip 1.0 --emb 128 --hidden 96 --layers 2 --bidirectional"
)

if [[ -n $ONLY ]]; then
  keep=()
  for spec in "${MODELS[@]}"; do
    name=${spec%% *}
    [[ ",$ONLY," == *",$name,"* ]] && keep+=("$spec")
  done
  [[ ${#keep[@]} -gt 0 ]] || { echo "build.sh: --only $ONLY names no zoo model" >&2; exit 2; }
  MODELS=("${keep[@]}")
fi

if [[ $STAGE == all || $STAGE == data ]]; then
  datasets=()
  for spec in "${MODELS[@]}"; do
    read -r _ ds _ <<<"$spec"
    [[ " ${datasets[*]} " == *" $ds "* ]] || datasets+=("$ds")
  done
  for ds in "${datasets[@]}"; do
    echo "[$(date +%T)] exporting $ds to $WORK/data/$ds"
    npx tsx scripts/zoo/export-data.ts "$ds" "$WORK/data/$ds"
  done
fi

train_one() {
  local name=$1 ds=$2 kind=$3
  shift 3
  echo "[$(date +%T)] training $name (log $WORK/logs/$name.log)"
  "$PY" scripts/zoo/train.py --data "$WORK/data/$ds" --kind "$kind" --out "$WORK/train/$name.onnx" "$@" \
    >"$WORK/logs/$name.log" 2>&1 || { echo "build.sh: training $name failed; see $WORK/logs/$name.log" >&2; return 1; }
  echo "[$(date +%T)] $name: $(grep 'best epoch' "$WORK/logs/$name.log" | sed 's/^\[[0-9:]*\] //')"
}

if [[ $STAGE == all || $STAGE == train ]]; then
  if [[ $JOBS -gt 1 && ${#MODELS[@]} -gt 1 ]]; then
    # Up to JOBS trainings at once, started in the order of MODELS (the largest first).
    status=0
    running=0
    for spec in "${MODELS[@]}"; do
      if [[ $running -ge $JOBS ]]; then
        wait -n || status=1
        running=$((running - 1))
      fi
      # shellcheck disable=SC2086
      train_one $spec &
      running=$((running + 1))
    done
    while [[ $running -gt 0 ]]; do
      wait -n || status=1
      running=$((running - 1))
    done
    [[ $status == 0 ]] || exit 1
  else
    for spec in "${MODELS[@]}"; do
      # shellcheck disable=SC2086
      train_one $spec
    done
  fi
fi

if [[ $STAGE == all || $STAGE == finalize ]]; then
  echo "[$(date +%T)] finalizing into models/"
  npx tsx scripts/zoo/finalize.ts --work "$WORK" ${ONLY:+--only "$ONLY"}
fi
echo "[$(date +%T)] done"
