#!/usr/bin/env bash
# Checks bench/cifar10_long.sh's scheduling with a stand-in trainer (a few lines of shell in place
# of `tricks`, so no training and no data): with PARALLEL=2 every run named in RUNS is trained
# once, never by two workers at once, started in RUNS's order, its lines carrying its name, and
# the script ends (with its periodic saver running) with status 0; a Ctrl-C to the whole process
# group reaches the trainer, which still prints, and stops the script with 130, leaving nothing
# running; bad PARALLEL and unknown RUNS names are refused. About 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_cifar10_long: $*" >&2; exit 1; }

# The stand-in: EPOCHS epochs of 0.2 s appended to metrics.jsonl; a run with all its epochs says
# it is finished; a second trainer in the same folder at once is a failure; Ctrl-C is reported.
cat > "$work/tricks" <<'EOF'
#!/usr/bin/env bash
args=("$@")
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
mkdir -p "$out"
[ "$(cat "$out/metrics.jsonl" 2> /dev/null | wc -l)" -ge "$EPOCHS" ] && { echo "finished"; exit 0; }
( set -o noclobber; : > "$out/.training" ) 2> /dev/null || { echo "TRAINED TWICE AT ONCE"; exit 3; }
echo "$(basename "$out")" >> "$(dirname "$out")/started"
trap 'echo "interrupted: checkpoint written"; rm -f "$out/.training"; exit 130' INT
for ((e = 1; e <= EPOCHS; e++)); do sleep 0.2; echo "epoch $e ${args[*]}"; echo "{\"epoch\":$e}" >> "$out/metrics.jsonl"; done
rm -f "$out/.training"
EOF
chmod +x "$work/tricks"
settings=(OUT="$work/out" CIFAR10="$work/none" PRECISION=bf16 SAVE_EVERY=1)
mkdir -p "$work/out" && cp "$work/tricks" "$work/out/tricks"

runs="full-seed1 gluon-seed1 mixup-seed1"
rc=0; EPOCHS=40 RUNS="$runs" PARALLEL=2 timeout 60 env "${settings[@]}" bash bench/cifar10_long.sh > "$work/log" 2>&1 || rc=$?
grep -q "TRAINED TWICE" "$work/log" && fail "a run was trained by two workers at once"
[ "$rc" = 0 ] || { cat "$work/log" >&2; fail "PARALLEL=2 ended with $rc (124: it did not end)"; }
[ "$(tr '\n' ' ' < "$work/out/started")" = "$runs " ] || fail "runs started as $(tr '\n' ' ' < "$work/out/started"), not in RUNS's order ($runs)"
for name in $runs; do
    [ "$(wc -l < "$work/out/$name/metrics.jsonl")" = 40 ] || fail "$name has $(wc -l < "$work/out/$name/metrics.jsonl") epochs, not 40"
    [ "$(grep -c "^\[$name\] epoch .*--output $work/out/$name " "$work/log")" = 40 ] || fail "$name's epoch lines do not all carry its name"
    grep -q "^\[$name\] epoch .*--threads 1 " "$work/log" || fail "$name did not run on one thread"
done

rm -rf "$work/out/"*-seed1 "$work/out/started"
# As from a terminal: its own process group, Ctrl-C not ignored (a command started with & in a
# script, or under a CI runner, may start with SIGINT ignored; env puts the default back).
EPOCHS=200 RUNS="gluon-seed1 full-seed1" PARALLEL=2 setsid env --default-signal=INT "${settings[@]}" bash bench/cifar10_long.sh > "$work/log" 2>&1 &
group=$!   # setsid in a process that leads no group makes it the leader of a new one
sleep 8
kill -INT -- "-$group"
rc=0; wait $! || rc=$?
sleep 1
[ "$rc" = 130 ] || { cat "$work/log" >&2; fail "Ctrl-C ended the script with $rc, not 130"; }
grep -q "^\[gluon-seed1\] interrupted: checkpoint written" "$work/log" || { cat "$work/log" >&2; fail "the trainer's Ctrl-C message did not reach the log"; }
# what is left in the group, zombies aside (their new parent's to reap); /proc, as ps may be missing
left=$(awk -v g="$group" '$5 == g && $3 != "Z" { print $1, $2 }' /proc/[0-9]*/stat 2> /dev/null || true)
[ -z "$left" ] || fail "processes left running after Ctrl-C: $left"

rc=0; EPOCHS=1 RUNS="gluon-seed1 no-such-run" env "${settings[@]}" bash bench/cifar10_long.sh > "$work/log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "unknown run: no-such-run" "$work/log" || fail "an unknown RUNS name was not refused (status $rc)"
rc=0; EPOCHS=1 RUNS="gluon-seed1" PARALLEL=0 env "${settings[@]}" bash bench/cifar10_long.sh > "$work/log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "PARALLEL=0 was not refused (status $rc)"
echo "check_cifar10_long: scheduling, Ctrl-C and refusals as documented"
