ppx_c_test(NAME runcore SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_runcore.c
           CASES json_escaping stats_exact_merge stats_histogram_exact stats_serialize stats_16bit_carry
                 journal_roundtrip identity_diff listing_order output_names atomic_write job_trim
                 wire_little_endian img_stats_pack xacc_order raster_stats_merge rank_info_pack
           LABELS unit)
