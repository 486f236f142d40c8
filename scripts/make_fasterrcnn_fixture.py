#!/usr/bin/env python3
"""torchvision's Faster R-CNN with weights anyone can recompute, and what it detects: the fixture
that shows `FasterRCNN` is torchvision's network (issue 29, item 3). Two detectors with 4 classes
(the background and 3), images resized to a shorter side of 128 (longer at most 200):
`fasterrcnn_resnet50_fpn` and a ResNet-18 FPN one (`resnet_fpn_backbone("resnet18")`, frozen
BatchNorm). Every tensor of their state dicts is filled by the formula of
`make_torchvision_fixture.py` (`DeterministicWeights.swift` repeats it), and so are the two
images (3 x 100 x 140 and 3 x 120 x 90, "image0" and "image1", values u in [0, 1)). The file
holds each model's state-dict keys and shapes, the first proposals of each image, and the
detections (boxes in the original images' pixels, labels, scores) in eval mode.

  /root/torch-venv/bin/python scripts/make_fasterrcnn_fixture.py Tests/ModelsTests/Fixtures/fasterrcnn_detections.json
"""
import json
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection import FasterRCNN, fasterrcnn_resnet50_fpn
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_torchvision_fixture import fill, uniform  # noqa: E402

torch.set_num_threads(2)
sizes = dict(min_size=128, max_size=200)
models = {
    "fasterrcnn_resnet50_fpn": fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=4, **sizes),
    "fasterrcnn_resnet18_fpn": FasterRCNN(resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5),
                                          num_classes=4, **sizes),
}
images = [torch.from_numpy(uniform("image0", 3 * 100 * 140).astype(np.float32)).reshape(3, 100, 140),
          torch.from_numpy(uniform("image1", 3 * 120 * 90).astype(np.float32)).reshape(3, 120, 90)]

out = {"torchvision": torchvision.__version__, "torch": torch.__version__, "models": {}}
for name, model in models.items():
    shapes = fill(model)
    proposals = []
    # The RPN's proposals, in the resized images' pixels, recorded on the way through.
    hook = model.rpn.register_forward_hook(lambda module, inputs, output: proposals.extend(output[0]))
    with torch.no_grad():
        detections = model(images)
    hook.remove()
    out["models"][name] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "shapes": shapes,
        "proposals": [{"count": len(p), "first": p[:20].reshape(-1).tolist()} for p in proposals],
        "detections": [{"boxes": d["boxes"].reshape(-1).tolist(), "labels": d["labels"].tolist(), "scores": d["scores"].tolist()}
                       for d in detections],
    }
    print(name, [len(d["labels"]) for d in detections], "detections; proposals", [len(p) for p in proposals])

with open(sys.argv[1], "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", sys.argv[1])
