/* Pipelines: parse a SPEC ("autorotate | resize 256 | center-crop 224") and
 * run it on one image. Pure computation: no I/O, no MPI; safe in workers. */
#ifndef PREPIX_PIPELINE_H
#define PREPIX_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "prepix/error.h"
#include "prepix/geom.h"
#include "prepix/image.h"

typedef struct ppx_pipeline ppx_pipeline;         /* parsed, immutable */
typedef struct ppx_pipeline_ctx ppx_pipeline_ctx; /* per-worker scratch buffers */

/* Parses spec (NULL or "" = no ops). The "@FILE" form is resolved by the
 * caller (the CLI) before calling this. The whole spec is validated; on
 * failure err (code PPX_ESPEC, stage NONE) names the op's position (1-based),
 * the bad token and what was expected. *out is written only on success. */
PPX_MUST_USE int ppx_pipeline_parse(const char *spec, ppx_pipeline **out, ppx_err *err);
void ppx_pipeline_free(ppx_pipeline **pl);

/* Canonical text of the pipeline (defaults filled in), stable across
 * versions of the same spec; used to compare a --resume with its journal. */
const char *ppx_pipeline_canonical(const ppx_pipeline *pl);

/* Number of ops. */
PPX_MUST_USE int ppx_pipeline_length(const ppx_pipeline *pl);
/* 1 if the pipeline ends in normalize (output float32). */
PPX_MUST_USE int ppx_pipeline_has_normalize(const ppx_pipeline *pl);
/* What the pipeline alone decides about its output images; the input
 * decides the rest. Formats that need a fixed geometry (npy shards) are
 * built from this by their owners (ppx_sched_npy_shape). */
typedef struct {
    int fixed;         /* 1: every output is w x h (ppx_pipeline_fixed_size); 0: it varies */
    uint32_t w, h;     /* when fixed */
    unsigned channels; /* 1 or 3 when the last colour op (grayscale, rgb) sets it; 0: the input's */
    unsigned bands;    /* the count the last grayscale, rgb or bands op sets; 0: the input's */
    int f32;           /* 1: float32 samples (it ends in normalize); 0: the input's integers */
} ppx_pipeline_geometry;

/* The geometry of the pipeline's output (pl may be NULL: no ops). */
void ppx_pipeline_output_geometry(const ppx_pipeline *pl, ppx_pipeline_geometry *g);

/* Values of the trailing normalize's mean/std (1: all channels, else one
 * per channel); 0 without normalize. */
PPX_MUST_USE int ppx_pipeline_normalize_values(const ppx_pipeline *pl);

/* 1 if any op draws random numbers. */
PPX_MUST_USE int ppx_pipeline_is_random(const ppx_pipeline *pl);

/* Shrink-on-load hint: for a source of src_w x src_h (stored frame) with
 * EXIF orientation `orientation`, writes the smallest decoded size (stored
 * frame) that the ops still need without visible loss; 0x0 means decode at
 * full size (e.g. the first geometric op is a crop in source coordinates). */
void ppx_pipeline_decode_hint(const ppx_pipeline *pl, uint32_t src_w, uint32_t src_h,
                              int orientation, uint32_t *min_w, uint32_t *min_h);

/* 1 if every image leaves the pipeline at the same size (written to *w,
 * *h), whatever its input size: e.g. it ends in center-crop, random-crop, pad
 * or resize WxH fit=fill (what npy shards need); 0 otherwise. */
PPX_MUST_USE int ppx_pipeline_fixed_size(const ppx_pipeline *pl, uint32_t *w, uint32_t *h);
/* The same for inputs that are all in_w x in_h (chips; 0 x 0: any size):
 * then a pipeline without a sized op keeps that size. */
PPX_MUST_USE int ppx_pipeline_fixed_size_from(const ppx_pipeline *pl, uint32_t in_w, uint32_t in_h,
                                              uint32_t *w, uint32_t *h);

PPX_MUST_USE int ppx_pipeline_ctx_new(ppx_pipeline_ctx **out);
void ppx_pipeline_ctx_free(ppx_pipeline_ctx **ctx);
/* Frees the scratch buffers larger than keep bytes (kept for reuse otherwise). */
void ppx_pipeline_ctx_trim(ppx_pipeline_ctx *ctx, size_t keep);
/* Limits for the images the ops allocate (NULL, the default: only size
 * overflow is checked), so that a spec such as `resize 65535x65535` fails
 * with PPX_ELIMIT instead of exhausting memory. The struct is copied. */
void ppx_pipeline_ctx_set_limits(ppx_pipeline_ctx *ctx, const ppx_limits *l);

/* Runs every op except a trailing normalize on *img. Random ops draw from a
 * generator seeded by (seed, key), key being the input path relative to
 * INPUT, so the result never depends on which worker runs it. On success *out points at the result
 * (img itself or a buffer owned by ctx; valid until the next call with the same ctx or img).
 * Errors: err filled, stage TRANSFORM. */
PPX_MUST_USE int ppx_pipeline_run(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, ppx_image *img,
                                  uint64_t seed, const char *key, ppx_image **out, ppx_err *err);

/* How a companion (a mask, a depth map) follows its image's pipeline. */
typedef struct {
    int nearest;     /* resample with nearest neighbour (label maps keep their values) */
    uint16_t fill;   /* what padding writes, in every channel */
    int orientation; /* the image's EXIF orientation, which autorotate applies */
} ppx_geometry_opts;

/* Samples the `scale` ops of the last ppx_pipeline_run with ctx clipped to
 * their range. */
uint64_t ppx_pipeline_clipped(const ppx_pipeline_ctx *ctx);

/* ppx_pipeline_run for a companion of the image keyed key: the same
 * geometry (orientation g->orientation, resizes, crops, flips, rotations,
 * pads) with the same random draws, provided *img has the size the image
 * had when decoded at full scale; colour ops, to-8bit, equalize and
 * normalize are left out; padding writes g->fill and resizes use nearest
 * neighbour when g->nearest. Same ownership and errors as ppx_pipeline_run. */
PPX_MUST_USE int ppx_pipeline_run_geometry(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx,
                                           ppx_image *img, uint64_t seed, const char *key,
                                           const ppx_geometry_opts *g, ppx_image **out,
                                           ppx_err *err);
/* The geometry record of the last ppx_pipeline_run with ctx: the map from
 * the coordinates of the image it was given to its output's (identity
 * when no op changed the geometry; each op composes its map where it is
 * applied, random ops with the draws they made). */
void ppx_pipeline_last_geom(const ppx_pipeline_ctx *ctx, ppx_geom *g);

/* Applies the trailing normalize (if any) to in, giving a PPX_F32 image in
 * *out (owned by ctx). */
PPX_MUST_USE int ppx_pipeline_normalize(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx,
                                        const ppx_image *in, ppx_image **out, ppx_err *err);

/* Writes the list of ops, their arguments and defaults (for `prepix ops`). */
void ppx_pipeline_print_ops(FILE *f);

#endif
