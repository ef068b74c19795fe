/* Grouping (src/stats/dedup.c): exact groups, the kept member and the members of near groups,
 * and the multi-index against a brute-force search over all pairs, for every distance from 0
 * to 12 on hashes made to share bands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/dedup.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static ppx_print pr(uint64_t index, uint64_t phash, int pixels)
{
    ppx_print p = {.index = index, .phash = phash, .scale = 1};
    memset(p.exact, 0, sizeof p.exact);
    memcpy(p.exact, &pixels, sizeof pixels);
    return p;
}

/* Listing positions of group g, as a string "0 3 5". */
static const char *members(const ppx_dups *d, const ppx_dup_group *g)
{
    static char s[256];
    s[0] = '\0';
    for (size_t i = 0; i < g->n; i++)
        snprintf(s + strlen(s), sizeof s - strlen(s), "%s%zu", i ? " " : "",
                 d->members[g->first + i]);
    return s;
}

/* Same pixels are an exact group, kept first; the near group of 0 holds what is within 4
 * bits of image 0 only: 4 is 3 bits from 2 but 6 from 0, and is kept on its own. */
static int groups_small(void)
{
    ppx_print v[] = {
        pr(0, 0x00000000000000ffULL, 1), /* kept */
        pr(1, 0xff00000000000000ULL, 2), /* unrelated */
        pr(2, 0x0000000000000fffULL, 3), /* 4 bits from 0 */
        pr(3, 0xff00000000000000ULL, 2), /* 1's pixels */
        pr(4, 0x0000000000007fffULL, 5), /* 3 bits from 2, 7 from 0 */
        pr(5, 0x00000000000000ffULL, 1), /* 0's pixels */
        pr(6, 0x0000000000007ffeULL, 7), /* 1 bit from 4 */
    };
    ppx_dups d;
    CHECK_EQ_INT(ppx_dups_find(v, 7, 4, &d), 0);
    CHECK_EQ_INT(d.n_exact, 2);
    CHECK_STR(members(&d, &d.exact[0]), "0 5");
    CHECK_STR(members(&d, &d.exact[1]), "1 3");
    CHECK_EQ_INT(d.n_near, 2);
    CHECK_STR(members(&d, &d.near[0]), "0 2 5");
    CHECK_STR(members(&d, &d.near[1]), "4 6");
    CHECK_EQ_INT(d.n_drop, 4);
    const uint8_t want[] = {0, 0, 1, 1, 0, 1, 1};
    CHECK(memcmp(d.drop, want, 7) == 0);
    ppx_dups_destroy(&d);
    /* Distance 0: only identical phashes, which here are identical pixels too. */
    CHECK_EQ_INT(ppx_dups_find(v, 7, 0, &d), 0);
    CHECK_EQ_INT(d.n_exact, 2);
    CHECK_EQ_INT(d.n_near, 0);
    CHECK_EQ_INT(d.n_drop, 2);
    ppx_dups_destroy(&d);
    CHECK_EQ_INT(ppx_dups_find(v, 7, PPX_DUP_DISTANCE_MAX + 1, &d), PPX_EINVAL);
    CHECK_EQ_INT(ppx_dups_find(v, 7, -1, &d), PPX_EINVAL);
    CHECK_EQ_INT(ppx_dups_find(v, 0, 4, &d), 0);
    ppx_dups_destroy(&d);
    return 0;
}

/* The same algorithm over all pairs: sets joined by distance <= D, then, per set in listing
 * order, the first earlier kept member within D. Returns the kept member of each image. */
static void brute(const ppx_print *v, size_t n, int D, size_t *keep)
{
    size_t *root = malloc(n * sizeof *root);
    for (size_t i = 0; i < n; i++)
        root[i] = i;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (ppx_hamming64(v[i].phash, v[j].phash) <= D && root[i] != root[j]) {
                    size_t a = root[i] < root[j] ? root[i] : root[j];
                    root[i] = root[j] = a;
                    changed = 1;
                }
    }
    for (size_t i = 0; i < n; i++) {
        keep[i] = i;
        for (size_t j = 0; j < i; j++)
            if (root[j] == root[i] && keep[j] == j && ppx_hamming64(v[i].phash, v[j].phash) <= D) {
                keep[i] = j;
                break;
            }
    }
    free(root);
}

/* Clusters of hashes a few bits apart, over a few band values (so that buckets are full and
 * bucket pairs a bit apart exist), some images repeated: the groups match brute force. */
static int brute_force(void)
{
    enum { N = 1500 };
    ppx_print *v = malloc(N * sizeof *v);
    size_t *keep = malloc(N * sizeof *keep);
    CHECK(v && keep);
    for (int D = 0; D <= 12; D++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t h;
            if (i > 0 && next() % 4 == 0) {
                h = v[next() % i].phash; /* near an earlier one */
                for (int k = (int)(next() % 7); k > 0; k--)
                    h ^= 1ULL << (next() % 64);
            } else {
                h = next() & 0xf0f0f0f0f0f0f0f0ULL; /* half the bits always 0 */
            }
            v[i] = pr(i, h, (int)(next() % 8 == 0 && i ? v[i - 1].exact[0] : i));
            if (v[i].exact[0] != (uint8_t)i)
                v[i].phash = v[i - 1].phash; /* same pixels, same phash */
        }
        brute(v, N, D, keep);
        ppx_dups d;
        CHECK_EQ_INT(ppx_dups_find(v, N, D, &d), 0);
        size_t drops = 0;
        for (size_t i = 0; i < N; i++) {
            if ((keep[i] != i) != d.drop[i]) {
                fprintf(stderr, "D=%d image %zu: brute keeps %zu, drop=%d\n", D, i, keep[i],
                        d.drop[i]);
                return 1;
            }
            drops += keep[i] != i;
        }
        CHECK_EQ_INT(d.n_drop, drops);
        for (size_t g = 0; g < d.n_near; g++) {
            size_t k = d.members[d.near[g].first];
            for (size_t i = 1; i < d.near[g].n; i++)
                CHECK_EQ_INT(keep[d.members[d.near[g].first + i]], k);
        }
        /* Far fewer comparisons than pairs, where the distance allows. */
        if (D <= 4)
            CHECK(d.compared < (uint64_t)N * N / 8);
        ppx_dups_destroy(&d);
    }
    free(v);
    free(keep);
    return 0;
}

PPX_TEST_MAIN(TEST(groups_small), TEST(brute_force))
