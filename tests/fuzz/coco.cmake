# COCO reader fuzz target (tests/fuzz/fuzz_coco.c). With the fuzz preset it is a
# libFuzzer binary:
#   build/fuzz/tests/fuzz_coco -dict=tests/fuzz/coco.dict tests/fuzz/coco_corpus
# In other builds the same code replays each file of tests/fuzz/coco_corpus
# (seeds and every input that once failed) as its own test, fuzz.coco.<file>.
if(PPX_FUZZ)
  add_executable(fuzz_coco ${CMAKE_CURRENT_LIST_DIR}/fuzz_coco.c)
  target_compile_options(fuzz_coco PRIVATE ${PPX_WARNINGS} -fsanitize=fuzzer)
  target_link_options(fuzz_coco PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_coco PRIVATE ppx)
else()
  add_executable(fuzz_coco_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz_coco.c)
  target_compile_definitions(fuzz_coco_replay PRIVATE PPX_FUZZ_REPLAY=1)
  target_compile_options(fuzz_coco_replay PRIVATE ${PPX_WARNINGS})
  target_link_libraries(fuzz_coco_replay PRIVATE ppx)
  file(GLOB PPX_COCO_SEEDS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/coco_corpus/*)
  foreach(seed ${PPX_COCO_SEEDS})
    get_filename_component(seed_name ${seed} NAME)
    add_test(NAME fuzz.coco.${seed_name} COMMAND fuzz_coco_replay ${seed})
    set_tests_properties(fuzz.coco.${seed_name} PROPERTIES LABELS fuzz TIMEOUT 60)
  endforeach()
endif()
