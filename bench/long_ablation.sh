#!/usr/bin/env bash
# Issue 16's long ablation on the full built-in Fashion-MNIST, ours and PyTorch's, resumable:
# run it again after any stop and every finished epoch is kept (`tricks ablate` continues a
# row from its last checkpoint; bench/pytorch_train_reference.py from its last.pt).
#
#   nohup nice -n 19 bench/long_ablation.sh > long_ablation.log 2>&1 &
#
# Order: ours baseline and full (rows 1, 10) seed 0, then seed 1; then efficient and tweaked
# (rows 6, 7); then PyTorch's baseline and full, seeds 0 and 1. It runs a copy of the release
# binary, so that rebuilding meanwhile does not touch the running one. Results:
# $OUT/ablation.md (and .json, .svg), $OUT/pytorch-RECIPE-seedN/metrics.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/long-ablation}
EPOCHS=${EPOCHS:-30}
PYTHON=${PYTHON:-$HOME/torch-venv/bin/python}
mkdir -p "$OUT"
[ -x "$OUT/tricks" ] || cp .build/release/tricks "$OUT/tricks"
common=(--model cifar_resnet20 --epochs "$EPOCHS" --output "$OUT" --threads 2 -j 1 --log-every 200)
"$OUT/tricks" ablate "${common[@]}" --rows 1,10 --seeds 0
"$OUT/tricks" ablate "${common[@]}" --rows 1,10 --seeds 1
"$OUT/tricks" ablate "${common[@]}" --rows 6,7 --seeds 0,1
for seed in 0 1; do
    for recipe in baseline full; do
        "$PYTHON" bench/pytorch_train_reference.py --recipe "$recipe" --epochs "$EPOCHS" --seed "$seed" \
            --output "$OUT/pytorch-$recipe-seed$seed"
    done
done
