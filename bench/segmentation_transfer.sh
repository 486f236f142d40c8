#!/usr/bin/env bash
# Issue 13's transfer experiment (the paper's section 6, Table 8, on the built-in data): FCN on
# the garment scenes from a backbone trained by the baseline recipe (ablation row 1,
# cifar_resnet20) and from one trained by the full recipe (row 10, cifar_resnet20d: ResNet-D,
# cosine, label smoothing, mixup, ...), both 30 epochs on the full Fashion-MNIST by
# bench/long_ablation.sh, and from scratch as controls (ResNet-20 and ResNet-20-D: the two
# backbones differ in the D tweak too); two FCN seeds each, the same FCN recipe for all.
# Resumable: a finished run is kept, an unfinished one continues.
#
#   ABLATION=runs/long-ablation OUT=runs/segmentation-transfer bench/segmentation_transfer.sh
#
# Results: $OUT/transfer.md (mIoU and pixel accuracy per run, mean and range per backbone).
set -euo pipefail
cd "$(dirname "$0")/.."
ABLATION=${ABLATION:-runs/long-ablation}
OUT=${OUT:-runs/segmentation-transfer}
EPOCHS=${EPOCHS:-4}
SEEDS=${SEEDS:-"0 1"}
BACKBONES=${BACKBONES:-"baseline full scratch scratch-d"}
TRICKS=${TRICKS:-.build/release/tricks}
mkdir -p "$OUT"
fcn=(--lr 0.01 --train-scenes 4000 --val-scenes 1000 --epochs "$EPOCHS" --threads 2 -j 1 --log-every 100)

finished() { [ -f "$1/metrics.jsonl" ] && grep -q "\"epoch\":$EPOCHS," "$1/metrics.jsonl"; }
# A backbone must be a finished row (30 epochs), not one the long ablation is still training.
backbone_ready() {
    [ -f "$ABLATION/rows/$1/metrics.jsonl" ] && grep -q '"epoch":30,' "$ABLATION/rows/$1/metrics.jsonl" \
        || { echo "$ABLATION/rows/$1 has not finished its 30 epochs (bench/long_ablation.sh)" >&2; exit 1; }
}

for backbone in $BACKBONES; do
    case $backbone in
        baseline) backbone_ready 01-seed0; start=(--backbone "$ABLATION/rows/01-seed0/last.safetensors") ;;
        full) backbone_ready 10-seed0; start=(--backbone "$ABLATION/rows/10-seed0/last.safetensors") ;;
        scratch) start=(--model fcn_cifar_resnet20) ;;
        # The full recipe's backbone is a ResNet-20-D: its own from-scratch control.
        scratch-d) start=(--model fcn_cifar_resnet20d) ;;
        *) echo "unknown backbone '$backbone' (baseline, full, scratch or scratch-d)" >&2; exit 2 ;;
    esac
    for seed in $SEEDS; do
        run="$OUT/$backbone-seed$seed"
        if finished "$run"; then echo "$run: finished"; continue; fi
        resume=(); [ -f "$run/last.safetensors" ] && resume=(--resume)
        "$TRICKS" segment train "${start[@]}" "${fcn[@]}" --seed "$seed" --output "$run" "${resume[@]}"
    done
done

python3 - "$OUT" "$EPOCHS" <<'PY'
import json, pathlib, statistics, sys
out, epochs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rows, groups = [], {}
for run in sorted(p for p in out.iterdir() if p.is_dir()):
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()] if (run / "metrics.jsonl").exists() else []
    last = [l for l in lines if l["epoch"] == epochs]
    if not last: continue
    m = last[0]
    backbone = run.name.rsplit("-seed", 1)[0]
    rows.append(f"| {run.name} | {m['meanIoU']:.2f} | {m['pixelAccuracy']:.2f} |")
    groups.setdefault(backbone, []).append((m["meanIoU"], m["pixelAccuracy"]))
text = ["| run | mIoU % | pixel accuracy % |", "|---|---|---|", *rows, "",
        "| backbone | runs | mIoU mean (range) | pixel accuracy mean (range) |", "|---|---|---|---|"]
for b, v in groups.items():
    i, a = [x[0] for x in v], [x[1] for x in v]
    text.append(f"| {b} | {len(v)} | {statistics.mean(i):.2f} ({min(i):.2f}-{max(i):.2f}) | {statistics.mean(a):.2f} ({min(a):.2f}-{max(a):.2f}) |")
(out / "transfer.md").write_text("\n".join(text) + "\n")
print("\n".join(text))
PY
