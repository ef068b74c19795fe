ppx_c_test(NAME work SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_work.c
           CASES task_roundtrip task_malformed result_malformed result_strings_terminated
                 job_in_pool refused_names_image link_not_followed
           LABELS unit TIMEOUT 60)
