#!/bin/bash
# Runs the decode fuzz target (preset fuzz) for SECONDS (default 300) on the
# seeds of one format: KIND jpeg (default; with the JPEG dictionary), tiff,
# or webp (with the WebP dictionary). Seeds: the shared corpus' small files
# of that format (and of bad/), and the committed hostile files of
# tests/fuzz/regressions/ (make_regressions.py); for webp the small files of
# every kind in tests/fuzz/webp_seeds/. KIND tar runs the archive target
# (fuzz_tar) instead, on tests/fuzz/tar_corpus with the tar dictionary.
# New crashers land in WORKDIR/crashes; each one must become a file in
# tests/fuzz/regressions/ plus a test that expects its specific error code.
#   tests/fuzz/run_fuzz.sh [SECONDS] [WORKDIR] [KIND]
# PPX_FUZZ_BUILD picks the build folder (default build/fuzz). Debian's
# libjpeg and libtiff are not instrumented, so libFuzzer sees coverage of
# prepix only; for coverage inside libjpeg build libjpeg-turbo with the same
# sanitizer flags and configure a second build with -DJPEG_LIBRARY=.../libjpeg.a
# -DJPEG_INCLUDE_DIR=...; for libwebp, PKG_CONFIG_PATH to an instrumented
# build (docs/codecs.md).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-300}
build=${PPX_FUZZ_BUILD:-$src/build/fuzz}
kind=${3:-jpeg}
work=${2:-$build/fuzz-work-$kind}
corpus=${PPX_CORPUS_DIR:-$src/../shared/corpus}
bin=$build/tests/fuzz_decode
mkdir -p "$work/seeds" "$work/queue" "$work/crashes"
# Small files only: libFuzzer mutates faster, and every feature of the
# corpus (progressive, arithmetic, restart, CMYK, EXIF...; strips, tiles,
# planes, every compression) has a small example.
case $kind in
jpeg)
    dirs=("$corpus/jpeg" "$corpus/jpeg-variants" "$corpus/bad/jpeg" "$corpus/bad/misc")
    regress=("$src"/tests/fuzz/regressions/jpeg_* "$src"/tests/fuzz/regressions/not_*)
    dict=(-dict="$src/tests/fuzz/jpeg.dict")
    ;;
tiff)
    dirs=("$corpus/tiff" "$corpus/bad/tiff" "$corpus/bad/fuzz-seeds")
    regress=("$src"/tests/fuzz/regressions/tiff_*)
    dict=()
    ;;
tar)
    bin=$build/tests/fuzz_tar
    dirs=()
    regress=("$src"/tests/fuzz/tar_corpus/*)
    dict=(-dict="$src/tests/fuzz/tar.dict")
    ;;
webp)
    # Lossy, lossless, palette, alpha, VP8X with ICC and EXIF, animations,
    # each under 1.5 KB; the corpus has one WebP of its own.
    dirs=("$corpus/bad/unsupported")
    regress=("$src"/tests/fuzz/webp_seeds/*)
    dict=(-dict="$src/tests/fuzz/webp.dict")
    ;;
*)
    echo "KIND is jpeg, tiff, webp or tar, not $kind"
    exit 2
    ;;
esac
[ -x "$bin" ] || { echo "build it first: cmake --preset fuzz && cmake --build build/fuzz -j2 --target $(basename "$bin")"; exit 2; }
[ ${#dirs[@]} -eq 0 ] || find "${dirs[@]}" -type f -size -24k -exec cp -t "$work/seeds" {} + 2>/dev/null || true
cp -t "$work/seeds" "${regress[@]}"
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    "${dict[@]}" -artifact_prefix="$work/crashes/" -print_final_stats=1 \
    "$work/queue" "$work/seeds"
