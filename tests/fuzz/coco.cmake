# COCO reader fuzz target (tests/fuzz/fuzz_coco.c): ppx_coco_parse, ppx_coco_write, and the
# -f tar path (each image's slice parsed again, its KEY.json written). With the fuzz preset it
# is a libFuzzer binary:
#   build/fuzz/tests/fuzz_coco -dict=tests/fuzz/coco.dict tests/fuzz/coco_corpus
# In other builds standalone_main.c gives it a main(). Either way each file of
# tests/fuzz/coco_corpus (seeds and every input that once failed) is its own test,
# fuzz.coco.<file>. ppx_fuzz_target is fuzz.cmake's (included first: areas load in name order).
include(${CMAKE_CURRENT_LIST_DIR}/fuzz.cmake)
ppx_fuzz_target(coco)
