/* Colour and sample ops: grayscale, rgb, to-8bit, equalize, normalize. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops_impl.h"
#include "prepix/ops.h"

/* Allocates dst for src's size with `channels` channels of `type` and copies
 * the metadata. */
static int alloc_like(const ppx_image *src, ppx_image *dst, unsigned channels, ppx_sample type,
                      const ppx_limits *l, ppx_err *err)
{
    int rc = ppx_image_alloc(dst, src->width, src->height, channels, type, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    return 0;
}

static int copy_image(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    int rc = alloc_like(src, dst, src->channels, src->type, l, err);
    if (rc)
        return rc;
    size_t row = (size_t)src->width * src->channels * ppx_sample_size(src->type);
    for (uint32_t y = 0; y < src->height; y++)
        memcpy(ppx_image_row(dst, y), ppx_image_row(src, y), row);
    return 0;
}

/* Pillow's L = R*299/1000 + G*587/1000 + B*114/1000 in 16-bit fixed point
 * (the weights sum to 65536, so 16-bit samples fit in 32 bits too). */
#define LUMA(r, g, b)                                                                              \
    (((uint32_t)(r)*19595u + (uint32_t)(g)*38470u + (uint32_t)(b)*7471u + 0x8000u) >> 16)

int ppx_op_grayscale(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    int rc = ppx__ops_check_int(src, "grayscale", err);
    if (rc)
        return rc;
    if (src->channels <= 2)
        return copy_image(src, dst, l, err);
    unsigned C = src->channels, oc = C == 4 ? 2 : 1;
    rc = alloc_like(src, dst, oc, src->type, l, err);
    if (rc)
        return rc;
    for (uint32_t y = 0; y < src->height; y++) {
        if (src->type == PPX_U8) {
            const uint8_t *s = ppx_image_row(src, y);
            uint8_t *d = ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += oc) {
                d[0] = (uint8_t)LUMA(s[0], s[1], s[2]);
                if (oc == 2)
                    d[1] = s[3];
            }
        } else {
            const uint16_t *s = (const uint16_t *)ppx_image_row(src, y);
            uint16_t *d = (uint16_t *)ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += oc) {
                d[0] = (uint16_t)LUMA(s[0], s[1], s[2]);
                if (oc == 2)
                    d[1] = s[3];
            }
        }
    }
    return 0;
}

int ppx_op_rgb(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    int rc = ppx__ops_check_int(src, "rgb", err);
    if (rc)
        return rc;
    if (src->channels == 3)
        return copy_image(src, dst, l, err);
    rc = alloc_like(src, dst, 3, src->type, l, err);
    if (rc)
        return rc;
    unsigned C = src->channels;
    /* Gray (1, 2 channels) is replicated; RGBA keeps its first three. */
    unsigned i1 = C <= 2 ? 0 : 1, i2 = C <= 2 ? 0 : 2;
    for (uint32_t y = 0; y < src->height; y++) {
        if (src->type == PPX_U8) {
            const uint8_t *s = ppx_image_row(src, y);
            uint8_t *d = ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += 3) {
                d[0] = s[0];
                d[1] = s[i1];
                d[2] = s[i2];
            }
        } else {
            const uint16_t *s = (const uint16_t *)ppx_image_row(src, y);
            uint16_t *d = (uint16_t *)ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += 3) {
                d[0] = s[0];
                d[1] = s[i1];
                d[2] = s[i2];
            }
        }
    }
    return 0;
}

int ppx_op_to_8bit(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    int rc = ppx__ops_check_int(src, "to-8bit", err);
    if (rc)
        return rc;
    if (src->type == PPX_U8)
        return copy_image(src, dst, l, err);
    rc = alloc_like(src, dst, src->channels, PPX_U8, l, err);
    if (rc)
        return rc;
    size_t n = (size_t)src->width * src->channels;
    for (uint32_t y = 0; y < src->height; y++) {
        const uint16_t *s = (const uint16_t *)ppx_image_row(src, y);
        uint8_t *d = ppx_image_row(dst, y);
        /* round(v * 255 / 65535) = round(v / 257); division by a constant
         * compiles to a multiply. */
        for (size_t i = 0; i < n; i++)
            d[i] = (uint8_t)((s[i] + 128u) / 257u);
    }
    return 0;
}

/* Pillow's ImageOps.equalize table for one channel histogram of `bins`
 * bins: identity when fewer than two levels are used or the step is 0. */
static void equalize_lut(const uint64_t *hist, uint32_t bins, uint16_t *lut)
{
    uint64_t total = 0, last = 0;
    uint32_t used = 0;
    for (uint32_t i = 0; i < bins; i++)
        if (hist[i]) {
            total += hist[i];
            last = hist[i];
            used++;
        }
    /* Divided by bins - 1: Pillow 9 and torchvision's tensor equalize. */
    uint64_t step = used > 1 ? (total - last) / (bins - 1) : 0;
    if (step == 0) {
        for (uint32_t i = 0; i < bins; i++)
            lut[i] = (uint16_t)i;
        return;
    }
    uint64_t n = step / 2;
    for (uint32_t i = 0; i < bins; i++) {
        uint64_t v = n / step;
        lut[i] = (uint16_t)(v > bins - 1 ? bins - 1 : v);
        n += hist[i];
    }
}

int ppx_op_equalize(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    int rc = ppx__ops_check_int(src, "equalize", err);
    if (rc)
        return rc;
    rc = copy_image(src, dst, l, err);
    if (rc)
        return rc;
    unsigned C = src->channels;
    unsigned colours = ppx__has_alpha(C) ? C - 1 : C;
    uint32_t bins = src->type == PPX_U8 ? 256 : 65536;
    /* 8-bit tables live on the stack (nothing allocated per image); the
     * 65536-level ones of 16-bit images (640 KiB) on the heap. */
    uint64_t hist8[256];
    uint16_t lut8[256];
    uint64_t *hist = hist8, *heap_hist = NULL;
    uint16_t *lut = lut8, *heap_lut = NULL;
    if (bins > 256) {
        hist = heap_hist = malloc(bins * sizeof *hist);
        lut = heap_lut = malloc(bins * sizeof *lut);
        if (!hist || !lut) {
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM, "equalize: out of memory");
            goto out;
        }
    }
    for (unsigned c = 0; c < colours; c++) {
        memset(hist, 0, bins * sizeof *hist);
        for (uint32_t y = 0; y < src->height; y++) {
            if (src->type == PPX_U8) {
                const uint8_t *s = ppx_image_row(src, y) + c;
                for (uint32_t x = 0; x < src->width; x++, s += C)
                    hist[*s]++;
            } else {
                const uint16_t *s = (const uint16_t *)ppx_image_row(src, y) + c;
                for (uint32_t x = 0; x < src->width; x++, s += C)
                    hist[*s]++;
            }
        }
        equalize_lut(hist, bins, lut);
        for (uint32_t y = 0; y < dst->height; y++) {
            if (dst->type == PPX_U8) {
                uint8_t *d = ppx_image_row(dst, y) + c;
                for (uint32_t x = 0; x < dst->width; x++, d += C)
                    *d = (uint8_t)lut[*d];
            } else {
                uint16_t *d = (uint16_t *)ppx_image_row(dst, y) + c;
                for (uint32_t x = 0; x < dst->width; x++, d += C)
                    *d = lut[*d];
            }
        }
    }
out:
    free(heap_hist);
    free(heap_lut);
    return rc;
}

/* Photos: (x / max - mean) / std, max 255 or 65535. torchvision's ToTensor
 * divides by 255 in float32 and Normalize then subtracts and divides in
 * float32; the same operations in the same order give the same floats. */
static void normalize_photo(const ppx_image *src, ppx_image *dst, const float *m, const float *s)
{
    const unsigned C = src->channels;
    if (src->type == PPX_U8) {
        float lut[4][256];
        for (unsigned c = 0; c < C; c++)
            for (unsigned v = 0; v < 256; v++)
                lut[c][v] = ((float)v / 255.0f - m[c]) / s[c];
        for (uint32_t y = 0; y < src->height; y++) {
            const uint8_t *p = ppx_image_row(src, y);
            float *d = (float *)ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++)
                for (unsigned c = 0; c < C; c++, p++, d++)
                    *d = lut[c][*p];
        }
        return;
    }
    for (uint32_t y = 0; y < src->height; y++) {
        const uint16_t *p = (const uint16_t *)ppx_image_row(src, y);
        float *d = (float *)ppx_image_row(dst, y);
        for (uint32_t x = 0; x < src->width; x++)
            for (unsigned c = 0; c < C; c++, p++, d++)
                *d = ((float)*p / 65535.0f - m[c]) / s[c];
    }
}

/* Rasters: (x - mean) / std on the sample values, in float32 (x rounded to
 * float32 first, as numpy's astype(float32)), so that the mean and std of
 * the report's raster_stats paste in as they are. */
static void normalize_raster(const ppx_image *src, ppx_image *dst, const float *m, const float *s)
{
    const unsigned C = src->channels;
    const size_t bs = ppx_sample_size(src->type);
    for (uint32_t y = 0; y < src->height; y++) {
        const uint8_t *p = ppx_image_row(src, y);
        float *d = (float *)ppx_image_row(dst, y);
        for (uint32_t x = 0; x < src->width; x++)
            for (unsigned c = 0; c < C; c++, p += bs, d++)
                *d = ((float)ppx__sample_get(p, src->type) - m[c]) / s[c];
    }
}

int ppx_op_normalize(const ppx_image *src, ppx_image *dst, const float *mean, const float *std,
                     unsigned n, const ppx_limits *l, ppx_err *err)
{
    const int photo = (src->type == PPX_U8 || src->type == PPX_U16) && ppx_image_is_color(src);
    int rc = photo ? ppx__ops_check_int(src, "normalize", err) : 0;
    if (rc)
        return rc;
    unsigned C = src->channels;
    if (C < 1 || C > PPX_MAX_BANDS || src->width == 0 || src->height == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "normalize: bad image (%ux%u, %u bands)", src->width, src->height, C);
    if (n != 1 && n != C)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "normalize: %u mean/std values for an image of %u %s", n, C,
                           photo ? "channels" : "bands");
    float m[PPX_MAX_BANDS], s[PPX_MAX_BANDS];
    for (unsigned c = 0; c < C; c++) {
        m[c] = mean[n == 1 ? 0 : c];
        s[c] = std[n == 1 ? 0 : c];
        if (s[c] == 0.0f)
            return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "normalize: std is 0");
    }
    rc = alloc_like(src, dst, C, PPX_F32, l, err);
    if (rc)
        return rc;
    if (photo)
        normalize_photo(src, dst, m, s);
    else
        normalize_raster(src, dst, m, s);
    return 0;
}
