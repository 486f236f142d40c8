#!/usr/bin/env python3
"""Issue 30's report from the runs of bench/cifar10_long.sh: a Markdown table beside GluonCV's
published numbers and the per-epoch test top-1 of every run as one SVG. Runs still going are
shown with the epochs they have; nothing is extrapolated.

    python3 bench/cifar10_report.py /work/cifar10-long docs/ablation-cifar10.svg > table.md
"""
import json, os, sys

RUNS = [  # (folder, what it is, epochs planned, GluonCV's top-1 for the same setting)
    ("gluon-seed0", "GluonCV's baseline (NAG, lr 0.1, /10 at 100 and 150)", 200, 92.1),
    ("gluon-seed1", "GluonCV's baseline, seed 1", 200, 92.1),
    ("mixup-seed0", "+ mixup alpha 1, the last 20 epochs unmixed", 220, 92.9),
    ("mixup-seed1", "+ mixup, seed 1", 220, 92.9),
    ("full-seed0", "our --recipe full (ResNet-20-D, warmup, cosine, zero-gamma, no bias decay, smoothing 0.1, mixup 0.2)", 200, None),
    ("full-seed1", "our --recipe full, seed 1", 200, None),
    ("full-no-resnetd-seed0", "full recipe, ResNet-D off (plain ResNet-20)", 200, None),
    ("full-no-cosine-seed0", "full recipe, step schedule instead of cosine (/10 at 100 and 150)", 200, None),
    ("full-no-warmup-seed0", "full recipe, no warmup", 200, None),
    ("full-no-zerogamma-seed0", "full recipe, zero-gamma off", 200, None),
    ("full-bias-decay-seed0", "full recipe, biases and BN parameters decayed too", 200, None),
    ("full-no-smoothing-seed0", "full recipe, label smoothing off", 200, None),
    ("full-no-mixup-seed0", "full recipe, mixup off", 200, None),
    ("full-lr0.1-seed0", "full recipe at GluonCV's lr 0.1 (the recipe's is 0.05 at batch 128)", 200, None),
    ("check-fp32", "bf16 check: --recipe full, 30 epochs, FP32", 30, None),
    ("check-bf16", "bf16 check: --recipe full, 30 epochs, bf16", 30, None),
]
COLORS = ["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a",
          "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939",
          "#7f7f7f", "#c7c7c7"]


def history(folder):
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def main():
    out, svg_path = sys.argv[1], sys.argv[2]
    print("| run | epochs | last top-1 (%) | best top-1 (%) | GluonCV (%) | hours | s/epoch (median) |")
    print("|---|---|---|---|---|---|---|")
    curves = []
    for (name, what, planned, gluon), color in zip(RUNS, COLORS):
        h = history(os.path.join(out, name))
        if not h:
            continue
        seconds = sorted(r["seconds"] for r in h)
        print(f"| {name}: {what} | {len(h)} of {planned} | {h[-1]['top1']:.2f} | {max(r['top1'] for r in h):.2f} | "
              f"{'' if gluon is None else gluon} | {sum(seconds) / 3600:.1f} | {seconds[len(seconds) // 2]:.0f} |")
        curves.append((name, color, [r["top1"] for r in h]))
    width, height, left, top = 600, 320, 50, 30
    epochs = max(len(c[2]) for c in curves)
    low = 50.0
    x = lambda e: left + (e - 1) / max(1, epochs - 1) * width
    y = lambda v: top + height - (max(v, low) - low) / (100 - low) * height
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" height="{top + height + 40}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13">CIFAR-10 test top-1 (%) by epoch, cifar_resnet20</text>',
           f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>']
    for v in range(50, 101, 10):
        svg.append(f'<line x1="{left}" x2="{left + width}" y1="{y(v)}" y2="{y(v)}" stroke="#eee"/><text x="{left - 4}" y="{y(v) + 4}" text-anchor="end">{v}</text>')
    for e in range(0, epochs + 1, 20):
        if e:
            svg.append(f'<text x="{x(e)}" y="{top + height + 14}" text-anchor="middle">{e}</text>')
    for i, (name, color, values) in enumerate(curves):
        points = " ".join(f"{x(e + 1):.1f},{y(v):.1f}" for e, v in enumerate(values))
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
        svg.append(f'<text x="{left + width + 8}" y="{top + 12 + 15 * i}" fill="{color}">{name}</text>')
    svg.append("</svg>")
    open(svg_path, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
