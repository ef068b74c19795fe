# Benchmarks (label bench): not part of CI's run (`ctest -LE bench`); run with `ctest -L bench`.
# A smoke run of the harness: prepix and the decode floor only, on one copy of the JPEG corpus,
# one counted round. It fails when prepix or the floor fails or misses outputs, so a change that
# breaks the benchmark commands is seen before anyone times anything. Figures come from the full
# bench/run-all, never from here (a debug build on a busy machine).
ppx_sh_test(NAME bench.run_all.smoke SCRIPT ${PROJECT_SOURCE_DIR}/tests/bench/smoke.sh
            LABELS bench TIMEOUT 600)
