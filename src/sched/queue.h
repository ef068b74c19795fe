/* Chunks and a rank's queue of them (internal to sched; chunk.c). The
 * queue is a sched_queue, one field of run_state; these functions take only
 * it, so chunk.c cannot change anything else of the rank's state. */
#ifndef PPX_SCHED_QUEUE_H
#define PPX_SCHED_QUEUE_H

#include <stdint.h>

#include "prepix/failures.h"
#include "sched/plan.h"
#include "work/job.h"

/* The chunks this rank holds, in order (chunk.c), and where its request for
 * more stands (loop.c). */
typedef struct {
    chunk *queue_head, *queue_tail;
    int no_more; /* rank 0 said there is no more work for us */
    int req_out; /* a request to rank 0 is outstanding */
} sched_queue;

void ppx__prefail_result(uint32_t why, ppx_result *r);
void ppx__enqueue(sched_queue *q, chunk *c);
/* Frees the chunks not started; with draining, those started are finished. */
void ppx__drop_unstarted(sched_queue *q, int draining);
PPX_MUST_USE int ppx__unstarted(const sched_queue *q);
chunk *ppx__find_chunk(sched_queue *q, uint64_t id);
PPX_MUST_USE int ppx__has_transient(const ppx_failures *f);
void ppx__collect_finished(sched_queue *q);

#endif
