# WebP through prepix (tests/scenario/test_webp.py): pixels against dwebp on files made by
# cwebp, img2webp, gif2webp and webpmux (scenario.webp.dwebp_*), prepix run on a folder of WebP
# files (run.webp_*), and shrink-on-load quality on the corpus's large photos. Skipped (77)
# without the Debian package `webp` or Pillow.
foreach(c dwebp_lossy dwebp_lossy_alpha dwebp_lossless dwebp_vp8x_icc_exif dwebp_animated
          dwebp_scaled inspect_kinds)
  ppx_sh_test(NAME scenario.webp.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_webp.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c same lossy lossless tar npy bad_files anim_small_first usage)
  ppx_sh_test(NAME run.webp_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_webp.py run_${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME corpus.webp.hint_quality SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_webp.py corpus_hint_quality LABELS corpus
            TIMEOUT 600)
