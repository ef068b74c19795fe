# The scripts the README tells users to run.
ppx_sh_test(NAME scripts.demo_outdir SCRIPT ${CMAKE_CURRENT_LIST_DIR}/demo_outdir.sh LABELS unit
            TIMEOUT 60)
