#!/usr/bin/env python3
"""Issue 30's report from the runs of bench/cifar10_long.sh: a Markdown table beside GluonCV's
published numbers, the seeds' means of the settings that have finished runs, and the per-epoch
test top-1 of every run as one SVG (the whole run, and the end enlarged). Runs still going are
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
    ("full-unmixed-last20-seed0", "full recipe, the last 20 epochs unmixed (GluonCV's way)", 200, None),
    ("check-fp32", "bf16 check: --recipe full, 30 epochs, FP32", 30, None),
    ("check-bf16", "bf16 check: --recipe full, 30 epochs, bf16", 30, None),
]
COLORS = ["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a",
          "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939",
          "#7f7f7f", "#c7c7c7", "#843c39"]
assert len(COLORS) >= len(RUNS), "a colour for every run (zip would drop the runs past the last colour)"


def history(folder):
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


SETTINGS = [("gluon", "GluonCV's baseline"), ("mixup", "+ mixup (GluonCV's way)"), ("full", "our --recipe full")]


def seed_means(finished):
    """Per setting, the last top-1 of each finished seed (`finished`: run name -> last top-1) and
    their mean, and the mean gap to the baseline over the seeds finished in both (paired: the
    same seed against the same seed)."""
    published = {name: gluon for name, _, _, gluon in RUNS}
    rows = []
    for key, what in SETTINGS:
        gluon = published[f"{key}-seed0"]
        seeds = [s for s in (0, 1) if f"{key}-seed{s}" in finished]
        if not seeds:
            continue
        tops = [finished[f"{key}-seed{s}"] for s in seeds]
        paired = [s for s in seeds if f"gluon-seed{s}" in finished]
        gap = ""
        if key != "gluon" and paired:
            d = sum(finished[f"{key}-seed{s}"] - finished[f"gluon-seed{s}"] for s in paired) / len(paired)
            gap = f"{d:+.2f} (seed{'s' if len(paired) > 1 else ''} {', '.join(map(str, paired))})"
        rows.append(f"| {what} | {', '.join(map(str, seeds))} | {', '.join(f'{t:.2f}' for t in tops)} | "
                    f"{sum(tops) / len(tops):.2f} | {gap} | {'' if gluon is None else gluon} |")
    if not rows:
        return []
    return ["", "| setting | finished seeds | last top-1 of each (%) | mean (%) | against the baseline, same seeds (points) | GluonCV (%) |",
            "|---|---|---|---|---|---|"] + rows


def trick_worth(finished):
    """What each trick is worth in the full recipe, seed 0: the full recipe's last top-1 minus
    that of the same run with the trick off (positive: the trick pays), for the finished
    one-trick-off runs (RUNS's full-*-seed0 rows besides full-seed0 itself)."""
    if "full-seed0" not in finished:
        return []
    full = finished["full-seed0"]
    rows = [f"| {what} | {finished[name]:.2f} | {full - finished[name]:+.2f} |" for name, what, _, _ in RUNS
            if name.startswith("full-") and name.endswith("-seed0") and name != "full-seed0" and name in finished]
    if not rows:
        return []
    return ["", f"| one-trick-off run (seed 0) | last top-1 (%) | the full recipe ({full:.2f}%) minus this run: what the trick is worth here (points) |",
            "|---|---|---|"] + rows


def panel(curves, left, top, width, height, first, last, low, high, title):
    """One plot of the curves over epochs first...last and top-1 low...high (clipped)."""
    x = lambda e: left + (e - first) / max(1, last - first) * width
    y = lambda v: top + height - (min(max(v, low), high) - low) / (high - low) * height
    svg = [f'<text x="{left}" y="{top - 8}" font-size="13">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>']
    step = 10 if high - low > 20 else 1
    for v in range(int(low), int(high) + 1, step):
        svg.append(f'<line x1="{left}" x2="{left + width}" y1="{y(v)}" y2="{y(v)}" stroke="#eee"/><text x="{left - 4}" y="{y(v) + 4}" text-anchor="end">{v}</text>')
    for e in range(0, last + 1, 20):
        if e >= first:
            svg.append(f'<text x="{x(e)}" y="{top + height + 14}" text-anchor="middle">{e}</text>')
    for name, color, values in curves:
        shown = [(e + 1, v) for e, v in enumerate(values) if e + 1 >= first]
        if shown:
            points = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in shown)
            svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
    return svg


def main():
    out, svg_path = sys.argv[1], sys.argv[2]
    print("| run | epochs | last top-1 (%) | mean of the last 10 (%) | best top-1 (%) | GluonCV (%) | hours | s/epoch (median) |")
    print("|---|---|---|---|---|---|---|---|")
    curves, finished = [], {}
    for (name, what, planned, gluon), color in zip(RUNS, COLORS):
        h = history(os.path.join(out, name))
        if not h:
            continue
        if len(h) == planned:
            finished[name] = h[-1]["top1"]
        seconds = sorted(r["seconds"] for r in h)
        # The last 10 epochs' mean weighs the last epoch's draw less (the epoch-to-epoch spread
        # at the end of a run is ~0.1 point).
        last10 = f"{sum(r['top1'] for r in h[-10:]) / 10:.2f}" if len(h) >= 10 else ""
        print(f"| {name}: {what} | {len(h)} of {planned} | {h[-1]['top1']:.2f} | {last10} | {max(r['top1'] for r in h):.2f} | "
              f"{'' if gluon is None else gluon} | {sum(seconds) / 3600:.1f} | {seconds[len(seconds) // 2]:.0f} |")
        curves.append((name, color, [r["top1"] for r in h]))
    for line in seed_means(finished) + trick_worth(finished):
        print(line)
    width, height, left, top = 600, 320, 50, 30
    epochs = max(len(c[2]) for c in curves)
    # The last 120 epochs enlarged, once a run is longer than that (before, it would be the
    # whole run with its early epochs clipped to the bottom edge).
    zoom = epochs > 120
    zoom_top = top + height + 60
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" height="{(zoom_top + height if zoom else top + height) + 40}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    svg += panel(curves, left, top, width, height, 1, epochs, 50, 100, "CIFAR-10 test top-1 (%) by epoch, cifar_resnet20")
    if zoom:
        first = epochs - 119
        svg += panel(curves, left, zoom_top, width, height, first, epochs, 85, 95, f"the same from epoch {first}, 85-95%")
    for i, (name, color, _) in enumerate(curves):
        svg.append(f'<text x="{left + width + 8}" y="{top + 12 + 15 * i}" fill="{color}">{name}</text>')
    svg.append("</svg>")
    open(svg_path, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
