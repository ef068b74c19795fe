# Scientific rasters (tests/scenario/test_raster.py): every TIFF sample type and band count
# against tifffile/GDAL, crops and resizes against numpy, -f tiff round trips, the photo
# formats' refusal, hostile headers. Skipped (77) without tifffile or rasterio.
foreach(c decode_matrix crop_exact resize_reference photo_refused hostile)
  ppx_sh_test(NAME unit.raster.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster.py ${c} LABELS unit TIMEOUT 600)
endforeach()
ppx_sh_test(NAME mpi.raster.resize_np SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster.py resize_np LABELS mpi TIMEOUT 300)
# Exact raster statistics (tests/scenario/test_raster_stats.py): against fractions.Fraction
# sums, the same at -np 1/3 and -w 3 and after kill -9 and --resume.
foreach(c exact values_changed)
  ppx_sh_test(NAME unit.raster.stats_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_stats.py ${c} LABELS unit TIMEOUT 300)
endforeach()
foreach(c np resume)
  ppx_sh_test(NAME mpi.raster.stats_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_stats.py ${c} LABELS mpi TIMEOUT 300)
endforeach()
# Rasters in npy shards (tests/scenario/test_raster_npy.py): types and bands kept, equal to
# tifffile's decode; per-band normalize; one layout a shard; the same at -np 1/3, -w 1/2.
foreach(c types mixed normalize chips)
  ppx_sh_test(NAME unit.raster.npy_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_npy.py npy_${c} LABELS unit TIMEOUT 300)
endforeach()
ppx_sh_test(NAME run.raster.npy_resume SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_npy.py npy_resume LABELS unit TIMEOUT 300)
ppx_sh_test(NAME mpi.raster.npy_np SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_npy.py npy_np LABELS mpi TIMEOUT 300)
