#!/usr/bin/env bash
# Issue 16's long ablation on the full built-in Fashion-MNIST, ours and PyTorch's, resumable:
# run it again after any stop and every finished epoch is kept (`tricks ablate` continues a
# row from its last checkpoint; bench/pytorch_train_reference.py from its last.pt).
#
#   nohup nice -n 19 bench/long_ablation.sh > long_ablation.log 2>&1 &
#
# Order: seed 0 of baseline and full (rows 1, 10), ours then PyTorch's, so that the comparison
# that matters most comes first; then seed 1 of both, ours, and PyTorch's baseline (is a gap
# between the baselines the seed or the code?); then one seed of each step between them,
# efficient and tweaked (rows 6, 7), and of distillation (row 11) from row 10's model; then
# their second seeds; last PyTorch's full recipe for seed 1.
# It runs a copy of the release binary, so that rebuilding meanwhile does not touch the running one. Results:
# $OUT/ablation.md (and .json, .svg), $OUT/pytorch-RECIPE-seedN/metrics.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/long-ablation}
EPOCHS=${EPOCHS:-30}
PYTHON=${PYTHON:-$HOME/torch-venv/bin/python}
mkdir -p "$OUT"
[ -x "$OUT/tricks" ] || cp .build/release/tricks "$OUT/tricks"
common=(--model cifar_resnet20 --epochs "$EPOCHS" --output "$OUT" --threads 2 -j 1 --log-every 200)
ours() { "$OUT/tricks" ablate "${common[@]}" "$@"; }
theirs() { "$PYTHON" bench/pytorch_train_reference.py --recipe "$1" --epochs "$EPOCHS" --seed "$2" \
    --output "$OUT/pytorch-$1-seed$2"; }
ours --rows 1,10 --seeds 0
theirs baseline 0
theirs full 0
ours --rows 1,10 --seeds 1
theirs baseline 1
# Distillation (row 11 = row 10 + distillation) from a teacher trained by the full recipe:
# row 10's seed-0 model, the same cifar_resnet20d, as the paper distils ResNet-50-D from a
# ResNet-152-D of its own recipe (here a same-size teacher: the budget has no larger one).
teacher=(--teacher "$OUT/rows/10-seed0/best.safetensors")
ours --rows 6,7 --seeds 0
ours --rows 11 --seeds 0 "${teacher[@]}"
ours --rows 6,7 --seeds 1
ours --rows 11 --seeds 1 "${teacher[@]}"
theirs full 1
