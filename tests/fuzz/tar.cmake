# Archive fuzz target (tests/fuzz/fuzz_tar.c): ppx_tar_list, ppx_listing_add_archive
# (sample grouping, sidecars, .cls, nested tars, unsafe names) and ppx_tar_read_member on
# each input as a tar file. With the fuzz preset it is a libFuzzer binary:
#   tests/fuzz/run_fuzz.sh SECONDS "" tar
# In other builds standalone_main.c gives it a main(). Either way each file of
# tests/fuzz/tar_corpus (seeds from make_tar_seeds.py, and every input that once failed)
# is its own test, fuzz.tar.<file>.
ppx_fuzz_target(tar)
