#!/usr/bin/env python3
"""Training-step and inference images/s and peak memory of PyTorch (2 threads, NCHW and
channels_last) beside `tricks bench train`, model by model, in one run on the same machine,
with the ratios ours / PyTorch-best.

The same models, shapes, optimiser (SGD, Nesterov momentum 0.9, weight decay 1e-4) and loss
(cross-entropy) on synthetic data. Every measurement runs in its own process, so peak resident
memory (VmHWM) is that configuration's alone. Install PyTorch once, outside
the repo (about 5 GB):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch torchvision timm
    swift build -c release
    ~/torch-venv/bin/python bench/pytorch_reference.py [--rounds 5] [--rows resnet20,resnet50]

With --precision bf16, PyTorch runs under torch.autocast("cpu", dtype=torch.bfloat16) (its CPU
mixed precision: bf16 convolutions, FP32 weights and loss) and ours with --precision bf16; the
table then also gives our FP32 beside it, measured in the same run.
"""
import argparse, json, subprocess, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# Our `cifar_resnet20` in PyTorch, the one the ablation reference trains (3x3 stem of 16, 3 stages of
# 3 basic blocks of 16/32/64, projection shortcuts, GAP, FC).
from pytorch_train_reference import CifarResNet20


def mobilenet_v1(classes=10):
    """Our `mobilenet_v1`: 3x3 s2 stem, 13 depthwise-separable blocks, GAP, FC."""
    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                             nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    spec = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers, cin = [nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))], 32
    for cout, s in spec:
        layers.append(block(cin, cout, s)); cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, classes))


def small_resnet18(classes=10):
    m = torchvision.models.resnet18(num_classes=classes)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
    return m


def resnet50d(classes=10):
    import timm
    return timm.create_model("resnet50d", num_classes=classes)


# (row, our model name, PyTorch constructor, batch, input size)
ROWS = [
    ("resnet20", "cifar_resnet20", lambda: CifarResNet20(channels=3), 128, 32),
    ("resnet18-small", "cifar_resnet18", small_resnet18, 128, 32),
    ("resnet50", "resnet50b", lambda: torchvision.models.resnet50(num_classes=10), 16, 224),
    ("resnet50d", "resnet50d", resnet50d, 16, 224),
    ("mobilenet_v1", "mobilenet_v1", mobilenet_v1, 32, 224),
    # Segmentation (issue 13): torchvision's FCN (ResNet-50 with layer3/layer4 dilated, auxiliary
    # head), 21 classes, per-pixel cross-entropy plus 0.4 x the auxiliary head's, as its recipe.
    ("fcn_resnet50", "fcn_resnet50b", lambda: torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True), 4, 128),
]


def timed(body, rounds):
    """Two warm-up calls, then the median of `rounds` timed ones (seconds)."""
    times = []
    for i in range(rounds + 2):
        start = time.perf_counter()
        body()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure_pytorch(row, channels_last, rounds, precision="fp32", device="cpu", batch=None, size=None):
    """Runs in a child process: one model, one layout, on `device` (the row's batch and input
    size unless given); returns img/s and peak memory (resident on the CPU, allocated on a GPU)."""
    cuda = device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(2)
    _, _, make, row_batch, row_size = next(r for r in ROWS if r[0] == row)
    batch, size = batch or row_batch, size or row_size
    torch.manual_seed(0)
    model = make().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.arange(batch, device=device) % 10
    segmentation = row.startswith("fcn")
    if segmentation:
        y = torch.arange(batch * size * size, device=device).reshape(batch, size, size) % 21

    def loss_of(output):
        if segmentation:
            return F.cross_entropy(output["out"], y, ignore_index=255) + 0.4 * F.cross_entropy(output["aux"], y, ignore_index=255)
        return F.cross_entropy(output, y)
    if channels_last:
        model = model.to(memory_format=torch.channels_last); x = x.to(memory_format=torch.channels_last)

    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")
    # A GPU runs asynchronously: a step is timed to its end.
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_of(model(x))
        loss.backward()
        opt.step()
        synchronize()

    def infer():
        with autocast:
            model(x)
        synchronize()

    model.train()
    train = batch / timed(step, rounds)
    model.eval()
    with torch.no_grad():
        inference = batch / timed(infer, rounds)
    if not cuda:
        return {"train": train, "inference": inference, "peak_mb": peak_resident_mb()}
    return {"train": train, "inference": inference, "peak_mb": torch.cuda.max_memory_allocated() / 2**20,
            "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cudnn": torch.backends.cudnn.version()}


# (row, batch, input size) of the GPU comparison (issue 17).
CUDA_ROWS = [("resnet50", 256, 224), ("resnet20", 512, 32)]


# The configurations measured on the GPU: the target (bf16 autocast, channels_last), and
# Float32 in NCHW with PyTorch's defaults (TF32 in cuDNN's convolutions, not in matmuls), what the
# CUDA backend computes today, for a like-for-like ratio.
CUDA_CONFIGS = [("bf16 autocast, channels_last", "bf16", "channels_last"), ("fp32, NCHW (TF32 convolutions)", "fp32", "nchw")]


def compare_cuda(args):
    """PyTorch's side of issue 17's table, each row and configuration in its own process."""
    print(f"PyTorch on the GPU: eager, cudnn.benchmark; img/s = median of {args.rounds} synchronised steps after 2 warm-up")
    print("| model | batch, input | configuration | train img/s | inference img/s | peak GPU memory MB | GPU, torch, cuDNN |")
    print("|---|---|---|---|---|---|---|")
    for row, batch, size in CUDA_ROWS:
        if row not in args.rows.split(","):
            continue
        for label, precision, layout in CUDA_CONFIGS:
            r = child([sys.executable, __file__, "--rounds", str(args.rounds), "--device", "cuda", "--precision", precision,
                       "--child", row, f"{batch}x{size}:{layout}"])
            print(f"| {row} | {batch}, {size}x{size}x3 | {label} | {r['train']:.0f} | {r['inference']:.0f} | {r['peak_mb']:.0f} "
                  f"| {r['gpu']}, {r['torch']}, {r['cudnn']} |", flush=True)


def peak_resident_mb():
    """VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss across exec."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def child(arguments):
    return json.loads(subprocess.run(arguments, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", default=",".join(r[0] for r in ROWS))
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("ROW", "LAYOUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.device == "cuda":
        shape, layout = args.child[1].split(":")
        batch, size = map(int, shape.split("x"))
        print(json.dumps(measure_pytorch(args.child[0], layout == "channels_last", args.rounds, args.precision, "cuda", batch, size)))
        return
    if args.device == "cuda":
        return compare_cuda(args)
    if args.child:
        print(json.dumps(measure_pytorch(args.child[0], args.child[1] == "channels_last", args.rounds, args.precision)))
        return
    if args.precision == "bf16":
        return compare_bf16(args)
    print(f"PyTorch {torch.__version__} vs BagOfTricks, 2 threads each; img/s = median of {args.rounds} steps after 2 warm-up; "
          "peak RSS per configuration (own process); ratios = ours / PyTorch's best layout (memory: of that layout)")
    print("| model | batch, input | train img/s PyTorch NCHW / channels_last | BagOfTricks | train ratio "
          "| inference img/s PyTorch best / ours | peak RSS MB PyTorch (best layout) / ours |")
    print("|---|---|---|---|---|---|---|")
    for row, ours, make, batch, size in ROWS:
        if row not in args.rows.split(","):
            continue
        torch_runs = {layout: child([sys.executable, __file__, "--rounds", str(args.rounds), "--child", row, layout])
                      for layout in ("nchw", "channels_last")}
        mine = child([".build/release/tricks", "bench", "train", "--model", ours, "-b", str(batch), "--input-size", str(size),
                      "--rounds", str(args.rounds), "--threads", "2", "--json"])
        best = max(torch_runs.values(), key=lambda r: r["train"])
        best_inference = max(r["inference"] for r in torch_runs.values())
        print(f"| {row} | {batch}, {size}x{size}x3 | {torch_runs['nchw']['train']:.1f} / {torch_runs['channels_last']['train']:.1f} "
              f"| {mine['trainImagesPerSecond']:.1f} | {mine['trainImagesPerSecond'] / best['train']:.2f} "
              f"| {best_inference:.1f} / {mine['inferenceImagesPerSecond']:.1f} "
              f"| {best['peak_mb']:.0f} / {mine['peakResidentMB']:.0f} |", flush=True)


def compare_bf16(args):
    """PyTorch bf16 autocast (both layouts) beside our bf16 and our FP32, row by row."""
    print(f"PyTorch {torch.__version__} bf16 autocast vs BagOfTricks --precision bf16 (and fp32), 2 threads each; "
          f"img/s = median of {args.rounds} steps after 2 warm-up; peak RSS per configuration (own process)")
    print("| model | batch, input | train img/s PyTorch bf16 NCHW / channels_last | ours bf16 / fp32 | ours bf16 / PyTorch best "
          "| ours bf16 / ours fp32 | inference img/s PyTorch bf16 best / ours bf16 / ours fp32 "
          "| peak RSS MB PyTorch bf16 (best) / ours bf16 / ours fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    for row, ours, make, batch, size in ROWS:
        if row not in args.rows.split(","):
            continue
        torch_runs = {layout: child([sys.executable, __file__, "--rounds", str(args.rounds), "--precision", "bf16", "--child", row, layout])
                      for layout in ("nchw", "channels_last")}
        mine = {p: child([".build/release/tricks", "bench", "train", "--model", ours, "-b", str(batch), "--input-size", str(size),
                          "--rounds", str(args.rounds), "--threads", "2", "--precision", p, "--json"]) for p in ("bf16", "fp32")}
        best = max(torch_runs.values(), key=lambda r: r["train"])
        best_inference = max(r["inference"] for r in torch_runs.values())
        bf16, fp32 = mine["bf16"], mine["fp32"]
        print(f"| {row} | {batch}, {size}x{size}x3 | {torch_runs['nchw']['train']:.1f} / {torch_runs['channels_last']['train']:.1f} "
              f"| {bf16['trainImagesPerSecond']:.1f} / {fp32['trainImagesPerSecond']:.1f} "
              f"| {bf16['trainImagesPerSecond'] / best['train']:.2f} | {bf16['trainImagesPerSecond'] / fp32['trainImagesPerSecond']:.2f} "
              f"| {best_inference:.1f} / {bf16['inferenceImagesPerSecond']:.1f} / {fp32['inferenceImagesPerSecond']:.1f} "
              f"| {best['peak_mb']:.0f} / {bf16['peakResidentMB']:.0f} / {fp32['peakResidentMB']:.0f} |", flush=True)
    print(f"ours bf16 ran as: {mine['bf16']['precisionPath']}")


if __name__ == "__main__":
    main()
