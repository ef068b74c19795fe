# Duplicates and leaks (issue 24, tests/scenario/test_dedup.py).
foreach(c phash_scipy)
  ppx_sh_test(NAME corpus.dedup.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_dedup.py ${c} LABELS corpus TIMEOUT 300)
endforeach()
