#!/usr/bin/env bash
# COCO box AP against pycocotools live (issue 29, item 5): pycocotools from PyPI joins numpy in
# the venv that scripts/check_onnx_export.sh makes under .build, evaluates freshly drawn cases
# (scripts/make_coco_eval_fixture.py with seeds other than the committed fixture's), and the
# Swift test COCOEvaluationTests.testAPMatchesPycocotools checks ours against each to 1e-4.
# Part of `make test`, after the test build (TEST_BUILD, default .build/testing).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/onnx-venv
if ! "$venv/bin/python" -c "import numpy, pycocotools" 2>/dev/null; then
    echo "check_coco_eval: installing numpy and pycocotools into $venv"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check numpy pycocotools==2.0.11
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for seed in 1 2 3; do
    "$venv/bin/python" scripts/make_coco_eval_fixture.py "$work/cases-$seed.json" "$seed" > /dev/null
    if ! COCO_EVAL_CASES="$work/cases-$seed.json" swift test -c release --disable-swift-testing --skip-build \
        --scratch-path "${TEST_BUILD:-.build/testing}" --filter COCOEvaluationTests.testAPMatchesPycocotools > "$work/log" 2>&1; then
        grep -E "error|failed" "$work/log" || tail -20 "$work/log"
        echo "check_coco_eval: seed $seed: ours differs from pycocotools (or the test did not run)"
        exit 1
    fi
    grep -q "Executed 1 test" "$work/log" || { tail -20 "$work/log"; echo "check_coco_eval: the test did not run"; exit 1; }
done
echo "check_coco_eval: COCO AP, AP50 and AP75 equal pycocotools' to 1e-4 on 3 fresh sets of cases"
