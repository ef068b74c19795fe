/* Internal helpers shared by the files of src/ops. */
#ifndef PPX_OPS_IMPL_H
#define PPX_OPS_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"
#include "prepix/image.h"
#include "prepix/ops.h"

/* Checks that an op that computes on samples got U8 or U16 pixels with 1..4
 * channels; writes the message naming the op otherwise. */
static inline PPX_MUST_USE int ppx__ops_check_int(const ppx_image *src, const char *op,
                                                  ppx_err *err)
{
    if (src->type != PPX_U8 && src->type != PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_TRANSFORM,
                           "%s: needs 8- or 16-bit unsigned samples, not %s", op,
                           ppx_sample_name(src->type));
    if (src->channels < 1 || src->channels > 4)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "%s: bad channel count %u", op,
                           src->channels);
    if (src->plain_bands)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_TRANSFORM,
                           "%s: works on gray, RGB and alpha, not on %u plain bands (select "
                           "colour bands first, e.g. `bands 4,3,2`)",
                           op, src->channels);
    if (src->width == 0 || src->height == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "%s: empty image %ux%u", op,
                           src->width, src->height);
    return 0;
}

/* The sample of type t at p (any alignment) as a double: exact for every
 * type. */
static inline double ppx__sample_get(const uint8_t *p, ppx_sample t)
{
    switch (t) {
    case PPX_U8:
        return *p;
    case PPX_I8:
        return (int8_t)*p;
    case PPX_U16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case PPX_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case PPX_U32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case PPX_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    }
}

/* 1 if the last channel is alpha (gray+alpha, RGBA). */
static inline PPX_MUST_USE int ppx__has_alpha(unsigned channels)
{
    return channels == 2 || channels == 4;
}

/* The coefficients of one axis of a resize (in -> out samples with one filter), as Pillow
 * computes them: output i reads input samples lo[i] .. lo[i] + n[i] - 1 with the weights
 * ik[i * ksize ..] (22-bit fixed point, 8-bit images) or fk[i * ksize ..] (16-bit). */
typedef struct {
    uint32_t in, out;
    int ksize;
    const int32_t *lo, *n, *ik;
    const float *fk;
} ppx__resize_axis;

/* The table of (in, out, filter) from rs's cache, computed into it on a miss (evicting the
 * least recently used table that the image being resized does not use). *ax points into rs
 * and stays valid until the next lookup that misses, or ppx_resizer_trim/free. Worker-safe
 * (rs is one worker's). 0, PPX_ELIMIT (table too large) or PPX_ENOMEM. */
PPX_MUST_USE int ppx__resizer_axis(ppx_resizer *rs, uint32_t in, uint32_t out, ppx_filter f,
                                   ppx__resize_axis *ax, ppx_err *err);

/* With portable != 0, rs resizes 8-bit images with the portable loops even where the CPU
 * has AVX2 (the default is the fastest code the CPU runs): the tests check that both give the
 * same bytes. */
void ppx__resizer_set_portable(ppx_resizer *rs, int portable);

/* What a resizer's coefficient cache holds: tables and their bytes now, its bounds, and the
 * lookups that found a table or computed one since the resizer was made. */
typedef struct {
    unsigned slots, tables;
    size_t bytes, bytes_max;
    uint64_t hits, misses;
} ppx__resize_cache_stats;
void ppx__resizer_cache_stats(const ppx_resizer *rs, ppx__resize_cache_stats *st);

#endif
