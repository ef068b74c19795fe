# Pages, chips and GeoTIFF (issue 22, items 5-7; tests/scenario/test_raster_parts.py): against
# tifffile, GDAL (gdal_translate, gdalinfo -json) and rasterio. Skipped (77) without
# python3-tifffile, python3-rasterio or gdal-bin.
foreach(c pages_tifffile pages_bomb chips_geo chips_edges chips_types chips_nodata chips_resize_geo
          chips_limits usage)
  ppx_sh_test(NAME run.raster.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_parts.py ${c} LABELS unit TIMEOUT 300)
endforeach()
foreach(c chips_np chips_resume)
  ppx_sh_test(NAME mpi.raster.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_raster_parts.py ${c} LABELS mpi TIMEOUT 300)
endforeach()
