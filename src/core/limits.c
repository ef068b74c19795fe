#include "prepix/limits.h"

#include <stdint.h>

void ppx_limits_default(ppx_limits *l)
{
    l->max_pixels = PPX_DEFAULT_MAX_PIXELS;
    l->max_width = 65535;
    l->max_height = 65535;
    l->max_file_bytes = 2ULL << 30;
    l->max_jpeg_scans = 1000;
    l->max_warnings = 1000;
    l->max_alloc = 4ULL << 30;
}

int ppx_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return -1;
    *out = a * b;
    return 0;
}

int ppx_add_size(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

int ppx_limits_check(const ppx_limits *l, uint64_t w, uint64_t h, unsigned channels,
                     unsigned bytes_per_sample, size_t *bytes, ppx_err *err)
{
    ppx_limits def;
    if (!l) {
        ppx_limits_default(&def);
        l = &def;
    }
    if (w == 0 || h == 0)
        return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE, "image has zero size (%llux%llu)",
                           (unsigned long long)w, (unsigned long long)h);
    if (w > l->max_width || h > l->max_height)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                           "image %llux%llu exceeds the size limit of %ux%u", (unsigned long long)w,
                           (unsigned long long)h, l->max_width, l->max_height);
    /* w, h <= 2^32 here, so the product fits in 64 bits. */
    if (w * h > l->max_pixels)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                           "image %llux%llu has %llu pixels, over the limit of %llu (--max-pixels)",
                           (unsigned long long)w, (unsigned long long)h,
                           (unsigned long long)(w * h), (unsigned long long)l->max_pixels);
    size_t n;
    if (ppx_mul_size((size_t)w, (size_t)h, &n) || ppx_mul_size(n, channels, &n) ||
        ppx_mul_size(n, bytes_per_sample, &n) || n > l->max_alloc)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                           "image %llux%llu with %u channels needs more memory than allowed",
                           (unsigned long long)w, (unsigned long long)h, channels);
    if (bytes)
        *bytes = n;
    return 0;
}
