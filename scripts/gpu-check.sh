#!/usr/bin/env bash
# Issue 17's one prepared command for a GPU machine that has no Swift and no network (the
# device tool's nvidia-h200: Ubuntu 24.04, driver 580, CUDA 13, a python3 with PyTorch and
# NVIDIA's pip libraries on PATH). Build the bundle here first (scripts/bundle.sh), then:
#
#   device run, carrying dist/tricks-bundle.tar.xz and dist/fashion-mnist-20k:  scripts/gpu-check.sh
#
# In order, each step's output in $OUT/STEP.txt (default gpu-check/), the exit status 1 if one
# failed: the bundle runs there; `tricks env --require-cuda` (libraries, NVRTC, a kernel, five
# cuDNN convolutions against the CPU); `tricks selftest --device cuda` (every op forward and
# backward, four zoo models' training step, the SGD kernel bit for bit and a checkpoint, on the
# GPU against the CPU backend); `tricks bench train --device cuda` for ResNet-50 (batch 256,
# 224x224) and ResNet-20 (batch 512, 32x32); 2 epochs of the demo on 20,000 Fashion-MNIST
# images on the GPU and on the machine's CPUs, top-1 side by side; and PyTorch's numbers for
# the same benchmark rows on the same GPU (bench/pytorch_reference.py --device cuda: bf16 autocast
# with channels_last, and Float32 in NCHW as the backend computes today).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
status=0
step() {  # step NAME SECONDS COMMAND...: runs it with a limit, output to $OUT/NAME.txt and here
    local name=$1 limit=$2; shift 2
    echo "== $name: $*"
    local started=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    cat "$OUT/$name.txt"
    echo "== $name: exit $rc after $((SECONDS - started)) s"
    [ $rc -eq 0 ] || status=1
}

step machine 30 sh -c 'nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv && grep PRETTY_NAME /etc/os-release && ldd --version | head -1'
[ -f dist/tricks-bundle.tar.xz ] || { echo "dist/tricks-bundle.tar.xz is missing: run scripts/bundle.sh and carry it" | tee "$OUT/bundle.txt"; exit 1; }
rm -rf /tmp/tricks-bundle
tar -xJf dist/tricks-bundle.tar.xz -C /tmp || { echo "could not unpack dist/tricks-bundle.tar.xz" | tee "$OUT/bundle.txt"; exit 1; }
TRICKS=/tmp/tricks-bundle/tricks
# NVIDIA's libraries as the PyTorch there has them (nvidia/*/lib of its pip wheels), unless set.
if [ -z "${TRICKS_CUDA_LIBS:-}" ]; then
    TRICKS_CUDA_LIBS=$("$PYTHON" -c 'import glob, nvidia, os; print(":".join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib")))))' 2>/dev/null || true)
    export TRICKS_CUDA_LIBS
fi
echo "TRICKS_CUDA_LIBS=$TRICKS_CUDA_LIBS"
step libraries 30 "$PYTHON" -c 'import nvidia, os; [print(p) for p in nvidia.__path__]; print(*sorted(os.listdir(nvidia.__path__[0])))'
step env 120 "$TRICKS" env --require-cuda
step selftest 150 "$TRICKS" selftest --device cuda --against cpu
step bench-resnet50 120 "$TRICKS" bench train --device cuda --model resnet50 -b 256 --input-size 224 --rounds 10
step bench-resnet50-bf16 120 "$TRICKS" bench train --device cuda --model resnet50 -b 256 --input-size 224 --rounds 10 --precision bf16
step bench-resnet20 60 "$TRICKS" bench train --device cuda --model cifar_resnet20 -b 512 --input-size 32 --rounds 20
for device in cuda cpu; do
    step demo-$device 150 "$TRICKS" train --model cifar_resnet20 --epochs 2 --data dist/fashion-mnist-20k --device $device \
        --output "$OUT/demo-$device" --overwrite --log-every 50
done
echo "demo top-1 (2 epochs, 20,000 images): $(grep -h '^final' "$OUT/demo-cuda.txt" "$OUT/demo-cpu.txt" | tr '\n' ' ')"
step pytorch-cuda 240 "$PYTHON" bench/pytorch_reference.py --device cuda --rounds 20
echo "gpu-check: $([ $status -eq 0 ] && echo passed || echo FAILED); results in $OUT/"
exit $status
