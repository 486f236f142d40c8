#!/usr/bin/env python3
"""Issue 16's report from what bench/long_ablation.sh left in OUT: one table, ours beside
PyTorch's per recipe (final top-1 and top-5, mean and range over the seeds that finished, each
recipe's gain over the one above it, and the paper's gain for the same step on ResNet-50), and
an SVG of top-1 by epoch for baseline and full, ours and PyTorch's, every seed a line.
Standard library only.

    python3 bench/long_ablation_report.py /work/ablation-long [--epochs 30] [--svg docs/long-ablation.svg]
"""
import argparse, json, pathlib, statistics

# Our ablation rows (tricks ablate --rows) for the recipes of the paper's Tables 4-6, in its order;
# the PyTorch reference has the first four.
OUR_ROWS = {"baseline": "01", "efficient": "06", "tweaked": "07", "full": "10", "full + distillation": "11"}
# The paper's ResNet-50 top-1 for the same recipes (PAPER.md section 6): baseline 75.87 (batch 256),
# efficient 76.21 (batch 1024, FP16), tweaked = ResNet-50-D 77.16, full = + cosine, label
# smoothing and mixup 79.15 (mixup over 200 epochs), + distillation 79.29.
PAPER_TOP1 = {"baseline": 75.87, "efficient": 76.21, "tweaked": 77.16, "full": 79.15, "full + distillation": 79.29}
COLOURS = {("ours", "baseline"): "#1f77b4", ("ours", "full"): "#d62728",
           ("PyTorch", "baseline"): "#6baed6", ("PyTorch", "full"): "#fc9272"}


def runs(out):
    """(implementation, recipe, seed) -> list of per-epoch dicts with epoch, top1, top5."""
    found = {}
    for recipe, row in OUR_ROWS.items():
        for folder in sorted(out.glob(f"rows/{row}-seed*")):
            path = folder / "metrics.jsonl"
            if path.exists():
                history = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
                found[("ours", recipe, int(folder.name.split("seed")[1]))] = history
    for folder in sorted(out.glob("pytorch-*-seed*")):
        path = folder / "metrics.json"
        if path.exists():
            recipe, seed = folder.name[len("pytorch-"):].rsplit("-seed", 1)
            found[("PyTorch", recipe, int(seed))] = json.loads(path.read_text())["history"]
    return found


def span(values):
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def table(found, epochs):
    lines = [f"| recipe | implementation | seeds at {epochs} epochs | top-1 % mean (range) | top-5 % "
             "| top-1 vs recipe above | paper's ResNet-50 top-1 (vs above) | unfinished |",
             "|---|---|---|---|---|---|---|---|"]
    means, recipes = {}, list(OUR_ROWS)
    for index, recipe in enumerate(recipes):
        for implementation in ("ours", "PyTorch"):
            keys = sorted(k for k in found if k[:2] == (implementation, recipe))
            at = {k: next((d for d in found[k] if d["epoch"] == epochs), None) for k in keys}
            done = [d for d in at.values() if d]
            unfinished = [f"seed {k[2]}: {len(found[k])}/{epochs}" for k in keys if not at[k]]
            if not keys:
                continue
            seeds = ",".join(str(k[2]) for k in keys if at[k]) or "-"
            top1 = span([d["top1"] for d in done]) if done else "-"
            top5 = span([d["top5"] for d in done]) if done else "-"
            if done:
                means[(implementation, recipe)] = statistics.mean(d["top1"] for d in done)
            above = means.get((implementation, recipes[index - 1])) if index else None
            here = means.get((implementation, recipe))
            gain = f"{here - above:+.2f}" if here is not None and above is not None else ""
            paper = f"{PAPER_TOP1[recipe]:.2f}" + (f" ({PAPER_TOP1[recipe] - PAPER_TOP1[recipes[index - 1]]:+.2f})" if index else "")
            lines.append(f"| {recipe} | {implementation} | {seeds} | {top1} | {top5} | {gain} | {paper} | {', '.join(unfinished)} |")
    return "\n".join(lines)


def svg(found, epochs):
    curves = {k: v for k, v in found.items() if k[1] in ("baseline", "full") and v}
    values = [d["top1"] for v in curves.values() for d in v[:epochs]]
    low, high = (min(values), max(values)) if values else (0, 100)
    low = max(low, high - 15)  # the first epochs of mixup runs sit far below: keep the end readable
    left, top, w, h = 50, 30, 560, 320
    px = lambda e: left + (e - 1) / max(epochs - 1, 1) * w
    py = lambda v: top + h - (min(max(v, low), high) - low) / max(high - low, 1e-9) * h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + w + 250}" height="{top + h + 50}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13">validation top-1 (%) by epoch on Fashion-MNIST, baseline (ResNet-20) and full (ResNet-20-D): ours and PyTorch\'s</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for i in range(5):
        v = low + (high - low) * i / 4
        out.append(f'<text x="{left - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    for e in range(1, epochs + 1, max(1, epochs // 10)):
        out.append(f'<text x="{px(e):.1f}" y="{top + h + 14}" text-anchor="middle">{e}</text>')
    out.append(f'<text x="{left + w / 2}" y="{top + h + 30}" text-anchor="middle">epoch</text>')
    for n, (key, history) in enumerate(sorted(curves.items())):
        implementation, recipe, seed = key
        colour = COLOURS[(implementation, recipe)]
        dash = ' stroke-dasharray="5,3"' if implementation == "PyTorch" else ""
        points = " ".join(f"{px(d['epoch']):.1f},{py(d['top1']):.1f}" for d in history[:epochs])
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6"{dash} points="{points}"/>')
        last = history[min(len(history), epochs) - 1]
        out.append(f'<text x="{left + w + 10}" y="{top + 14 + 16 * n}" fill="{colour}">{implementation} {recipe} seed {seed}: '
                   f'{last["top1"]:.2f}% at {last["epoch"]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--svg", type=pathlib.Path)
    args = parser.parse_args()
    found = runs(args.out)
    print(table(found, args.epochs))
    if args.svg:
        args.svg.write_text(svg(found, args.epochs))
        print(f"wrote {args.svg}")


if __name__ == "__main__":
    main()
