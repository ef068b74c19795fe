/* The journal's committer thread (src/sched/commit.h): batches land in the
 * journal whole and in the order handed over; a batch handed while the
 * previous one is being committed is refused (kept for the next hand-off);
 * a failed commit is reported once and no later record is written. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sched/commit.h"

static char dir[] = "/tmp/ppx-commit-XXXXXX";

static int journal_file(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/journal", dir);
    return open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
}

static int batches_in_order(void)
{
    CHECK(mkdtemp(dir) != NULL);
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), j = journal_file();
    CHECK(d >= 0 && j >= 0);
    ppx_committer c;
    ppx_committer_init(&c, d, dir, j);
    ppx_buf rec;
    ppx_buf_init(&rec);
    ppx_err e;
    ppx_err_clear(&e);
    char want[64 * 8 + 1] = "";
    for (int k = 0; k < 64; k++) {
        char r[9];
        snprintf(r, sizeof r, "rec%04d|", k);
        CHECK(ppx_buf_append(&rec, r, 8) == 0);
        strcat(want, r);
        /* Handed over when the thread is idle; else kept and grown. */
        int taken = ppx_committer_offer(&c, &rec, &e);
        CHECK(taken == 0 || taken == 1);
        CHECK(taken == 0 || rec.len == 0);
    }
    CHECK_EQ_INT(ppx_committer_wait(&c, &e), 0);
    CHECK_EQ_INT(ppx_committer_offer(&c, &rec, &e), 1); /* what was left */
    CHECK_EQ_INT(ppx_committer_wait(&c, &e), 0);
    CHECK(rec.len == 0 && c.commits >= 1);
    char got[sizeof want] = "";
    CHECK(pread(j, got, sizeof got - 1, 0) == (ssize_t)strlen(want));
    CHECK(strcmp(got, want) == 0);
    ppx_committer_destroy(&c);
    ppx_buf_destroy(&rec);
    close(j);
    close(d);
    char path[64];
    snprintf(path, sizeof path, "%s/journal", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static int failure_reported_once(void)
{
    /* A journal that cannot be synced: a pipe (fdatasync gives EINVAL). */
    int p[2];
    CHECK(pipe(p) == 0);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(d >= 0);
    ppx_committer c;
    ppx_committer_init(&c, d, "/tmp", p[1]);
    ppx_buf rec;
    ppx_buf_init(&rec);
    ppx_err e;
    ppx_err_clear(&e);
    CHECK(ppx_buf_append(&rec, "first", 5) == 0);
    CHECK_EQ_INT(ppx_committer_offer(&c, &rec, &e), 1);
    CHECK_EQ_INT(ppx_committer_wait(&c, &e), PPX_EOUTPUT);
    CHECK(strstr(e.msg, "cannot sync the journal") != NULL);
    CHECK_EQ_INT(ppx_committer_failed(&c, &e), 0); /* reported once */
    /* No later batch is written. */
    CHECK(ppx_buf_append(&rec, "second", 6) == 0);
    CHECK_EQ_INT(ppx_committer_offer(&c, &rec, &e), 1);
    CHECK_EQ_INT(ppx_committer_wait(&c, &e), 0);
    char got[32];
    CHECK(read(p[0], got, sizeof got) == 5 && memcmp(got, "first", 5) == 0);
    ppx_committer_destroy(&c);
    ppx_buf_destroy(&rec);
    close(p[0]);
    close(p[1]);
    close(d);
    return 0;
}

PPX_TEST_MAIN(TEST(batches_in_order), TEST(failure_reported_once))
