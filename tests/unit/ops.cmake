# Transform ops and the pipeline language (issue 3). Each case is its own
# CTest test: unit.<binary>.<case>.
ppx_c_test(NAME ops_geometry SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops_geometry.c
           CASES resize_dims_torchvision resize_dims_fits center_offset_rounding orient_dims
                 rng_determinism rng_ranges random_crop_same_key random_crop_diff_key
                 random_crop_inside random_crop_fallback names
           LABELS unit LIBS m)
ppx_c_test(NAME ops_pixels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops_pixels.c
           CASES flip_3x2 rotate_3x2 autorotate_all_8 autorotate_blocks_16bit crop_inside
                 crop_outside_zeros center_crop_pad_and_round pad_colors grayscale_bt601
                 rgb_channels to8bit_rounding equalize_known equalize_channels_16bit
                 normalize_values normalize_raster degenerate_sizes float_refused
                 limits_checked
           LABELS unit LIBS m)
ppx_c_test(NAME ops_resize SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops_resize.c
           CASES pillow_known_values constant_stays_constant identity_and_single_pass
                 depth16_matches_8 overshoot_clamps degenerate_sizes alpha_premultiplied
                 resized_crop_is_view resizer_reuse limits_checked
                 window_equals_resize_then_crop table_cache_equals_fresh table_cache_bounded
                 table_cache_evicts_lru simd_equals_portable
           LABELS unit)
ppx_c_test(NAME pipeline SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pipeline.c
           CASES parse_unknown_op parse_bad_arguments parse_structure parse_empty canonical_text
                 properties print_ops_lists_all decode_hint decode_hint_keeps_geometry
                 run_torchvision_example run_noops run_random_determinism run_flip_probability
                 run_buffers_reused run_normalize run_limits parse_edge_cases
           LABELS unit)
