# PNG decoder against the shared corpus: one test per row of png_expect.tsv
# (corpus.png.<path>), as tiff.cmake does for TIFF.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_CURRENT_LIST_DIR}/png_expect.tsv)
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/png_expect.tsv _ppx_rows REGEX "^[^#]")
foreach(_ppx_row IN LISTS _ppx_rows)
  string(REGEX REPLACE "\t.*" "" _ppx_path "${_ppx_row}")
  if(NOT EXISTS ${PPX_CORPUS_DIR}/${_ppx_path})
    # Only in the large corpus, which is absent: corpus.large_corpus says so.
    math(EXPR PPX_LARGE_ONLY_TESTS "${PPX_LARGE_ONLY_TESTS} + 1")
    continue()
  endif()
  string(REGEX REPLACE "^png/" "" _ppx_name "${_ppx_path}")
  string(REPLACE "/" "." _ppx_name "${_ppx_name}")
  ppx_sh_test(NAME corpus.png.${_ppx_name} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tifpng_check.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/png_expect.tsv ${_ppx_path}
              LABELS corpus TIMEOUT 120)
endforeach()
