/* Stopping and the fatal error of one rank (internal to sched). The state
 * is a sched_stop, one field of run_state; stop.c alone sets the fatal
 * error, and calls into no other sched file, so that any file may record a
 * failure without a call going back up into the loop or the end. */
#ifndef PPX_SCHED_STOP_H
#define PPX_SCHED_STOP_H

#include "prepix/error.h"

#include <signal.h>

typedef struct {
    int rank;       /* this rank, for the messages */
    int stopping;   /* stop taking work */
    int draining;   /* stopping, but chunks already started are finished and journaled
                       (--max-failures: so that --resume always gets past them) */
    int fatal;      /* a fatal error happened here */
    int mpi_failed; /* an MPI call failed here */
    ppx_err fatal_err;
    const char *stop_reason;
    char fatal_reason[PPX_ERR_MSG_MAX + 32];
    int global_stop;
    int global_fatal;
} sched_stop;

/* The signal that asked to stop (0: none), and the pipe its handler writes
 * to wake the loop. */
extern volatile sig_atomic_t ppx__stop_signal;
extern int ppx__sig_pipe[2];

/* "SIGTERM" for SIGTERM (and SIGINT, SIGUSR1), "signal" for any other. */
const char *ppx__signal_name(int sig);
/* The first fatal error of this rank is kept and said once; any makes the
 * rank stop. */
void ppx__set_fatal(sched_stop *st, const ppx_err *e);
/* MPI's return code rc of the call whose text is given: 0, -1 once the
 * failure is the rank's fatal error (PPX_EMPI), or 1 for PPX_WIRE_TIMEOUT. */
PPX_MUST_USE int ppx__mpi_result(sched_stop *st, int rc, const char *text);
/* The whole job stops now (rank 0's decision, or a lost rank): no
 * draining of the chunks started. */
void ppx__stop_job(sched_stop *st);
/* When a stop signal came (SIGTERM, SIGINT, SIGUSR1) and the rank is not
 * stopping at once yet: it stops, finishing only the images in progress,
 * and says so. */
void ppx__stop_on_signal(sched_stop *st);

#ifdef PPX_TEST_HOOKS
/* Test-only: PPX_TEST_STOP="RANK:MOMENT:N" makes rank RANK stop itself
 * (SIGSTOP, after printing "prepix: test fault: rank RANK stops at MOMENT
 * N") the Nth time it passes MOMENT: "request" (a request sent to rank 0),
 * "serve" (rank 0: a request answered), "result" (a chunk's results posted
 * to rank 0, bytes transport), "end" (its loop left), "code" (rank > 0: the
 * exit code received, before MPI_Finalize). A stop at an exact
 * point of the protocol, as a SIGSTOP from outside (a debugger, the
 * kernel, a frozen node) may land there. */
void ppx__test_stop(int rank, const char *moment);
#else
#define ppx__test_stop(rank, moment) ((void)0)
#endif

#endif
