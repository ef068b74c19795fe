ppx_c_test(NAME fingerprint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fingerprint.c
           CASES phash_scipy_values phash_rgb_image phash_flat exact_layout prints_pack
           LABELS unit)
ppx_c_test(NAME dedup SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dedup.c
           CASES groups_small brute_force
           LABELS unit)
