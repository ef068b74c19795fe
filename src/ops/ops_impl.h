/* Internal helpers shared by the files of src/ops. */
#ifndef PPX_OPS_IMPL_H
#define PPX_OPS_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"
#include "prepix/image.h"

/* Checks that an op that computes on samples got U8 or U16 pixels with 1..4
 * channels; writes the message naming the op otherwise. */
static inline PPX_MUST_USE int ppx__ops_check_int(const ppx_image *src, const char *op,
                                                  ppx_err *err)
{
    if (src->type != PPX_U8 && src->type != PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_TRANSFORM,
                           "%s: needs 8- or 16-bit samples, not %d-byte samples", op,
                           (int)src->type);
    if (src->channels < 1 || src->channels > 4)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "%s: bad channel count %u", op,
                           src->channels);
    if (src->width == 0 || src->height == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "%s: empty image %ux%u", op,
                           src->width, src->height);
    return 0;
}

/* 1 if the last channel is alpha (gray+alpha, RGBA). */
static inline PPX_MUST_USE int ppx__has_alpha(unsigned channels)
{
    return channels == 2 || channels == 4;
}

#endif
