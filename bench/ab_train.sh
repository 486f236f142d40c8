#!/usr/bin/env bash
# Two builds of `tricks` side by side on issue 7's training rows, in one run on one machine:
# each row runs A, B, A, B, ... (PAIRS times; each run its own process, median of ROUNDS steps
# after warm-up), and the table gives each binary's median train and inference img/s over
# its runs and the ratio B / A. The machines are noisy: read ratios, not absolute numbers.
# Usage: bench/ab_train.sh OLD_TRICKS NEW_TRICKS [ROUNDS] [PAIRS]
#   e.g. git worktree add /tmp/old HEAD~3 && (cd /tmp/old && swift build -c release)
#        bench/ab_train.sh /tmp/old/.build/release/tricks .build/release/tricks
set -euo pipefail
a=$1 b=$2 rounds=${3:-5} pairs=${4:-3}
rows=("cifar_resnet20 128 32" "cifar_resnet18 128 32" "resnet50 16 224" "resnet50d 16 224" "mobilenet_v1 32 224")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -o 'avx512[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "| model | batch, input | train img/s A | train img/s B | B / A | inference img/s A | inference img/s B | B / A | peak MB A / B |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    read -r model batch size <<<"$row"
    results=()
    for _ in $(seq "$pairs"); do
        for binary in "$a" "$b"; do
            results+=("$("$binary" bench train --model "$model" -b "$batch" --input-size "$size" --rounds "$rounds" --json | tail -1)")
        done
    done
    python3 - "$model" "$batch" "$size" "${results[@]}" <<'PY'
import json, statistics, sys
model, batch, size, *runs = sys.argv[1:]
runs = [json.loads(r) for r in runs]
a, b = runs[0::2], runs[1::2]
best = lambda rs, k: statistics.median(r[k] for r in rs)
ta, tb = best(a, "trainImagesPerSecond"), best(b, "trainImagesPerSecond")
ia, ib = best(a, "inferenceImagesPerSecond"), best(b, "inferenceImagesPerSecond")
ma, mb = min(r["peakResidentMB"] for r in a), min(r["peakResidentMB"] for r in b)
print(f"| {model} | {batch}, {size}x{size} | {ta:.1f} | {tb:.1f} | {tb/ta:.3f} | {ia:.1f} | {ib:.1f} | {ib/ia:.3f} | {ma:.0f} / {mb:.0f} |")
PY
done
