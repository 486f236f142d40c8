#!/usr/bin/env python3
"""Checks `tricks export --onnx` against an independent runtime: for one model of each family,
trains a checkpoint for a few steps on the built-in Fashion-MNIST (the FCN on its scenes) (so that weights and BatchNorm
running statistics are not their initial values), exports it with `--sample`, checks the file
with onnx.checker, runs it with onnxruntime and compares the logits with ours on the same input,
at the traced batch and at two others (the batch dimension is dynamic).

Needs numpy, onnx and onnxruntime (scripts/check_onnx_export.sh installs them in a venv).
Usage: check_onnx_export.py TRICKS_BINARY WORK_FOLDER
"""
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

# (model, training flags, export --input-size): every op the exporter writes, each family once.
MODELS = [
    ("lenet5", [], None),                                     # Conv with bias, MaxPool, Gemm
    ("cifar_resnet20", [], None),                             # BasicBlock, fused Add+ReLU
    ("cifar_resnet20d", [], None),                            # ResNet-D shortcut: AveragePool ceil_mode, no pad count
    ("resnet18c", ["--augment", "small"], 64),                # deep stem, MaxPool with padding
    ("resnet50d", ["--augment", "small"], 64),                # Bottleneck, stride on the 3x3
    ("mobilenetv1_100", ["--augment", "small"], 64),          # depthwise Conv (group), ReLU6 as Clip
    ("inception_v3", ["--augment", "imagenet", "--input-size", "80"], None),  # Concat, AveragePool counting padding
    ("fcn_cifar_resnet20", "segment", None),                  # Resize (bilinear) of a segmentation model's scores
]
# Both sides compute in Float32 with different summation orders; deep nets amplify that.
RELATIVE_TOLERANCE = 1e-4


def read_safetensors(path):
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", (path, name, entry["dtype"])
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=np.float32).reshape(entry["shape"])
    return tensors


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAILED: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main():
    tricks, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    failures = []
    for name, flags, size in MODELS:
        folder = work / name
        if flags == "segment":  # `tricks segment train` on a few built-in scenes
            run([tricks, "segment", "train", "--model", name, "--train-scenes", "16", "--val-scenes", "8", "--base-size", "48",
                 "--crop-size", "40", "-b", "8", "--epochs", "1", "--output", str(folder), "--overwrite"])
        else:
            run([tricks, "train", "--model", name, "--epochs", "1", "--lr", "0.002", "--train-per-class", "10",
                 "--val-per-class", "2", "-b", "25", "--output", str(folder), "--overwrite", "--log-every", "100"] + flags)
        model_path, sample_path = folder / "model.onnx", folder / "sample.safetensors"
        run([tricks, "export", "--checkpoint", str(folder / "last.safetensors"), "--onnx", str(model_path),
             "--sample", str(sample_path)] + (["--input-size", str(size)] if size else []))

        model = onnx.load(str(model_path))
        onnx.checker.check_model(model, full_check=True)
        sample = read_safetensors(sample_path)
        x, ours = sample["input"], sample["logits"]
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        scale = max(1.0, float(np.abs(ours).max()))
        worst = 0.0
        # The traced batch, one image, and the batch three times over.
        for inputs, expected in [(x, ours), (x[:1], ours[:1]), (np.concatenate([x] * 3), np.concatenate([ours] * 3))]:
            (theirs,) = session.run(["logits"], {"input": inputs})
            assert theirs.shape == expected.shape, (name, theirs.shape, expected.shape)
            worst = max(worst, float(np.abs(theirs - expected).max()) / scale)
        ok = worst <= RELATIVE_TOLERANCE
        print(f"{'ok  ' if ok else 'FAIL'} {name:16s} input {list(x.shape[1:])}, {len(model.graph.node):4d} nodes, "
              f"max |onnxruntime - ours| / max |logit| = {worst:.2e} (max |logit| {scale:.3g})")
        if not ok:
            failures.append(name)
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
    if failures:
        sys.exit(f"ONNX export differs from our forward pass beyond {RELATIVE_TOLERANCE}: {', '.join(failures)}")
    print(f"all {len(MODELS)} exported models match onnxruntime within {RELATIVE_TOLERANCE} of the largest logit")


if __name__ == "__main__":
    main()
