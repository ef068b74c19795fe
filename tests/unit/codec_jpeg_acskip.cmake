# DC-only decoding of progressive JPEG at 1/8: the scan walk on crafted
# streams, the fast path against the whole decode on files libjpeg writes in
# the test, damaged and truncated files; and every progressive file of the
# shared corpus (skipped, exit 77, when it is absent).
set(PPX_JPEG_ACSKIP_TEST ${CMAKE_CURRENT_LIST_DIR}/test_jpeg_acskip.c)
ppx_c_test(NAME codec_jpeg_acskip SOURCES ${PPX_JPEG_ACSKIP_TEST}
           LIBS JPEG::JPEG TIMEOUT 120
           CASES walk_keeps_dc_and_refinements walk_stuffing_and_restarts walk_truncated
                 walk_markers_inside_data dc_only_equals_whole dc_only_not_applied
                 dc_only_restart_warnings_not_counted dc_only_damage_sweep
                 dc_only_damage_sweep_restart
           LABELS unit)
ppx_c_test(NAME jpeg_acskip SOURCES ${PPX_JPEG_ACSKIP_TEST} LIBS JPEG::JPEG TIMEOUT 300
           CASES corpus_progressive
           LABELS corpus)
