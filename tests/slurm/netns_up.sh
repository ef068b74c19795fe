#!/usr/bin/env bash
# Fixture: start the tests' 3-host netns cluster with a 3-node Slurm on top (cluster/netns/up).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
"$src/cluster/install-deps"
"$src/cluster/netns/up" --slurm
ppxt_need_netns
