#!/usr/bin/env bash
# The study's default grid on the WordNet-8 zoo (`npm run study:zoo`): the discriminative and
# the generative model at 3, 4, 5, 6 and 8 bits, calibrated balanced, natural and on class 0
# only, each evaluated clean and under Gaussian embedding noise 0.002/0.006/0.01 with 3 seeds.
# Cells are cached in the output folder, so a killed run continues where it stopped.
#
#   scripts/study/zoo.sh [more study options, e.g. --rows 2000 --jobs 2]
#   STUDY_OUT=DIR scripts/study/zoo.sh      (default out/study-wordnet8)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${STUDY_OUT:-out/study-wordnet8}"
mkdir -p "$out"
start=$(date +%s)
node bin/ptq-onnx.js study --models models/wordnet8-disc.onnx,models/wordnet8-gen.onnx --out "$out" "$@"
echo "study:zoo wall $(( $(date +%s) - start )) s; report: $out/report.html"
