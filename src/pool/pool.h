/* A pool of forked worker processes inside one rank.
 *
 * Workers never call MPI and end with _exit. Each worker holds up to two
 * tasks: the head, which it is doing, and one waiting in its task pipe, so
 * that it starts the next image as soon as it has written a result instead
 * of idling until the coordinator wakes and sends one. Results come back in
 * the order of submission per worker. A worker killed by a signal or stuck
 * past the timeout (counted from the head's start) costs exactly the head
 * image: the pool reports it as failed (stage "worker" or "timeout"), forks a
 * new worker and hands it the waiting task, if any. */
#ifndef PPX_POOL_POOL_H
#define PPX_POOL_POOL_H

#include "prepix/error.h"

#include <stdint.h>

#include "pool/job.h"

typedef struct ppx_pool ppx_pool;

#define PPX_POOL_MAX_KEEP_FDS 8

typedef struct {
    int workers;
    double timeout_s;  /* per image; <= 0: none */
    uint64_t as_limit; /* address-space rlimit of a worker in bytes; 0: none */
    const ppx_job_config *job;
    /* Descriptors a worker keeps (copied): besides stdin, stdout, stderr and
     * its own two pipe ends, these and no others. Every other descriptor the
     * rank had open when it forked (MPI's, the journal, the lock, the other
     * workers' pipes) is closed in the new worker. */
    const int *keep_fds;
    int n_keep_fds; /* at most PPX_POOL_MAX_KEEP_FDS; entries < 0 are ignored */
} ppx_pool_config;

/* Called once per finished image with the worker's result and, for the
 * bytes transport, the encoded output (r->out_len bytes; NULL otherwise). */
typedef void (*ppx_pool_cb)(void *arg, const ppx_result *r, const uint8_t *payload);

/* Forks cfg->workers workers. cfg and cfg->job must outlive the pool. */
PPX_MUST_USE int ppx_pool_new(const ppx_pool_config *cfg, ppx_pool **out, ppx_err *err);
/* Number of tasks ppx_pool_submit accepts now: with_payload 0 for tasks that
 * name their input by path (an idle worker takes one, a worker with one task
 * a second), non-zero for tasks carrying their input bytes (idle workers
 * only). */
PPX_MUST_USE int ppx_pool_slots(const ppx_pool *p, int with_payload);
/* Number of tasks submitted whose result has not been reported yet, queued
 * ones included. */
PPX_MUST_USE int ppx_pool_pending(const ppx_pool *p);
PPX_MUST_USE int ppx_pool_size(const ppx_pool *p);
/* Hands one image to a worker: an idle one if there is one, else (paths
 * only, see ppx_pool_slots) behind the head task that started first. Fails
 * if there is no slot. out_path NULL: the output comes back as payload.
 * input/len: the file's bytes, or NULL to let the worker read in_path. */
PPX_MUST_USE int ppx_pool_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                                 const char *key, const char *out_path, const uint8_t *input,
                                 size_t len, ppx_err *err);
/* Waits up to timeout_ms (or until wake_fd, if >= 0, is readable) and calls
 * cb for each finished image, crashed or timed-out worker. Returns the
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
