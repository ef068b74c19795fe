/* Stopping and the fatal error (stop.h): the signal that asks a rank to
 * stop, the first fatal error, MPI's failures recorded as one. May change:
 * sched_stop only. Calls no other sched file. */
#include "sched/stop.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prepix/log.h"
#include "prepix/sched.h"
#include "sched/wire.h"

volatile sig_atomic_t ppx__stop_signal;
int ppx__sig_pipe[2] = {-1, -1};

void ppx_sched_request_stop(int sig)
{
    ppx__stop_signal = sig;
    if (ppx__sig_pipe[1] >= 0) {
        int e = errno;
        ssize_t w = write(ppx__sig_pipe[1], "s", 1);
        (void)w;
        errno = e;
    }
}

const char *ppx__signal_name(int sig)
{
    return sig == SIGINT    ? "SIGINT"
           : sig == SIGTERM ? "SIGTERM"
           : sig == SIGUSR1 ? "SIGUSR1"
                            : "signal";
}

#ifdef PPX_TEST_HOOKS
/* Test-only: PPX_TEST_MPI_FAIL="RANK:NAME:N" makes the Nth call named NAME
 * (e.g. MPI_Send) on rank RANK report an error after it ran, as a transient
 * fault that leaves the communicator working would. */
static int test_mpi_fault(const sched_stop *st, int rc, const char *text)
{
    static int calls;
    const char *spec = getenv("PPX_TEST_MPI_FAIL");
    int rank, n;
    char name[64];
    if (!spec || sscanf(spec, "%d:%63[^:]:%d", &rank, name, &n) != 3 || rank != st->rank)
        return rc;
    size_t nl = strlen(name);
    if (strncmp(text, name, nl) == 0 && text[nl] == '(' && ++calls == n)
        return MPI_ERR_OTHER;
    return rc;
}
#endif

#ifdef PPX_TEST_HOOKS
void ppx__test_stop(int self, const char *moment)
{
    static int passed;
    const char *spec = getenv("PPX_TEST_STOP");
    int rank, n;
    char name[32];
    if (!spec || sscanf(spec, "%d:%31[^:]:%d", &rank, name, &n) != 3 || rank != self ||
        strcmp(name, moment) != 0 || ++passed != n)
        return;
    dprintf(STDERR_FILENO, "prepix: test fault: rank %d stops at %s %d\n", rank, moment, n);
    raise(SIGSTOP);
}
#endif

int ppx__mpi_result(sched_stop *st, int rc, const char *text)
{
#ifdef PPX_TEST_HOOKS
    rc = test_mpi_fault(st, rc, text);
#endif
    if (rc == MPI_SUCCESS)
        return 0;
    if (rc == PPX_WIRE_TIMEOUT)
        return 1;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = snprintf(msg, sizeof msg, "error code %d", rc);
    const char *paren = strchr(text, '(');
    ppx_err e;
    ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "%.*s failed on rank %d: %.*s",
                paren ? (int)(paren - text) : (int)strlen(text), text, st->rank, len, msg);
    ppx__set_fatal(st, &e);
    st->mpi_failed = 1;
    return -1;
}

void ppx__set_fatal(sched_stop *st, const ppx_err *e)
{
    if (!st->fatal) {
        st->fatal = 1;
        st->fatal_err = *e;
        ppx_log_rank(PPX_LOG_ERR, st->rank, "fatal: %s", e->msg);
    }
    st->stopping = 1;
    if (!st->stop_reason)
        st->stop_reason = "fatal error";
}

void ppx__stop_job(sched_stop *st)
{
    st->global_stop = st->stopping = 1;
    st->draining = 0;
}

void ppx__stop_on_signal(sched_stop *st)
{
    if (ppx__stop_signal && (!st->stopping || st->draining)) {
        st->stopping = 1;
        st->draining = 0;
        st->stop_reason = ppx__signal_name(ppx__stop_signal);
        ppx_log_rank(PPX_LOG_INFO, st->rank, "%s received: finishing the images in progress",
                     st->stop_reason);
    }
}
