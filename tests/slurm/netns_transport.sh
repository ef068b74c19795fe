#!/usr/bin/env bash
# netns_transport.sh paths|bytes: prepix under mpirun on three hosts (one rank each) gives the
# outputs and report of a one-host run, and its report names three distinct hosts.
#   paths: input and output in the shared folder, every host reads and writes them.
#   bytes: input and output in h1's private /tmp, which h2 and h3 cannot see.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
mode=${1:?paths or bytes}
ppxt_netns_prepix 20 2
spec='autorotate | resize 96 | center-crop 80'

"$x" h1 "$prepix" run -i "$t/in" -o "$t/ref" -p "$spec" -w 1 --progress none ||
    ppxt_fail "one-host reference run failed"

case "$mode" in
    paths)
        "$x" h1 "${mpirun_3[@]}" "$prepix" run -i "$t/in" -o "$t/out" -p "$spec" -w 1 \
            --transport paths --progress none || ppxt_fail "mpirun (paths) exited $?"
        ;;
    bytes)
        priv=/tmp/$(basename "$t")
        "$x" h1 cp -r "$t/in" "$priv-in"
        "$x" h2 test ! -e "$priv-in" || ppxt_fail "h2 sees h1's private input"
        "$x" h1 "${mpirun_3[@]}" "$prepix" run -i "$priv-in" -o "$priv-out" -p "$spec" -w 1 \
            --transport bytes --progress none || ppxt_fail "mpirun (bytes) exited $?"
        for h in h2 h3; do
            [ -z "$("$x" "$h" find /tmp -path "$priv-out/*" -type f)" ] ||
                ppxt_fail "$h wrote outputs itself with --transport bytes"
        done
        # Bring h1's private outputs where the checks (and the cleanup) can reach them.
        "$x" h1 cp -r "$priv-out" "$t/out"
        "$x" h1 rm -rf "$priv-in" "$priv-out"
        ;;
    *) ppxt_fail "mode must be paths or bytes" ;;
esac
ppxt_same_outputs "$t/out" "$t/ref"
hosts=$("$py" "$report_py" hosts "$t/out/prepix-report.json" | tr '\n' ' ')
[ "$hosts" = "h1 h2 h3 " ] || ppxt_fail "report per_rank hosts are '$hosts', want h1 h2 h3"
echo "netns $mode: 3 ranks on h1 h2 h3, outputs identical to a one-host run"
