# The one message path (issue 20): --quiet and -v.
foreach(c quiet_errors_only verbose_says_plan)
  ppx_sh_test(NAME run.log.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_log.py ${c} LABELS scenario TIMEOUT 120)
endforeach()
