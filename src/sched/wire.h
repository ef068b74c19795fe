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
/* The most u64 values of a small fixed message (ppx_wire_send_u64s). */
enum { PPX_WIRE_SMALL_MAX = 8 };

/* The largest fragment: 64 MiB (PPX_TEST_WIRE_MAX lowers it in test builds). */
size_t ppx_wire_max(void);

/* ---- Waiting on a peer, never without end -------------------------------
 *
 * Every wait on another rank is a loop of MPI_Test/MPI_Iprobe that gives up
 * after a limit (the run's --rank-timeout, or a part of it): a blocking
 * MPI_Wait, MPI_Recv or MPI_Probe on a peer that was stopped (SIGSTOP, a
 * frozen node) never returns, and Open MPI spins at 100% CPU inside it.
 * The limit counts this process's own running time only: a stretch between
 * two looks longer than PPX_WIRE_JUMP_S means this process itself did not
 * run (stopped, starved, or blocked in the kernel), which is no fault of the
 * peer. The watch keeps that clock; each process has one. */

/* Returned by the waits below when the peer did not complete in time. MPI's
 * own codes are >= 0, so this one is never mistaken for them. */
#define PPX_WIRE_TIMEOUT (-1)
/* A wait looks every millisecond; a loop turn of the run takes at most a few
 * hundred. More than this between two looks is this process's own absence. */
#define PPX_WIRE_JUMP_S 1.0

typedef struct {
    double last;    /* when this process last looked (ppx_now_s), 0 before the first look */
    double skipped; /* the sum of the stretches between two looks longer than PPX_WIRE_JUMP_S */
    double gap;     /* the longest stretch between two looks */
    /* Waits give up at once when gap exceeds this (0: never): rank 0, once it
     * was away longer than --rank-timeout, cannot trust any wait. */
    double give_up_gap;
} ppx_wire_watch;

/* Records a look now. Returns the watch's clock, ppx_now_s() less the time
 * skipped: the clock every deadline on a peer is measured with. */
double ppx_wire_look(ppx_wire_watch *w);

/* One send in flight; its buffer must live until the send completes. */
typedef struct {
    uint8_t hdr[8 * PPX_WIRE_SMALL_MAX]; /* the header (the length), or a small message's values */
    MPI_Request *req;
    int n;
    /* A wait gave up: the requests were freed to MPI (MPI_Request_free), and
     * hdr and the data buffer belong to MPI until the process ends, so their
     * owner must never free or reuse them (the job then ends by MPI_Abort). */
    int abandoned;
} ppx_wire_send;

void ppx_wire_send_init(ppx_wire_send *w);
/* Posts the header and every fragment of b->data (b->len bytes) to dest
 * under tag. Returns MPI_SUCCESS or MPI's error code (MPI_ERR_NO_MEM when
 * the request array cannot be allocated; MPI_ERR_PENDING when w was
 * abandoned). */
PPX_MUST_USE int ppx_wire_isend(ppx_wire_send *w, const void *data, size_t len, int dest, int tag,
                                MPI_Comm comm);
/* Whether the posted sends are complete (*done), without waiting. */
PPX_MUST_USE int ppx_wire_test(ppx_wire_send *w, int *done);
/* Waits for the posted sends (none posted: returns at once) for at most
 * limit seconds of watch's clock (<= 0: without limit). MPI_SUCCESS, MPI's
 * error code, or PPX_WIRE_TIMEOUT, after which w is abandoned. */
PPX_MUST_USE int ppx_wire_wait(ppx_wire_send *w, double limit, ppx_wire_watch *watch);
/* Frees w's request array. The ppx_wire_send itself (its hdr) must outlive
 * an abandoned send: see abandoned. */
void ppx_wire_send_destroy(ppx_wire_send *w);

/* Receives a message whose header is next from src under tag (the caller
 * probed it) into out (out->len = its length), giving the sender limit
 * seconds of watch's clock (<= 0: without limit) to deliver it whole.
 * MPI_SUCCESS, MPI's error code, MPI_ERR_NO_MEM, or PPX_WIRE_TIMEOUT: then
 * out's old buffer may still be MPI's, so out is handed a fresh one and the
 * old one is left to MPI for good. */
PPX_MUST_USE int ppx_wire_recv(ppx_buf *out, int src, int tag, MPI_Comm comm, double limit,
                               ppx_wire_watch *watch);
/* Receives and throws away the message st describes (a caller's probe):
 * what a rank declared silent still sends. Same returns as ppx_wire_recv. */
PPX_MUST_USE int ppx_wire_drop(const MPI_Status *st, MPI_Comm comm, double limit,
                               ppx_wire_watch *watch);

/* A small fixed message: n (at most PPX_WIRE_SMALL_MAX) u64 values, posted
 * from w's own buffer; the caller waits for it like any send. MPI_SUCCESS or
 * MPI's error code. */
PPX_MUST_USE int ppx_wire_send_u64s(ppx_wire_send *w, const uint64_t *v, int n, int dest, int tag,
                                    MPI_Comm comm);
/* Receives such a message from src under tag into v[0..n): MPI_SUCCESS,
 * MPI's error code, or MPI_ERR_TRUNCATE when it holds another count. The
 * caller must have probed it (see wire.c: why that cannot wait on src). */
PPX_MUST_USE int ppx_wire_recv_u64s(uint64_t *v, int n, int src, int tag, MPI_Comm comm);

/* Waits for a non-blocking collective (MPI_Iallreduce, MPI_Ibcast) like
 * ppx_wire_wait. On PPX_WIRE_TIMEOUT the request is left as it is (MPI
 * forbids freeing a collective's request) and so are its buffers: the job
 * then ends by MPI_Abort. */
PPX_MUST_USE int ppx_wire_wait_request(MPI_Request *req, double limit, ppx_wire_watch *watch);

#endif
