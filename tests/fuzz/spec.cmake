# Parser fuzz target (tests/fuzz/fuzz_spec.c). With the fuzz preset it is a
# libFuzzer binary:
#   build/fuzz/tests/fuzz_spec -dict=tests/fuzz/spec.dict tests/fuzz/spec_corpus
# In other builds standalone_main.c gives it a main(). Either way each file of
# tests/fuzz/spec_corpus (seeds and every input that once failed) is its own test,
# fuzz.spec.<file>.
ppx_fuzz_target(spec)
