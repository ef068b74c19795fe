# Source checks that keep a fixed pattern from coming back (issue 19: every path of the run
# is opened, created and renamed in src/core/fsafe.c or the archive reader behind it).
ppx_sh_test(NAME lint.raw_paths SCRIPT ${CMAKE_CURRENT_LIST_DIR}/raw_paths.sh
            ARGS ${PROJECT_SOURCE_DIR} LABELS unit TIMEOUT 60)
ppx_sh_test(NAME lint.sources_listed SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sources_listed.sh
            ARGS ${PROJECT_SOURCE_DIR} LABELS unit TIMEOUT 60)
# No function in src/ over 100 lines (issue 20), but for the allow-list in func_len.py.
add_test(NAME lint.func_len COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/func_len.py
         ${PROJECT_SOURCE_DIR}/src)
set_tests_properties(lint.func_len PROPERTIES LABELS unit TIMEOUT 60)
