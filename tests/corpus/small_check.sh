#!/bin/bash
# corpus.small_corpus and corpus.large_corpus: runs small_check.py with Debian's python3.
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/small_check.py" "$@"
