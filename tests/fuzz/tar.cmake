# Archive fuzz target (tests/fuzz/fuzz_tar.c): ppx_tar_list, ppx_listing_add_archive
# (sample grouping, sidecars, .cls, nested tars, unsafe names) and ppx_tar_read_member on
# each input as a tar file. With the fuzz preset it is a libFuzzer binary:
#   tests/fuzz/run_fuzz.sh SECONDS "" tar
# In other builds standalone_main.c gives it a main(). Either way each file of
# tests/fuzz/tar_corpus (seeds from make_tar_seeds.py, and every input that once failed)
# is its own test, fuzz.tar.<file>.
if(PPX_FUZZ)
  add_executable(fuzz_tar ${CMAKE_CURRENT_LIST_DIR}/fuzz_tar.c)
  target_compile_options(fuzz_tar PRIVATE ${PPX_WARNINGS} -fsanitize=fuzzer)
  target_link_options(fuzz_tar PRIVATE -fsanitize=fuzzer)
else()
  add_executable(fuzz_tar ${CMAKE_CURRENT_LIST_DIR}/fuzz_tar.c
                 ${CMAKE_CURRENT_LIST_DIR}/standalone_main.c)
  target_compile_options(fuzz_tar PRIVATE ${PPX_WARNINGS})
endif()
target_include_directories(fuzz_tar PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fuzz_tar PRIVATE ppx)
file(GLOB PPX_TAR_SEEDS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/tar_corpus/*)
list(SORT PPX_TAR_SEEDS)
foreach(seed ${PPX_TAR_SEEDS})
  get_filename_component(seed_name ${seed} NAME)
  add_test(NAME fuzz.tar.${seed_name} COMMAND fuzz_tar ${seed})
  set_tests_properties(fuzz.tar.${seed_name} PROPERTIES LABELS fuzz TIMEOUT 60)
endforeach()
