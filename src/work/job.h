/* The work of one image, as a worker does it: read, decode, transform,
 * measure, encode, write. No MPI; safe in a forked child. This layer owns
 * the task and result of one image and their bytes on the pool's pipes
 * (the pool, src/pool, moves them without knowing what they hold). */
#ifndef PPX_WORK_JOB_H
#define PPX_WORK_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "pool/pool.h"
#include "prepix/archive.h"
#include "prepix/buf.h"
#include "prepix/codec.h"
#include "prepix/error.h"
#include "prepix/fingerprint.h"
#include "prepix/fsafe.h"
#include "prepix/pipeline.h"
#include "prepix/stats.h"
#include "prepix/subimage.h"
#include "prepix/tar_npy.h"
#include "work/companion.h"

/* A worker keeps buffers up to this size between images (ppx_job_ctx_trim
 * and the pool's task buffers). */
#define PPX_JOB_KEEP_MAX ((size_t)16 << 20)

/* An input that is a member of an archive: the bytes [off, off + size) of
 * the archive named by the key's first arc_len bytes (a key below the
 * input folder), or by in_path when there is no input folder. */
/* Companions of a member in its archive (WebDataset's KEY.ROLE.png), one
 * slot per role of the run (PPX_ROLES_MAX of prepix/companion.h). */
#define PPX_SPAN_PARTS 4

typedef struct {
    uint64_t off, size;
    uint32_t arc_len;
    ppx_arc_ident arc;  /* the archive file as listed: the reader must find it again */
    uint32_t part_mask; /* bit k: role k's companion is the member part_off/size[k] */
    uint64_t part_off[PPX_SPAN_PARTS], part_size[PPX_SPAN_PARTS];
} ppx_span;

/* One image as a worker gets it. */
typedef struct {
    uint64_t id, tag;
    const char *in_path, *key;
    const char *out_path; /* NULL: the output comes back as payload */
    const ppx_span *span; /* an archive member, or NULL */
    const ppx_buf *input; /* the input's bytes (bytes transport), or NULL */
} ppx_task;

/* What comes back for one image: from its worker, or made by the pool when
 * the worker was lost on it (stage worker or timeout). Plain data. */
typedef struct {
    uint64_t id;         /* the task's id */
    uint64_t tag;        /* the task's tag (chunk), passed through */
    int32_t status;      /* 0 or a negative code; err says more */
    uint32_t in_w, in_h; /* input size, 0 if unknown */
    uint64_t bytes_read, bytes_written;
    uint64_t out_len; /* bytes of output that follow (bytes transport, shards) */
    /* Of those, the last ones are companions: part_len[k] bytes of role k's
     * (0: none), in role order after the image's own. */
    uint64_t part_len[PPX_SPAN_PARTS];
    int32_t out_format; /* ppx_format of that output (names a tar member) */
    double busy_s;      /* seconds spent on the task */
    int32_t worker_pid; /* a worker lost on it (stage worker/timeout): its pid, else 0 */
    uint32_t in_mode;   /* st_mode of the input file (an archive's for a member), 0: unknown */
    int32_t nodata;     /* status 0: a chip all of --nodata, skipped (no output, no stats) */
    ppx_err err;
    ppx_img_stats st;
    ppx_fingerprint fp; /* of the decoded input (valid 0: none) */
} ppx_result;

/* At most this many named splits (PPX_SPLITS_MAX of prepix/sched.h). */
#define PPX_JOB_SPLITS_MAX 16

/* Named splits: keys are NAME/REL, read below the folder of split NAME. */
typedef struct {
    int n; /* 0: no splits, keys are read below in_root */
    const char *const *names;
    int fd[PPX_JOB_SPLITS_MAX];
} ppx_split_roots;

/* The descriptor of the split that key's first part names, and in *skip
 * the length of "NAME/" (the key below that folder); -1 when none does. */
int ppx_split_root(const ppx_split_roots *sr, const char *key, size_t *skip);

typedef struct {
    const ppx_pipeline *pipeline;
    ppx_format out_format; /* PPX_FMT_UNKNOWN: same as the input */
    ppx_encode_opts enc;   /* quality etc.; format filled per image */
    ppx_limits limits;
    uint64_t seed;
    int write_outputs; /* 0 for `prepix stats` */
    /* Inputs: keys are read below in_root (INPUT's descriptor) and never
     * through a linked folder; a linked file only with follow_symlinks. With
     * in_root -1 (@LIST), in_path is opened as named. */
    int in_root;
    ppx_split_roots splits; /* named splits: they replace in_root */
    int follow_symlinks;
    /* Outputs: written below out_root (OUTDIR's descriptor); copy_mode gives
     * an output its input's permission bits instead of 0644. */
    int out_root;
    int copy_mode;
    /* npy shards (npy.c > 0): instead of an encoded file, the payload is
     * the pixels of an image of that shape, rows back to back. */
    ppx_npy_shape npy;
    /* Fingerprint each decoded input (exact and perceptual hash, before the
     * pipeline) into the result. */
    int fingerprint;
    /* Companions (--with): each image's masks and maps, transformed with it
     * and written beside it (ROLE/<output name>.png). */
    ppx_companions comp;
    /* Pages and chips (prepix/subimage.h): keys FILE#pN@X,Y name a part of
     * FILE, read from the mapped file (only its strips or tiles). */
    ppx_sub_opts sub;
} ppx_job_config;

/* Per-worker buffers, reused from one image to the next. */
typedef struct {
    ppx_dircache in_dirs, out_dirs; /* the last input and output folders */
    ppx_arc_cache arc;              /* the last archive read */
    ppx_buf in, out;
    ppx_image img;
    ppx_image conv[2]; /* npy: channel and depth conversions */
    ppx_pipeline_ctx *pctx;
    ppx_fp_ctx *fp; /* made at the first image that is fingerprinted */
    ppx_comp_ctx comp;
    ppx_geotiff *geo; /* the GeoTIFF tags of the TIFF input being done */
} ppx_job_ctx;

PPX_MUST_USE int ppx_job_ctx_init(ppx_job_ctx *c);
void ppx_job_ctx_destroy(ppx_job_ctx *c);
/* Frees the buffers larger than keep bytes. Buffers are kept from one image
 * to the next to save allocations, but each would keep the size of the
 * largest image it ever held, and those maxima (of different images) add up
 * to well above what any one image needs. */
void ppx_job_ctx_trim(ppx_job_ctx *c, size_t keep);

/* Processes one image. The input is read (key below cfg->in_root, or
 * in_path; the member `span` of an archive when span is not NULL) unless
 * `input` is non-NULL (bytes transport: the file's bytes).
 * The output goes to out_name below cfg->out_root atomically, or, when
 * out_name is NULL and outputs are written, stays in c->out for the caller
 * (bytes transport, shards). key is the path relative to INPUT (seeds random
 * ops). Fills *r (id/tag left to the caller). */
void ppx_job_run(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                 const ppx_span *span, const char *key, const char *out_name, const ppx_buf *input,
                 ppx_result *r);

/* Reads the input of key (span: an archive member) as a worker does, into
 * b; id gets a plain file's identity (zero for a member). With splits (sr
 * not NULL and sr->n > 0) the key is read below its split's folder instead
 * of in_root. Shared by the workers and rank 0's reading for the bytes
 * transport. */
PPX_MUST_USE int ppx_input_read(int in_root, const ppx_split_roots *sr, ppx_dircache *dirs,
                                ppx_arc_cache *arc, const char *in_path, const ppx_span *span,
                                const char *key, int follow, uint64_t max_bytes, ppx_buf *b,
                                ppx_file_id *id, ppx_err *err);

/* The output name of a key, relative to OUTDIR: the key with "." and ".."
 * resolved by the text and leading slashes of an absolute @LIST line
 * dropped, then each folder part "x.tar" (an archive) made "x", then the
 * extension replaced by that of `fmt` (kept when it already names that
 * format; `same` keeps the name). A page or chip key FILE#pN@X,Y
 * (prepix/subimage.h) names STEM#pN@X,Y.EXT: its suffix goes before the
 * extension. The one place output names come from, and
 * the result is checked after the last of these mappings: an empty, "." or
 * ".." part (a folder named "...tar" gives ".."), a name in OUTDIR/.prepix
 * or one that cannot be a file name fails (PPX_EUNSAFE, PPX_ENAMETOOLONG,
 * stage INPUT). */
PPX_MUST_USE int ppx_output_name(char *out, size_t cap, const char *key, ppx_format fmt,
                                 ppx_err *err);

/* ---- the job in the pool (worker.c) ----------------------------------- */

/* The pool's worker function doing ppx_job_run with cfg (which must
 * outlive the pool). */
ppx_worker_fn ppx_job_worker(const ppx_job_config *cfg);

/* Hands one image to a pool running ppx_job_worker (see ppx_pool_submit for
 * when there is a slot). out_path NULL: the output comes back as payload.
 * input/len: the file's bytes, or NULL to let the worker read in_path (the
 * archive member span, when not NULL). */
PPX_MUST_USE int ppx_work_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                                 const ppx_span *span, const char *key, const char *out_path,
                                 const uint8_t *input, size_t len, ppx_err *err);

/* Called once per finished image with its result and, for the bytes
 * transport, the encoded output (r->out_len bytes; NULL otherwise). */
typedef void (*ppx_work_cb)(void *arg, const ppx_result *r, const uint8_t *payload);

/* ppx_pool_wait for a pool running ppx_job_worker: cb gets each image's
 * result, a lost worker's included. */
PPX_MUST_USE int ppx_work_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_work_cb cb, void *arg,
                               ppx_err *err);

/* The bytes of a task on the pool's pipe, and back (tests; the worker).
 * Pack: 0 or PPX_ENAMETOOLONG when the strings do not fit cap. Unpack:
 * points t's strings into data; 0 or PPX_EINTERNAL (malformed). */
PPX_MUST_USE int ppx__task_pack(uint8_t *out, size_t cap, size_t *len, const char *in_path,
                                const ppx_span *span, const char *key, const char *out_path,
                                ppx_err *err);
PPX_MUST_USE int ppx__task_unpack(const uint8_t *data, size_t len, ppx_span *span, ppx_task *t,
                                  ppx_err *err);
/* The result of a pool's reply (r->status 0) or of its loss (negative):
 * strings cut to their arrays, a reply of the wrong size an internal
 * failure. *payload: the output that follows the record, or NULL. */
void ppx__result_unpack(const ppx_pool_result *pr, const uint8_t *reply, ppx_result *r,
                        const uint8_t **payload);

#endif
