# Archives as input (tests/scenario/test_archives.py, issue 14): ImageNet's tar of class tars
# and WebDataset shards with sidecars, read in place, against the extracted tree and
# torchvision's ImageFolder; loose files and archives mixed in a walk and a list; WebP members.
foreach(c tar_of_tars webdataset_sidecars mixed_inputs webp_members)
  ppx_sh_test(NAME mpi.archives.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_archives.py ${c} LABELS mpi TIMEOUT 600)
endforeach()
