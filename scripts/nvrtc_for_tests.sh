#!/usr/bin/env bash
# NVIDIA's NVRTC from PyPI (the nvidia-cuda-nvrtc wheel, about 60 MB; no GPU, driver or CUDA
# toolkit needed) in a venv under .build, made once: so that `make test` compiles the CUDA
# backend's kernels (CUDALibraryTests) on every machine, GPU or not. Prints the folder that
# holds libnvrtc.so.13, for TRICKS_CUDA_LIBS; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/nvrtc-venv
find_libs() { find "$venv" -name libnvrtc.so.13 -printf '%h\n' 2>/dev/null | head -1; }
if [ -z "$(find_libs)" ]; then
    echo "nvrtc_for_tests: installing nvidia-cuda-nvrtc 13 into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-nvrtc==13.5.37" >&2
fi
libs=$(find_libs)
[ -n "$libs" ] || { echo "nvrtc_for_tests: libnvrtc.so.13 not found in $venv after installing" >&2; exit 1; }
(cd "$libs" && pwd)
