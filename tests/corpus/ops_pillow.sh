#!/bin/bash
# Runs one case of ops_pillow.py (the transform ops against Pillow, numpy and
# torchvision's formulas on corpus photos). Exit 77 (skip) when the corpus,
# Pillow or numpy is missing.
set -u
py=${PYTHON:-/usr/bin/python3}
if ! [ -x "$py" ]; then
    echo "SKIP: no Python at $py"
    exit 77
fi
exec "$py" "$PPX_SOURCE_DIR/tests/corpus/ops_pillow.py" "$1"
