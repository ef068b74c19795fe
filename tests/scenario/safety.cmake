# Safety and security scenarios (issues 10 and 11): each case a reproduction of an attack or a
# silent loss, run against the real binary.
foreach(c list_traversal symlinked_subfolder concurrent_lock outdir_deleted list_own_folder
          dot_collisions list_and_spec_errors)
  ppx_sh_test(NAME run.safety.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_safety.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME mpi.safety.long_names SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_safety.py long_names LABELS mpi TIMEOUT 600)
foreach(c outdir_plants journal_plants run_identity_escaped journal_failure_escaped
          foreign_prepix_refused report_targets report_swap_race report_fifo_refused
          input_links folder_swap modes escaped_names)
  ppx_sh_test(NAME run.security.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_security.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME run.security.release_without_hooks SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_security.py release_without_hooks LABELS scenario
            TIMEOUT 900)
foreach(c unreadable_folder empty_input whole_tree max_failures_resume)
  ppx_sh_test(NAME run.accounting.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_accounting.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c socket_especial format_aliases help_text report_unwritable resume_refused_says_how option_ranges
          stop_grace)
  ppx_sh_test(NAME run.messages.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_messages.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME run.durability_order SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_durability.py durability_order LABELS scenario
            TIMEOUT 300)
# The same order on rank 0 of two ranks with --transport bytes (it writes and journals the
# other rank's chunks), committed by its committer thread.
ppx_sh_test(NAME mpi.durability_order_bytes SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_durability.py durability_order_bytes LABELS mpi
            TIMEOUT 300)
