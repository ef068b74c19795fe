ppx_c_test(NAME core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core.c
           CASES err_table err_one_line limits_overflow limits_pixels image_reuse detect_magic
                 shell_word
           LABELS unit)
