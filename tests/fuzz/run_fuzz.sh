#!/bin/bash
# Runs the decode fuzz target (preset fuzz) on JPEG seeds from the shared
# corpus for SECONDS (default 300). New crashers land in WORKDIR/crashes;
# each one must become a file in tests/fuzz/regressions/ plus a test that
# expects its specific error code.
#   tests/fuzz/run_fuzz.sh [SECONDS] [WORKDIR]
# PPX_FUZZ_BUILD picks the build folder (default build/fuzz). Debian's
# libjpeg is not instrumented, so libFuzzer sees coverage of prepix only; for
# coverage inside libjpeg build libjpeg-turbo with the same sanitizer flags
# and configure a second build with -DJPEG_LIBRARY=.../libjpeg.a
# -DJPEG_INCLUDE_DIR=... (docs/codecs.md).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-300}
build=${PPX_FUZZ_BUILD:-$src/build/fuzz}
work=${2:-$build/fuzz-work}
corpus=${PPX_CORPUS_DIR:-$src/../shared/corpus}
bin=$build/tests/fuzz_decode
[ -x "$bin" ] || { echo "build it first: cmake --preset fuzz && cmake --build build/fuzz -j2 --target fuzz_decode"; exit 2; }
mkdir -p "$work/seeds" "$work/queue" "$work/crashes"
# Small files only: libFuzzer mutates faster, and every JPEG feature of the
# corpus (progressive, arithmetic, restart, CMYK, EXIF...) has a small example.
find "$corpus/jpeg" "$corpus/jpeg-variants" "$corpus/bad" -type f -size -24k \
    -exec cp -t "$work/seeds" {} +
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -dict="$src/tests/fuzz/jpeg.dict" -artifact_prefix="$work/crashes/" -print_final_stats=1 \
    "$work/queue" "$work/seeds"
