#include "sched/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "prepix/clock.h"

void ppx_progress_init(ppx_progress *p, ppx_progress_mode mode, uint64_t total)
{
    if (mode == PPX_PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? PPX_PROGRESS_BAR : PPX_PROGRESS_LOG;
    p->mode = mode;
    p->total = total;
    p->t0 = p->last = ppx_now_s();
    p->drawn = 0;
    p->listing = 0;
}

void ppx_progress_update(ppx_progress *p, uint64_t done, uint64_t failed, uint64_t bytes, int final)
{
    if (p->mode == PPX_PROGRESS_NONE)
        return;
    double t = ppx_now_s();
    double every = p->mode == PPX_PROGRESS_BAR ? 0.25 : 5.0;
    if (!final && t - p->last < every)
        return;
    if (final && p->mode == PPX_PROGRESS_LOG && !p->drawn)
        return; /* short runs: the summary says it all */
    p->last = t;
    double el = t - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    double mbs = el > 0 ? (double)bytes / 1e6 / el : 0;
    char eta[32] = "--";
    if (p->listing)
        snprintf(eta, sizeof eta, "-- (listing)");
    else if (rate > 0 && done < p->total) {
        double left = (double)(p->total - done) / rate;
        snprintf(eta, sizeof eta, "%dm%02ds", (int)(left / 60), (int)left % 60);
    }
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
    if (p->mode == PPX_PROGRESS_BAR) {
        fprintf(
            stderr, "\r\033[Kprepix: %llu/%llu%s (%.0f%%) %.1f img/s %.1f MB/s %llu failed ETA %s",
            (unsigned long long)done, (unsigned long long)p->total,
            p->listing ? " listed so far" : "", pct, rate, mbs, (unsigned long long)failed, eta);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr,
                "prepix: progress %llu/%llu%s (%.0f%%) %.1f img/s %.1f MB/s %llu failed ETA %s\n",
                (unsigned long long)done, (unsigned long long)p->total,
                p->listing ? " listed so far" : "", pct, rate, mbs, (unsigned long long)failed,
                eta);
    }
    p->drawn = 1;
    fflush(stderr);
}
