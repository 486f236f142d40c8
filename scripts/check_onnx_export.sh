#!/usr/bin/env bash
# `tricks export --onnx` against onnxruntime (scripts/check_onnx_export.py): numpy, onnx and
# onnxruntime from PyPI in a venv under .build (made once, reused), then the check on the
# binary $TRICKS (`make test` gives the one built beside the tests) or .build/release/tricks
# (built here if missing). Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/onnx-venv
if ! "$venv/bin/python" -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
    echo "check_onnx_export: installing numpy, onnx and onnxruntime into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check numpy onnx==1.23.2 onnxruntime==1.32.0
fi
tricks=${TRICKS:-.build/release/tricks}
[ -x "$tricks" ] || swift build -c release --product tricks
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" scripts/check_onnx_export.py "$tricks" "$work"
