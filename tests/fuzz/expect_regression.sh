#!/usr/bin/env bash
# fuzz.expect.<file>: prepix inspect --decode on one file of tests/fuzz/regressions/ gives the
# outcome its row of regressions_expect.tsv names (OK, or the failure code and stage), one JSON
# line with a one-line reason. The fuzz.decode.regressions.* tests only check that the decoders
# keep their contract; this one fails when a file's outcome changes.
# Usage: expect_regression.sh TABLE FILE
set -euo pipefail
table=$1 file=$2
name=$(basename "$file")
row=$(awk -F'\t' -v n="$name" '$1 == n { print $2 "\t" $3 }' "$table")
if [ -z "$row" ]; then
    echo "FAIL: $name has no row in $table: add its expected outcome"
    exit 1
fi
want=${row%%$'\t'*} stage=${row#*$'\t'}
set +e
got=$("${PPX_PREPIX:?run through ctest}" inspect --decode "$file" 2>&1)
rc=$?
set -e
echo "$got"
if [ "$(printf '%s\n' "$got" | wc -l)" -ne 1 ]; then
    echo "FAIL: expected one line of output"
    exit 1
fi
exec "${PYTHON:-/usr/bin/python3}" - "$want" "$stage" "$rc" "$got" <<'PY'
import json, sys
want, stage, rc, line = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
o = json.loads(line)
if want == "OK":
    ok = rc == 0 and "error" not in o and o.get("width", 0) > 0
else:
    e = o.get("error", {})
    ok = (rc == 3 and e.get("code") == want and e.get("stage") == stage
          and e.get("reason") and "\n" not in e["reason"])
if not ok:
    sys.exit(f"FAIL: expected {want} ({stage}), got exit {rc}: {line}")
print(f"ok: {want}")
PY
