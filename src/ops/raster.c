/* Ops for rasters: band selection and the explicit conversion to photo
 * samples (docs/pipeline.md, "Rasters"). */
#include <math.h>
#include <string.h>

#include "ops/ops_impl.h"
#include "prepix/ops.h"

int ppx_op_bands(const ppx_image *src, ppx_image *dst, const uint16_t *idx, unsigned n,
                 const ppx_limits *l, ppx_err *err)
{
    if (n < 1 || n > PPX_MAX_BANDS)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "bands: %u bands", n);
    for (unsigned i = 0; i < n; i++)
        if (idx[i] >= src->channels)
            return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                               "bands: band %u asked for, the image has %u", idx[i] + 1u,
                               src->channels);
    int rc = ppx_image_alloc(dst, src->width, src->height, n, src->type, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    dst->plain_bands = n != 1 && n != 3;
    const size_t bs = ppx_sample_size(src->type), sps = src->channels * bs, dps = n * bs;
    for (uint32_t y = 0; y < src->height; y++) {
        const uint8_t *s = ppx_image_row(src, y);
        uint8_t *d = ppx_image_row(dst, y);
        for (uint32_t x = 0; x < src->width; x++, s += sps, d += dps)
            for (unsigned i = 0; i < n; i++)
                memcpy(d + i * bs, s + idx[i] * bs, bs);
    }
    return 0;
}

int ppx_op_scale(const ppx_image *src, ppx_image *dst, double lo, double hi, int bits,
                 uint64_t *clipped, const ppx_limits *l, ppx_err *err)
{
    if (!(hi > lo) || (bits != 8 && bits != 16))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "scale: bad range or depth");
    ppx_sample to = bits == 8 ? PPX_U8 : PPX_U16;
    int rc = ppx_image_alloc(dst, src->width, src->height, src->channels, to, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    const double max = bits == 8 ? 255.0 : 65535.0, k = max / (hi - lo);
    const size_t bs = ppx_sample_size(src->type), n = (size_t)src->width * src->channels;
    uint64_t clip = 0;
    for (uint32_t y = 0; y < src->height; y++) {
        const uint8_t *s = ppx_image_row(src, y);
        uint8_t *d = ppx_image_row(dst, y);
        for (size_t i = 0; i < n; i++) {
            double v = (ppx__sample_get(s + i * bs, src->type) - lo) * k;
            if (isnan(v) || v < 0.0 || v > max) {
                clip++;
                v = v > max ? max : 0.0; /* NaN compares false: 0 */
            } else {
                v = floor(v + 0.5);
            }
            if (bits == 8) {
                d[i] = (uint8_t)v;
            } else {
                uint16_t t = (uint16_t)v;
                memcpy(d + 2 * i, &t, 2);
            }
        }
    }
    if (clipped)
        *clipped = clip;
    return 0;
}
