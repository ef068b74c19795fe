# TIFF decoder against the shared corpus: one test per row of tiff_expect.tsv
# (corpus.tiff.<path>): the expected error code, or a decode whose pixels
# equal an independent decoder's (tifpng_check.py says which and why). Plus
# corpus.tifpng.manifest_coverage: every TIFF/PNG file of the MANIFEST has a
# row, so that new corpus files are not silently left out.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_CURRENT_LIST_DIR}/tiff_expect.tsv)
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/tiff_expect.tsv _ppx_rows REGEX "^[^#]")
foreach(_ppx_row IN LISTS _ppx_rows)
  string(REGEX REPLACE "\t.*" "" _ppx_path "${_ppx_row}")
  if(NOT EXISTS ${PPX_CORPUS_DIR}/${_ppx_path})
    # Only in the large corpus, which is absent: corpus.large_corpus says so.
    math(EXPR PPX_LARGE_ONLY_TESTS "${PPX_LARGE_ONLY_TESTS} + 1")
    continue()
  endif()
  string(REGEX REPLACE "^tiff/" "" _ppx_name "${_ppx_path}")
  string(REPLACE "/" "." _ppx_name "${_ppx_name}")
  ppx_sh_test(NAME corpus.tiff.${_ppx_name} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tifpng_check.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/tiff_expect.tsv ${_ppx_path}
              LABELS corpus TIMEOUT 120)
endforeach()
ppx_sh_test(NAME corpus.tifpng.manifest_coverage
            SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tifpng_check.sh
            ARGS --coverage ${CMAKE_CURRENT_LIST_DIR}/tiff_expect.tsv
                 ${CMAKE_CURRENT_LIST_DIR}/png_expect.tsv
            LABELS corpus TIMEOUT 60)
