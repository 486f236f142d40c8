#!/usr/bin/env python3
"""The ablation's recipes in PyTorch, to set BagOfTricks' accuracy beside (issue 16): CIFAR
ResNet-20 (-D for the tweaked rows) on Debian's Fashion-MNIST, the same augmentation, schedule,
batch, initialisation and tricks as `tricks ablate` rows 1 (baseline), 6 (efficient), 7 (tweaked)
and 10 (full), written with torch and torchvision only. Seeds differ from ours (the two RNGs are
not the same), so compare means over seeds.

What each recipe is, as in Sources/Train/Ablation.swift and Recipe.swift:
- baseline: batch 128, lr 0.1 x 128/256, Nesterov SGD (momentum 0.9, weight decay 1e-4 on every
  parameter), Xavier uniform init (fans count the kernel area), BN gamma 1, beta 0, step schedule
  /10 at 50% and 75% of the iterations, FP32; augmentation: zero-pad 4, random 28x28 crop,
  horizontal flip, normalise by the training set's mean/std; last partial batch dropped.
- efficient: batch 512 with lr 0.1 x 512/256, linear warmup over 5/120 of the epochs (at least 1),
  zero-gamma (each block's last BN), no bias decay (decay on conv/FC weights only), bf16 autocast.
- tweaked: efficient on ResNet-20-D (three 3x3 stem convs 8/8/16, stride 1; shortcut 2x2 average
  pool, ceil mode, padding not counted, then a 1x1 conv).
- full: tweaked with cosine decay, label smoothing 0.1 (the paper's eps/(K-1)), mixup alpha 0.2.

Each epoch ends with a checkpoint in --output; run the same command again to continue.
    ~/torch-venv/bin/python bench/pytorch_train_reference.py --recipe full --epochs 30 --seed 0 \
        --output runs/pytorch-full-seed0
"""
import argparse, gzip, json, math, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape).copy()


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, avg_shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            if avg_shortcut:  # ResNet-D
                pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
                self.downsample = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
            else:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class CifarResNet20(nn.Module):
    """`cifar_resnet20` (tweak_d=False) or `cifar_resnet20d` (deep small stem, average-pool shortcut)."""
    def __init__(self, channels=1, classes=10, tweak_d=False):
        super().__init__()
        if tweak_d:
            self.conv1 = nn.Sequential(nn.Conv2d(channels, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                       nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                       nn.Conv2d(8, 16, 3, 1, 1, bias=False))
        else:
            self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for i, w in enumerate([16, 32, 64]):
            for j in range(3):
                blocks.append(BasicBlock(cin, w, 2 if j == 0 and i > 0 else 1, tweak_d)); cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def initialise(model, zero_gamma):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight); nn.init.zeros_(m.bias)
    if zero_gamma:
        for m in model.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


RECIPES = {
    "baseline": dict(batch=128, warmup=False, zero_gamma=False, no_bias_decay=False, bf16=False, tweak_d=False,
                     cosine=False, smoothing=0.0, mixup=0.0),
    "efficient": dict(batch=512, warmup=True, zero_gamma=True, no_bias_decay=True, bf16=True, tweak_d=False,
                      cosine=False, smoothing=0.0, mixup=0.0),
    "tweaked": dict(batch=512, warmup=True, zero_gamma=True, no_bias_decay=True, bf16=True, tweak_d=True,
                    cosine=False, smoothing=0.0, mixup=0.0),
    "full": dict(batch=512, warmup=True, zero_gamma=True, no_bias_decay=True, bf16=True, tweak_d=True,
                 cosine=True, smoothing=0.1, mixup=0.2),
}


def learning_rate(iteration, base, epochs, per_epoch, warmup_epochs, cosine):
    """Sources/Train/TrainConfig.swift's learningRateSchedule: warmup, then step or cosine over the rest."""
    warmup = int(round(warmup_epochs * per_epoch))
    total = per_epoch * epochs - warmup
    if iteration < warmup:
        return (iteration + 1) * base / warmup
    t = iteration - warmup
    if cosine:
        return 0.5 * (1 + math.cos(math.pi * min(t, total) / max(total, 1))) * base
    return base * 0.1 ** sum(t >= m for m in (total // 2, total * 3 // 4))


def augment(images, rng):
    """Zero-pad 4, random 28x28 crop, horizontal flip, per image (uint8 [N, 28, 28])."""
    n = len(images)
    padded = np.zeros((n, 36, 36), dtype=np.uint8)
    padded[:, 4:32, 4:32] = images
    xs, ys, flips = rng.integers(0, 9, n), rng.integers(0, 9, n), rng.random(n) < 0.5
    out = np.empty_like(images)
    for i in range(n):
        crop = padded[i, ys[i]:ys[i] + 28, xs[i]:xs[i] + 28]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def evaluate(model, images, labels, mean, std, bf16):
    model.eval()
    correct1 = correct5 = 0
    loss = 0.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(images), 1000):
            x = (torch.from_numpy(images[start:start + 1000]).float().unsqueeze(1) - mean) / std
            y = torch.from_numpy(labels[start:start + 1000]).long()
            logits = model(x.contiguous(memory_format=torch.channels_last)).float()
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            top5 = logits.topk(5, 1).indices
            correct1 += (top5[:, 0] == y).sum().item()
            correct5 += (top5 == y[:, None]).any(1).sum().item()
    model.train()
    n = len(images)
    return loss / n, 100 * correct1 / n, 100 * correct5 / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=RECIPES, required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-per-class", type=int, help="only this many training images per class (a quick check)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    r = RECIPES[args.recipe]
    torch.set_num_threads(args.threads)
    os.makedirs(args.output, exist_ok=True)

    train_x, train_y = read_idx(f"{DATA}/train-images-idx3-ubyte.gz"), read_idx(f"{DATA}/train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz"), read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz")
    if args.train_per_class:
        keep = np.concatenate([np.flatnonzero(train_y == c)[:args.train_per_class] for c in range(10)])
        train_x, train_y = train_x[keep], train_y[keep]
    mean, std = float(train_x.mean()), float(train_x.std())

    torch.manual_seed(args.seed)
    model = CifarResNet20(tweak_d=r["tweak_d"]).to(memory_format=torch.channels_last)
    initialise(model, r["zero_gamma"])
    decay = [p for p in model.parameters() if p.dim() > 1] if r["no_bias_decay"] else list(model.parameters())
    rest = [p for p in model.parameters() if p.dim() <= 1] if r["no_bias_decay"] else []
    groups = [{"params": decay, "weight_decay": 1e-4}] + ([{"params": rest, "weight_decay": 0.0}] if rest else [])
    optimizer = torch.optim.SGD(groups, lr=0.0, momentum=0.9, nesterov=True)
    batch, base_lr = r["batch"], 0.1 * r["batch"] / 256
    per_epoch = len(train_x) // batch
    warmup_epochs = min(max(1, args.epochs * 5 / 120), args.epochs / 2) if r["warmup"] else 0
    settings = dict(recipe=args.recipe, epochs=args.epochs, seed=args.seed, train=len(train_x), **r)

    checkpoint, epoch, history = f"{args.output}/last.pt", 0, []
    rng = np.random.default_rng(args.seed)
    if os.path.exists(checkpoint):
        saved = torch.load(checkpoint, weights_only=False)
        # More epochs may follow (the schedule stretches, as `tricks train --resume --epochs`); nothing else may change.
        if {**saved["settings"], "epochs": args.epochs} != settings:
            raise SystemExit(f"{checkpoint} was written with other settings: {saved['settings']}; choose another --output")
        model.load_state_dict(saved["model"]); optimizer.load_state_dict(saved["optimizer"])
        epoch, history = saved["epoch"], saved["history"]
        saved["settings"]["epochs"] = args.epochs
        rng.bit_generator.state = saved["numpy_rng"]; torch.set_rng_state(saved["torch_rng"])
        print(f"resumed from {checkpoint} after epoch {epoch}")

    print(f"{args.recipe}: {settings}, lr {base_lr:g}, {per_epoch} steps/epoch, warmup {warmup_epochs:g} epochs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    while epoch < args.epochs:
        start, losses = time.time(), []
        order = rng.permutation(len(train_x))
        for step in range(per_epoch):
            index = order[step * batch:(step + 1) * batch]
            x = (torch.from_numpy(augment(train_x[index], rng)).float().unsqueeze(1) - mean) / std
            x = x.contiguous(memory_format=torch.channels_last)
            k = 10
            target = torch.full((batch, k), r["smoothing"] / (k - 1))
            target[torch.arange(batch), torch.from_numpy(train_y[index]).long()] = 1 - r["smoothing"]
            if r["mixup"] > 0:
                lam = float(rng.beta(r["mixup"], r["mixup"]))
                perm = torch.from_numpy(rng.permutation(batch))
                x = lam * x + (1 - lam) * x[perm]
                target = lam * target + (1 - lam) * target[perm]
            lr = learning_rate(epoch * per_epoch + step, base_lr, args.epochs, per_epoch, warmup_epochs, r["cosine"])
            for g in optimizer.param_groups:
                g["lr"] = lr
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=r["bf16"]):
                logits = model(x)
            loss = -(target * F.log_softmax(logits.float(), 1)).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        seconds = time.time() - start
        val_loss, top1, top5 = evaluate(model, test_x, test_y, mean, std, r["bf16"])
        epoch += 1
        record = dict(epoch=epoch, train_loss=float(np.mean(losses)), val_loss=val_loss, top1=top1, top5=top5, lr=lr,
                      seconds=seconds, images_per_second=per_epoch * batch / seconds)
        history.append(record)
        print(f"epoch {epoch}/{args.epochs}: train loss {record['train_loss']:.4f}, val loss {val_loss:.4f}, "
              f"top-1 {top1:.2f}%, top-5 {top5:.2f}%, {seconds:.0f}s ({record['images_per_second']:.1f} img/s)", flush=True)
        torch.save(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch, history=history,
                        numpy_rng=rng.bit_generator.state, torch_rng=torch.get_rng_state(), settings=settings),
                   checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)
        with open(f"{args.output}/metrics.json", "w") as f:
            json.dump(dict(settings=settings, history=history), f, indent=1)
    print(f"final: top-1 {history[-1]['top1']:.2f}%, top-5 {history[-1]['top5']:.2f}% after {args.epochs} epochs")


if __name__ == "__main__":
    main()
