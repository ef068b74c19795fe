#!/usr/bin/env bash
# Runs raw_paths.py with any python3 (it needs only the standard library).
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/raw_paths.py" "$@"
