/* The one clock of prepix: monotonic seconds, for timeouts and throughput. */
#ifndef PREPIX_CLOCK_H
#define PREPIX_CLOCK_H

#include <time.h>

static inline double ppx_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
