# Every target installs what it needs first (idempotent), so each works on a fresh machine.
.PHONY: setup build test bench demo clean

setup:
	./scripts/install-deps.sh

build: setup
	swift build -c release

# The test suite, in release mode (the numeric checks run ~10x faster): ops against naive
# references and finite differences, models against published counts and PyTorch goldens.
test: setup
	swift test -c release --disable-swift-testing

# Micro-benchmarks: conv GFLOP/s (oneDNN directly vs the conv2d op); input pipeline img/s.
bench: build
	.build/release/tricks bench conv
	.build/release/tricks bench loader

# The main job: CIFAR ResNet-20 on the built-in Fashion-MNIST, 3 epochs, printing test top-1.
demo: build
	.build/release/tricks train --model cifar_resnet20 --epochs 3 --output runs/demo

clean:
	rm -rf .build
