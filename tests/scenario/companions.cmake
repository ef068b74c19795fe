# Companion images (tests/scenario/test_companions.py, issue 23): masks through the same
# geometry as their images, against torchvision's VOCSegmentation and functional ops.
foreach(c voc_resize_crop voc_random failures webdataset npy kind_image_exif)
  ppx_sh_test(NAME mpi.companions.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_companions.py ${c} LABELS mpi TIMEOUT 600)
endforeach()
