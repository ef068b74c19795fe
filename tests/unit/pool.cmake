ppx_c_test(NAME pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool.c
           CASES results_and_crash hang_times_out idle_worker_killed LABELS unit TIMEOUT 60)
