#!/usr/bin/env bash
# Carries issue 30's long CIFAR-10 runs across working sessions on machines that do not keep
# /work: `save` copies each run's resumable state from OUT (bench/cifar10_long.sh's folder) into
# bench/cifar10-state/$(basename OUT)/NAME/ in the repository (config.json, metrics.jsonl, steps.jsonl and the
# last checkpoint with its optimiser state: ~2.2 MB per run; best.* stays behind), `restore`
# copies it back, after which bench/cifar10_long.sh continues every run with --resume.
#
#   OUT=/work/cifar10-long bench/cifar10_state.sh save      # before a session ends (then commit)
#   OUT=/work/cifar10-long bench/cifar10_state.sh restore   # on the next machine, before cifar10_long.sh
#
# A run resumes from its last completed checkpoint (the end of an epoch, or of a Ctrl-C), with the
# data at the path its config.json names. `save` may run while the runs train: it copies again
# until the weights and the optimiser state it copied carry the same iteration (one checkpoint),
# and on resume the logs are cut back to what that checkpoint holds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder of bench/cifar10_long.sh}
STATE=bench/cifar10-state/$(basename "$OUT")
files=(config.json metrics.jsonl steps.jsonl last.safetensors last.state.safetensors)
# The iteration a checkpoint file was written at (its safetensors header's tricks.iteration).
iteration() {
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n" | grep -ao '"tricks.iteration":"[0-9]*"' | grep -o '[0-9][0-9]*' || true
}
case "${1:-}" in
save)
    # One save at a time (cifar10_long.sh's workers each save after their run).
    exec {lock}> "$OUT/.save.lock"; flock "$lock"
    for dir in "$OUT"/*/; do
        name=$(basename "$dir")
        [ -f "$dir/last.safetensors" ] || continue
        mkdir -p "$STATE/$name"
        for try in 1 2 3 4 5 6; do
            for f in "${files[@]}"; do [ -f "$dir/$f" ] && cp "$dir/$f" "$STATE/$name/$f"; done
            weights=$(iteration "$STATE/$name/last.safetensors"); state=$(iteration "$STATE/$name/last.state.safetensors")
            [ -n "$weights" ] && [ "$weights" = "$state" ] && break
            [ "$try" = 6 ] && { echo "cifar10_state: $name's weights (iteration $weights) and state ($state) still differ; run save again" >&2; exit 1; }
            sleep 5
        done
        echo "saved $name: iteration $weights, $(wc -l < "$STATE/$name/metrics.jsonl") epochs logged"
    done ;;
restore)
    [ -d "$STATE" ] || { echo "cifar10_state: $STATE holds no saved runs" >&2; exit 1; }
    for dir in "$STATE"/*/; do
        name=$(basename "$dir")
        if [ -f "$OUT/$name/metrics.jsonl" ] && [ "$(wc -l < "$OUT/$name/metrics.jsonl")" -ge "$(wc -l < "$dir/metrics.jsonl")" ]; then
            echo "kept $name: $OUT/$name is as far along"; continue
        fi
        mkdir -p "$OUT/$name"
        cp "$dir"/* "$OUT/$name/"
        echo "restored $name: $(wc -l < "$dir/metrics.jsonl") epochs; data $(grep -o '"path" *: *"[^"]*"' "$dir/config.json" | head -1)"
    done ;;
*) echo "usage: OUT=folder $0 save|restore" >&2; exit 2 ;;
esac
