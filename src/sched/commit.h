/* Journal commits off the serving path: one thread per rank makes OUTDIR
 * durable (syncfs) and then appends and flushes a batch of journal records
 * (write, fdatasync), while the loop goes on serving requests and taking
 * results. The loop hands it every record finished since the last hand-off
 * whenever it is idle, so the batches grow by themselves while a sync is
 * slow (group commit). Durability order: a record is handed over only once
 * its chunk's outputs are renamed into place, and the thread's syncfs
 * starts after the hand-off, so the outputs of every record are on stable
 * storage before the record is written. The thread makes no MPI call
 * (MPI_THREAD_FUNNELED is enough). */
#ifndef PPX_SCHED_COMMIT_H
#define PPX_SCHED_COMMIT_H

#include <pthread.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"

typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;    /* the thread runs */
    int busy;       /* a batch is handed over and not yet committed */
    int quit;       /* the thread is asked to end */
    int outdir_fd;  /* synced (syncfs) before each batch is written */
    int journal_fd; /* the batch is appended here, then fdatasync'ed */
    const char *outdir_path;
    ppx_buf batch; /* the records being committed (the thread's own) */
    int failed;    /* a commit failed: err says why; no later batch is written */
    ppx_err err;
    uint64_t commits; /* batches committed */
    double commit_s;  /* wall seconds spent committing them */
} ppx_committer;

/* Prepares c (no thread yet: it starts with the first hand-off). */
void ppx_committer_init(ppx_committer *c, int outdir_fd, const char *outdir_path, int journal_fd);
/* Hands the records in *records (swapped with the thread's empty buffer:
 * *records comes back empty) to the thread when it is idle: 1; 0 when it is
 * still on the previous batch (the records stay for the next hand-off);
 * negative when the thread cannot start (err set). */
PPX_MUST_USE int ppx_committer_offer(ppx_committer *c, ppx_buf *records, ppx_err *err);
/* Waits for the batch in progress, if any. 0, or the code of a failed
 * commit (err set, once). */
PPX_MUST_USE int ppx_committer_wait(ppx_committer *c, ppx_err *err);
/* A failed commit not reported yet: its code (err set), else 0; never waits. */
PPX_MUST_USE int ppx_committer_failed(ppx_committer *c, ppx_err *err);
/* Waits for the batch in progress, ends the thread, frees the buffer. */
void ppx_committer_destroy(ppx_committer *c);

#endif
