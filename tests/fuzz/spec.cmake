# Parser fuzz target (tests/fuzz/fuzz_spec.c). With the fuzz preset it is a
# libFuzzer binary:
#   build/fuzz/tests/fuzz_spec -dict=tests/fuzz/spec.dict tests/fuzz/spec_corpus
# In other builds the same code replays each file of tests/fuzz/spec_corpus
# (seeds and every input that once failed) as its own test, fuzz.spec.<file>.
if(PPX_FUZZ)
  add_executable(fuzz_spec ${CMAKE_CURRENT_LIST_DIR}/fuzz_spec.c)
  target_compile_options(fuzz_spec PRIVATE ${PPX_WARNINGS} -fsanitize=fuzzer)
  target_link_options(fuzz_spec PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_spec PRIVATE ppx)
else()
  add_executable(fuzz_spec_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz_spec.c)
  target_compile_definitions(fuzz_spec_replay PRIVATE PPX_FUZZ_REPLAY=1)
  target_compile_options(fuzz_spec_replay PRIVATE ${PPX_WARNINGS})
  target_link_libraries(fuzz_spec_replay PRIVATE ppx)
  file(GLOB PPX_SPEC_SEEDS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/spec_corpus/*)
  foreach(seed ${PPX_SPEC_SEEDS})
    get_filename_component(seed_name ${seed} NAME)
    add_test(NAME fuzz.spec.${seed_name} COMMAND fuzz_spec_replay ${seed})
    set_tests_properties(fuzz.spec.${seed_name} PROPERTIES LABELS fuzz TIMEOUT 60)
  endforeach()
endif()
