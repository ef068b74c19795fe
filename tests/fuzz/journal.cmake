# Journal fuzz target (tests/fuzz/fuzz_journal.c): ppx_journal_parse, the
# statistics and failure readers, and the .prepix/run identity text. With
# the fuzz preset it is a libFuzzer binary:
#   build/fuzz/tests/fuzz_journal tests/fuzz/journal_corpus
# In other builds standalone_main.c gives it a main(). Either way each file
# of tests/fuzz/journal_corpus (seeds, and every input that once failed) is
# its own test, fuzz.journal.<file>.
ppx_fuzz_target(journal)
