# WebP codec: files written by libwebp (lossy, lossless, alpha, VP8X with ICC
# and EXIF, animations), our encoder's round trips, hostile files.
ppx_c_test(NAME codec_webp SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec_webp.c
           LIBS PkgConfig::WEBP PkgConfig::WEBPMUX m
           CASES detect_and_names decode_lossless_rgb decode_lossless_rgba decode_lossy_rgb
                 decode_lossy_alpha inspect_facts exif_orientation animated_first_frame
                 animated_alpha_flag
                 scaled_decode roundtrip_lossless_1ch roundtrip_lossless_2ch
                 roundtrip_lossless_3ch roundtrip_lossless_4ch roundtrip_lossy encode_refusals
                 truncated_every_tenth huge_canvas chunk_past_end riff_size_lies alph_corrupt
                 vp8l_corrupt vp8_corrupt too_many_frames damage_sweep
           LABELS unit)
