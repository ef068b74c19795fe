# Included by the first area file that needs ppx_fuzz_target (coco.cmake sorts before it).
include_guard(GLOBAL)
# Decode fuzz target. With PPX_FUZZ (preset fuzz, clang) it is a libFuzzer
# binary; otherwise it gets a plain main() (standalone_main.c). Either way
# CTest replays every file of the corpus's bad/ folder, of regressions/ and
# of webp_seeds/ (small files of each WebP kind, the seeds of
# `run_fuzz.sh SECONDS "" webp`) through it, one test per file, labelled
# fuzz: a crash, a hang (TIMEOUT) or a sanitizer report fails the test.
set(PPX_FUZZ_SRC ${CMAKE_CURRENT_LIST_DIR})

# ppx_fuzz_target(NAME): fuzz_NAME from fuzz_NAME.c, a libFuzzer binary with the fuzz preset
# and a replayer (standalone_main.c) otherwise, and one test per file of NAME_corpus/,
# fuzz.NAME.<file> (label fuzz): the journal and tar targets (journal.cmake, tar.cmake).
function(ppx_fuzz_target name)
  set(t fuzz_${name})
  if(PPX_FUZZ)
    add_executable(${t} ${PPX_FUZZ_SRC}/${t}.c)
    target_compile_options(${t} PRIVATE ${PPX_WARNINGS} -fsanitize=fuzzer)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${t} ${PPX_FUZZ_SRC}/${t}.c ${PPX_FUZZ_SRC}/standalone_main.c)
    target_compile_options(${t} PRIVATE ${PPX_WARNINGS})
  endif()
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${t} PRIVATE ppx)
  file(GLOB seeds CONFIGURE_DEPENDS ${PPX_FUZZ_SRC}/${name}_corpus/*)
  list(SORT seeds)
  foreach(seed ${seeds})
    get_filename_component(seed_name ${seed} NAME)
    add_test(NAME fuzz.${name}.${seed_name} COMMAND ${t} ${seed})
    set_tests_properties(fuzz.${name}.${seed_name} PROPERTIES LABELS fuzz TIMEOUT 60)
  endforeach()
endfunction()
if(PPX_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PPX_FUZZ needs clang (libFuzzer); use the fuzz preset")
  endif()
  add_executable(fuzz_decode ${PPX_FUZZ_SRC}/fuzz_decode.c)
  target_link_options(fuzz_decode PRIVATE -fsanitize=fuzzer)
else()
  add_executable(fuzz_decode ${PPX_FUZZ_SRC}/fuzz_decode.c ${PPX_FUZZ_SRC}/standalone_main.c)
endif()
target_compile_options(fuzz_decode PRIVATE ${PPX_WARNINGS})
# src/ for the JPEG decoder's modes (codec/jpeg_acskip.h), which it compares.
target_include_directories(fuzz_decode PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fuzz_decode PRIVATE ppx)

file(GLOB_RECURSE PPX_FUZZ_INPUTS LIST_DIRECTORIES false CONFIGURE_DEPENDS
     ${PPX_CORPUS_DIR}/bad/*
     ${PPX_FUZZ_SRC}/regressions/*
     ${PPX_FUZZ_SRC}/webp_seeds/*)
list(SORT PPX_FUZZ_INPUTS)
if(NOT PPX_FUZZ_INPUTS)
  # No corpus at configure time: one test that says so (skip).
  add_test(NAME fuzz.decode.corpus COMMAND fuzz_decode ${PPX_CORPUS_DIR}/bad/MISSING)
  set_tests_properties(fuzz.decode.corpus PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77)
endif()
foreach(input ${PPX_FUZZ_INPUTS})
  if(input MATCHES "^${PPX_FUZZ_SRC}/(regressions|webp_seeds)/(.*)$")
    set(case ${CMAKE_MATCH_1}.${CMAKE_MATCH_2})
  else()
    file(RELATIVE_PATH case ${PPX_CORPUS_DIR}/bad ${input})
  endif()
  string(REPLACE "/" "." case ${case})
  add_test(NAME fuzz.decode.${case} COMMAND fuzz_decode ${input})
  set_tests_properties(fuzz.decode.${case} PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77 TIMEOUT 30)
endforeach()

# The outcome of each regression file (tests/fuzz/regressions_expect.tsv): beyond "no crash",
# the code it fails with (or that it decodes), fuzz.expect.<file>.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PPX_FUZZ_SRC}/regressions_expect.tsv)
file(GLOB PPX_FUZZ_REGRESSIONS CONFIGURE_DEPENDS ${PPX_FUZZ_SRC}/regressions/*)
list(SORT PPX_FUZZ_REGRESSIONS)
foreach(input ${PPX_FUZZ_REGRESSIONS})
  get_filename_component(case ${input} NAME)
  ppx_sh_test(NAME fuzz.expect.${case} SCRIPT ${PPX_FUZZ_SRC}/expect_regression.sh
              ARGS ${PPX_FUZZ_SRC}/regressions_expect.tsv ${input} LABELS fuzz TIMEOUT 30)
endforeach()
