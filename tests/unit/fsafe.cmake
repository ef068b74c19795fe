ppx_c_test(NAME fsafe SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fsafe.c
           CASES private_dir_stat_fails private_dir_chmod_fails read_all_setfl_fails
                 private_dir_find
           LABELS unit TIMEOUT 60)
