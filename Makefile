# Every target installs what it needs first (idempotent), so each works on a fresh machine.
.PHONY: setup build test bench demo segment detect clean

setup:
	./scripts/install-deps.sh

build: setup
	swift build -c release

# The test suite, in release mode (the numeric checks run ~10x faster): ops against naive
# references and finite differences, models against published counts and PyTorch goldens;
# NVRTC from PyPI (a venv under .build, made once) so that the CUDA kernels compile here too;
# then the ONNX export against onnxruntime (another venv from PyPI), and COCO AP against
# pycocotools on freshly drawn cases (in that venv). The tests build into their
# own folder: `swift test` compiles with -enable-testing, which would otherwise make every switch
# between `make test` and `make demo` or `make bench` recompile the whole package (and the
# binaries people time and run stay the plain release build).
TEST_BUILD = .build/testing
test: setup
	./scripts/nvrtc_for_tests.sh > /dev/null
	TRICKS_CUDA_LIBS="$$(./scripts/nvrtc_for_tests.sh)" swift test -c release --disable-swift-testing --scratch-path $(TEST_BUILD)
	TRICKS=$(TEST_BUILD)/release/tricks ./scripts/check_onnx_export.sh
	TEST_BUILD=$(TEST_BUILD) ./scripts/check_coco_eval.sh
	./scripts/check_cifar10_long.sh

# Benchmarks: training and inference img/s, GFLOP/s against the sgemm peak and peak memory
# for issue 7's models; inference img/s fused and unfused at batch 1 and 16 (issue 31); conv GFLOP/s (oneDNN directly vs the conv2d op); input pipeline img/s;
# allreduce vs compute on 2 local MPI ranks. Beside PyTorch: bench/pytorch_reference.py.
bench: build
	.build/release/tricks bench train
	.build/release/tricks bench infer
	.build/release/tricks bench conv
	.build/release/tricks bench loader
	mpirun -np 2 --oversubscribe --allow-run-as-root .build/release/tricks bench allreduce

# The main job: CIFAR ResNet-20 on the built-in Fashion-MNIST, 3 epochs, printing test top-1.
demo: build
	.build/release/tricks train --model cifar_resnet20 --epochs 3 --output runs/demo --overwrite

# Segmentation (issue 13): FCN on a ResNet-20 backbone, 4 epochs of 4,000 built-in garment
# scenes, printing pixel accuracy and mIoU on 1,000 validation scenes. lr 0.04: from scratch and
# this short, 4x the torchvision recipe's 0.01 (at batch 16) did better (mIoU 25.4% vs 21.4%).
segment: build
	.build/release/tricks segment train --lr 0.04 --train-scenes 4000 --val-scenes 1000 --epochs 4 --output runs/segment --overwrite

# Detection (issue 29): Faster R-CNN (fasterrcnn_cifar_resnet20_fpn, from scratch) for 4 epochs of
# 1,000 built-in garment detection scenes, printing VOC07 and COCO mAP on 300 validation scenes.
detect: build
	.build/release/tricks detect train --train-scenes 1000 --val-scenes 300 --epochs 4 --output runs/detect --overwrite

clean:
	rm -rf .build
