#!/usr/bin/env python3
"""Inference images/s of `tricks` beside onnxruntime (running the ONNX file `tricks export`
writes) and PyTorch eager, same weights, same thread count, in one run on one machine
(issue 31). Each measurement runs in its own process, one after another, so that no two
frameworks' threads compete and peak memory (VmHWM) is that measurement's alone.

    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch torchvision timm safetensors onnxruntime
    swift build -c release
    ~/torch-venv/bin/python bench/inference_reference.py [--threads 2] [--rounds 20] [--rows resnet50,mobilenet_v1]

The weights are PyTorch's (torchvision's resnet50 and fcn_resnet50, timm's resnet50d and
mobilenetv1_100, a CIFAR ResNet-20 built from torchvision's BasicBlock), random but fixed,
saved as safetensors and loaded by `tricks` through --model, so all three run the very same
network. Prints a Markdown table with the ratios ours / onnxruntime.
"""
import argparse, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRICKS = os.environ.get("TRICKS", os.path.join(ROOT, ".build/release/tricks"))
# (our name, input side, classes)
ROWS = [("cifar_resnet20", 32, 1000), ("resnet50", 224, 1000), ("resnet50d", 224, 1000), ("mobilenet_v1", 224, 1000),
        ("fcn_resnet50", 224, 21)]


def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_model(name, classes):
    import torch.nn as nn
    import torchvision
    if name == "resnet50":
        return torchvision.models.resnet50(num_classes=classes)
    if name == "fcn_resnet50":
        return torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=classes, aux_loss=True)
    if name in ("resnet50d", "mobilenet_v1"):
        import timm
        return timm.create_model({"resnet50d": "resnet50d", "mobilenet_v1": "mobilenetv1_100"}[name], num_classes=classes)
    if name == "cifar_resnet20":
        from torchvision.models.resnet import BasicBlock

        class CifarResNet20(nn.Module):
            """Our `cifar_resnet20` under our keys: 3x3 stem of 16, three stages of 3 basic blocks."""
            def __init__(self):
                super().__init__()
                self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
                cin = 16
                for i, w in enumerate([16, 32, 64]):
                    blocks = []
                    for j in range(3):
                        stride = 2 if i > 0 and j == 0 else 1
                        down = nn.Sequential(nn.Conv2d(cin, w, 1, stride, bias=False), nn.BatchNorm2d(w)) if stride != 1 or cin != w else None
                        blocks.append(BasicBlock(cin, w, stride, down)); cin = w
                    setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                self.fc = nn.Linear(64, classes)

            def forward(self, x):
                x = nn.functional.relu(self.bn1(self.conv1(x)))
                x = self.layer3(self.layer2(self.layer1(x)))
                return self.fc(x.mean((2, 3)))
        return CifarResNet20()
    raise SystemExit(f"unknown row {name}")


def randomised(model):
    """Fixed random weights, BatchNorm statistics away from 0 and 1 (so folding them matters)."""
    import torch
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3); m.running_var.uniform_(0.5, 2)
    return model.eval()


def timed(run, rounds):
    for _ in range(3):
        run()
    times = []
    for _ in range(rounds):
        start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, -(-len(times) * 9 // 10) - 1)]


def child(framework, name, side, classes, batch, rounds, threads, onnx_path):
    import numpy as np
    x = np.random.default_rng(1).standard_normal((batch, 3, side, side)).astype(np.float32)
    if framework == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        median, p90 = timed(lambda: session.run(None, {"input": x}), rounds)
    else:
        import torch
        torch.set_num_threads(threads)
        model = randomised(torch_model(name, classes))
        tensor = torch.from_numpy(x)
        with torch.inference_mode():
            median, p90 = timed(lambda: model(tensor), rounds)
    print(json.dumps({"imagesPerSecond": batch / median, "medianMilliseconds": 1000 * median, "p90Milliseconds": 1000 * p90,
                      "peakResidentMB": peak_mb()}))


def latency_child(framework, name, jpeg, rounds, threads, onnx_path, classes):
    """Milliseconds from the JPEG file to the probabilities: PIL decode, torchvision's resize
    256, centre crop 224 and normalisation, then the model (as torchvision's reference does)."""
    import numpy as np, torch
    from PIL import Image
    from torchvision import transforms
    torch.set_num_threads(threads)
    prepare = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                  transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    if framework == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        # The exported graph takes the normalised image (ImageNet's mean and std), as the model does.
        def run():
            logits = session.run(None, {"input": prepare(Image.open(jpeg).convert("RGB")).unsqueeze(0).numpy()})[0]
            e = np.exp(logits - logits.max())
            return e / e.sum()
    else:
        model = randomised(torch_model(name, classes))
        def run():
            with torch.inference_mode():
                return torch.softmax(model(prepare(Image.open(jpeg).convert("RGB")).unsqueeze(0)), 1)
    median, p90 = timed(run, rounds)
    print(json.dumps({"medianMilliseconds": 1000 * median, "p90Milliseconds": 1000 * p90}))


def run_child(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--rows", default=",".join(r[0] for r in ROWS))
    parser.add_argument("--latency-rounds", type=int, default=50)
    parser.add_argument("--child", nargs=5, metavar=("FRAMEWORK", "MODEL", "BATCH", "ONNX", "CLASSES"))
    parser.add_argument("--latency-child", nargs=5, metavar=("FRAMEWORK", "MODEL", "JPEG", "ONNX", "CLASSES"))
    args = parser.parse_args()
    sides = {r[0]: r[1] for r in ROWS}
    if args.latency_child:
        framework, name, jpeg, onnx_path, classes = args.latency_child
        return latency_child(framework, name, jpeg, args.latency_rounds, args.threads, onnx_path, int(classes))
    if args.child:
        framework, name, batch, onnx_path, classes = args.child
        return child(framework, name, sides[name], int(classes), int(batch), args.rounds, args.threads, onnx_path)

    import torch
    from safetensors.torch import save_file
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    print(f"{args.threads} threads, {args.rounds} rounds (median) after 3 warm-up; torch {torch.__version__}; "
          f"flags: {' '.join(sorted(set(f for f in open('/proc/cpuinfo').read().split() if f.startswith(('avx512', 'amx', 'avx2')))))}")
    print("| model | batch | tricks img/s | onnxruntime img/s | PyTorch img/s | tricks / onnxruntime | tricks p50, p90 ms | onnxruntime p50, p90 ms | peak MB: tricks, ort, torch |")
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    work = tempfile.mkdtemp()
    latency_rows = []
    for name, side, classes in ROWS:
        if name not in args.rows.split(","):
            continue
        weights, onnx_path = f"{work}/{name}.safetensors", f"{work}/{name}.onnx"
        save_file({k: v.contiguous() for k, v in randomised(torch_model(name, classes)).state_dict().items()}, weights)
        subprocess.run([TRICKS, "export", "--checkpoint", weights, "--model", name, "--onnx", onnx_path, "--input-size", str(side)],
                       check=True, capture_output=True)
        for batch in [int(b) for b in args.batches.split(",")]:
            ours = run_child([TRICKS, "bench", "infer", "--model", name, "--input-size", str(side), "-b", str(batch), "--rounds", str(args.rounds),
                              "--threads", str(args.threads), "--fused-only", "--json", "--weights", weights])
            ort = run_child([sys.executable, __file__, "--rounds", str(args.rounds), "--threads", str(args.threads),
                             "--child", "onnxruntime", name, str(batch), onnx_path, str(classes)])
            pt = run_child([sys.executable, __file__, "--rounds", str(args.rounds), "--threads", str(args.threads),
                            "--child", "torch", name, str(batch), onnx_path, str(classes)])
            print(f"| {name} | {batch} | {ours['imagesPerSecond']:.1f} | {ort['imagesPerSecond']:.1f} | {pt['imagesPerSecond']:.1f} "
                  f"| {ours['imagesPerSecond'] / ort['imagesPerSecond']:.2f} | {ours['medianMilliseconds']:.1f}, {ours['p90Milliseconds']:.1f} "
                  f"| {ort['medianMilliseconds']:.1f}, {ort['p90Milliseconds']:.1f} "
                  f"| {ours['peakResidentMB']:.0f}, {ort['peakResidentMB']:.0f}, {pt['peakResidentMB']:.0f} |", flush=True)
        if side == 224 and not name.startswith("fcn_"):
            latency_rows.append((name, weights, onnx_path, classes))

    # Latency of one photo: a 500x375 JPEG (the size of a typical ImageNet validation image).
    if latency_rows:
        import torch, torchvision
        g = torch.Generator().manual_seed(0)
        y, x = torch.meshgrid(torch.linspace(0, 1, 375), torch.linspace(0, 1, 500), indexing="ij")
        photo = torch.stack([y * 200, x * 180, (1 - x) * 160]) + torch.rand(3, 375, 500, generator=g) * 55
        jpeg = f"{work}/photo.jpg"
        torchvision.io.write_jpeg(photo.clamp(0, 255).to(torch.uint8), jpeg, quality=90)
        print(f"\nLatency of one 500x375 JPEG, reading, decoding and preprocessing included: median and 90th percentile ms of "
              f"{args.latency_rounds} runs ({args.threads} threads)\n")
        print("| model | tricks | onnxruntime (PIL + torchvision transforms) | PyTorch (same) |")
        print("|---|---|---|---|")
        for name, weights, onnx_path, classes in latency_rows:
            ours = run_child([TRICKS, "bench", "infer", "--model", name, "--weights", weights, "--image", jpeg, "--rounds", str(args.latency_rounds),
                              "--threads", str(args.threads), "--json"])
            others = [run_child([sys.executable, __file__, "--threads", str(args.threads), "--latency-rounds", str(args.latency_rounds),
                                 "--latency-child", framework, name, jpeg, onnx_path, str(classes)]) for framework in ("onnxruntime", "torch")]
            print(f"| {name} | " + " | ".join(f"{r['medianMilliseconds']:.1f}, {r['p90Milliseconds']:.1f}" for r in [ours] + others) + " |", flush=True)


if __name__ == "__main__":
    main()
