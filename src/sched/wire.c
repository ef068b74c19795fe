#include "sched/wire.h"

#include <poll.h>
#include <sched.h>
#include <stdlib.h>

#include "prepix/clock.h"

/* A wait first only yields the CPU between looks, for this long (an answer
 * normally comes within it: docs/scheduling.md, "Serving as requests
 * arrive"), then sleeps a millisecond between looks, so that a rank waiting
 * on a slow or stopped peer takes no CPU from the workers. */
#define SPIN_S 0.002

size_t ppx_wire_max(void)
{
#ifdef PPX_TEST_HOOKS
    const char *t = getenv("PPX_TEST_WIRE_MAX");
    if (t && atol(t) > 0)
        return (size_t)atol(t);
#endif
    return (size_t)64 << 20;
}

double ppx_wire_look(ppx_wire_watch *w)
{
    double t = ppx_now_s();
    if (w->last > 0) {
        double step = t - w->last;
        if (step > w->gap)
            w->gap = step;
        if (step > PPX_WIRE_JUMP_S)
            w->skipped += step;
    }
    w->last = t;
    return t - w->skipped;
}

/* One look at what a wait waits for: MPI_SUCCESS with *done set, or MPI's code. */
typedef int (*look_fn)(void *arg, int *done);

/* Looks until done, an MPI error, or *waited (seconds of the watch's clock,
 * added to across the calls for one message) passes limit (> 0). */
static int wait_for(look_fn look, void *arg, double limit, double *waited, ppx_wire_watch *w)
{
    double start = ppx_wire_look(w), t = start;
    for (;;) {
        int done = 0;
        int rc = look(arg, &done);
        if (rc != MPI_SUCCESS || done)
            return rc;
        double now = ppx_wire_look(w);
        *waited += now - t;
        t = now;
        if (limit > 0 && (*waited > limit || (w->give_up_gap > 0 && w->gap > w->give_up_gap)))
            return PPX_WIRE_TIMEOUT;
        if (now - start < SPIN_S)
            sched_yield();
        else
            poll(NULL, 0, 1);
    }
}

void ppx_wire_send_init(ppx_wire_send *w)
{
    ppx_set_le64(w->hdr, 0);
    w->req = NULL;
    w->n = 0;
    w->abandoned = 0;
}

int ppx_wire_isend(ppx_wire_send *w, const void *data, size_t len, int dest, int tag, MPI_Comm comm)
{
    if (w->abandoned)
        return MPI_ERR_PENDING;
    size_t max = ppx_wire_max();
    size_t frags = (len + max - 1) / max;
    if (frags + 1 > (size_t)INT32_MAX)
        return MPI_ERR_COUNT;
    MPI_Request *req = realloc(w->req, (frags + 1) * sizeof *req);
    if (!req)
        return MPI_ERR_NO_MEM;
    w->req = req;
    ppx_set_le64(w->hdr, len);
    w->n = 0;
    int rc = MPI_Isend(w->hdr, 8, MPI_BYTE, dest, tag, comm, &w->req[w->n]);
    if (rc != MPI_SUCCESS)
        return rc;
    w->n++;
    const char *p = data;
    for (size_t off = 0; off < len; off += max) {
        size_t n = len - off < max ? len - off : max;
        rc = MPI_Isend(p + off, (int)n, MPI_BYTE, dest, PPX_WIRE_TAG_FRAG, comm, &w->req[w->n]);
        if (rc != MPI_SUCCESS)
            return rc;
        w->n++;
    }
    return MPI_SUCCESS;
}

int ppx_wire_test(ppx_wire_send *w, int *done)
{
    *done = 1;
    if (!w->n)
        return MPI_SUCCESS;
    int rc = MPI_Testall(w->n, w->req, done, MPI_STATUSES_IGNORE);
    if (rc == MPI_SUCCESS && *done)
        w->n = 0;
    return rc;
}

static int test_sends(void *arg, int *done)
{
    return ppx_wire_test(arg, done);
}

int ppx_wire_wait(ppx_wire_send *w, double limit, ppx_wire_watch *watch)
{
    double waited = 0;
    int rc = wait_for(test_sends, w, limit, &waited, watch);
    if (rc == PPX_WIRE_TIMEOUT) {
        /* Open MPI cannot cancel a send (MPI 4 deprecates it): the requests
         * are handed to MPI, which frees them if they ever complete. */
        for (int i = 0; i < w->n; i++)
            if (w->req[i] != MPI_REQUEST_NULL)
                MPI_Request_free(&w->req[i]);
        w->n = 0;
        w->abandoned = 1;
    }
    return rc;
}

void ppx_wire_send_destroy(ppx_wire_send *w)
{
    int abandoned = w->abandoned;
    free(w->req);
    ppx_wire_send_init(w);
    w->abandoned = abandoned;
}

typedef struct {
    int src;
    MPI_Comm comm;
    MPI_Status *st;
} probe_arg;

static int probe_fragment(void *arg, int *done)
{
    probe_arg *a = arg;
    return MPI_Iprobe(a->src, PPX_WIRE_TAG_FRAG, a->comm, done, a->st);
}

static int test_request(void *arg, int *done)
{
    return MPI_Test(arg, done, MPI_STATUS_IGNORE);
}

/* Gives up on a posted receive: cancelled if it has not begun (Open MPI
 * cancels unmatched receives); else handed to MPI. 1 when the buffer may
 * still be written by MPI. */
static int abandon_recv(MPI_Request *r)
{
    int done = 0;
    if (MPI_Cancel(r) == MPI_SUCCESS && MPI_Test(r, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
        done)
        return 0;
    MPI_Request_free(r);
    return 1;
}

/* Receives n bytes at p from src (a fragment whose envelope was probed). */
static int recv_fragment(void *p, int n, int src, int tag, MPI_Comm comm, double limit,
                         double *waited, ppx_wire_watch *watch, int *lost)
{
    MPI_Request r;
    int rc = MPI_Irecv(p, n, MPI_BYTE, src, tag, comm, &r);
    if (rc != MPI_SUCCESS)
        return rc;
    rc = wait_for(test_request, &r, limit, waited, watch);
    if (rc == PPX_WIRE_TIMEOUT)
        *lost = abandon_recv(&r);
    return rc;
}

int ppx_wire_recv(ppx_buf *out, int src, int tag, MPI_Comm comm, double limit,
                  ppx_wire_watch *watch)
{
    uint8_t hdr[8];
    MPI_Status st;
    int got;
    /* The caller probed this header: 8 bytes travel with their envelope
     * (every MPI's eager limit is kilobytes), so they are here already and
     * this blocking receive completes without the sender. */
    int rc = MPI_Recv(hdr, 8, MPI_BYTE, src, tag, comm, &st);
    if (rc == MPI_SUCCESS)
        rc = MPI_Get_count(&st, MPI_BYTE, &got);
    if (rc != MPI_SUCCESS)
        return rc;
    if (got != 8)
        return MPI_ERR_TRUNCATE;
    uint64_t len = ppx_get_le64(hdr);
    out->len = 0;
    if (len > SIZE_MAX - 1 || ppx_buf_reserve(out, len ? (size_t)len : 1))
        return MPI_ERR_NO_MEM;
    /* Each fragment's size is read from it, never assumed: the receiver
     * must not trust that the sender's bound is its own. */
    double waited = 0;
    for (size_t off = 0; off < len;) {
        int n, lost = 0;
        probe_arg pa = {src, comm, &st};
        rc = wait_for(probe_fragment, &pa, limit, &waited, watch);
        if (rc == MPI_SUCCESS)
            rc = MPI_Get_count(&st, MPI_BYTE, &n);
        if (rc != MPI_SUCCESS)
            return rc;
        if (n <= 0 || (uint64_t)n > len - off)
            return MPI_ERR_TRUNCATE;
        rc = recv_fragment(out->data + off, n, src, PPX_WIRE_TAG_FRAG, comm, limit, &waited, watch,
                           &lost);
        if (lost)
            ppx_buf_init(out); /* the old buffer is MPI's now: left allocated */
        if (rc != MPI_SUCCESS)
            return rc;
        off += (size_t)n;
    }
    out->len = (size_t)len;
    return MPI_SUCCESS;
}

int ppx_wire_drop(const MPI_Status *st, MPI_Comm comm, double limit, ppx_wire_watch *watch)
{
    int n;
    int rc = MPI_Get_count(st, MPI_BYTE, &n);
    if (rc != MPI_SUCCESS)
        return rc;
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p)
        return MPI_ERR_NO_MEM;
    double waited = 0;
    int lost = 0;
    rc = recv_fragment(p, n, st->MPI_SOURCE, st->MPI_TAG, comm, limit, &waited, watch, &lost);
    if (!lost)
        free(p);
    return rc;
}

int ppx_wire_send_u64s(ppx_wire_send *w, const uint64_t *v, int n, int dest, int tag, MPI_Comm comm)
{
    if (w->abandoned)
        return MPI_ERR_PENDING;
    if (n < 0 || n > PPX_WIRE_SMALL_MAX)
        return MPI_ERR_COUNT;
    MPI_Request *req = w->req ? w->req : malloc(sizeof *req);
    if (!req)
        return MPI_ERR_NO_MEM;
    w->req = req;
    for (int i = 0; i < n; i++)
        ppx_set_le64(w->hdr + 8 * i, v[i]);
    w->n = 0;
    int rc = MPI_Isend(w->hdr, 8 * n, MPI_BYTE, dest, tag, comm, &w->req[0]);
    if (rc == MPI_SUCCESS)
        w->n = 1;
    return rc;
}

int ppx_wire_recv_u64s(uint64_t *v, int n, int src, int tag, MPI_Comm comm)
{
    uint8_t b[8 * PPX_WIRE_SMALL_MAX];
    MPI_Status st;
    int got;
    if (n < 0 || n > PPX_WIRE_SMALL_MAX)
        return MPI_ERR_COUNT;
    /* Probed, and at most 64 bytes: here already with its envelope (as the
     * header in ppx_wire_recv), so this cannot wait on src. */
    int rc = MPI_Recv(b, (int)sizeof b, MPI_BYTE, src, tag, comm, &st);
    if (rc == MPI_SUCCESS)
        rc = MPI_Get_count(&st, MPI_BYTE, &got);
    if (rc != MPI_SUCCESS)
        return rc;
    if (got != 8 * n)
        return MPI_ERR_TRUNCATE;
    for (int i = 0; i < n; i++)
        v[i] = ppx_get_le64(b + 8 * i);
    return MPI_SUCCESS;
}

int ppx_wire_wait_request(MPI_Request *req, double limit, ppx_wire_watch *watch)
{
    double waited = 0;
    return wait_for(test_request, req, limit, &waited, watch);
}
