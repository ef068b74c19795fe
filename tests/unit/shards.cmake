ppx_c_test(NAME shards SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_shards.c
           CASES tar_member tar_name_limit npy_header classes_labels classes_grow shard_order index_csv
                 shard_tally npy_shape
           LABELS unit)
