ppx_c_test(NAME pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool.c
           CASES results_and_crash reply_bytes hang_times_out idle_worker_killed
                 queued_survives_crash queued_survives_kill submit_to_dead_busy_worker
                 queued_survives_timeout
                 fifo_order slots_and_pending bulk_needs_idle_worker worker_fds
                 as_limit_set lower_hard_limit_kept rlimit_fails pdeathsig_fails
           LABELS unit TIMEOUT 60)
# The same cases with the workers forked by a zygote (src/pool/zygote.c), as every rank under
# MPI has them: crash isolation, timeouts, rlimits and descriptors hold there too. (A zygote
# that cannot tie itself to its rank does not start at all: no pdeathsig_fails here.)
ppx_c_test(NAME pool_zygote SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool.c
           CASES results_and_crash reply_bytes hang_times_out idle_worker_killed
                 queued_survives_crash queued_survives_kill submit_to_dead_busy_worker
                 queued_survives_timeout
                 fifo_order slots_and_pending bulk_needs_idle_worker worker_fds
                 as_limit_set lower_hard_limit_kept rlimit_fails
           LABELS unit TIMEOUT 60)
target_compile_definitions(test_pool_zygote PRIVATE POOL_VIA_ZYGOTE=1)
