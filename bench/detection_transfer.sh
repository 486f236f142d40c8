#!/usr/bin/env bash
# Issue 29's Table 8 in miniature (the paper's section 6.1 on the built-in data): Faster R-CNN
# (fasterrcnn_cifar_resnet20_fpn / _resnet20d_fpn) on the garment detection scenes from no
# pretraining, from a backbone trained by the baseline recipe (ablation row 1, cifar_resnet20) and
# from one trained by the full recipe (row 10, cifar_resnet20d: ResNet-D, cosine, label smoothing,
# mixup, ...), both BACKBONE_EPOCHS epochs on the full Fashion-MNIST by `tricks ablate`; two
# detector seeds each, the same detector recipe for all. Resumable: finished runs are kept, an
# unfinished one continues with --resume.
#
#   OUT=runs/detection-transfer bench/detection_transfer.sh
#
# Results: $OUT/transfer.md (VOC07 and COCO mAP per run, mean per start, each backbone's top-1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/detection-transfer}
BACKBONE_EPOCHS=${BACKBONE_EPOCHS:-5}
EPOCHS=${EPOCHS:-4}
SEEDS=${SEEDS:-"0 1"}
STARTS=${STARTS:-"scratch baseline full"}
mkdir -p "$OUT"
[ -x "$OUT/tricks" ] || cp .build/release/tricks "$OUT/tricks"
TRICKS="$OUT/tricks"
detector=(--train-scenes 1000 --val-scenes 300 --epochs "$EPOCHS" -b 4 --lr 0.02 --threads 2 --log-every 100)

finished() { [ -f "$1/metrics.jsonl" ] && grep -q "\"epoch\":$2," "$1/metrics.jsonl"; }

# The two backbones: ablation rows 1 and 10, seed 0 (an unfinished row continues).
if ! finished "$OUT/backbones/rows/01-seed0" "$BACKBONE_EPOCHS" || ! finished "$OUT/backbones/rows/10-seed0" "$BACKBONE_EPOCHS"; then
    "$TRICKS" ablate --model cifar_resnet20 --rows 1,10 --seeds 0 --epochs "$BACKBONE_EPOCHS" --output "$OUT/backbones" \
        --threads 2 -j 1 --log-every 200
fi

# Seed by seed, so that a stopped experiment has whole comparisons.
for seed in $SEEDS; do
    for start in $STARTS; do
        case $start in
            scratch) from=(--model fasterrcnn_cifar_resnet20_fpn) ;;
            baseline) from=(--backbone "$OUT/backbones/rows/01-seed0/last.safetensors") ;;
            full) from=(--backbone "$OUT/backbones/rows/10-seed0/last.safetensors") ;;
            *) echo "unknown start '$start' (scratch, baseline or full)" >&2; exit 2 ;;
        esac
        run="$OUT/$start-seed$seed"
        if finished "$run" "$EPOCHS"; then echo "$run: finished"; continue; fi
        if [ -f "$run/last.safetensors" ]; then "$TRICKS" detect train --output "$run" --resume
        else "$TRICKS" detect train "${from[@]}" "${detector[@]}" --seed "$seed" --output "$run" --overwrite; fi
    done
done

python3 - "$OUT" "$EPOCHS" "$BACKBONE_EPOCHS" <<'PY'
import json, pathlib, statistics, sys
out, epochs, backbone_epochs = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def last(path, epoch):
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []
    return next((l for l in lines if l["epoch"] == epoch), None)
top1 = {"scratch": None}
for start, row in [("baseline", "01-seed0"), ("full", "10-seed0")]:
    m = last(out / "backbones" / "rows" / row / "metrics.jsonl", backbone_epochs)
    top1[start] = m["top1"] if m else None
rows, groups = [], {}
for run in sorted(p for p in out.iterdir() if p.is_dir() and "-seed" in p.name):
    m = last(run / "metrics.jsonl", epochs)
    if not m: continue
    start = run.name.rsplit("-seed", 1)[0]
    rows.append(f"| {run.name} | {m['voc07']:.2f} | {m['vocArea']:.2f} | {m['cocoAP']:.2f} | {m['cocoAP50']:.2f} | {m['cocoAP75']:.2f} |")
    groups.setdefault(start, []).append((m["voc07"], m["cocoAP"]))
text = ["| run | VOC07 mAP % | VOC area mAP % | COCO AP % | AP50 % | AP75 % |", "|---|---|---|---|---|---|", *rows, "",
        "| start | backbone top-1 % | VOC07 mAP % (mean, range) | COCO AP % (mean, range) |", "|---|---|---|---|"]
for start in ["scratch", "baseline", "full"]:
    if start not in groups: continue
    v, c = [g[0] for g in groups[start]], [g[1] for g in groups[start]]
    t = f"{top1[start]:.2f}" if top1.get(start) is not None else "-"
    text.append(f"| {start} | {t} | {statistics.mean(v):.2f} ({min(v):.2f}-{max(v):.2f}) | {statistics.mean(c):.2f} ({min(c):.2f}-{max(c):.2f}) |")
(out / "transfer.md").write_text("\n".join(text) + "\n")
print("\n".join(text))
PY
