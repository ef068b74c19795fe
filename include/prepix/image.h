/* ppx_image: the pixel buffer every stage works on. */
#ifndef PREPIX_IMAGE_H
#define PREPIX_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"
#include "prepix/limits.h"

/* Sample types; the value is the size of one sample in bytes. */
typedef enum { PPX_U8 = 1, PPX_U16 = 2, PPX_F32 = 4 } ppx_sample;

/* Colour space of the source file (informational; pixels are always gray,
 * gray+alpha, RGB or RGBA after decoding). */
typedef enum {
    PPX_CS_UNKNOWN = 0,
    PPX_CS_GRAY,
    PPX_CS_RGB,
    PPX_CS_YCBCR,
    PPX_CS_CMYK,
    PPX_CS_YCCK,
    PPX_CS_PALETTE,
    PPX_CS_MINISWHITE,
} ppx_colorspace;

const char *ppx_colorspace_name(ppx_colorspace cs);

typedef struct {
    uint32_t width, height;
    unsigned channels; /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    ppx_sample type;
    size_t stride; /* bytes from one row to the next, >= width*channels*type */
    uint8_t *data; /* owned by the image */
    size_t cap;    /* bytes allocated at data */

    /* Metadata that ops need. */
    int orientation;          /* EXIF/TIFF orientation 1..8; 1 = upright */
    int alpha_associated;     /* source alpha was premultiplied (pixels are straight) */
    ppx_colorspace source_cs; /* colour space in the file */
} ppx_image;

/* Zeroes img (no allocation). */
void ppx_image_init(ppx_image *img);
/* Frees the pixels and re-initialises img. Accepts NULL. */
void ppx_image_destroy(ppx_image *img);
/* Sets the geometry and makes room for the pixels, reusing the existing
 * allocation when it is large enough. Rows are tightly packed. Metadata is
 * reset (orientation 1). Contents are undefined. Checks the size against
 * limits l (may be NULL: only overflow is checked). 0, PPX_ELIMIT or
 * PPX_ENOMEM (message in err, stage TRANSFORM unless the caller changes it). */
PPX_MUST_USE int ppx_image_alloc(ppx_image *img, uint32_t w, uint32_t h, unsigned channels,
                                 ppx_sample type, const ppx_limits *l, ppx_err *err);
/* Copies metadata (orientation, alpha, source colour space) from src. */
void ppx_image_copy_meta(ppx_image *dst, const ppx_image *src);

static inline uint8_t *ppx_image_row(const ppx_image *img, uint32_t y)
{
    return img->data + (size_t)y * img->stride;
}

#endif
