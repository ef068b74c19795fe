/* Companions in the per-image job: find, read, check and transform the
 * masks and maps that belong to an image (docs/pipeline.md, "Companion
 * images"). No MPI; safe in a forked worker. */
#ifndef PPX_WORK_COMPANION_H
#define PPX_WORK_COMPANION_H

#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/codec.h"
#include "prepix/companion.h"
#include "prepix/error.h"
#include "prepix/fsafe.h"
#include "prepix/image.h"
#include "prepix/pipeline.h"

/* The companions of one run, as the workers see them. */
typedef struct {
    int n; /* roles; 0: none */
    const ppx_companion_spec *spec;
    int root[PPX_ROLES_MAX]; /* each role's tree, opened by the rank */
} ppx_companions;

/* A worker's buffers for companions, reused from one image to the next. */
typedef struct {
    ppx_dircache in_dirs[PPX_ROLES_MAX], out_dirs[PPX_ROLES_MAX];
    ppx_buf in;
    ppx_buf out[PPX_ROLES_MAX]; /* each role's encoded output */
    int present[PPX_ROLES_MAX]; /* 0: an optional companion that is missing (no output) */
    ppx_image img;
    ppx_palette pal;
} ppx_comp_ctx;

void ppx_comp_ctx_init(ppx_comp_ctx *c);
void ppx_comp_ctx_destroy(ppx_comp_ctx *c);
void ppx_comp_ctx_trim(ppx_comp_ctx *c, size_t keep);

/* What the companions of one image need to know about it. */
typedef struct {
    const char *key;        /* the image's key: the companion is found by its stem */
    uint32_t width, height; /* the image as stored (before orientation, full scale) */
    int orientation;        /* its EXIF orientation */
    uint64_t seed;          /* --seed */
    ppx_format out_format;  /* PPX_FMT_TIFF writes TIFF, anything else PNG */
    int follow_symlinks;
    uint64_t max_file_bytes;
    /* Companions that are members of the image's archive (WebDataset's
     * KEY.ROLE.png): bit k of part_mask says role k has one, which
     * read_part(read_arg, k, b, err) reads into b through the archive's
     * listed identity. They come before any ROLE=DIR lookup. */
    uint32_t part_mask;
    int (*read_part)(void *arg, int k, ppx_buf *b, ppx_err *err);
    void *read_arg;
    /* npy shards (npy_w > 0): each companion as its rows of samples, one
     * channel of npy_w x npy_h, instead of an encoded file; a missing
     * optional one as rows of its fill. */
    uint32_t npy_w, npy_h;
} ppx_comp_image;

/* Reads each role's companion of the image (its archive member, else
 * DIR/<key's stem>.<ext>, ext in the documented order), checks its size against the image's, runs
 * the pipeline's geometry on it with pctx and encodes it into c->out[k] (c->present[k] 0 for an
 * optional one that is missing). The first problem fails the image: 0, or a negative code with err
 * saying which role and why. */
PPX_MUST_USE int ppx_companions_make(const ppx_companions *cs, ppx_comp_ctx *c,
                                     const ppx_pipeline *pl, ppx_pipeline_ctx *pctx,
                                     const ppx_limits *limits, const ppx_comp_image *im,
                                     ppx_err *err);

/* The output name of role k's companion for an image written as out_name
 * (relative to OUTDIR): ROLE/out_name with its extension that of fmt,
 * checked as every output name is (ppx_output_name). */
PPX_MUST_USE int ppx_companion_out_name(char *out, size_t cap, const char *role,
                                        const char *out_name, ppx_format fmt, ppx_err *err);

#endif
