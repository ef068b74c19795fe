# Hostile archives (issue 14): each case builds its bad tar at test time and checks the
# failure entry, that nothing is written outside OUTDIR, and the time and memory bounds.
foreach(c truncated size_past_end negative_size huge_size checksum long_names special_members
          unsafe_names tar_bomb compressed random_bytes nested_deep empty_tar bad_cls same_names)
  ppx_sh_test(NAME run.archives.hostile.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_archives_hostile.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
