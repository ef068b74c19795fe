#!/bin/bash
# Pixels of prepix's JPEG decoder must equal djpeg's (libjpeg-turbo-progs,
# same library, same defaults: islow DCT, fancy upsampling), byte for byte.
#   jpeg_djpeg.sh scales FILE...   each file at 1/1, 1/2, 1/4 and 1/8 (a file of the large
#                                  corpus is skipped, and said, when that corpus is absent)
#   jpeg_djpeg.sh folder PREFIX    every "decode OK" MANIFEST file under PREFIX at 1/1
# For CMYK files djpeg writes RGB computed as C*K/255 from Adobe-inverted
# samples: the formula prepix uses for files with an Adobe marker (all the
# corpus's CMYK files have one), so those compare exactly too.
# Exit 0 pass, 1 fail, 77 skip (no corpus, no djpeg).
set -u
corpus=${PPX_CORPUS_DIR:-}
dump=${PPX_BUILD_DIR:-}/tests/ppx_dump
if [ -z "$corpus" ] || [ ! -f "$corpus/MANIFEST.tsv" ]; then
    echo "SKIP: shared corpus not found (PPX_CORPUS_DIR)"
    exit 77
fi
if ! command -v djpeg >/dev/null; then
    echo "SKIP: djpeg not installed (apt-get install libjpeg-turbo-progs)"
    exit 77
fi
if [ ! -x "$dump" ]; then
    echo "FAIL: $dump not built"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# MANIFEST field of a path: 4 width, 5 height, 10 expected behaviour.
manifest() {
    tr -d '\r' <"$corpus/MANIFEST.tsv" | awk -F'\t' -v p="$1" -v f="$2" '$1 == p { print $f }'
}

checked=0
failed=0
skipped=0
# A file of the large corpus that is absent (tests/corpus/corpus_view.sh): said and skipped.
large_only() {
    if [ ! -e "$corpus/$1" ] && [ "$(cat "$corpus/LARGE_CORPUS" 2>/dev/null)" = absent ]; then
        echo "SKIP $1: only in the large corpus, which is absent"
        skipped=$((skipped + 1))
        return 0
    fi
    return 1
}
# compare REL DENOM: prepix asked for ceil(w/d) x ceil(h/d) must pick 1/d and
# give djpeg's bytes.
compare() {
    local rel=$1 d=$2 w h
    w=$(manifest "$rel" 4)
    h=$(manifest "$rel" 5)
    if [ -z "$w" ] || [ -z "$h" ]; then
        echo "FAIL $rel: not in the MANIFEST"
        failed=$((failed + 1))
        return
    fi
    local args=()
    [ "$d" -gt 1 ] && args=($(((w + d - 1) / d)) $(((h + d - 1) / d)))
    if ! "$dump" "$corpus/$rel" "${args[@]}" >"$tmp/ours" 2>"$tmp/ours.err"; then
        echo "FAIL $rel 1/$d: ppx_dump: $(cat "$tmp/ours.err")"
        failed=$((failed + 1))
        return
    fi
    if ! djpeg -pnm -scale "1/$d" "$corpus/$rel" >"$tmp/ref" 2>"$tmp/ref.err" ||
        [ -s "$tmp/ref.err" ]; then
        echo "FAIL $rel 1/$d: djpeg: $(cat "$tmp/ref.err")"
        failed=$((failed + 1))
        return
    fi
    checked=$((checked + 1))
    if ! grep -q "scale 1/$d " "$tmp/ours.err"; then
        echo "FAIL $rel: prepix chose $(cat "$tmp/ours.err"), wanted 1/$d"
        failed=$((failed + 1))
    elif [ ! -s "$tmp/ref" ] || ! cmp -s "$tmp/ours" "$tmp/ref"; then
        echo "FAIL $rel 1/$d: pixels differ from djpeg ($(head -c 20 "$tmp/ours" | head -2 | tr '\n' ' ') vs $(head -c 20 "$tmp/ref" | head -2 | tr '\n' ' '))"
        failed=$((failed + 1))
    fi
}

mode=${1:-}
shift
case "$mode" in
scales)
    for rel in "$@"; do
        large_only "$rel" && continue
        for d in 1 2 4 8; do
            compare "$rel" "$d"
        done
    done
    ;;
folder)
    while IFS= read -r rel; do
        compare "$rel" 1
    done < <(tr -d '\r' <"$corpus/MANIFEST.tsv" |
        awk -F'\t' -v p="$1" 'index($1, p) == 1 && $10 == "decode OK" { print $1 }')
    ;;
*)
    echo "usage: $0 scales FILE... | folder PREFIX"
    exit 2
    ;;
esac
[ "$(cat "$corpus/LARGE_CORPUS" 2>/dev/null)" = absent ] &&
    echo "small corpus only: the large corpus is absent"
echo "$checked decodes compared with djpeg, $failed failed, $skipped files skipped"
[ "$checked" -gt 0 ] && [ "$failed" -eq 0 ]
