#!/bin/bash
# Corpus check of the TIFF and PNG decoders: runs tifpng_check.py (which
# needs Debian's Python with Pillow and numpy, $PYTHON) with the same args.
set -u
if [ -z "${PPX_CORPUS_DIR:-}" ] || [ ! -f "$PPX_CORPUS_DIR/MANIFEST.tsv" ]; then
    echo "SKIP: shared corpus not found (PPX_CORPUS_DIR)"
    exit 77
fi
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/tifpng_check.py" "$@"
