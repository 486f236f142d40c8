#!/usr/bin/env python3
"""Recorded COCO box evaluations by pycocotools, for the Swift test of issue 29's COCO mAP:
random ground truth on 30 images (some boxes crowds, some images empty, one class with no
ground truth) and noisy detections (misses, duplicates, false positives, tied scores, more than
100 on one image), evaluated by `COCOeval(iouType="bbox")`; AP@[.5:.95], AP50 and AP75 are
written with the boxes. Every number is a float32 value, so that Swift reads the same boxes.

  python3 -m venv /root/coco-venv && /root/coco-venv/bin/pip install pycocotools numpy
  /root/coco-venv/bin/python scripts/make_coco_eval_fixture.py Tests/ModelsTests/Fixtures/coco_eval.json

An optional second argument seeds other cases (the committed fixture: 29);
scripts/check_coco_eval.sh draws fresh ones with it and checks them live in `make test`.
"""
import contextlib
import importlib.metadata
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 29)
f32 = lambda v: float(np.float32(v))
classes = 4  # labels 1..4; label 4 never has ground truth


def case(images, crowd_rate, detections_per_box, noise):
    gt, dt, cases = [], [], []
    for image_id in range(1, images + 1):
        truth, found = [], []
        for _ in range(0 if image_id % 7 == 0 else rng.integers(1, 6)):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(4, 60, 2)
            box = [f32(x), f32(y), f32(x + w), f32(y + h)]
            label = int(rng.integers(1, classes))
            crowd = int(rng.random() < crowd_rate)
            truth.append(box + [label, crowd])
            for _ in range(rng.poisson(detections_per_box)):
                jitter = rng.normal(0, noise * max(w, h), 4)
                d = [box[0] + jitter[0], box[1] + jitter[1], box[2] + jitter[2], box[3] + jitter[3]]
                d = [f32(d[0]), f32(d[1]), f32(max(d[2], d[0] + 1)), f32(max(d[3], d[1] + 1))]
                dlabel = label if rng.random() < 0.85 else int(rng.integers(1, classes + 1))
                found.append(d + [dlabel, f32(round(rng.random(), 2))])  # rounded: tied scores
        for _ in range(rng.integers(0, 4)):  # false positives anywhere, any class
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(4, 60, 2)
            found.append([f32(x), f32(y), f32(x + w), f32(y + h), int(rng.integers(1, classes + 1)), f32(rng.random())])
        if image_id == 3:  # more than 100 detections of one class on one image
            for _ in range(120):
                x, y = rng.uniform(0, 150, 2)
                found.append([f32(x), f32(y), f32(x + 20), f32(y + 20), 1, f32(rng.random() * 0.5)])
        cases.append({"truth": truth, "detections": found})
        for b in truth:
            gt.append({"id": len(gt) + 1, "image_id": image_id, "category_id": b[4], "iscrowd": b[5],
                       "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])})
        for d in found:
            dt.append({"image_id": image_id, "category_id": d[4], "score": d[5], "bbox": [d[0], d[1], d[2] - d[0], d[3] - d[1]]})
    coco = COCO()
    coco.dataset = {"images": [{"id": i} for i in range(1, images + 1)], "annotations": gt,
                    "categories": [{"id": c, "name": f"class{c}"} for c in range(1, classes + 1)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(dt), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"classes": classes + 1, "images": cases,
            "ap": float(evaluation.stats[0]), "ap50": float(evaluation.stats[1]), "ap75": float(evaluation.stats[2])}


fixture = {"pycocotools": importlib.metadata.version("pycocotools"),
           "cases": [case(30, 0.1, 1.3, 0.08), case(20, 0.3, 2.0, 0.15)]}
with open(sys.argv[1], "w") as f:
    json.dump(fixture, f)
print({k: [(c["ap"], c["ap50"], c["ap75"]) for c in fixture["cases"]] for k in ["cases"]})
