#!/bin/sh
# Makes VIEW, the corpus the tests read (PPX_CORPUS_DIR): every file of the small corpus
# committed in tests/corpus/files, then every file of the large corpus (LARGE, optional) that
# the small one lacks, as hard links (copies across file systems); MANIFEST.tsv is the small
# corpus's lines and the large corpus's other lines; LARGE_CORPUS names the large corpus, or
# says "absent" (tests then say what they skipped). Run by CMake at configure time.
# Usage: corpus_view.sh SMALL LARGE VIEW
set -eu
small=$1 large=$2 view=$3
rm -rf "$view"
mkdir -p "$view"
link() { cp -a -l -n "$1/." "$view/" 2>/dev/null || cp -a -n "$1/." "$view/"; }
link "$small"
rm -f "$view/MANIFEST.tsv"
if [ -n "$large" ] && [ -f "$large/MANIFEST.tsv" ]; then
    link "$large"
    rm -f "$view/MANIFEST.tsv"
    awk -F'\t' 'FNR == NR { print; seen[$1] = 1; next } FNR > 1 && !($1 in seen)' \
        "$small/MANIFEST.tsv" "$large/MANIFEST.tsv" | tr -d '\r' >"$view/MANIFEST.tsv"
    (cd "$large" && pwd) >"$view/LARGE_CORPUS"
else
    tr -d '\r' <"$small/MANIFEST.tsv" >"$view/MANIFEST.tsv"
    echo absent >"$view/LARGE_CORPUS"
fi
