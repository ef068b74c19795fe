/* The journal's committer thread (commit.h). */
#include "sched/commit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "prepix/clock.h"
#include "sched/journal.h"

void ppx_committer_init(ppx_committer *c, int outdir_fd, const char *outdir_path, int journal_fd)
{
    memset(c, 0, sizeof *c);
    c->outdir_fd = outdir_fd;
    c->outdir_path = outdir_path;
    c->journal_fd = journal_fd;
    ppx_buf_init(&c->batch);
    ppx_err_clear(&c->err);
}

/* One batch: the outputs it covers made durable, then its records. */
static int commit_batch(ppx_committer *c, ppx_err *e)
{
    /* One syncfs covers every file and folder written for the chunks of
     * this batch: measured +3% on 153 JPEG thumbnails (median of 12, -w 2,
     * then one per chunk) where an fdatasync per file plus an fsync per
     * folder cost +23% (docs/benchmarks.md). */
    if (syncfs(c->outdir_fd) != 0)
        return ppx_err_set(e, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot sync OUTDIR %s: %s",
                           c->outdir_path, strerror(errno));
    return ppx_journal_write_records(c->journal_fd, &c->batch, e);
}

static void *committer_main(void *arg)
{
    ppx_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->busy && !c->quit)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->busy)
            break;
        int skip = c->failed != 0; /* after a failure, no later record is written */
        pthread_mutex_unlock(&c->mu);
        ppx_err e;
        ppx_err_clear(&e);
        double t0 = ppx_now_s();
        int rc = skip ? 0 : commit_batch(c, &e);
        double took = ppx_now_s() - t0;
        c->batch.len = 0;
        pthread_mutex_lock(&c->mu);
        if (rc && !c->failed) {
            c->failed = rc;
            c->err = e;
        }
        c->commits++;
        c->commit_s += took;
        c->busy = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int start(ppx_committer *c, ppx_err *err)
{
    int rc = pthread_mutex_init(&c->mu, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&c->cv, NULL)) != 0)
        pthread_mutex_destroy(&c->mu);
    if (rc == 0) {
        /* Signals stay the main thread's (the stop flag and pipe, the alarm
         * that bounds MPI_Finalize): the thread starts with all blocked. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&c->th, NULL, committer_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc) {
            pthread_cond_destroy(&c->cv);
            pthread_mutex_destroy(&c->mu);
        }
    }
    if (rc)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB,
                           "cannot start the journal's commit thread: %s", strerror(rc));
    c->started = 1;
    return 0;
}

int ppx_committer_offer(ppx_committer *c, ppx_buf *records, ppx_err *err)
{
    if (records->len == 0)
        return 1;
    if (!c->started) {
        int rc = start(c, err);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&c->mu);
    int taken = !c->busy;
    if (taken) {
        ppx_buf t = c->batch; /* empty, its capacity kept */
        c->batch = *records;
        *records = t;
        c->busy = 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return taken;
}

/* The failure not yet reported, under the lock. */
static int take_failure(ppx_committer *c, ppx_err *err)
{
    int rc = c->failed > 0 ? 0 : c->failed;
    if (rc) {
        *err = c->err;
        c->failed = 1; /* reported: later batches are still not written */
    }
    return rc;
}

int ppx_committer_wait(ppx_committer *c, ppx_err *err)
{
    if (!c->started)
        return 0;
    pthread_mutex_lock(&c->mu);
    while (c->busy)
        pthread_cond_wait(&c->cv, &c->mu);
    int rc = take_failure(c, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ppx_committer_failed(ppx_committer *c, ppx_err *err)
{
    if (!c->started)
        return 0;
    pthread_mutex_lock(&c->mu);
    int rc = take_failure(c, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void ppx_committer_destroy(ppx_committer *c)
{
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->quit = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->th, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        c->started = 0;
    }
    ppx_buf_destroy(&c->batch);
}
