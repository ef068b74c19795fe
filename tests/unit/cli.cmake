# The options of `prepix run|stats`, declared once in src/cli/options.c (issue 20 item 5): the
# man page must document exactly the table's options; --help and the parser come from it. The op
# keys of the pipeline language (src/pipeline/parse.c): what `prepix ops` shows parses.
ppx_c_test(NAME cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.c ${PROJECT_SOURCE_DIR}/src/cli/options.c
           CASES man_page_lists_options table_consistent help_lists_options parse_values
                 ops_usage_parses
           LABELS unit)
