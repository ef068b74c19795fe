ppx_c_test(NAME report SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_report.c
           CASES json_always_keys summary_lines html_escaped report_shards
           LABELS unit)
