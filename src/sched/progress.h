/* Progress of a run, shown by rank 0: one updating line on a terminal, or a
 * log line every few seconds (never more than one a second) otherwise. */
#ifndef PPX_SCHED_PROGRESS_H
#define PPX_SCHED_PROGRESS_H

#include <stdint.h>

#include "prepix/sched.h"

typedef struct {
    int mode; /* PPX_PROGRESS_BAR, _LOG or _NONE after resolving AUTO */
    uint64_t total;
    double t0, last;
    int drawn;   /* a bar line is on screen */
    int listing; /* the walk goes on: total is what it listed so far */
} ppx_progress;

void ppx_progress_init(ppx_progress *p, ppx_progress_mode mode, uint64_t total);
/* Shows done/total, images/s, MB/s, failures and ETA if it is time to (or
 * always when final, which also ends the bar's line). */
void ppx_progress_update(ppx_progress *p, uint64_t done, uint64_t failed, uint64_t bytes,
                         int final);

#endif
