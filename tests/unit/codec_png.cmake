# PNG codec: round trips, colour types written with libpng, damaged files.
ppx_c_test(NAME codec_png SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_png.c
           LIBS PNG::PNG
           CASES roundtrip_1ch_8bit roundtrip_2ch_8bit roundtrip_3ch_8bit roundtrip_4ch_8bit
                 roundtrip_1ch_16bit roundtrip_2ch_16bit roundtrip_3ch_16bit roundtrip_4ch_16bit
                 encode_levels_and_chunks gray_low_depths_scaled palette_with_trns
                 colour_key_trns adam7_rgb16_native inspect_facts ihdr_limits truncated_files
                 corrupt_data warnings_flood_refused
                 label_fast_equals_libpng label_fast_declines
           LABELS unit)
