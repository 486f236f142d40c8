#!/usr/bin/env bash
# Issue 17's one prepared command for a GPU machine that has no Swift and no network (the
# device tool's nvidia-h200: Ubuntu 24.04, driver 580, CUDA 13, a python3 with PyTorch and
# NVIDIA's pip libraries on PATH). Build the bundle here first (scripts/bundle.sh), then:
#
#   device run, carrying dist/tricks-bundle.tar.xz:  scripts/gpu-check.sh
#
# What it checks today (the CUDA backend itself is not written yet): the bundle runs there;
# `tricks env --require-cuda` finds NVIDIA's libraries, compiles a kernel with NVRTC, runs it
# on the GPU and checks five cuDNN convolutions from Swift against the CPU backend; and
# PyTorch's own numbers on the same GPU for the configurations the backend will be measured
# on (bench/pytorch_reference.py --device cuda). Everything goes to $OUT (default gpu-check/),
# one file per step; the exit status is 1 if a step failed.
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
step pytorch-cuda 300 "$PYTHON" bench/pytorch_reference.py --device cuda --rounds 20
echo "gpu-check: $([ $status -eq 0 ] && echo passed || echo FAILED); results in $OUT/"
exit $status
