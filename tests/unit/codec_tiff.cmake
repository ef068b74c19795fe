# TIFF codec: round trips, features written with libtiff, hostile headers.
ppx_c_test(NAME codec_tiff SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_tiff.c
           LIBS TIFF::TIFF
           CASES roundtrip_1ch_8bit roundtrip_2ch_8bit roundtrip_3ch_8bit roundtrip_4ch_8bit
                 roundtrip_1ch_16bit roundtrip_2ch_16bit roundtrip_3ch_16bit roundtrip_4ch_16bit
                 encode_orientation_kept encode_refuses miniswhite_1bit gray_2bit_4bit_scaled
                 gray16_miniswhite_bigendian palette_4bit_and_8bit_colormap
                 cmyk_contig_and_planar rgb16_planar_tiled_partial
                 rgba_associated_unpremultiplied extra_samples_rules
                 bigtiff_multipage_orientation ycbcr_raw_fallback valid_crafted_file_decodes
                 huge_dimensions_elimit zero_width_ecorrupt ifd_offsets_checked strips_checked
                 unsupported_features huge_tile_elimit max_alloc_limit warnings_flood_refused
                 ifd_loop_counted_once damaged_jpeg_strip_refused damaged_packbits_strip_refused
                 harmless_unknown_tag harmless_unsorted_tags harmless_ascii_nul
                 harmless_ascii_unterminated harmless_metadata_tag_ignored
                 harmless_nonstandard_tiles harmless_old_jpeg_notice unlisted_warning_refused
                 cut_in_ifd_etrunc pages_counted_exactly pages_capped_at_2_20
           LABELS unit)
