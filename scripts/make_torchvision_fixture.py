#!/usr/bin/env python3
"""torchvision's own `resnet50`, with weights anyone can recompute, and its logits: the fixture
that shows `--model resnet50` loads torchvision's network (issue 27, item 1).

Its 25.6M weights are too large to commit, so every tensor of the state dict is filled by a
formula the Swift test repeats (`DeterministicWeights.swift`): value i of the tensor named KEY
comes from splitmix64(fnv1a64(KEY) + (i + 1) * golden) >> 40, an integer in [0, 2^24) read as
u in [0, 1), then
  conv and fc weights   (2u - 1) * sqrt(3 / fan_in)     (variance 1 / fan_in)
  fc bias               (2u - 1) * 0.1
  BatchNorm weight      0.5 + u,   bias (2u - 1) * 0.2
  running_mean          (2u - 1) * 0.1,   running_var 0.5 + u
(each computed in float64 and rounded once to float32). The input, 2 x 3 x 64 x 64, is tensor
"input" of the same formula as u * 4 - 2. The file holds the eval-mode logits and, in its
metadata, torchvision's keys and shapes and its version.

  python3 -m venv /root/torch-venv && /root/torch-venv/bin/pip install torch torchvision safetensors numpy
  /root/torch-venv/bin/python scripts/make_torchvision_fixture.py Tests/ModelsTests/Fixtures
"""
import json
import sys

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file

MASK = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def uniform(key, count):
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(key)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def values(key, shape):
    u = uniform(key, int(np.prod(shape)))
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_mean":
        v = (2 * u - 1) * 0.1
    elif leaf == "running_var":
        v = 0.5 + u
    elif len(shape) == 1 and leaf == "weight":  # BatchNorm gamma
        v = 0.5 + u
    elif len(shape) == 1 and key.startswith("fc."):
        v = (2 * u - 1) * 0.1
    elif len(shape) == 1:  # BatchNorm beta
        v = (2 * u - 1) * 0.2
    else:
        v = (2 * u - 1) * np.sqrt(3.0 / int(np.prod(shape[1:])))
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill(model):
    """Every tensor of `model`'s state dict by the formula (num_batches_tracked left as it is),
    the model put in eval mode; the keys and shapes filled."""
    state = model.state_dict()
    shapes = {}
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        shapes[key] = list(tensor.shape)
        state[key] = values(key, list(tensor.shape))
    model.load_state_dict(state)
    model.eval()
    return shapes


def main(folder):
    model = torchvision.models.resnet50()
    shapes = fill(model)
    x = torch.from_numpy((uniform("input", 2 * 3 * 64 * 64) * 4 - 2).astype(np.float32)).reshape(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
    save_file({"logits": logits.contiguous()}, f"{folder}/torchvision_resnet50.safetensors",
              metadata={"shapes": json.dumps(shapes), "torchvision": torchvision.__version__, "torch": torch.__version__})
    print("logits", logits.shape, "max |logit|", logits.abs().max().item())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures")
