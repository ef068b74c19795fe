# Duplicates and leaks (issue 24, tests/scenario/test_dedup.py).
foreach(c phash_scipy)
  ppx_sh_test(NAME corpus.dedup.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_dedup.py ${c} LABELS corpus TIMEOUT 300)
endforeach()
foreach(c groups_variants exclude_drop_list html_thumbnails input_kinds)
  ppx_sh_test(NAME run.dedup.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_dedup.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c groups_np_matrix split_leaks)
  ppx_sh_test(NAME mpi.dedup.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_dedup.py ${c} LABELS mpi TIMEOUT 600)
endforeach()
