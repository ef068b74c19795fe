# The JPEG codec on the shared corpus (skipped, exit 77, when it is absent).
set(PPX_JPEG_CORPUS_TEST ${CMAKE_CURRENT_LIST_DIR}/test_jpeg_corpus.c)
ppx_c_test(NAME jpeg SOURCES ${PPX_JPEG_CORPUS_TEST} TIMEOUT 120
           CASES decode_jpeg_dir decode_variants_dir fuzz_seed header_facts orientation
           LABELS corpus)
# Damaged and foreign files: each its own test with its expected code; a
# short timeout turns a hang into a failure.
ppx_c_test(NAME jpeg_bad SOURCES ${PPX_JPEG_CORPUS_TEST} TIMEOUT 10
           CASES bogus_dqt_table_id bogus_sampling_5x5 restart_corrupt_huffman truncated_50pct
                 truncated_in_headers gdk_cve_2017_2862 gdk_bug775697 gdk_premature_end
                 height_zero_dnl skimage_truncated soi_only storm_eoi_in_middle
                 unsupported_12bit unsupported_lossless misc_elf misc_empty misc_gzip
                 misc_jpeg_named_png misc_mp4 misc_random misc_text misc_utf16
           LABELS corpus)

# Pixels equal to djpeg's at every DCT scale, one test per kind of file.
set(PPX_JPEG_DJPEG_FILES
    sub420 jpeg-variants/storm_sub420.jpg
    sub422 jpeg-variants/storm_sub422.jpg
    sub444 jpeg-variants/storm_sub444.jpg
    sub411 jpeg-variants/storm_sub411.jpg
    sub440 jpeg-variants/storm_sub440.jpg
    sub410 jpeg-variants/storm_sub410.jpg
    progressive jpeg-variants/storm_progressive.jpg
    arithmetic jpeg-variants/china_arithmetic.jpg
    arithmetic_progressive jpeg-variants/china_arithmetic_progressive.jpg
    restart jpeg-variants/china_restart_every_mcu.jpg
    grayscale jpeg-variants/storm_grayscale_lossless.jpg
    cmyk jpeg-variants/storm_cmyk_pil.jpg
    ycck jpeg-variants/storm_cmyk.jpg
    rgb jpeg-variants/storm_rgb_components.jpg
    odd_size jpeg-variants/china_crop_17x13.jpg
    no_dht jpeg-variants/china_no_dht_mjpeg_style.jpg
    big_progressive jpeg-variants/kleiber_20MP_progressive.jpg)
while(PPX_JPEG_DJPEG_FILES)
  list(POP_FRONT PPX_JPEG_DJPEG_FILES case file)
  ppx_sh_test(NAME corpus.jpeg.djpeg_${case} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
              ARGS scales ${file} LABELS corpus TIMEOUT 60)
endwhile()
# And every decodable file at full size.
ppx_sh_test(NAME corpus.jpeg.djpeg_all_jpeg SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
            ARGS folder jpeg/ LABELS corpus TIMEOUT 300)
ppx_sh_test(NAME corpus.jpeg.djpeg_all_variants SCRIPT ${CMAKE_CURRENT_LIST_DIR}/jpeg_djpeg.sh
            ARGS folder jpeg-variants/ LABELS corpus TIMEOUT 300)
