# The one message path (src/core/log.c): levels, prefixes, long lines.
ppx_c_test(NAME log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log.c CASES levels long_line_cut
           LABELS unit TIMEOUT 30)
