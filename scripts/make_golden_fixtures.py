#!/usr/bin/env python3
"""Golden numbers for the model tests, made by PyTorch and timm (an independent implementation).

For two tiny ResNets built with timm's ResNet class (the same code as timm's resnet50d and
torchvision-style resnet18, at toy widths) and timm's MobileNet v1 at width 0.25
(`tiny_mobilenetv1`: ReLU6, timm's keys) it saves, in one safetensors file each:
  model.<key>        random weights under timm's state-dict keys (BN statistics randomised too)
  input, labels      a batch of 2 images, 40x40 (odd sizes below: tests ceil-mode pooling)
  logits_eval        eval-mode logits
  logits_train       train-mode logits (batch statistics)
  loss_train         mean cross-entropy of logits_train against labels
  grad.<key>         d loss_train / d parameter for a few parameters
  running_mean_after.<key>  a BatchNorm's running mean after the train-mode forward pass

`tiny_fcn` is torchvision's FCN (its `FCN`, `FCNHead` and `IntermediateLayerGetter`, as in
`fcn_resnet50`) on a tiny timm Bottleneck ResNet with output_stride=8 (layer3 and layer4
dilated), with the auxiliary head and the head's dropout set to 0 (deterministic in training).
Its input is 28x36 (not a multiple of 8), its labels are per pixel with 255 for "ignore", and
logits_* are the main head's scores at the input size; loss_train is torchvision's training
loss, cross-entropy (ignore_index=255) of the main head plus 0.4 x that of the auxiliary head.

Run once with PyTorch installed (outside the repo), commit the output; tests need no PyTorch:
  python3 -m venv /root/torch-venv && /root/torch-venv/bin/pip install torch timm safetensors
  /root/torch-venv/bin/python scripts/make_golden_fixtures.py Tests/ModelsTests/Fixtures
  /root/torch-venv/bin/python scripts/make_golden_fixtures.py Tests/ModelsTests/Fixtures --keys
(the second writes state_dict_keys.json: the keys and shapes of torchvision's and timm's models;
add torchvision to the pip line for it)
"""
import sys
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.resnet import ResNet, BasicBlock, Bottleneck

MODELS = {
    # block, stem_type, avg_down, stem_width; channels (8, 16, 32, 64), one block per stage
    "tiny_resnet_d": dict(block=Bottleneck, stem_type="deep", avg_down=True, stem_width=4),
    "tiny_resnet": dict(block=BasicBlock, stem_type="", avg_down=False, stem_width=64),
}
GRAD_KEYS = {
    "tiny_resnet_d": ["conv1.0.weight", "layer2.0.conv2.weight", "layer2.0.downsample.1.weight", "layer4.0.bn3.weight", "fc.weight", "fc.bias"],
    "tiny_resnet": ["conv1.weight", "layer1.0.downsample.0.weight", "layer3.0.conv1.weight", "layer4.0.bn2.bias", "fc.weight"],
}
BN_KEY = {"tiny_resnet_d": "layer3.0.bn2", "tiny_resnet": "layer2.0.bn1", "tiny_mobilenetv1": "blocks.2.1.bn1"}
# timm's MobileNet v1 (ReLU6, timm's keys) at width 0.25: our mobilenetv1_* code path.
GRAD_KEYS["tiny_mobilenetv1"] = ["conv_stem.weight", "blocks.0.0.conv_dw.weight", "blocks.3.2.conv_pw.weight", "bn1.bias", "classifier.weight"]
GRAD_KEYS["tiny_fcn"] = ["backbone.conv1.weight", "backbone.layer3.0.conv2.weight", "backbone.layer4.0.conv2.weight",
                         "backbone.layer4.0.downsample.0.weight", "classifier.0.weight", "classifier.4.bias", "aux_classifier.4.weight"]
BN_KEY["tiny_fcn"] = "backbone.layer4.0.bn2"


def make(name):
    if name == "tiny_fcn":
        from torchvision.models._utils import IntermediateLayerGetter
        from torchvision.models.segmentation.fcn import FCN, FCNHead
        backbone = ResNet(block=Bottleneck, layers=(1, 1, 1, 1), channels=(4, 8, 16, 32), num_classes=0,
                          output_stride=8)
        model = FCN(IntermediateLayerGetter(backbone, return_layers={"layer4": "out", "layer3": "aux"}),
                    FCNHead(128, 5), FCNHead(64, 5))
        model.classifier[3].p = model.aux_classifier[3].p = 0.0
        return model
    if name == "tiny_mobilenetv1":
        from timm.models.efficientnet import _gen_mobilenet_v1
        return _gen_mobilenet_v1("mobilenetv1_100", channel_multiplier=0.25, num_classes=10)
    spec = MODELS[name]
    return ResNet(block=spec["block"], layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), num_classes=10,
                  stem_type=spec["stem_type"], avg_down=spec["avg_down"], stem_width=spec["stem_width"])


def main(out_dir):
    torch.manual_seed(0)
    for name in list(MODELS) + ["tiny_mobilenetv1", "tiny_fcn"]:
        model = make(name)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0, 0.1)
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
                elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                    # He-style scale keeps activations in a sensible range through the net.
                    module.weight.normal_(0, (2.0 / module.weight[0].numel()) ** 0.5)
                    if module.bias is not None:
                        module.bias.normal_(0, 0.1)
        segmentation = name == "tiny_fcn"
        x = torch.randn(2, 3, 28, 36) if segmentation else torch.randn(2, 3, 40, 40)
        if segmentation:
            labels = torch.randint(0, 5, (2, 28, 36))
            labels[torch.rand(2, 28, 36) < 0.15] = 255
        else:
            labels = torch.tensor([3, 7])
        tensors = {"model." + k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}

        model.eval()
        with torch.no_grad():
            logits_eval = model(x)["out"] if segmentation else model(x)
        model.train()
        if segmentation:
            outputs = model(x)
            logits_train = outputs["out"]
            loss = F.cross_entropy(logits_train, labels, ignore_index=255) + 0.4 * F.cross_entropy(outputs["aux"], labels, ignore_index=255)
        else:
            logits_train = model(x)
            loss = F.cross_entropy(logits_train, labels)
        loss.backward()
        params = dict(model.named_parameters())
        tensors.update({
            "input": x, "labels": labels.float(), "logits_eval": logits_eval, "logits_train": logits_train.detach(),
            "loss_train": loss.detach().reshape(1),
        })
        for key in GRAD_KEYS[name]:
            tensors["grad." + key] = params[key].grad.detach().clone()
        bn = dict(model.named_modules())[BN_KEY[name]]
        tensors["running_mean_after." + BN_KEY[name]] = bn.running_mean.detach().clone()
        path = f"{out_dir}/{name}.safetensors"
        save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={"generator": "scripts/make_golden_fixtures.py",
                                                                                   "torch": torch.__version__})
        print(f"{path}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.6f}")


if __name__ == "__main__" and "--keys" not in sys.argv:
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures")


def write_state_dict_keys(out_dir):
    """Keys and shapes of the reference implementations' state dicts, for the name tests."""
    import json
    import timm
    import torchvision
    models = {
        "resnet18b": torchvision.models.resnet18(),  # torchvision's ResNets are ResNet-B ("v1.5")
        "resnet50b": torchvision.models.resnet50(),
        "inception_v3": torchvision.models.inception_v3(aux_logits=True, init_weights=False),
        "resnet50c": timm.create_model("resnet50c"),
        "resnet50d": timm.create_model("resnet50d"),
        "resnet18d": timm.create_model("resnet18d"),
        "mobilenetv1_100": timm.create_model("mobilenetv1_100"),
        # FCN on torchvision's ResNet-50 (stride on the 3x3: our fcn_resnet50b), 21 classes, auxiliary head.
        "fcn_resnet50b": torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True),
    }
    keys = {name: {k: list(v.shape) for k, v in m.state_dict().items()} for name, m in models.items()}
    with open(f"{out_dir}/state_dict_keys.json", "w") as f:
        json.dump(keys, f, indent=0, sort_keys=True)
    print(f"{out_dir}/state_dict_keys.json: {', '.join(models)}")


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[2] == "--keys":
    write_state_dict_keys(sys.argv[1])
