# Journal fuzz target (tests/fuzz/fuzz_journal.c): ppx_journal_parse, the
# statistics and failure readers, and the .prepix/run identity text. With
# the fuzz preset it is a libFuzzer binary:
#   build/fuzz/tests/fuzz_journal tests/fuzz/journal_corpus
# In other builds standalone_main.c gives it a main(). Either way each file
# of tests/fuzz/journal_corpus (seeds, and every input that once failed) is
# its own test, fuzz.journal.<file>.
if(PPX_FUZZ)
  add_executable(fuzz_journal ${CMAKE_CURRENT_LIST_DIR}/fuzz_journal.c)
  target_compile_options(fuzz_journal PRIVATE ${PPX_WARNINGS} -fsanitize=fuzzer)
  target_link_options(fuzz_journal PRIVATE -fsanitize=fuzzer)
else()
  add_executable(fuzz_journal ${CMAKE_CURRENT_LIST_DIR}/fuzz_journal.c
                 ${CMAKE_CURRENT_LIST_DIR}/standalone_main.c)
  target_compile_options(fuzz_journal PRIVATE ${PPX_WARNINGS})
endif()
target_include_directories(fuzz_journal PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fuzz_journal PRIVATE ppx)
file(GLOB PPX_JOURNAL_SEEDS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/journal_corpus/*)
list(SORT PPX_JOURNAL_SEEDS)
foreach(seed ${PPX_JOURNAL_SEEDS})
  get_filename_component(seed_name ${seed} NAME)
  add_test(NAME fuzz.journal.${seed_name} COMMAND fuzz_journal ${seed})
  set_tests_properties(fuzz.journal.${seed_name} PROPERTIES LABELS fuzz TIMEOUT 60)
endforeach()
