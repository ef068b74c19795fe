# Scenario tests: the prepix binary on real files, checked by Python (Debian's python3 with
# Pillow and numpy). Each case is its own CTest test.
set(PPX_PY /usr/bin/python3)
foreach(c usage_errors report_keys stats_cmd odd_names dry_run chunk_floor name_collision crash_hang transient_retry
          workers_identical
          sigterm)
  ppx_sh_test(NAME run.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_run.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
# A stop while the input is listed (issue 19 item 15): exit 4 at once, nothing written.
foreach(c sigterm_listing sigterm_list_pipe)
  ppx_sh_test(NAME run.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_run.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c e2e_corpus bad_files)
  ppx_sh_test(NAME corpus.run.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_run.py ${c} LABELS corpus TIMEOUT 600)
endforeach()
foreach(c np_matrix skewed kill9_resume sigterm_resume sigusr1_mpirun_resume bytes_transport mpi_fault
          message_bound frozen_worker_bytes stalled_rank
          fatal_agreement)
  ppx_sh_test(NAME mpi.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_mpi.py ${c} LABELS mpi TIMEOUT 600)
endforeach()
# A rank stopped at a chosen moment (issue 21): exit 4 within --rank-timeout and the grace, a
# report naming it, --resume identical to a clean run.
foreach(c last_request_bytes r0_serve_bytes r1_result_bytes r0_end_paths last_hang_paths
          r1_end_bytes r0_hang_bytes r1_code_paths)
  ppx_sh_test(NAME mpi.silent.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_silent.py ${c} LABELS mpi TIMEOUT 120)
endforeach()
# Work while the walk goes on (issue 21 item 5): a chunk done while a test hook holds the walk;
# outputs and report those of a run that lists first (and of main's binary), kill -9 + --resume.
# Shards too (nested_*: the label rule of archives below the top level; top_archive lists first).
foreach(c corpus_jpeg_np1 corpus_jpeg_np3 corpus_tar_np1 corpus_tar_np3 corpus_npy_np1
          corpus_npy_np3 tricky_np1 tricky_np3 kill9_np1 kill9_np3 changed_resume long_walk
          sigterm_walk nested_tar_np1 nested_tar_np3 nested_npy_np1 nested_npy_np3 top_archive
          kill9_shards_tar_np1 kill9_shards_npy_np3)
  ppx_sh_test(NAME mpi.stream.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_stream.py ${c} LABELS mpi TIMEOUT 300)
endforeach()
foreach(c shards_tar shards_npy shards_normalize shards_usage shards_failures shards_count)
  ppx_sh_test(NAME run.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_shards.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
foreach(c shards_np_matrix shards_kill9_resume)
  ppx_sh_test(NAME mpi.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_shards.py ${c} LABELS mpi TIMEOUT 300)
endforeach()
ppx_sh_test(NAME corpus.run.shards SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_shards.py corpus_shards LABELS corpus TIMEOUT 600)
# The geometry record of every output (issue 23 item 2): checked by pixels over random
# pipelines, the DCT-scaled decode included; identical for any -np, -w and on --resume.
foreach(c pixels dct_scaled)
  ppx_sh_test(NAME run.geometry_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_geometry.py ${c} LABELS unit TIMEOUT 300)
endforeach()
ppx_sh_test(NAME mpi.geometry_identical SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_geometry.py identical LABELS mpi TIMEOUT 600)
# --coco (issue 23 item 3): mapped coordinates against a numpy reference, clipping and
# dropping, an overlay checked by pixels, shards, failed images, hostile files, --resume
# with another annotation file refused, the disk filling while coco.json is written, the same
# coco.json for one thread and for two.
foreach(c mapping shards tar_companions refused failed_images hostile resume_other_file disk_full
          threads_same)
  ppx_sh_test(NAME run.coco_${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_coco.py ${c} LABELS unit TIMEOUT 600)
endforeach()
# KEY.json in tar samples, identical for any -np and transport.
ppx_sh_test(NAME mpi.coco_tar_samples SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_coco.py tar_samples LABELS mpi TIMEOUT 600)
# Workers forked by a zygote forked before MPI_Init (issue 21 item 4): no worker maps Open
# MPI's shared memory or holds its sockets; the zygote ends with its rank.
foreach(c no_mpi_in_workers zygote_ends_with_rank thumbnails)
  ppx_sh_test(NAME mpi.zygote.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_zygote.py ${c} LABELS mpi TIMEOUT 180)
endforeach()
# A plain run forks its workers from the zygote too, a process of one thread.
ppx_sh_test(NAME run.zygote.plain_run_forks_single_threaded SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
            ARGS ${CMAKE_CURRENT_LIST_DIR}/test_zygote.py plain_run_forks_single_threaded
            LABELS scenario TIMEOUT 180)
