/* The JSON and HTML reports of a run (DESIGN.md section 5). */
#ifndef PPX_STATS_REPORT_H
#define PPX_STATS_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "prepix/buf.h"
#include "prepix/coco.h"
#include "prepix/error.h"
#include "prepix/stats.h"
#include "prepix/dedup.h"
#include "prepix/failures.h"
#include "prepix/json.h"

typedef struct {
    int rank;
    char host[64];
    int workers;
    uint64_t images, failed;
    double busy_s, elapsed_s;
    char error[PPX_ERR_MSG_MAX]; /* the rank's fatal error, "" if none */
} ppx_rank_info;

/* One rank's facts as part of the message that ends a run (the little-endian
 * encoding of prepix/buf.h; times as IEEE-754 bits). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_rank_info_pack(const ppx_rank_info *ri, ppx_buf *out);
/* Reads what ppx_rank_info_pack wrote from r (untrusted bytes): 0 with *ri
 * written, or PPX_ECORRUPT. */
PPX_MUST_USE int ppx_rank_info_unpack(ppx_rd *r, ppx_rank_info *ri);

/* A shard that a -f tar or -f npy run wrote: its file name in OUTDIR, and its images (those
 * that did not fail). */
typedef struct {
    char file[32];
    uint64_t images;
} ppx_report_shard;

/* A label of the shards' images as index.csv gives it, with its images: name is its line of
 * classes.txt when the classes have names (folders, archive stems), NULL for -1 (an image at
 * the top of INPUT) and for .cls labels (ids without a name). */
typedef struct {
    int64_t label;
    const char *name;
    uint64_t images;
} ppx_report_class;

/* What a report knows of the shards: none (not a -f tar or -f npy run), not listed (the run
 * did not complete, so neither index.csv nor the list was written), listed. */
enum { PPX_REPORT_NO_SHARDS, PPX_REPORT_SHARDS_UNLISTED, PPX_REPORT_SHARDS_LISTED };
/* A leak between named splits: an image of a split (the evaluation side) and
 * the images of splits named before it in its groups, matches[first ..
 * first + n) of ppx_dup_report's leak_matches. */
typedef struct {
    size_t eval; /* position in prints */
    int split;
    size_t first, n;
} ppx_leak;
typedef struct {
    size_t pos; /* position in prints */
    int split;
    int distance; /* phash bits apart */
} ppx_leak_match;

/* The HTML report shows the largest groups, this many at most, with a
 * thumbnail of their first members, this many at most. */
#define PPX_THUMB_GROUPS 10
#define PPX_THUMB_MEMBERS 6
/* A group the HTML report shows: ppx_dups' exact[group] (near 0) or near[group]. */
typedef struct {
    int near;
    size_t group;
} ppx_dup_shown;

/* The duplicates of a run, for the reports. */
typedef struct {
    const ppx_prints *prints; /* every fingerprint, sorted by index */
    const ppx_dups *dups;     /* groups: positions in prints */
    const char *const *paths; /* path of prints->v[i] for each group member, else NULL */
    int distance;             /* --dup-distance */
    uint64_t shrunk;          /* fingerprints taken on a reduced decode (shrink-on-load) */
    uint64_t unfingerprinted; /* images ok but without fingerprints (older journals) */
    const char *drop_list;    /* where the paths to drop were written, or NULL */
    /* Named splits (n_splits > 0): the leaks, in listing order of their eval image. */
    int n_splits;
    const char *const *split_names;
    const ppx_leak *leaks;
    size_t n_leaks;
    const ppx_leak_match *leak_matches;
    /* The groups the HTML report shows, largest first, and the thumbnail of
     * each member shown (a data: URI per position in prints, NULL where
     * none was made: the report shows a placeholder). */
    const ppx_dup_shown *shown;
    size_t n_shown;
    const char *const *thumbs;
} ppx_dup_report;

typedef struct {
    const ppx_stats *stats;        /* totals, resumed work included */
    const ppx_failures *failures;  /* sorted by index */
    const char *const *fail_paths; /* path of each failure, same order */
    uint64_t skipped;
    uint64_t excluded; /* inputs --exclude left out */
    uint64_t resumed_chunks, resumed_images;
    int ranks;
    const ppx_rank_info *per_rank;
    double elapsed_s;
    int complete;            /* 0: stopped early */
    const char *stop_reason; /* why not complete; ignored (reported as "") when complete */
    int exit_code;
    const char *pipeline, *format, *input, *outdir; /* outdir may be NULL */
    /* Things a person should know although nothing failed ("no images found under INPUT"):
     * n_warnings strings, each one sentence without the "prepix: warning: " prefix. They go
     * into the JSON ("warnings", always present), near the top of the HTML, and to the
     * summary. warnings may be NULL when n_warnings is 0. */
    const char *const *warnings;
    size_t n_warnings;
    /* The command line as the user typed it, for people (HTML, JSON "command_line"); NULL:
     * not recorded, and the JSON leaves the key out. */
    const char *command_line;
    /* When the report was made (Unix time), shown in the HTML; 0: the time of the call. */
    time_t date;
    /* Set by the caller when the JSON report could not be written (the writer has said
     * why): ppx_report_summary then does not point the user at it. */
    int report_failed;
    /* PPX_REPORT_*SHARDS*. When LISTED, shards (n_shards, in shard order) and classes
     * (n_classes, by label) go into the JSON ("shards", "classes") and the HTML; otherwise
     * they are not read and may be NULL. */
    int shards_state;
    const ppx_report_shard *shards;
    size_t n_shards;
    const ppx_report_class *classes;
    size_t n_classes;
    /* Duplicates found, or NULL when the run took no fingerprints. */
    const ppx_dup_report *dups;
    /* --coco: what became of the file's images and annotations, or NULL. */
    const ppx_coco_counts *coco;
} ppx_report;

/* Appends the JSON report (docs/formats.md) to out. Returns 0 or PPX_ENOMEM. Rank 0 only;
 * not collective. */
PPX_MUST_USE int ppx_report_json(const ppx_report *r, ppx_buf *out);
/* Appends a self-contained HTML report to out: inline CSS and SVG, no script, no network
 * reference; every string from r is escaped. Returns 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_report_html(const ppx_report *r, ppx_buf *out);
/* Prints the human summary to f (stderr): counts, speed, normalize values, the first
 * failures, each warning as "prepix: warning: ...", and "prepix: report: PATH" when
 * report_path is not NULL and r->report_failed is 0. */
void ppx_report_summary(const ppx_report *r, const char *report_path, FILE *f);

/* The "duplicates" object of the JSON report (its key written by the caller), and the
 * summary's line about it. report_dups.c. */
void ppx__report_dups_json(ppx_json *j, const ppx_dup_report *d);
void ppx__report_dups_summary(const ppx_dup_report *d, FILE *f);

/* Name of band b of a channels-band image as the JSON spells it ("R", "L", "A").
 * Shared by report.c and report_html.c. */
const char *ppx__report_band_name(unsigned channels, unsigned b);
/* The values to give `normalize` for group g of channels bands: the mean and the std of its
 * colour bands (1 or 3: alpha is left out, as npy shards, where normalize runs, drop it), on
 * the 0..1 scale, as "0.4850,0.4560,0.4060" into mean and std (cap bytes each). */
void ppx__report_normalize(const ppx_group_stats *g, unsigned channels, unsigned bits, char *mean,
                           char *std, size_t cap);

#endif
