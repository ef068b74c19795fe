#!/usr/bin/env bash
# Runs a Python scenario with Debian's python3 (Pillow, numpy); skips if they are missing.
py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import PIL, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks Pillow/numpy (apt-get install python3-pil python3-numpy)"
  exit 77
fi
exec "$py" "$@"
