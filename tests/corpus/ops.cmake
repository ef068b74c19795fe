# Transform ops on real photos against independent implementations (Pillow,
# numpy, torchvision's formulas). Needs ppx_optool, /usr/bin/python3 with
# PIL and numpy, and the shared corpus (skipped, exit 77, without them).
foreach(case resize_nearest resize_bilinear resize_bicubic resize_lanczos3 resize_16bit
        exif_orientation decode_hint_quality torchvision_pipeline color_ops
        random_crop_determinism)
  ppx_sh_test(NAME corpus.ops.${case} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/ops_pillow.sh
              ARGS ${case} LABELS corpus TIMEOUT 300)
endforeach()
