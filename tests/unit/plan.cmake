# The plan of a run without MPI (src/sched/plan.h): milliseconds, no launcher.
ppx_c_test(NAME plan SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_plan.c
           CASES chunk_geometry shards_size walk_prefail outcome assign_roundtrip assign_damaged
                 end_roundtrip chunk_result_roundtrip
           LABELS unit TIMEOUT 30)
