# DC-only decoding of progressive JPEG at 1/8: the scan walk on crafted
# streams.
ppx_c_test(NAME codec_jpeg_acskip SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jpeg_acskip.c
           CASES walk_keeps_dc_and_refinements walk_stuffing_and_restarts walk_truncated
                 walk_markers_inside_data
           LABELS unit)
