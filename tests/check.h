/* A tiny test harness: each test binary holds several cases; CTest runs
 * each case as its own test (`exe CASE`). Exit 0 pass, 1 fail, 77 skip. */
#ifndef PPX_TEST_CHECK_H
#define PPX_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PPX_SKIP 77

typedef int (*ppx_test_fn)(void);
typedef struct {
    const char *name;
    ppx_test_fn fn;
} ppx_test_case;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (strcmp(sa_, sb_) != 0) {                                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, sa_, sb_);                                                                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Test set-up that fails only when memory runs out (building buffers and
 * records): a failure ends the test binary as a failed test. */
#define MUST(call)                                                                                 \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #call);                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Corpus root from the environment (set by CTest), or NULL: tests that need
 * it print why and return PPX_SKIP. */
static inline const char *ppx_test_corpus(void)
{
    const char *d = getenv("PPX_CORPUS_DIR");
    char p[4096];
    if (!d || !*d)
        return NULL;
    snprintf(p, sizeof p, "%s/MANIFEST.tsv", d);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    fclose(f);
    return d;
}

#define REQUIRE_CORPUS(var)                                                                        \
    const char *var = ppx_test_corpus();                                                           \
    if (!var) {                                                                                    \
        printf("SKIP: shared corpus not found (PPX_CORPUS_DIR)\n");                                \
        return PPX_SKIP;                                                                           \
    }

#define PPX_TEST_MAIN(...)                                                                         \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const ppx_test_case cases[] = {__VA_ARGS__};                                        \
        size_t n = sizeof cases / sizeof cases[0];                                                 \
        if (argc < 2) {                                                                            \
            int bad = 0;                                                                           \
            for (size_t i = 0; i < n; i++) {                                                       \
                int r = cases[i].fn();                                                             \
                printf("%s %s\n",                                                                  \
                       r == 0          ? "ok  "                                                    \
                       : r == PPX_SKIP ? "skip"                                                    \
                                       : "FAIL",                                                   \
                       cases[i].name);                                                             \
                bad |= (r != 0 && r != PPX_SKIP);                                                  \
            }                                                                                      \
            return bad;                                                                            \
        }                                                                                          \
        if (strcmp(argv[1], "--list") == 0) {                                                      \
            for (size_t i = 0; i < n; i++)                                                         \
                printf("%s\n", cases[i].name);                                                     \
            return 0;                                                                              \
        }                                                                                          \
        for (size_t i = 0; i < n; i++)                                                             \
            if (strcmp(argv[1], cases[i].name) == 0)                                               \
                return cases[i].fn();                                                              \
        fprintf(stderr, "no test case %s\n", argv[1]);                                             \
        return 2;                                                                                  \
    }

#define TEST(fn)                                                                                   \
    {                                                                                              \
#fn, fn                                                                                    \
    }

#endif
