# Every target installs what it needs first (idempotent), so each works on a fresh machine.
.PHONY: setup build test bench demo clean

setup:
	./scripts/install-deps.sh

build: setup
	swift build -c release

# The test suite: every op's forward against a naive reference and its gradients against
# finite differences, layouts, errors, and a tiny net that overfits.
test: setup
	swift test --disable-swift-testing

# Micro-benchmark: conv GFLOP/s, oneDNN called directly vs through the conv2d op.
bench: build
	.build/release/tricks bench conv

# The main job (until the trainer exists: the benchmark).
demo: bench

clean:
	rm -rf .build
