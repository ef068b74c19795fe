# ppx_optool: runs a pipeline spec on PNM/PAM files (no codecs), for the
# tests that compare the ops with Pillow (tests/corpus/ops*.cmake).
add_executable(ppx_optool ${CMAKE_CURRENT_LIST_DIR}/ppx_optool.c)
target_compile_options(ppx_optool PRIVATE ${PPX_WARNINGS})
target_link_libraries(ppx_optool PRIVATE ppx)
