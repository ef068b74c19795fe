/* Grouping benchmark: ppx_dups_find on N synthetic fingerprints.
 *
 *   bench_dedup N [DISTANCE]
 *
 * Uniformly random phashes (the multi-index's case: bands spread evenly) and
 * random exact fingerprints, of which 1% repeat an earlier image's pixels and
 * 1% are an earlier image's phash with 1 to 3 bits flipped (so that there
 * are groups to make). Prints the groups, the seconds spent grouping, and the
 * peak RSS of the process (the fingerprints themselves included: 40 bytes an
 * image). Run by bench/dedup/run.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "prepix/dedup.h"

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dedup N [DISTANCE]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    int d = argc > 2 ? atoi(argv[2]) : PPX_DUP_DISTANCE_DEFAULT;
    ppx_print *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next() % 100;
        v[i].index = i;
        v[i].scale = 1;
        if (i && r == 0) {
            v[i] = v[next() % i];
            v[i].index = i;
        } else {
            v[i].phash = next();
            for (int k = 0; k < PPX_EXACT_BYTES; k += 8) {
                uint64_t x = next();
                memcpy(v[i].exact + k, &x, 8);
            }
            if (i && r == 1) {
                v[i].phash = v[next() % i].phash;
                for (int k = 1 + (int)(next() % 3); k > 0; k--)
                    v[i].phash ^= 1ULL << (next() % 64);
            }
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ppx_dups g;
    int rc = ppx_dups_find(v, n, d, &g);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("images %zu distance %d: %.2f s, peak RSS %.0f MiB; %zu exact groups, %zu near groups, "
           "%zu dropped; %d bands, %llu comparisons\n",
           n, d, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           (double)ru.ru_maxrss / 1024, g.n_exact, g.n_near, g.n_drop, g.bands,
           (unsigned long long)g.compared);
    ppx_dups_destroy(&g);
    free(v);
    return rc ? 1 : 0;
}
