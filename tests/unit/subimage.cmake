# Pages and chips (issue 22, items 5-6): keys and output names, chip corners of each edge rule,
# the per-file limits, option parsing, nodata values per sample type.
ppx_c_test(NAME subimage SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_subimage.c
           CASES keys_parse keys_output_names chips_corners options_parse sample_encode
           LABELS unit)
