#!/usr/bin/env bash
# scripts/demo chooses where it writes without a fixed name in /tmp and without removing anything
# (issue 19, item 11): its demo_outdir function, sourced (the demo itself builds a release, too
# slow for a test; CI runs it whole), in each case a user can meet.
set -euo pipefail
src=${PPX_SOURCE_DIR:?run through ctest}
# shellcheck source=scripts/demo
. "$src/scripts/demo"
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# No argument: a new private folder each time, under TMPDIR, never the old /tmp/prepix-demo.
a=$(TMPDIR=$t demo_outdir)
b=$(TMPDIR=$t demo_outdir)
[[ $a != "$b" ]] || fail "two demos got one folder: $a"
for d in "$a" "$b"; do
    [[ -d $d && ! -L $d && -O $d ]] || fail "$d is not a new folder of ours"
    [[ $(stat -c %a "$d") == 700 ]] || fail "$d is mode $(stat -c %a "$d"), not 0700"
    [[ -z $(ls -A "$d") ]] || fail "$d is not empty"
    [[ $d == "$t"/prepix-demo.* ]] || fail "$d is not a fresh name in TMPDIR"
done
c=$(env -u TMPDIR bash -c ". '$src/scripts/demo'; demo_outdir")
rmdir "$c"
[[ $c != /tmp/prepix-demo && $c == /tmp/prepix-demo.* ]] || fail "default without TMPDIR: $c"

# A named folder: used when new or empty; anything else refused, and nothing removed.
[[ $(demo_outdir "$t/new") == "$t/new" ]] || fail "a new folder was not taken"
mkdir "$t/empty"
[[ $(demo_outdir "$t/empty") == "$t/empty" ]] || fail "an empty folder was not taken"
mkdir "$t/full"
echo precious >"$t/full/keep"
if demo_outdir "$t/full" 2>"$t/err"; then fail "a non-empty folder was taken"; fi
[[ -f $t/full/keep ]] || fail "the non-empty folder lost its file"
grep -q "not empty" "$t/err" || fail "no reason given: $(cat "$t/err")"
ln -s "$t/empty" "$t/link"
if demo_outdir "$t/link" 2>/dev/null; then fail "a link was taken"; fi
touch "$t/file"
if demo_outdir "$t/file" 2>/dev/null; then fail "a file was taken"; fi
if [[ $(id -u) -eq 0 ]]; then
    mkdir "$t/theirs"
    chown 54321 "$t/theirs"
    if demo_outdir "$t/theirs" 2>/dev/null; then fail "another user's folder was taken"; fi
fi
echo "ok"
