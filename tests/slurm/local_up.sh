#!/usr/bin/env bash
# Fixture: start the tests' one-host Slurm (cluster/local-slurm/up) and check it takes jobs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
# CI machines start bare: install what is missing (a no-op when all is there).
"$src/cluster/install-deps"
"$src/cluster/local-slurm/up"
ppxt_need_local_slurm
[ "$(sinfo -h -o %T)" = idle ] || ppxt_fail "node not idle: $(sinfo)"
