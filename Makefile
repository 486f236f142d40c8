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

# Micro-benchmark: conv GFLOP/s, oneDNN called directly vs through the conv2d op.
bench: build
	.build/release/tricks bench conv

# The main job (until the trainer exists: the benchmark).
demo: bench

clean:
	rm -rf .build
