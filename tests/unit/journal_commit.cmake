# The journal's committer thread (src/sched/commit.h), without MPI.
ppx_c_test(NAME journal_commit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_journal_commit.c
           CASES batches_in_order failure_reported_once LABELS unit TIMEOUT 30)
