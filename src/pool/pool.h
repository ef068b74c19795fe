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

#include "prepix/archive.h"
#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/fingerprint.h"
#include "prepix/stats.h"

/* An input that is a member of an archive: the bytes [off, off + size) of
 * the archive named by the key's first arc_len bytes (a key below the
 * input folder), or by in_path when there is no input folder. */
/* Companions of a member in its archive (WebDataset's KEY.ROLE.png), one
 * slot per role of the run (PPX_ROLES_MAX of prepix/companion.h). */
#define PPX_SPAN_PARTS 4

typedef struct {
    uint64_t off, size;
    uint32_t arc_len;
    ppx_arc_ident arc;  /* the archive file as listed: the reader must find it again */
    uint32_t part_mask; /* bit k: role k's companion is the member part_off/size[k] */
    uint64_t part_off[PPX_SPAN_PARTS], part_size[PPX_SPAN_PARTS];
} ppx_span;

/* One task as a worker gets it. */
typedef struct {
    uint64_t id, tag;
    const char *in_path, *key;
    const char *out_path; /* NULL: the output comes back as payload */
    const ppx_span *span; /* an archive member, or NULL */
    const ppx_buf *input; /* the input's bytes (bytes transport), or NULL */
} ppx_task;

/* What a worker sends back for one task. Plain data. */
typedef struct {
    uint64_t id;         /* the task's id */
    uint64_t tag;        /* the task's tag (chunk), passed through */
    int32_t status;      /* 0 or a negative code; err says more */
    uint32_t in_w, in_h; /* input size, 0 if unknown */
    uint64_t bytes_read, bytes_written;
    uint64_t out_len; /* bytes of output that follow (bytes transport, shards) */
    /* Of those, the last ones are companions: part_len[k] bytes of role k's
     * (0: none), in role order after the image's own. */
    uint64_t part_len[PPX_SPAN_PARTS];
    int32_t out_format; /* ppx_format of that output (names a tar member) */
    double busy_s;      /* seconds spent on the task */
    int32_t worker_pid; /* a worker lost on it (stage worker/timeout): its pid, else 0 */
    uint32_t in_mode;   /* st_mode of the input file (an archive's for a member), 0: unknown */
    int32_t nodata;     /* status 0: a chip all of --nodata, skipped (no output, no stats) */
    ppx_err err;
    ppx_img_stats st;
    ppx_fingerprint fp; /* of the decoded input (valid 0: none) */
} ppx_result;

/* The work a worker process does, given to the pool: start runs once in
 * each new worker and returns its state (NULL ends the worker); run does
 * one task, filling *r (id and tag are set by the pool) and pointing *out
 * at r->out_len bytes of output when the task has no out_path; idle runs
 * between tasks (to give memory back). Workers never call MPI. */
typedef struct {
    void *(*start)(const void *arg);
    void (*run)(void *state, const void *arg, const ppx_task *t, ppx_result *r,
                const uint8_t **out);
    void (*idle)(void *state);
    const void *arg;
} ppx_worker_fn;

typedef struct ppx_pool ppx_pool;

#define PPX_POOL_MAX_KEEP_FDS 24 /* INPUT or each split's folder, OUTDIR */

typedef struct {
    int workers;
    double timeout_s;  /* per image; <= 0: none */
    uint64_t as_limit; /* address-space rlimit of a worker in bytes; 0: none */
    ppx_worker_fn work;
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

/* Forks cfg->workers workers. cfg->work.arg must outlive the pool. */
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
 * input/len: the file's bytes, or NULL to let the worker read in_path (the
 * archive member span, when not NULL). */
PPX_MUST_USE int ppx_pool_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                                 const ppx_span *span, const char *key, const char *out_path,
                                 const uint8_t *input, size_t len, ppx_err *err);
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
