/* Messages of any size between ranks: a header (the total length, one u64)
 * then fragments of at most ppx_wire_max() bytes each, so no MPI count ever
 * holds more than an int can (a 1000-image shard of 2 MB images is over
 * 2 GiB) and no single message is unbounded. Fragments travel under their
 * own tag after their header; MPI keeps messages of one source and tag in
 * order, so the receiver takes them right after the header.
 *
 * Every byte of every message is in the one little-endian encoding of
 * prepix/buf.h: the header here, the small fixed messages below, and the
 * payloads the callers pack with ppx_put_u64. The only typed MPI data left
 * are values MPI itself computes on in a reduction (MPI_SUM of the worker
 * counts, MPI_MAX of two flags): no byte layout of ours is in those, and MPI
 * converts typed values between machines itself. */
#ifndef PPX_SCHED_WIRE_H
#define PPX_SCHED_WIRE_H

#include "prepix/error.h"

#include <mpi.h>
#include <stdint.h>

#include "prepix/buf.h"

enum { PPX_WIRE_TAG_FRAG = 199 };

/* The largest fragment: 64 MiB (PPX_TEST_WIRE_MAX lowers it in test builds). */
size_t ppx_wire_max(void);

/* One send in flight; its buffer must live until ppx_wire_wait. */
typedef struct {
    uint8_t hdr[8]; /* the header: the length, little-endian */
    MPI_Request *req;
    int n;
} ppx_wire_send;

void ppx_wire_send_init(ppx_wire_send *w);
/* Posts the header and every fragment of b->data (b->len bytes) to dest
 * under tag. Returns MPI_SUCCESS or MPI's error code (MPI_ERR_NO_MEM when
 * the request array cannot be allocated). */
PPX_MUST_USE int ppx_wire_isend(ppx_wire_send *w, const void *data, size_t len, int dest, int tag,
                                MPI_Comm comm);
/* Waits for the posted sends (none posted: returns at once). */
PPX_MUST_USE int ppx_wire_wait(ppx_wire_send *w);
void ppx_wire_send_destroy(ppx_wire_send *w);

/* Receives a message whose header is next from src under tag (the caller
 * probed it) into out (out->len = its length). MPI_SUCCESS, MPI's error
 * code, or MPI_ERR_NO_MEM. */
PPX_MUST_USE int ppx_wire_recv(ppx_buf *out, int src, int tag, MPI_Comm comm);

/* A small fixed message: n (at most PPX_WIRE_SMALL_MAX) u64 values, sent
 * with a blocking send. MPI_SUCCESS or MPI's error code. */
enum { PPX_WIRE_SMALL_MAX = 8 };
PPX_MUST_USE int ppx_wire_send_u64s(const uint64_t *v, int n, int dest, int tag, MPI_Comm comm);
/* Receives such a message from src under tag into v[0..n): MPI_SUCCESS,
 * MPI's error code, or MPI_ERR_TRUNCATE when it holds another count. */
PPX_MUST_USE int ppx_wire_recv_u64s(uint64_t *v, int n, int src, int tag, MPI_Comm comm);

#endif
