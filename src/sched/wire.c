#include "sched/wire.h"

#include <stdlib.h>

size_t ppx_wire_max(void)
{
#ifdef PPX_TEST_HOOKS
    const char *t = getenv("PPX_TEST_WIRE_MAX");
    if (t && atol(t) > 0)
        return (size_t)atol(t);
#endif
    return (size_t)64 << 20;
}

void ppx_wire_send_init(ppx_wire_send *w)
{
    ppx_set_le64(w->hdr, 0);
    w->req = NULL;
    w->n = 0;
}

int ppx_wire_isend(ppx_wire_send *w, const void *data, size_t len, int dest, int tag, MPI_Comm comm)
{
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

int ppx_wire_wait(ppx_wire_send *w)
{
    int rc = w->n ? MPI_Waitall(w->n, w->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    w->n = 0;
    return rc;
}

void ppx_wire_send_destroy(ppx_wire_send *w)
{
    free(w->req);
    ppx_wire_send_init(w);
}

int ppx_wire_recv(ppx_buf *out, int src, int tag, MPI_Comm comm)
{
    uint8_t hdr[8];
    MPI_Status st;
    int got;
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
    for (size_t off = 0; off < len;) {
        int n;
        rc = MPI_Probe(src, PPX_WIRE_TAG_FRAG, comm, &st);
        if (rc == MPI_SUCCESS)
            rc = MPI_Get_count(&st, MPI_BYTE, &n);
        if (rc != MPI_SUCCESS)
            return rc;
        if (n <= 0 || (uint64_t)n > len - off)
            return MPI_ERR_TRUNCATE;
        rc =
            MPI_Recv(out->data + off, n, MPI_BYTE, src, PPX_WIRE_TAG_FRAG, comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return rc;
        off += (size_t)n;
    }
    out->len = (size_t)len;
    return MPI_SUCCESS;
}

int ppx_wire_send_u64s(const uint64_t *v, int n, int dest, int tag, MPI_Comm comm)
{
    uint8_t b[8 * PPX_WIRE_SMALL_MAX];
    if (n < 0 || n > PPX_WIRE_SMALL_MAX)
        return MPI_ERR_COUNT;
    for (int i = 0; i < n; i++)
        ppx_set_le64(b + 8 * i, v[i]);
    return MPI_Send(b, 8 * n, MPI_BYTE, dest, tag, comm);
}

int ppx_wire_recv_u64s(uint64_t *v, int n, int src, int tag, MPI_Comm comm)
{
    uint8_t b[8 * PPX_WIRE_SMALL_MAX];
    MPI_Status st;
    int got;
    if (n < 0 || n > PPX_WIRE_SMALL_MAX)
        return MPI_ERR_COUNT;
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
