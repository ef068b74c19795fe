/* Running a job: listing, chunk scheduling over MPI ranks, the local worker
 * pool, the resume journal, the report. */
#ifndef PREPIX_SCHED_H
#define PREPIX_SCHED_H

#include "prepix/companion.h"
#include "prepix/error.h"

#include <mpi.h>
#include <stdint.h>

#include "prepix/codec.h"
#include "prepix/limits.h"
#include "prepix/pipeline.h"
#include "prepix/subimage.h"
#include "prepix/tar_npy.h"

/* Shard outputs: a chunk of the listing becomes one archive or array. */
typedef enum { PPX_SHARD_NONE = 0, PPX_SHARD_TAR, PPX_SHARD_NPY } ppx_shard_kind;

typedef enum {
    PPX_PROGRESS_AUTO,
    PPX_PROGRESS_BAR,
    PPX_PROGRESS_LOG,
    PPX_PROGRESS_NONE
} ppx_progress_mode;

/* At most this many named splits (-i NAME=DIR). */
#define PPX_SPLITS_MAX 16

typedef struct {
    const char *input; /* folder or @LIST; with splits, as the report shows them */
    /* Named splits (-i NAME=DIR, two or more; docs/duplicates.md): each split's folder is
     * walked in this order and its entries keyed NAME/REL; n_splits 0 for one INPUT. */
    const char *const *split_names;
    const char *const *split_paths;
    int n_splits;
    const char *outdir; /* NULL for `prepix stats` */
    const char *spec;   /* pipeline text as given (after @FILE) */
    const ppx_pipeline *pipeline;
    ppx_format out_format; /* PPX_FMT_UNKNOWN = same (also the encoding in tar shards) */
    ppx_shard_kind shard;  /* tar/npy: one shard per chunk, chunk size = shard size */
    uint64_t shard_size;   /* images per shard (0: 1000) */
    uint64_t shards;       /* or: this many shards of equal size (0: by shard_size) */
    int quality;
    int webp_lossless; /* -f webp-lossless: WebP output is lossless */
    int workers;       /* per rank; <= 0: CPUs in the affinity mask */
    uint64_t seed;
    ppx_limits limits;
    double timeout_s;
    double rank_timeout_s; /* a rank silent this long is stalled; 0: never */
    int64_t max_failures;  /* -1: never stop */
    uint64_t chunk_size;   /* 0: automatic */
    int transport_bytes;
    const char *report_path; /* NULL: OUTDIR/prepix-report.json (stdout for stats) */
    const char *html_path;   /* NULL: OUTDIR/prepix-report.html; "" none */
    ppx_progress_mode progress;
    int dry_run;
    int resume;
    int stats_only;
    int use_mpi;              /* 0: plain one-rank run, MPI not initialised */
    int follow_symlinks;      /* read symlinked files met in a walked INPUT */
    int copy_mode;            /* outputs get their input's permission bits */
    const char *command_line; /* as typed, for the report; may be NULL */
    /* Duplicates (docs/duplicates.md): fingerprint every input and report the
     * groups at the end; near groups within dup_distance bits of phash. */
    int duplicates;
    int dup_distance;
    const char *drop_list; /* paths a deduplicated set drops: NULL is OUTDIR/duplicates.txt
                              (run), none (stats) */
    const char *exclude;   /* "@FILE" (one path a line) or one path: inputs left out; NULL */
    /* A COCO annotation file (docs/pipeline.md): read and checked by rank 0
     * before any work, mapped through the outputs' geometry into
     * OUTDIR/coco.json at the end; NULL for none. */
    const char *coco;
    /* Companions (--with, docs/pipeline.md): masks and maps transformed with
     * their images; n_with <= PPX_ROLES_MAX. */
    const ppx_companion_spec *with;
    int n_with;
    ppx_sub_opts sub; /* --pages, --chips: TIFF inputs cut into pages and chips */
} ppx_run_config;

/* What a run came to, the same on every rank. The values are the exit codes
 * of DESIGN.md, which the report records as "exit_code"; the CLI alone turns
 * an outcome into the process's exit code. */
typedef enum {
    PPX_RUN_DONE = 0,     /* every image was processed */
    PPX_RUN_FATAL = 1,    /* the run could not go on */
    PPX_RUN_REFUSED = 2,  /* refused before any work (OUTDIR in use, inside INPUT, ...) */
    PPX_RUN_FAILURES = 3, /* finished, some images failed */
    PPX_RUN_STOPPED = 4   /* stopped early: --resume finishes it */
} ppx_run_outcome;

/* Runs the job. Collective on comm when cfg->use_mpi. Returns the run's
 * ppx_run_outcome, the same on every rank, or PPX_SCHED_ABORT
 * when MPI failed so that the ranks cannot agree: the caller then ends the
 * job with MPI_Abort (exit 1). Never calls exit(). */
#define PPX_SCHED_ABORT 100
/* Ranks fell silent (--rank-timeout): rank 0 wrote an incomplete report;
 * the caller ends the job with MPI_Abort and exit 4, so --resume finishes it. */
#define PPX_SCHED_STALLED 101
PPX_MUST_USE int ppx_sched_run(const ppx_run_config *cfg, MPI_Comm comm);

/* The shape of the images an npy shard holds for pipeline pl, from its
 * output geometry: its fixed size, the channels its last colour op sets (1
 * for grayscale; 3 otherwise: the shard writer makes every image RGB), and
 * float32 when it ends in normalize, else uint8. Inputs that are chips of
 * chip_w x chip_h (0 x 0: no chips) all have that size. 0, or PPX_EINVAL
 * when the size varies with the input (no npy possible). */
PPX_MUST_USE int ppx_sched_npy_shape(const ppx_pipeline *pl, uint32_t chip_w, uint32_t chip_h,
                                     ppx_npy_shape *out);

/* Signal handling: the CLI installs handlers that call this; the run loop
 * sees it and stops cleanly (exit 4). Async-signal-safe. */
void ppx_sched_request_stop(int sig);

#endif
