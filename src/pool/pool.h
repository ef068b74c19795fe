/* A pool of forked worker processes inside one rank.
 *
 * The pool moves opaque tasks and replies: it knows nothing of images,
 * paths or statistics (the per-image job, src/work, gives their meaning).
 * Workers never call MPI and end with _exit. Each worker holds up to two
 * tasks: the head, which it is doing, and one waiting in its task pipe, so
 * that it starts the next task as soon as it has written a reply instead of
 * idling until the coordinator wakes and sends one. Replies come back in the
 * order of submission per worker. A worker killed by a signal or stuck past
 * the timeout (counted from the head's start) costs exactly the head task:
 * the pool reports it as lost (stage "worker" or "timeout"), forks a new
 * worker and hands it the waiting task, if any. */
#ifndef PPX_POOL_POOL_H
#define PPX_POOL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"

/* One task. data is small (a description; at most PPX_POOL_QUEUE_MAX bytes
 * for it to wait in a busy worker's pipe); bulk, when not NULL, is large
 * (an input file's bytes) and goes to an idle worker only. */
typedef struct {
    uint64_t id, tag; /* the caller's: passed back with the reply */
    const uint8_t *data;
    size_t len;
    const uint8_t *bulk;
    size_t bulk_len;
} ppx_pool_task;

/* A task's description small enough to wait in a busy worker's pipe. */
#define PPX_POOL_QUEUE_MAX 16384

/* What a worker's run function answers: two spans of bytes sent back to
 * back (a fixed record and an output, say), so that neither is copied. */
typedef struct {
    const void *head;
    size_t head_len;
    const void *body;
    size_t body_len;
} ppx_pool_reply;

/* The header of what comes back for one task. Plain data. */
typedef struct {
    uint64_t id, tag; /* the task's */
    int32_t status;   /* 0: the worker's reply follows; negative: the task is lost, err says why */
    int32_t worker_pid; /* a worker lost on the task (stage worker/timeout): its pid, else 0 */
    double busy_s;      /* a lost task: seconds from its start to its loss */
    uint64_t len;       /* bytes of the reply (head and body), 0 when lost */
    ppx_err err;
} ppx_pool_result;

/* The work a worker process does, given to the pool: start runs once in
 * each new worker and returns its state (NULL ends the worker); run does
 * one task and points *reply at bytes that stay valid until the next call;
 * idle runs between tasks (to give memory back). The pool's own buffers
 * for a task's bytes are freed between tasks when larger than keep bytes.
 * Workers never call MPI. */
typedef struct {
    void *(*start)(const void *arg);
    void (*run)(void *state, const void *arg, const ppx_pool_task *t, ppx_pool_reply *reply);
    void (*idle)(void *state);
    const void *arg;
    size_t keep;
    const char *noun; /* what a task is, in the pool's messages ("image"); NULL: "task" */
} ppx_worker_fn;

typedef struct ppx_pool ppx_pool;
typedef struct ppx_zygote ppx_zygote; /* pool/zygote.h */

#define PPX_POOL_MAX_KEEP_FDS 24 /* INPUT or each split's folder, OUTDIR */

typedef struct {
    int workers;
    double timeout_s;  /* per task; <= 0: none */
    uint64_t as_limit; /* address-space rlimit of a worker in bytes; 0: none */
    ppx_worker_fn work;
    /* Descriptors a worker keeps (copied): besides stdin, stdout, stderr and
     * its own two pipe ends, these and no others. Every other descriptor the
     * rank had open when it forked (MPI's, the journal, the lock, the other
     * workers' pipes) is closed in the new worker. */
    const int *keep_fds;
    int n_keep_fds; /* at most PPX_POOL_MAX_KEEP_FDS; entries < 0 are ignored */
    /* NULL: this process forks the workers. Else the zygote (pool/zygote.h)
     * forks them, as children of this process all the same: it makes their
     * work (work is then unused here) for zygote_kind from keep_fds, which
     * are sent to it (entries < 0 as absent), and gives them as_limit. */
    ppx_zygote *zygote;
    uint32_t zygote_kind;
} ppx_pool_config;

/* Called once per finished or lost task with its header and, when
 * r->status is 0, the worker's reply (r->len bytes, valid during the call;
 * NULL when empty). */
typedef void (*ppx_pool_cb)(void *arg, const ppx_pool_result *r, const uint8_t *reply);

/* Forks cfg->workers workers. cfg->work.arg must outlive the pool. */
PPX_MUST_USE int ppx_pool_new(const ppx_pool_config *cfg, ppx_pool **out, ppx_err *err);
/* Number of tasks ppx_pool_submit accepts now: with_bulk 0 for small tasks
 * (an idle worker takes one, a worker with one task a second), non-zero for
 * tasks carrying bulk bytes (idle workers only). */
PPX_MUST_USE int ppx_pool_slots(const ppx_pool *p, int with_bulk);
/* Number of tasks submitted whose result has not been reported yet, queued
 * ones included. */
PPX_MUST_USE int ppx_pool_pending(const ppx_pool *p);
/* Hands one task to a worker: an idle one if there is one, else (small
 * tasks only, see ppx_pool_slots) behind the head task that started first.
 * The bytes are copied or written before it returns. Fails if there is no
 * slot. */
PPX_MUST_USE int ppx_pool_submit(ppx_pool *p, const ppx_pool_task *t, ppx_err *err);
/* Waits up to timeout_ms (or until wake_fd, if >= 0, is readable) and calls
 * cb for each finished task, crashed or timed-out worker. Returns the
 * number of results, or a negative code if the pool can no longer work
 * (fork failing). */
PPX_MUST_USE int ppx_pool_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_pool_cb cb, void *arg,
                               ppx_err *err);
/* Ends the workers: idle ones at once; busy ones get up to grace_s to
 * finish their tasks, queued ones included (their results are dropped), then
 * SIGKILL. Accepts NULL. */
void ppx_pool_free(ppx_pool **p, double grace_s);

/* Process id of worker i (tests). */
PPX_MUST_USE int ppx_pool_worker_pid(const ppx_pool *p, int i);

/* CPUs in this process's affinity mask (Slurm's --cpus-per-task). */
PPX_MUST_USE int ppx_pool_default_workers(void);

#endif
