# The COCO reader and writer (src/annot): RLE runs against a pixel reference, members that
# repeat, errors that name the place.
ppx_c_test(NAME coco SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_coco.c
           CASES rle_runs_match_pixels last_member_wins errors_name_the_place threads_same_text
                 threads_first_error threads_same_errors sink_failure_ends
           LABELS unit TIMEOUT 60)
