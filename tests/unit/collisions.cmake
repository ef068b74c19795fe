# Output names that collide (issue 19, item 15): the rule of who keeps a name, and its cost
# counted (not timed) on n and 2n entries of one name.
ppx_c_test(NAME collisions SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_collisions.c
           CASES collisions_semantics collisions_random collisions_n_log_n
                 collisions_stop LIBS ${M_LIB} LABELS unit)
