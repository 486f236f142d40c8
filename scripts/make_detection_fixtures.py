#!/usr/bin/env python3
"""Recorded cases of torchvision's detection pieces, for the Swift tests of issue 29: box IoU,
the box coder (RPN weights 1,1,1,1 and the heads' 10,10,5,5, with dw/dh past the clamp), the
anchor generator of `fasterrcnn_resnet50_fpn` (sizes 32..512, ratios 0.5/1/2) on a padded batch,
NMS and batched NMS, clipping and small-box removal, MultiScaleRoIAlign's level of each box,
RoIAlign (7x7, sampling ratio 2, aligned=False) and the FPN's nearest resize, forward and backward,
the matcher, VOC AP (GluonCV's metric, restated in numpy) and the two losses (objectness BCE with logits, box smooth L1 with beta 1/9) with their gradients. Every input is drawn from a
seeded generator here and written out with the result, so the tests need no PyTorch.

  python3 -m venv /root/torch-venv && /root/torch-venv/bin/pip install torch torchvision
  /root/torch-venv/bin/python scripts/make_detection_fixtures.py Tests/ModelsTests/Fixtures/detection_ops.json
"""
import json
import math
import sys

import torch
import torchvision
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import boxes as box_ops
from torchvision.ops.poolers import LevelMapper

torch.manual_seed(29)


def boxes(n, size):
    """n boxes inside a size x size image, at least 1 pixel wide and high."""
    xy = torch.rand(n, 2) * (size - 8)
    wh = 1 + torch.rand(n, 2) * (size / 2)
    return torch.cat([xy, torch.minimum(xy + wh, torch.tensor(float(size)))], 1)


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


cases = {"torchvision": torchvision.__version__, "torch": torch.__version__}

# IoU of two sets.
a, b = boxes(7, 100), boxes(5, 100)
cases["iou"] = {"a": flat(a), "b": flat(b), "iou": flat(box_ops.box_iou(a, b))}

# The box coder, both weightings; some codes far past the clamp of log(1000 / 16).
coder_cases = []
for weights in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
    coder = BoxCoder(weights, bbox_xform_clip=math.log(1000.0 / 16))
    reference, proposals = boxes(9, 200), boxes(9, 200)
    targets = coder.encode_single(reference, proposals)
    codes = torch.randn(9, 4) * 2
    codes[0, 2] = 30.0
    codes[1, 3] = 25.0
    decoded = coder.decode_single(codes, proposals)
    coder_cases.append({"weights": list(weights), "gt": flat(reference), "proposals": flat(proposals),
                        "targets": flat(targets), "codes": flat(codes), "decoded": flat(decoded)})
cases["box_coder"] = coder_cases

# Anchors of fasterrcnn_resnet50_fpn for a padded batch of 2 images; FPN strides 4..64 of an
# 800 x 1088 tensor give feature maps 200x272 ... 13x17 (torchvision: stride = tensor size // map).
sizes = ((32,), (64,), (128,), (256,), (512,))
ratios = ((0.5, 1.0, 2.0),) * len(sizes)
generator = AnchorGenerator(sizes, ratios)
anchor_cases = []
for image, maps in [((64, 96), [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]),
                    ((800, 1088), [(200, 272), (100, 136), (50, 68), (25, 34), (13, 17)])]:
    batch = torch.zeros(1, 3, *image)
    features = [torch.zeros(1, 8, h, w) for h, w in maps]
    anchors = generator(ImageList(batch, [image]), features)[0]
    per_level = [h * w * 3 for h, w in maps]
    # Large cases: the first and last 30 anchors of each level, and the counts.
    picked, start = [], 0
    for count in per_level:
        level = anchors[start:start + count]
        picked.append({"count": count, "first": flat(level[:30]), "last": flat(level[-30:])})
        start += count
    anchor_cases.append({"image": list(image), "maps": [list(m) for m in maps], "levels": picked})
cases["anchors"] = {"sizes": [s[0] for s in sizes], "ratios": list(ratios[0]), "cases": anchor_cases}

# NMS, and NMS per class (scores distinct: torchvision's sort order of ties is unspecified):
# boxes jittered around six places, so that suppression happens at both thresholds.
b = boxes(6, 64).repeat(10, 1) + torch.randn(60, 4) * 1.5
b[:, 2:] = torch.maximum(b[:, 2:], b[:, :2] + 1)
scores = torch.randperm(60).float() / 60 + torch.rand(60) * 1e-3
labels = torch.randint(0, 3, (60,))
cases["nms"] = {"boxes": flat(b), "scores": flat(scores), "labels": [int(v) for v in labels],
                "keep_0.5": [int(v) for v in box_ops.nms(b, scores, 0.5)],
                "keep_0.7": [int(v) for v in box_ops.nms(b, scores, 0.7)],
                "batched_keep_0.5": [int(v) for v in box_ops.batched_nms(b, scores, labels, 0.5)]}

# Clipping to an image and dropping small boxes.
b = boxes(20, 60) * 1.3 - 10
cases["clip"] = {"boxes": flat(b), "height": 50, "width": 70,
                 "clipped": flat(box_ops.clip_boxes_to_image(b, (50, 70))),
                 "keep_min_size_5": [int(v) for v in box_ops.remove_small_boxes(box_ops.clip_boxes_to_image(b, (50, 70)), 5.0)]}

# MultiScaleRoIAlign's level of each box (levels 2..5, canonical size 224 at level 4).
mapper = LevelMapper(2, 5)
b = torch.cat([boxes(40, 800), torch.tensor([[0.0, 0.0, 224.0, 224.0], [10.0, 10.0, 10.5, 10.5], [0, 0, 1000, 1000]])])
cases["levels"] = {"boxes": flat(b), "levels": [int(v) for v in mapper([b])]}

# RoIAlign forward and backward on two images' features, boxes in image coordinates.
x = torch.randn(2, 3, 11, 13, requires_grad=True)
rois = torch.cat([torch.tensor([[0.0], [0.0], [1.0], [1.0], [1.0]]),
                  torch.tensor([[3.0, 5.0, 40.0, 30.0], [0.0, 0.0, 52.0, 44.0], [-6.0, -3.0, 20.0, 12.0],
                                [30.0, 20.0, 31.0, 21.0], [10.0, 8.0, 60.0, 50.0]])], 1)
for scale in [0.25]:
    out = torchvision.ops.roi_align(x, rois, output_size=(7, 7), spatial_scale=scale, sampling_ratio=2, aligned=False)
    grad = torch.randn_like(out)
    out.backward(grad)
    cases["roi_align"] = {"input": flat(x.detach()), "input_shape": list(x.shape), "rois": flat(rois), "spatial_scale": scale,
                          "output": flat(out.detach()), "grad_output": flat(grad), "grad_input": flat(x.grad)}

# The FPN's top-down resize: F.interpolate(mode="nearest") to a map's size, forward and backward.
nearest = []
for size in [(13, 17), (14, 18), (5, 6)]:
    x = torch.randn(1, 2, 7, 9, requires_grad=True)
    out = torch.nn.functional.interpolate(x, size=size, mode="nearest")
    grad = torch.randn_like(out)
    out.backward(grad)
    nearest.append({"input": flat(x.detach()), "size": list(size), "output": flat(out.detach()),
                    "grad_output": flat(grad), "grad_input": flat(x.grad)})
cases["nearest"] = nearest

# The losses: objectness BCE on the sampled anchors (mean), box smooth L1 (beta 1/9) on the
# positives, summed and divided by the number sampled; gradients to the inputs.
x = (torch.randn(40) * 4).requires_grad_()
t = (torch.rand(40) > 0.5).float()
sampled = torch.randperm(40)[:25]
bce = torch.nn.functional.binary_cross_entropy_with_logits(x[sampled], t[sampled])
bce.backward()
codes = (torch.randn(30, 4) * 0.3).requires_grad_()
targets = torch.randn(30, 4) * 0.3
positive = torch.randperm(30)[:11]
smooth = torch.nn.functional.smooth_l1_loss(codes[positive], targets[positive], beta=1 / 9, reduction="sum") / 25
smooth.backward()
cases["losses"] = {"logits": flat(x.detach()), "labels": flat(t), "sampled": [int(v) for v in sampled],
                   "bce": float(bce.detach()), "bce_grad": flat(x.grad),
                   "codes": flat(codes.detach()), "targets": flat(targets), "positive": [int(v) for v in positive],
                   "smooth_l1": float(smooth.detach()), "smooth_l1_grad": flat(codes.grad)}

# The matcher (RPN's 0.7 / 0.3 with low-quality matches; the box head's 0.5 / 0.5 without).
from torchvision.models.detection._utils import Matcher
truths, predictions = boxes(4, 64), torch.cat([boxes(4, 64).repeat(5, 1) + torch.randn(20, 4) * 3, boxes(20, 64)])
predictions[:, 2:] = torch.maximum(predictions[:, 2:], predictions[:, :2] + 1)
quality = box_ops.box_iou(truths, predictions)
cases["matcher"] = {"truths": flat(truths), "predictions": flat(predictions),
                    "rpn": [int(v) for v in Matcher(0.7, 0.3, allow_low_quality_matches=True)(quality)],
                    "box": [int(v) for v in Matcher(0.5, 0.5, allow_low_quality_matches=False)(quality)]}

# VOC AP: GluonCV's VOC07MApMetric / VOCMApMetric (gluoncv/utils/metrics/voc_detection.py),
# restated here in numpy (GluonCV needs MXNet): IoU >= 0.5 with no +1, difficult boxes neither
# true nor false positives, 11-point and area AP, mAP over the classes with ground truth.
import numpy as np


def gluon_voc(images, classes, iou_thresh=0.5):
    n_pos = {c: 0 for c in range(1, classes)}
    score = {c: [] for c in range(1, classes)}
    match = {c: [] for c in range(1, classes)}
    for det_boxes, det_labels, det_scores, gt_boxes, gt_labels, gt_difficult in images:
        for l in range(1, classes):
            pred_mask = det_labels == l
            pred_bbox, pred_score = det_boxes[pred_mask], det_scores[pred_mask]
            order = pred_score.argsort()[::-1]
            pred_bbox, pred_score = pred_bbox[order], pred_score[order]
            gt_mask = gt_labels == l
            gt_bbox, gt_diff = gt_boxes[gt_mask], gt_difficult[gt_mask]
            n_pos[l] += int(np.logical_not(gt_diff).sum())
            score[l].extend(pred_score.tolist())
            if len(pred_bbox) == 0:
                continue
            if len(gt_bbox) == 0:
                match[l].extend([0] * len(pred_bbox))
                continue
            ious = box_ops.box_iou(torch.from_numpy(pred_bbox), torch.from_numpy(gt_bbox)).numpy()
            gt_index = ious.argmax(axis=1)
            gt_index[ious.max(axis=1) < iou_thresh] = -1
            selec = np.zeros(len(gt_bbox), dtype=bool)
            for gt_idx in gt_index:
                if gt_idx >= 0:
                    match[l].append(-1 if gt_diff[gt_idx] else (0 if selec[gt_idx] else 1))
                    selec[gt_idx] = True
                else:
                    match[l].append(0)
    ap07, ap = [], []
    for l in range(1, classes):
        if n_pos[l] == 0:
            ap07.append(None)
            ap.append(None)
            continue
        order = np.array(score[l]).argsort()[::-1]
        m = np.array(match[l])[order]
        tp, fp = np.cumsum(m == 1), np.cumsum(m == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = tp / (fp + tp)
        rec = tp / n_pos[l]
        a07 = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            a07 += (0 if np.sum(rec >= t) == 0 else np.max(np.nan_to_num(prec)[rec >= t])) / 11.0
        mrec = np.concatenate(([0.0], rec, [1.0]))
        mpre = np.concatenate(([0.0], np.nan_to_num(prec), [0.0]))
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        i = np.where(mrec[1:] != mrec[:-1])[0]
        ap07.append(float(a07))
        ap.append(float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])))
    return ap07, ap


voc_images = []
for index in range(20):
    gt = boxes(int(torch.randint(0, 6, ())), 100)
    gt_labels = torch.randint(1, 5, (len(gt),))
    difficult = torch.rand(len(gt)) < 0.25
    # Detections: jittered copies of the truth (some with the wrong class), and clutter.
    det = torch.cat([gt + torch.randn(len(gt), 4) * 1.5, boxes(4, 100)]) if len(gt) else boxes(3, 100)
    det[:, 2:] = torch.maximum(det[:, 2:], det[:, :2] + 1)
    det_labels = torch.cat([torch.where(torch.rand(len(gt)) < 0.8, gt_labels, torch.randint(1, 5, (len(gt),))),
                            torch.randint(1, 5, (len(det) - len(gt),))])
    det_scores = torch.rand(len(det))
    voc_images.append((det.numpy(), det_labels.numpy(), det_scores.numpy(), gt.numpy(), gt_labels.numpy(), difficult.numpy()))
ap07, ap = gluon_voc(voc_images, 5)
cases["voc"] = {"classes": 5, "images": [{"det_boxes": flat(torch.from_numpy(d)), "det_labels": [int(v) for v in l], "det_scores": flat(torch.from_numpy(s)),
                                          "gt_boxes": flat(torch.from_numpy(g)), "gt_labels": [int(v) for v in gl], "difficult": [bool(v) for v in dif]}
                                         for d, l, s, g, gl, dif in voc_images],
                "ap07": ap07, "ap": ap}

with open(sys.argv[1], "w") as f:
    json.dump(cases, f, separators=(",", ":"))
print("wrote", sys.argv[1])
