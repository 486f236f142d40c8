#!/usr/bin/env python3
"""Faster R-CNN speed of `tricks` beside torchvision on the same CPU, same weights, same images,
same thread count, in one run (issue 29, item 8): `fasterrcnn_resnet50_fpn` with 91 classes,
frozen BatchNorm and the last 3 stages trainable (torchvision's fine-tuning setting; built as
`fasterrcnn_resnet50_fpn` builds it with a pretrained backbone), a training step on 2 images
(forward, the four losses, backward, SGD) at a shorter side of 512, and inference on 1 image at
512 and 800. Each measurement runs in its own process, ours and torchvision's alternating, so
that no two frameworks' threads compete and peak memory (VmHWM) is that measurement's alone.

    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch torchvision safetensors
    swift build -c release
    ~/torch-venv/bin/python bench/detection_reference.py [--threads 2] [--rounds 5] [--pairs 2] [--precision bf16]

--precision bf16 runs ours in native bf16 (`tricks bench detect --precision bf16`) and
torchvision under `torch.autocast("cpu", dtype=torch.bfloat16)`, PyTorch's CPU mixed precision
(both on oneDNN's bf16 kernels; needs a CPU with AVX-512 BF16).

The share of time in RoIAlign (forward and backward) and NMS: ours from `OpTimes` over the
timed rounds; torchvision's from torch.profiler over one more round after them (its ops
`torchvision::roi_align`, `torchvision::_roi_align_backward`, `torchvision::nms`, each's total
CPU time over the round's wall time). Prints a Markdown table.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRICKS = os.environ.get("TRICKS", os.path.join(ROOT, ".build/release/tricks"))
ROWS = [("train", 512), ("infer", 512), ("infer", 800)]


def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def model(min_size):
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import misc
    backbone = _resnet_fpn_extractor(torchvision.models.resnet50(norm_layer=misc.FrozenBatchNorm2d), 3)
    return FasterRCNN(backbone, num_classes=91, min_size=min_size)


def inputs(path):
    from safetensors.torch import load_file
    entries = load_file(path)
    images, targets, n = [], [], 0
    while f"image{n}" in entries:
        images.append(entries[f"image{n}"])
        targets.append({"boxes": entries[f"boxes{n}"], "labels": entries[f"labels{n}"].long()})
        n += 1
    return images, targets


def worker(mode, size, weights, data, rounds, threads, precision):
    import contextlib
    import torch
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    torch.set_num_threads(threads)
    net = model(size)
    net.load_state_dict(__import__("safetensors.torch").torch.load_file(weights))
    images, targets = inputs(data)
    if mode == "train":
        net.train()
        # lr 1e-6: every round does a full step's work but the weights (hence the proposals, and
        # the work downstream of them) stay what both sides loaded.
        optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-6, momentum=0.9, weight_decay=1e-4)
        def step():
            optimizer.zero_grad()
            with autocast():
                loss = sum(net(images, targets).values())
            loss.backward()
            optimizer.step()
        count = len(images)
    else:
        net.eval()
        def step():
            with torch.no_grad(), autocast():
                net([images[0]])
        count = 1
    for _ in range(2):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        step()
        wall = time.perf_counter() - start
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()}
    shares = {ours: totals.get(theirs, 0) / wall for ours, theirs in
              [("roi_align", "torchvision::roi_align"), ("roi_align backward", "torchvision::_roi_align_backward"), ("nms", "torchvision::nms")]}
    median = statistics.median(times)
    print(json.dumps({"mode": mode, "images": count, "minSize": size, "imagesPerSecond": count / median, "medianSeconds": median,
                      "peakResidentMB": peak_mb(), "shares": shares}))


def run(command):
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--worker", nargs=4, metavar=("MODE", "SIZE", "WEIGHTS", "INPUTS"))
    args = parser.parse_args()
    if args.worker:
        mode, size, weights, data = args.worker
        return worker(mode, int(size), weights, data, args.rounds, args.threads, args.precision)

    import torch
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(29)
    folder = tempfile.mkdtemp(prefix="detection-bench-")
    weights, data = os.path.join(folder, "weights.safetensors"), os.path.join(folder, "inputs.safetensors")
    # Random weights whose frozen BatchNorm statistics are the images' own (one training-mode
    # pass with momentum 1), so that activations, objectness and proposals are those of a
    # normalised network rather than of identity BatchNorms over 50 layers.
    images = [torch.rand(3, 512, 683) for _ in range(2)]
    calibration = model(512)
    body = torchvision.models.resnet50()
    for m in body.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    body.train()
    with torch.no_grad():
        body(calibration.transform(images)[0].tensors)
    normalised = {"backbone.body." + k: v for k, v in body.state_dict().items() if not k.startswith("fc.") and "num_batches" not in k}
    state = calibration.state_dict()
    state.update(normalised)
    save_file({k: v.contiguous() for k, v in state.items()}, weights)
    boxes = [torch.tensor([[40., 60, 200, 300], [300, 100, 620, 400], [100, 350, 260, 500]]), torch.tensor([[40., 60, 200, 300], [300, 100, 620, 400]])]
    labels = [torch.tensor([1., 18, 44]), torch.tensor([3., 62])]
    entries = {}
    for n in range(2):
        entries[f"image{n}"], entries[f"boxes{n}"], entries[f"labels{n}"] = images[n], boxes[n], labels[n]
    save_file(entries, data)

    results = {}
    for _ in range(args.pairs):
        for mode, size in ROWS:
            ours = run([TRICKS, "bench", "detect", "--mode", mode, "--min-size", str(size), "--weights", weights, "--inputs", data,
                        "--rounds", str(args.rounds), "--threads", str(args.threads), "--precision", args.precision, "--json"])
            theirs = run([sys.executable, __file__, "--worker", mode, str(size), weights, data, "--rounds", str(args.rounds),
                          "--threads", str(args.threads), "--precision", args.precision])
            results.setdefault((mode, size), []).append((ours, theirs))
            print(f"{mode} {size}: ours {ours['imagesPerSecond']:.3f} img/s, torchvision {theirs['imagesPerSecond']:.3f} img/s", file=sys.stderr)

    med = lambda xs: statistics.median(xs)
    print(f"torch {torch.__version__}, {args.precision}, {args.threads} threads, {args.rounds} timed rounds per measurement, median of {args.pairs} alternating pairs\n")
    print("| row | ours img/s | torchvision img/s | ours / torchvision | ours peak RSS MB | torchvision peak RSS MB "
          "| RoIAlign fwd+bwd % ours / tv | NMS % ours / tv |")
    print("|---|---|---|---|---|---|---|---|")
    for (mode, size), pairs in results.items():
        o = med([p[0]["imagesPerSecond"] for p in pairs]); t = med([p[1]["imagesPerSecond"] for p in pairs])
        share = lambda side, keys: 100 * med([sum(p[side]["shares"].get(k, 0) for k in keys) for p in pairs])
        roi, nms = ["roi_align", "roi_align backward"], ["nms"]
        label = f"{'training step, 2 images' if mode == 'train' else 'inference, 1 image'}, shorter side {size}"
        print(f"| {label} | {o:.3f} | {t:.3f} | {o / t:.2f}x | {med([p[0]['peakResidentMB'] for p in pairs]):.0f} | "
              f"{med([p[1]['peakResidentMB'] for p in pairs]):.0f} | {share(0, roi):.1f} / {share(1, roi):.1f} | {share(0, nms):.1f} / {share(1, nms):.1f} |")


if __name__ == "__main__":
    main()
