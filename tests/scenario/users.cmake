# What users see (issue 25, tests/scenario/test_users.py): the report's command line pasted
# back into a shell; classes.txt of .cls labels; the stats report's outdir; one image as INPUT.
foreach(c command_line_quoted stats_outdir)
  ppx_sh_test(NAME report.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_users.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c cls_classes)
  ppx_sh_test(NAME shards.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_users.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c single_file single_file_refused)
  ppx_sh_test(NAME run.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_users.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME mpi.single_file_np2 SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_users.py single_file_np2 LABELS mpi TIMEOUT 300)
