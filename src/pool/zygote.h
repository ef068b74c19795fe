/* A zygote: a process forked early (before MPI_Init) that forks the
 * workers of a pool on demand, so that no worker is ever a fork of a process
 * that initialised MPI (registered memory, shared-memory segments, sockets).
 *
 * The zygote is single-threaded, holds stdin, stdout, stderr and one socket
 * to its creator (the rank), and nothing else but the descriptors of the
 * pools the rank declared. A pool with cfg.zygote set declares itself once
 * (kind, descriptors, address-space limit, the rank's CPU mask) and then asks
 * for one worker at a time: at its start and for every replacement after a
 * crash or a timeout. The zygote forks each worker with CLONE_PARENT, so the
 * worker is the rank's child as a worker forked by the rank would be: the
 * rank waits for it, sees its signal and kills it exactly as before.
 *
 * The zygote ends at end of file on its socket (the rank closed it or died)
 * and, through PR_SET_PDEATHSIG, when the rank dies: nothing is orphaned.
 * It ignores SIGINT, SIGTERM and SIGUSR1 (the rank decides when to stop, as
 * it does for its workers). Its command line reads "prepix-zygote". */
#ifndef PPX_POOL_ZYGOTE_H
#define PPX_POOL_ZYGOTE_H

#include <stdint.h>
#include <sys/types.h>

#include "pool/pool.h"
#include "prepix/error.h"

/* What the zygote makes of a pool declared by kind (runs in the zygote).
 * define: fills pc->work (its arg must stay valid until release) from fds,
 * the pool's keep_fds as the zygote holds them (-1 where the rank had none);
 * *made is passed to release when the pool ends. 0 or a negative code.
 * before_fork: called before each worker's fork (test hooks); may be NULL. */
typedef struct {
    int (*define)(void *ctx, uint32_t kind, const int *fds, int nfds, ppx_pool_config *pc,
                  void **made);
    void (*release)(void *ctx, void *made);
    void (*before_fork)(void *ctx);
    void *ctx; /* must stay valid in the zygote: it is a copy of this process */
} ppx_zygote_kinds;

/* Forks the zygote, a copy of this process as it is now; it serves until
 * ppx_zygote_free. kinds is used in the zygote only. Call it while this
 * process has one thread. */
PPX_MUST_USE int ppx_zygote_start(const ppx_zygote_kinds *kinds, ppx_zygote **out, ppx_err *err);
/* Closes the socket, waits (at most a few seconds, then SIGKILL) for the
 * zygote to end. Accepts NULL. Pools using it must be freed first. */
void ppx_zygote_free(ppx_zygote **z);
/* The zygote's process id (tests). */
PPX_MUST_USE pid_t ppx_zygote_pid(const ppx_zygote *z);

/* ---- used by the pool -------------------------------------------------- */

/* Declares a pool: the zygote calls kinds.define with fds. *pool: its id. */
PPX_MUST_USE int ppx__zygote_define(ppx_zygote *z, uint32_t kind, const int *fds, int nfds,
                                    uint64_t as_limit, uint32_t *pool, ppx_err *err);
/* Forks a worker of pool with its task pipe's reading end in_fd and its
 * result pipe's writing end out_fd (sent, not closed here). *pid: the
 * worker, a child of this process. */
PPX_MUST_USE int ppx__zygote_spawn(ppx_zygote *z, uint32_t pool, int in_fd, int out_fd, pid_t *pid,
                                   ppx_err *err);
/* The pool is done: the zygote releases it and closes its descriptors. */
void ppx__zygote_undefine(ppx_zygote *z, uint32_t pool);

/* A new worker's life, forked by the pool or by a zygote: holds only its
 * pipe ends, stdin, stdout, stderr and cfg's keep_fds, ties itself to parent
 * (the rank), bounds itself, runs tasks. Never returns. */
_Noreturn void ppx__pool_worker_child(const ppx_pool_config *cfg, int in_fd, int out_fd,
                                      pid_t parent);

#endif
