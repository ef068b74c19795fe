/* The JSON and HTML reports of a run (DESIGN.md section 5). */
#ifndef PPX_STATS_REPORT_H
#define PPX_STATS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "prepix/buf.h"
#include "prepix/stats.h"
#include "sched/journal.h"

typedef struct {
    int rank;
    char host[64];
    int workers;
    uint64_t images, failed;
    double busy_s, elapsed_s;
} ppx_rank_info;

typedef struct {
    const ppx_stats *stats;       /* totals, resumed work included */
    const ppx_failures *failures; /* sorted by index */
    const char *const *fail_paths; /* path of each failure, same order */
    uint64_t skipped;
    uint64_t resumed_chunks, resumed_images;
    int ranks;
    const ppx_rank_info *per_rank;
    double elapsed_s;
    int complete;           /* 0: stopped early */
    const char *stop_reason; /* "" when complete */
    int exit_code;
    const char *pipeline, *format, *input, *outdir;
} ppx_report;

/* Writes the JSON report into out. */
int ppx_report_json(const ppx_report *r, ppx_buf *out);
/* Writes a self-contained HTML report (inline SVG, no network). */
int ppx_report_html(const ppx_report *r, ppx_buf *out);
/* The human summary for stderr. */
void ppx_report_summary(const ppx_report *r, const char *report_path, FILE *f);

#endif
