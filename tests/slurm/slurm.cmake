# Slurm jobs and multi-host clusters (issue 7). Tests labelled 'slurm' need root (they print
# "SKIP: needs root" and count as skipped otherwise) and start their own daemons through the
# *.up fixtures; the *.down cleanups run even when a test in between fails.
set(_d ${CMAKE_CURRENT_LIST_DIR})

# No root needed: the scripts users copy stay shellcheck-clean.
ppx_sh_test(NAME slurm.jobs.shellcheck SCRIPT ${_d}/shellcheck.sh LABELS lint TIMEOUT 60)

# A one-host Slurm, and the jobs/ scripts submitted to it unedited.
ppx_sh_test(NAME slurm.local.up SCRIPT ${_d}/local_up.sh LABELS slurm TIMEOUT 180
            FIXTURES_SETUP ppx_local_slurm)
ppx_sh_test(NAME slurm.local.down SCRIPT ${_d}/local_down.sh LABELS slurm TIMEOUT 90
            FIXTURES_CLEANUP ppx_local_slurm)
foreach(t local.hello jobs.one_node jobs.many_nodes jobs.array jobs.resumable)
  string(REPLACE "." "_" _script ${t}) # jobs.one_node runs jobs_one_node.sh
  ppx_sh_test(NAME slurm.${t} SCRIPT ${_d}/${_script}.sh LABELS slurm TIMEOUT 300
              FIXTURES_REQUIRED ppx_local_slurm)
endforeach()

# Three hosts in network namespaces, with a 3-node Slurm on top.
ppx_sh_test(NAME slurm.netns.up SCRIPT ${_d}/netns_up.sh LABELS slurm TIMEOUT 180
            FIXTURES_SETUP ppx_netns)
ppx_sh_test(NAME slurm.netns.down SCRIPT ${_d}/netns_down.sh LABELS slurm TIMEOUT 90
            FIXTURES_CLEANUP ppx_netns)
ppx_sh_test(NAME slurm.netns.hello SCRIPT ${_d}/netns_hello.sh LABELS slurm TIMEOUT 180
            FIXTURES_REQUIRED ppx_netns)
foreach(mode paths bytes)
  ppx_sh_test(NAME slurm.netns.${mode} SCRIPT ${_d}/netns_transport.sh ARGS ${mode} LABELS slurm
              TIMEOUT 300 FIXTURES_REQUIRED ppx_netns)
endforeach()
# A rank stopped on another host: the job still ends by itself, exit 4, and resumes (issue 21).
foreach(case last_request_bytes r0_serve_paths)
  ppx_sh_test(NAME slurm.netns.stop_${case} SCRIPT ${_d}/netns_stop.sh ARGS ${case} LABELS slurm
              TIMEOUT 300 FIXTURES_REQUIRED ppx_netns)
endforeach()
