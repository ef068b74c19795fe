# JPEG codec and EXIF reader on synthetic images and crafted bytes.
ppx_c_test(NAME codec_jpeg SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jpeg.c
           LIBS JPEG::JPEG ${M_LIB} TIMEOUT 60
           CASES roundtrip_rgb roundtrip_gray encode_deterministic encode_grows_buffer
                 encode_refuses scale_select size_hint image_reuse exif_valid exif_absent_or_bad_value
                 exif_truncated exif_offsets_out_of_range exif_huge_count exif_not_exif
                 exif_in_jpeg exif_type_short exif_type_long exif_type_sshort exif_type_slong
                 exif_type_byte exif_type_sbyte crafted_soi_only crafted_soi_then_garbage
                 crafted_not_an_image crafted_truncated crafted_corrupt crafted_unsupported
                 hierarchical_dhp_named unsupported_sof_types_named scan_limit
                 scan_budget_16k_2647_scans scan_budget_8k_999_scans scan_budget_boundary
                 memory_limit pixel_limit warnings_flood
                 cmyk_adobe ycck_adobe cmyk_plain unknown_colorspace
           LABELS unit)
