#!/usr/bin/env bash
# `tricks export --onnx` against onnxruntime (scripts/check_onnx_export.py): numpy, onnx and
# onnxruntime from PyPI in a venv under .build (made once, reused), then the check on the
# release binary (.build/release/tricks: run `swift build -c release` first when not under
# `make test`). Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/onnx-venv
if ! "$venv/bin/python" -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
    echo "check_onnx_export: installing numpy, onnx and onnxruntime into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check numpy onnx==1.23.2 onnxruntime==1.32.0
fi
# `make test` has just built the binary beside the tests (with testing enabled: a plain
# `swift build` would compile everything again); elsewhere, build it.
[ -x .build/release/tricks ] || swift build -c release --product tricks
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" scripts/check_onnx_export.py .build/release/tricks "$work"
