# Wire fuzz target (tests/fuzz/fuzz_wire.c): the unpackers of the messages a rank reads
# from another rank (ppx__unpack_assign, ppx__unpack_end, ppx__unpack_chunk_result and
# ppx__parse_outputs: src/sched/plan.h). With the fuzz preset it is a libFuzzer binary:
#   build/fuzz/tests/fuzz_wire tests/fuzz/wire_corpus
# In other builds standalone_main.c gives it a main(). Either way each file of
# tests/fuzz/wire_corpus (seeds from make_wire_seeds.c, and every input that once failed)
# is its own test, fuzz.wire.<file>.
ppx_fuzz_target(wire)
add_executable(make_wire_seeds EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/make_wire_seeds.c)
target_include_directories(make_wire_seeds PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(make_wire_seeds PRIVATE ${PPX_WARNINGS})
target_link_libraries(make_wire_seeds PRIVATE ppx)
