# Trust, round two (issue 19): each case a reproduction from the issue, against the real binary.
foreach(c dotdot_stems input_in_outdir sidecar_long_ext sidecar_huge archive_changes couser_swap
          couser_swap_race copy_mode list_nofollow link_tar_input class_tars long_member_name
          archive_messages)
  ppx_sh_test(NAME run.trust.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_trust.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
ppx_sh_test(NAME mpi.trust.copy_mode_np2 SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_trust.py copy_mode_np2 LABELS mpi TIMEOUT 300)
