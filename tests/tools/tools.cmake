# Helper programs used by tests (not installed).
add_executable(ppx_dump ${CMAKE_CURRENT_LIST_DIR}/ppx_dump.c)
target_compile_options(ppx_dump PRIVATE ${PPX_WARNINGS})
target_link_libraries(ppx_dump PRIVATE ppx)
