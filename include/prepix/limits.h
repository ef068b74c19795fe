/* Resource limits for untrusted images, checked from the header before any
 * pixel allocation (libspng's spng_set_image_limits, TJPARAM_MAXPIXELS). */
#ifndef PREPIX_LIMITS_H
#define PREPIX_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"

typedef struct {
    uint64_t max_pixels; /* width * height */
    uint32_t max_width;  /* per dimension */
    uint32_t max_height;
    uint64_t max_file_bytes; /* size of the encoded file */
    uint32_t max_jpeg_scans; /* progressive scans before we give up */
    uint32_t max_warnings;   /* codec warnings before the image is refused */
    uint64_t max_alloc;      /* largest single allocation a codec may make */
} ppx_limits;

#define PPX_DEFAULT_MAX_PIXELS 268435456ULL /* 2^28, DESIGN.md */

/* Fills l with the defaults (max_pixels = 2^28, 65535 per side, 2 GiB files,
 * 1000 JPEG scans, 1000 warnings). */
void ppx_limits_default(ppx_limits *l);

/* Checks a header's dimensions against l and computes the bytes of a tightly
 * packed buffer (w * h * channels * bytes_per_sample) with overflow checks.
 * Writes *bytes only on success. Returns 0, or PPX_ELIMIT / PPX_ECORRUPT
 * (zero size) with a message in err (stage DECODE). */
PPX_MUST_USE int ppx_limits_check(const ppx_limits *l, uint64_t w, uint64_t h, unsigned channels,
                                  unsigned bytes_per_sample, size_t *bytes, ppx_err *err);

/* Overflow-checked helpers: 0 on success, -1 on overflow. */
PPX_MUST_USE int ppx_mul_size(size_t a, size_t b, size_t *out);
PPX_MUST_USE int ppx_add_size(size_t a, size_t b, size_t *out);

#endif
