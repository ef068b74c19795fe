/* The work of one image, as a worker does it: read, decode, transform,
 * measure, encode, write. No MPI; safe in a forked child. */
#ifndef PPX_POOL_JOB_H
#define PPX_POOL_JOB_H

#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/codec.h"
#include "prepix/error.h"
#include "prepix/pipeline.h"
#include "prepix/shard.h"
#include "prepix/stats.h"

typedef struct {
    const ppx_pipeline *pipeline;
    ppx_format out_format; /* PPX_FMT_UNKNOWN: same as the input */
    ppx_encode_opts enc;   /* quality etc.; format filled per image */
    ppx_limits limits;
    uint64_t seed;
    int write_outputs; /* 0 for `prepix stats` */
    /* npy shards (npy.c > 0): instead of an encoded file, the payload is
     * the pixels of an image of that shape, rows back to back. */
    ppx_npy_shape npy;
} ppx_job_config;

/* What a worker sends back for one image. Plain data. */
typedef struct {
    uint64_t id;  /* the task's id */
    uint64_t tag; /* the task's tag (chunk), passed through */
    int32_t status; /* 0 or a negative code; err says more */
    uint32_t in_w, in_h; /* input size, 0 if unknown */
    uint64_t bytes_read, bytes_written;
    uint64_t out_len; /* bytes of output that follow (bytes transport, shards) */
    int32_t out_format; /* ppx_format of that output (names a tar member) */
    double busy_s;    /* seconds spent on the image */
    ppx_err err;
    ppx_img_stats st;
} ppx_result;

/* Per-worker buffers, reused from one image to the next. */
typedef struct {
    ppx_buf in, out;
    ppx_image img;
    ppx_image conv[2]; /* npy: channel and depth conversions */
    ppx_pipeline_ctx *pctx;
} ppx_job_ctx;

int ppx_job_ctx_init(ppx_job_ctx *c);
void ppx_job_ctx_destroy(ppx_job_ctx *c);
/* Frees the buffers larger than keep bytes. Buffers are kept from one image
 * to the next to save allocations, but each would keep the size of the
 * largest image it ever held, and those maxima (of different images) add up
 * to well above what any one image needs. */
void ppx_job_ctx_trim(ppx_job_ctx *c, size_t keep);

/* Processes one image. in_path is read unless `input` is non-NULL (bytes
 * transport: the file's bytes). The output goes to out_path atomically, or,
 * when out_path is NULL and outputs are written, stays in c->out for the
 * caller (bytes transport, shards). key is the path relative to INPUT (seeds random
 * ops). Fills *r (id/tag left to the caller). */
void ppx_job_run(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                 const char *key, const char *out_path, const ppx_buf *input, ppx_result *r);

/* Output path for a key: OUTDIR/key with the extension replaced by that of
 * `fmt` (kept when it already names that format; `same` keeps the name). */
int ppx_job_output_path(char *out, size_t cap, const char *outdir, const char *key,
                        ppx_format fmt);

#endif
