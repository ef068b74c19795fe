/* Companions in the per-image job: find, read, check and transform the
 * masks and maps that belong to an image (docs/pipeline.md, "Companion
 * images"). No MPI; safe in a forked worker. */
#ifndef PPX_PIPELINE_COMPANION_H
#define PPX_PIPELINE_COMPANION_H

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
    int present[PPX_ROLES_MAX]; /* 0: an optional companion that is missing */
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
} ppx_comp_image;

/* Reads each role's companion of the image (DIR/<key's stem>.<ext>, ext in
 * the documented order), checks its size against the image's, runs the
 * pipeline's geometry on it with pctx and encodes it into c->out[k]
 * (c->present[k] 0 for an optional one that is missing). The first problem
 * fails the image: 0, or a negative code with err saying which role and
 * why. */
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
