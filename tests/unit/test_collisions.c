/* Output names that collide (issue 19, item 15): which entries of a listing
 * keep their output name and why the others fail, and that finding them
 * costs O(n log n) when every entry has one name (an archive of 200,000
 * members named a.jpg took 17 s when each entry walked all its twins). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sched/run_state.h"

static int add(ppx_listing *l, const char *key)
{
    return ppx_listing_add(l, key, strlen(key));
}

static int collisions_semantics(void)
{
    ppx_listing l;
    memset(&l, 0, sizeof l);
    char toolong[600];
    snprintf(toolong, sizeof toolong, "d/%0300d.jpg", 0);
    /* key, prefail before, expected prefail after (-f jpeg) */
    static const struct {
        const char *key;
        uint32_t before, after;
    } e[] = {
        {"z.png", 0, PREFAIL_NONE},       /* the lowest index keeps z.jpg ... */
        {"z.jpg", 0, PREFAIL_COLLIDE},    /* ... though its key sorts first */
        {"a.jpg", 0, PREFAIL_NONE},       /* */
        {"a.png", 0, PREFAIL_COLLIDE},    /* a.jpg is taken by another file */
        {"a.jpg", 0, PREFAIL_TWICE},      /* the same key again */
        {"a.png", 0, PREFAIL_TWICE},      /* its twin at 3 failed, and is still its twin */
        {"../x.jpg", 0, PREFAIL_UNSAFE},  /* */
        {"c.jpg", PREFAIL_WALK, 0},       /* left as it was: takes part in nothing */
        {"c.jpg", 0, PREFAIL_NONE},       /* so this one keeps c.jpg */
        {"b.tif", 0, PREFAIL_NONE},       /* */
        {"b.jpg", 0, PREFAIL_COLLIDE},    /* */
        {"t.tar/m.jpg", 0, PREFAIL_NONE}, /* an archive's members of one name */
        {"t.tar/m.jpg", 0, PREFAIL_SAME_MEMBER},
        {"t/m.jpg", 0, PREFAIL_COLLIDE}, /* the folder t is where t.tar's members go */
        {"z.jpg", 0, PREFAIL_TWICE},
        {NULL, 0, PREFAIL_TOOLONG},
        {"./c.jpg", 0, PREFAIL_COLLIDE}, /* a list key is normalised; this one is not */
    };
    size_t n = sizeof e / sizeof e[0];
    for (size_t i = 0; i < n; i++)
        MUST(add(&l, e[i].key ? e[i].key : toolong));
    l.mem = calloc(l.cap, sizeof *l.mem);
    CHECK(l.mem != NULL);
    l.mem[11].arc_len = l.mem[12].arc_len = 5;
    uint32_t *pf = calloc(n, sizeof *pf);
    CHECK(pf != NULL);
    for (size_t i = 0; i < n; i++)
        pf[i] = e[i].before;
    collision_work w;
    CHECK_EQ_INT(ppx__mark_collisions(&l, PPX_FMT_JPEG, NULL, pf, &w), 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t want = e[i].before ? e[i].before : e[i].after;
        if (pf[i] != want)
            fprintf(stderr, "entry %zu (%s): prefail %u, expected %u\n", i,
                    e[i].key ? e[i].key : "long", pf[i], want);
        CHECK_EQ_INT(pf[i], want);
    }
    CHECK_EQ_INT(w.names, n - 1); /* one per entry not marked before */
    free(pf);
    ppx_listing_destroy(&l);
    return 0;
}

/* The rule, as plainly as it can be said (quadratic): an entry with a usable
 * name fails when an earlier entry with a usable name has the same output
 * name; as a copy when one of them also has its key. */
static uint32_t rule(const ppx_listing *l, const uint32_t *before, size_t i)
{
    char a[PPX_KEY_MAX], b[PPX_KEY_MAX];
    if (before[i])
        return before[i];
    int rc = ppx_output_name(a, sizeof a, ppx_listing_key(l, i), PPX_FMT_PNG, NULL);
    if (rc)
        return rc == PPX_ENAMETOOLONG ? PREFAIL_TOOLONG : PREFAIL_UNSAFE;
    uint32_t why = PREFAIL_NONE;
    for (size_t j = 0; j < i; j++) {
        if (before[j] || ppx_output_name(b, sizeof b, ppx_listing_key(l, j), PPX_FMT_PNG, NULL) ||
            strcmp(a, b) != 0)
            continue;
        if (strcmp(ppx_listing_key(l, i), ppx_listing_key(l, j)) == 0)
            return ppx_listing_member(l, i) ? PREFAIL_SAME_MEMBER : PREFAIL_TWICE;
        why = PREFAIL_COLLIDE;
    }
    return why;
}

/* Random listings of a few spellings of a few names, some entries failed
 * already: the sort and scan decide every entry as the rule does. */
static int collisions_random(void)
{
    static const char *const keys[] = {"a.png",       "a.jpg", "a.tif",    "t.tar/a.png", "t/a.png",
                                       "t.tar/a.jpg", "b.png", "../c.png", "T/a.png",     "a.PNG"};
    const size_t nk = sizeof keys / sizeof keys[0];
    unsigned seed = 19;
    for (int round = 0; round < 200; round++) {
        ppx_listing l;
        memset(&l, 0, sizeof l);
        size_t n = 1 + (size_t)(rand_r(&seed) % 40);
        for (size_t i = 0; i < n; i++)
            MUST(add(&l, keys[rand_r(&seed) % nk]));
        l.mem = calloc(l.cap, sizeof *l.mem);
        uint32_t *pf = calloc(n, sizeof *pf), *before = calloc(n, sizeof *before);
        CHECK(l.mem && pf && before);
        for (size_t i = 0; i < n; i++) {
            if (strncmp(ppx_listing_key(&l, i), "t.tar/", 6) == 0)
                l.mem[i].arc_len = 5;
            if (rand_r(&seed) % 8 == 0)
                pf[i] = before[i] = PREFAIL_WALK;
        }
        CHECK_EQ_INT(ppx__mark_collisions(&l, PPX_FMT_PNG, NULL, pf, NULL), 0);
        for (size_t i = 0; i < n; i++) {
            uint32_t want = rule(&l, before, i);
            if (pf[i] != want)
                fprintf(stderr, "round %d, entry %zu (%s): prefail %u, expected %u\n", round, i,
                        ppx_listing_key(&l, i), pf[i], want);
            CHECK_EQ_INT(pf[i], want);
        }
        free(pf);
        free(before);
        ppx_listing_destroy(&l);
    }
    return 0;
}

/* The work for n entries of one name: names computed and comparisons. */
static int same_name_work(size_t n, collision_work *w)
{
    ppx_listing l;
    memset(&l, 0, sizeof l);
    for (size_t i = 0; i < n; i++)
        MUST(add(&l, "shard.tar/a.jpg"));
    l.mem = calloc(l.cap, sizeof *l.mem);
    uint32_t *pf = calloc(n, sizeof *pf);
    if (!l.mem || !pf)
        return PPX_ENOMEM;
    for (size_t i = 0; i < n; i++)
        l.mem[i].arc_len = 9;
    int rc = ppx__mark_collisions(&l, PPX_FMT_UNKNOWN, NULL, pf, w);
    /* The outcome too: the first keeps the name, every other is its twin. */
    for (size_t i = 0; i < n && !rc; i++)
        if (pf[i] != (i ? PREFAIL_SAME_MEMBER : PREFAIL_NONE))
            rc = PPX_EINTERNAL;
    free(pf);
    ppx_listing_destroy(&l);
    return rc;
}

/* n and 2n entries of one name: each name is computed once, and the
 * comparisons stay within a sort's c n log2 n and grow by about 2.2 when n
 * doubles (4 for the quadratic walk over earlier twins). Counts, not time:
 * the same on a slow machine. */
static int collisions_n_log_n(void)
{
    const size_t n = 4096;
    collision_work a, b;
    CHECK_EQ_INT(same_name_work(n, &a), 0);
    CHECK_EQ_INT(same_name_work(2 * n, &b), 0);
    printf("n %zu: %llu names, %llu comparisons; 2n: %llu names, %llu comparisons\n", n,
           (unsigned long long)a.names, (unsigned long long)a.compares, (unsigned long long)b.names,
           (unsigned long long)b.compares);
    CHECK_EQ_INT(a.names, n);
    CHECK_EQ_INT(b.names, 2 * n);
    CHECK(a.compares <= (uint64_t)(4.0 * n * log2((double)n)));
    CHECK(b.compares <= (uint64_t)(4.0 * 2 * n * log2(2.0 * n)));
    CHECK(b.compares * 10 <= a.compares * 25);
    return 0;
}

/* A stop asked for (the signal handler's flag) ends the check with
 * PPX_ECANCELED, so that rank 0 gives up before it writes anything. */
static int collisions_stop(void)
{
    ppx_listing l;
    memset(&l, 0, sizeof l);
    for (int i = 0; i < 3000; i++)
        MUST(add(&l, "a.jpg"));
    uint32_t *pf = calloc(l.n, sizeof *pf);
    CHECK(pf != NULL);
    volatile sig_atomic_t stop = 0;
    CHECK_EQ_INT(ppx__mark_collisions(&l, PPX_FMT_UNKNOWN, &stop, pf, NULL), 0);
    CHECK_EQ_INT(pf[2999], PREFAIL_TWICE);
    stop = SIGTERM;
    CHECK_EQ_INT(ppx__mark_collisions(&l, PPX_FMT_UNKNOWN, &stop, pf, NULL), PPX_ECANCELED);
    free(pf);
    ppx_listing_destroy(&l);
    return 0;
}

PPX_TEST_MAIN(TEST(collisions_semantics), TEST(collisions_random), TEST(collisions_n_log_n),
              TEST(collisions_stop))
