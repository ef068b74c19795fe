#!/usr/bin/env bash
# Every C file under src/ is named in CMakeLists.txt, which lists sources instead of globbing
# them (issue 20): a new file that nobody added would otherwise not be built at all, and a
# listed file that is gone fails here with its name instead of in CMake's configure step.
set -euo pipefail
root=$1
status=0
while IFS= read -r f; do
    if ! grep -qE "(^|[[:space:](])$f([[:space:])]|$)" "$root/CMakeLists.txt"; then
        echo "sources_listed: $f is not listed in CMakeLists.txt" >&2
        status=1
    fi
done < <(cd "$root" && find src -name '*.c' | sort)
for f in $(grep -oE 'src/[a-z_]+/[a-z_0-9]+\.c' "$root/CMakeLists.txt"); do
    if [ ! -f "$root/$f" ]; then
        echo "sources_listed: CMakeLists.txt lists $f, which does not exist" >&2
        status=1
    fi
done
exit $status
