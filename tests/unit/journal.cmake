ppx_c_test(NAME journal SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_journal.c
           CASES stats_roundtrip_random stats_roundtrip_edges stats_size stats_format1_read
                 stats_hostile journal_parse_intact journal_parse_truncated journal_parse_bitflip
                 journal_parse_foreign failures_hostile identity_strict journal_format1_load
                 journal_prints
           LABELS unit)
