#!/usr/bin/env bash
# Issue 30: cifar_resnet20 on CIFAR-10 at GluonCV's published budget, resumable. Run it again
# after any stop (a session's end, a reboot, Ctrl-C): every run continues from its last
# checkpoint with `--resume`, and finished runs are skipped.
#
#   CIFAR10=/path/to/cifar10 OUT=/work/cifar10-long nohup nice -n 19 bench/cifar10_long.sh >> /work/cifar10-long/log 2>&1 &
#
# CIFAR10 is a folder with train/ and test/ holding a folder per class of images (the layout of
# the public JPEG and PNG mirrors), or the binary archive's cifar-10-batches-bin folder. The runs, at
# batch 128 with the small augmentation (pad 4, random 32x32 crop, flip), test top-1 each epoch:
#   check-fp32, check-bf16: the full recipe for 30 epochs, seed 0, in FP32 and in native bf16
#     (the issue's item 2: bf16 may carry the long runs if the two end within 0.3 points);
#   gluon-seedN:  GluonCV's cifar_resnet20_v1: 200 epochs, NAG, lr 0.1, wd 1e-4, /10 at 100, 150;
#   mixup-seedN:  the same plus mixup alpha 1 for 200 epochs, then 20 unmixed (220 in all);
#   full-seedN:   our `--recipe full` for 200 epochs (ResNet-20-D, warmup, cosine, zero-gamma,
#                 no bias decay, label smoothing 0.1, mixup 0.2, bf16 where native);
#   full-no-TRICK-seed0, full-bias-decay-seed0, full-lr0.1-seed0, full-unmixed-last20-seed0: the
#                 full recipe with one trick off, at GluonCV's lr, or with GluonCV's unmixed last
#                 20 epochs (only when RUNS names them; below).
# The long runs use bf16 where the CPU computes in it natively and the check passed; else FP32.
# PRECISION=bf16 (or fp32) skips the check (it passed once: docs/ablation-cifar10.md); RUNS="gluon-seed1
# full-seed1" runs those only, in that order (a name it does not know is refused).
#
# A 200-epoch run takes ~3 h of both cores, more than one working session, and the machines do
# not keep /work between sessions: bench/cifar10_state.sh save copies each run's resumable state
# (config, metrics, last checkpoint) into the repository, and restore puts it back, so that the
# next session continues where this one stopped (the data must sit at the same path again).
# This script runs that save itself every SAVE_EVERY minutes (default 30; 0: never) and after
# each run, so that a commit of bench/cifar10-state/ at any moment carries the runs no further
# behind than that: commit it often, since a session can end without warning.
# It runs a copy of the release binary, so that rebuilding meanwhile does not touch the running one.
#
# PARALLEL=2 trains two runs at a time, each on THREADS (default: the cores / PARALLEL) oneDNN
# threads: on 2 cores two 1-thread steps of cifar_resnet20d do 1.19x the images of one 2-thread
# step (docs/ablation-cifar10.md). Each run is held by a lock while it trains, so the workers (and
# any second instance of this script) share out the list and never train one run twice. Every
# output line starts with its run's name. RUNS's order is the order the runs start in.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/cifar10-long}
CIFAR10=${CIFAR10:?set CIFAR10 to the data set folder}
mkdir -p "$OUT"
[ -x "$OUT/tricks" ] || cp .build/release/tricks "$OUT/tricks"

if [ -d "$CIFAR10/train" ]; then data=(--data "$CIFAR10/train" --val-data "$CIFAR10/test")
else data=(--data "$CIFAR10"); fi
PARALLEL=${PARALLEL:-1}
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || { echo "cifar10_long: PARALLEL must be a whole number from 1 (got '$PARALLEL')" >&2; exit 2; }
read -r -a names <<< "${RUNS:-}"; RUNS="${names[*]:-}"   # blanks only: no RUNS
THREADS=${THREADS:-$(( $(nproc) / PARALLEL > 0 ? $(nproc) / PARALLEL : 1 ))}
common=(--model cifar_resnet20 -b 128 --augment small --log-every 100 "${data[@]}")

# One run: a new one, or the continuation of what is in its folder (a finished run says so and
# exits); with ONLY set, only that run. A run another worker holds is left to it.
run() {
    local name=$1; shift
    if [ -n "${LISTING:-}" ]; then echo "$name"; return 0; fi
    if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then return 0; fi
    local dir="$OUT/$name" lock
    exec {lock}> "$OUT/.$name.lock"
    local held=0
    flock -n -E 75 "$lock" || held=$?
    if [ "$held" = 75 ]; then echo "[$name] trained by another worker; skipped"; exec {lock}>&-; return 0; fi
    if [ "$held" != 0 ]; then echo "cifar10_long: flock failed ($held) on $OUT/.$name.lock" >&2; exit 1; fi
    # The lock travels with the trainer (it inherits the descriptor): held until it exits. The
    # name-prefixing sed ignores Ctrl-C, so that the trainer's last lines, its checkpoint's
    # among them, still reach the log.
    if [ -f "$dir/last.safetensors" ]; then
        "$OUT/tricks" train --output "$dir" --resume --log-every 100 --threads "$THREADS" 2>&1 | prefix "$name"
    else
        "$OUT/tricks" train "${common[@]}" --threads "$THREADS" --output "$dir" --overwrite "$@" 2>&1 | prefix "$name"
    fi
    exec {lock}>&-
    save_state
}

prefix() { (trap '' INT; exec sed -u "s/^/[$1] /"); }
save_state() { OUT="$OUT" bench/cifar10_state.sh save > /dev/null || echo "cifar10_long: saving the runs' state failed; they go on" >&2; }
every=${SAVE_EVERY:-30}
if [ "$every" -gt 0 ]; then
    ( while sleep $((every * 60)) && kill -0 $$ 2> /dev/null; do save_state; done ) &
    saver=$!
    trap 'kill $saver 2> /dev/null' EXIT
fi

final_top1() { tail -n 1 "$OUT/$1/metrics.jsonl" | sed 's/.*"top1":\([0-9.]*\).*/\1/'; }

precision=${PRECISION:-}
if [ -n "${RUNS:-}" ] && [ -z "$precision" ]; then echo "cifar10_long: RUNS needs PRECISION (bf16 or fp32): the check runs are not in it" >&2; exit 2; fi
if [ -z "$precision" ]; then
    # The check runs go one at a time, on all the cores.
    threads=$THREADS; THREADS=$(nproc)
    run check-fp32 --recipe full --epochs 30 --seed 0 --precision fp32
    native=$("$OUT/tricks" env | grep -c 'bf16 native' || true)
    precision=fp32
    if [ "$native" -gt 0 ]; then
        run check-bf16 --recipe full --epochs 30 --seed 0 --precision bf16
        for check in check-fp32 check-bf16; do
            lines=0; [ -f "$OUT/$check/metrics.jsonl" ] && lines=$(wc -l < "$OUT/$check/metrics.jsonl")
            if [ "$lines" -lt 30 ]; then
                echo "cifar10_long: $check has not finished (another instance holds it?); set PRECISION or wait for it" >&2; exit 2
            fi
        done
        gap=$(awk -v a="$(final_top1 check-fp32)" -v b="$(final_top1 check-bf16)" 'BEGIN { d = a - b; print (d < 0 ? -d : d) }')
        echo "bf16 check: fp32 $(final_top1 check-fp32)%, bf16 $(final_top1 check-bf16)%, gap $gap points"
        if awk -v g="$gap" 'BEGIN { exit !(g <= 0.3) }'; then precision=bf16; fi
    fi
    THREADS=$threads
fi
echo "long runs in $precision"

gluon=(--epochs 200 --lr 0.1 --sched step --lr-steps 100,150 --wd 1e-4 --momentum 0.9 --init xavier --precision "$precision")
long_runs() {
for seed in 0 1; do
    run "gluon-seed$seed" "${gluon[@]}" --seed "$seed"
    run "mixup-seed$seed" "${gluon[@]}" --epochs 220 --mixup 1 --mixup-off-epoch 200 --seed "$seed"
    run "full-seed$seed" --recipe full --epochs 200 --precision "$precision" --seed "$seed"
done

# One trick off the full recipe, at its budget, seed 0: the issue's follow-up where the full
# recipe does not beat GluonCV's baseline. Only the ones RUNS names, e.g.
# RUNS="full-no-mixup-seed0 full-no-resnetd-seed0"; "full-lr0.1" is the one setting of GluonCV's
# that is no trick (the recipe scales lr 0.1 per 256 images: 0.05 at batch 128).
off() {
    local name=$1; shift
    if [ -n "${RUNS:-}" ]; then run "$name-seed0" "$@" --epochs 200 --precision "$precision" --seed 0; fi
}
off full-no-resnetd --recipe efficient --sched cosine --smoothing 0.1 --mixup 0.2
off full-no-cosine --recipe full --sched step --lr-steps 100,150
off full-no-warmup --recipe full --warmup-epochs 0
off full-no-zerogamma --recipe full --no-zero-gamma
off full-bias-decay --recipe full --bias-decay
off full-no-smoothing --recipe full --smoothing 0
off full-no-mixup --recipe full --mixup 0
off full-lr0.1 --recipe full --lr 0.1
# Not a trick of the paper's: GluonCV's mixup run leaves its last 20 epochs unmixed, and gained all
# its margin over the baseline in them; the full recipe mixes to the end.
off full-unmixed-last20 --recipe full --mixup-off-epoch 180
}

# RUNS may name only the long runs defined above (the check runs never run with RUNS set).
known=$(LISTING=1 RUNS=x long_runs | tr '\n' ' ')
for name in ${RUNS:-}; do
    if [[ " $known" != *" $name "* ]]; then echo "cifar10_long: RUNS names an unknown run: $name (known: $known)" >&2; exit 2; fi
done
# One worker goes down the list: RUNS in its order, or the seeds' runs in the script's order.
worker() { for name in ${RUNS:-$(LISTING=1 long_runs)}; do ONLY=$name long_runs; done; }
echo "$PARALLEL at a time, $THREADS threads each"
# Every worker in the background, each waited for by its pid (a bare `wait` would wait for the
# saver too, which never ends while this shell lives); one that fails leaves the others going.
pids=() failed=0
for ((w = 0; w < PARALLEL; w++)); do worker & pids+=($!); sleep 5; done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
