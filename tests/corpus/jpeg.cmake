# The JPEG codec on the shared corpus (skipped, exit 77, when it is absent).
set(PPX_JPEG_CORPUS_TEST ${CMAKE_CURRENT_LIST_DIR}/test_jpeg_corpus.c)
ppx_c_test(NAME jpeg SOURCES ${PPX_JPEG_CORPUS_TEST} TIMEOUT 120
           CASES decode_jpeg_dir decode_variants_dir fuzz_seed header_facts orientation
           LABELS corpus)
# Damaged and foreign files: each its own test with its expected code; a
# short timeout turns a hang into a failure. First those of the small corpus, then those only
# in the large one (case and file: registered when the file is there).
ppx_c_test(NAME jpeg_bad SOURCES ${PPX_JPEG_CORPUS_TEST} TIMEOUT 10
           CASES skimage_truncated soi_only misc_elf misc_empty misc_mp4 misc_random misc_text
                 misc_utf16
                 made_bogus_dqt_table_id made_bogus_sampling_5x5 made_restart_corrupt_huffman
                 made_truncated_50pct made_truncated_in_headers made_nine_components
                 made_height_zero_dnl made_eoi_in_middle made_12bit made_lossless made_gzip
                 made_jpeg_named_png
           LABELS corpus)
set(_ppx_large_bad
    bogus_dqt_table_id bad/jpeg/bogus_dqt_table_id.jpg
    bogus_sampling_5x5 bad/jpeg/bogus_sampling_5x5.jpg
    restart_corrupt_huffman bad/jpeg/china_restart_corrupt_huffman.jpg
    truncated_50pct bad/jpeg/china_truncated_50pct.jpg
    truncated_in_headers bad/jpeg/china_truncated_in_headers.jpg
    gdk_cve_2017_2862 bad/jpeg/gdk-pixbuf__CVE-2017-2862.jpg
    gdk_bug775697 bad/jpeg/gdk-pixbuf__bug775697.jpg
    gdk_premature_end bad/jpeg/gdk-pixbuf__premature-end.jpg
    height_zero_dnl bad/jpeg/height_zero_dnl.jpg
    storm_eoi_in_middle bad/jpeg/storm_eoi_in_middle.jpg
    unsupported_12bit bad/jpeg/unsupported_12bit_sof1.jpg
    unsupported_lossless bad/jpeg/unsupported_lossless_sof3.jpg
    misc_gzip bad/misc/gzipped_jpeg.jpg
    misc_jpeg_named_png bad/misc/jpeg_named.png)
while(_ppx_large_bad)
  list(POP_FRONT _ppx_large_bad case file)
  if(EXISTS ${PPX_CORPUS_DIR}/${file})
    set(tn corpus.jpeg_bad.${case})
    add_test(NAME ${tn} COMMAND test_jpeg_bad ${case})
    set_tests_properties(${tn} PROPERTIES LABELS corpus SKIP_RETURN_CODE 77 TIMEOUT 10
                         ENVIRONMENT "PPX_CORPUS_DIR=${PPX_CORPUS_DIR}")
  else()
    math(EXPR PPX_LARGE_ONLY_TESTS "${PPX_LARGE_ONLY_TESTS} + 1")
  endif()
endwhile()

# Pixels equal to djpeg's at every DCT scale, one test per kind of file: the large corpus's
# file (skipped, and said, when it is absent) and the small corpus's of the same kind.
set(PPX_JPEG_DJPEG_FILES
    sub420 jpeg-variants/storm_sub420.jpg jpeg/go-src__video-001.q50.420.jpeg
    sub422 jpeg-variants/storm_sub422.jpg jpeg/go-src__video-001.q50.422.jpeg
    sub444 jpeg-variants/storm_sub444.jpg jpeg/go-src__video-001.q50.444.jpeg
    sub411 jpeg-variants/storm_sub411.jpg jpeg/go-src__video-001.q50.411.jpeg
    sub440 jpeg-variants/storm_sub440.jpg jpeg/go-src__video-001.q50.440.jpeg
    sub410 jpeg-variants/storm_sub410.jpg jpeg/go-src__video-001.q50.410.jpeg
    progressive jpeg-variants/storm_progressive.jpg jpeg/go-src__video-001.progressive.jpeg
    arithmetic jpeg-variants/china_arithmetic.jpg jpeg-variants/video001_arithmetic.jpg
    arithmetic_progressive jpeg-variants/china_arithmetic_progressive.jpg
        jpeg-variants/video001_arithmetic_progressive.jpg
    restart jpeg-variants/china_restart_every_mcu.jpg jpeg-variants/video001_restart_every_mcu.jpg
    grayscale jpeg-variants/storm_grayscale_lossless.jpg jpeg-variants/video001_grayscale.jpg
    cmyk jpeg-variants/storm_cmyk_pil.jpg jpeg-variants/video001_cmyk_pil.jpg
    ycck jpeg-variants/storm_cmyk.jpg jpeg-variants/video001_ycck.jpg
    rgb jpeg-variants/storm_rgb_components.jpg jpeg-variants/video001_rgb_components.jpg
    odd_size jpeg-variants/china_crop_17x13.jpg jpeg-variants/video001_crop_17x13.jpg
    no_dht jpeg-variants/china_no_dht_mjpeg_style.jpg jpeg-variants/video001_no_dht_mjpeg_style.jpg
    big_progressive jpeg-variants/kleiber_20MP_progressive.jpg
        jpeg/go-src__video-001.separate.dc.progression.progressive.jpeg)
while(PPX_JPEG_DJPEG_FILES)
  list(POP_FRONT PPX_JPEG_DJPEG_FILES case large small)
  ppx_sh_test(NAME corpus.jpeg.djpeg_${case} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
              ARGS scales ${large} ${small} LABELS corpus TIMEOUT 60)
endwhile()
# And every decodable file at full size.
ppx_sh_test(NAME corpus.jpeg.djpeg_all_jpeg SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
            ARGS folder jpeg/ LABELS corpus TIMEOUT 300)
ppx_sh_test(NAME corpus.jpeg.djpeg_all_variants SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
            ARGS folder jpeg-variants/ LABELS corpus TIMEOUT 300)
