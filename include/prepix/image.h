/* ppx_image: the pixel buffer every stage works on. */
#ifndef PREPIX_IMAGE_H
#define PREPIX_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"
#include "prepix/limits.h"

/* Sample types. The low four bits of the value are the size of one sample
 * in bytes (ppx_sample_size), the bits above them its kind: 0 unsigned,
 * 1 signed two's complement, 2 IEEE float. Samples are in host byte order.
 * Photos decode to U8 or U16; scientific TIFFs keep their own type (odd
 * unsigned depths such as 12 bits widened to the next type, float16 read as
 * F32; docs/codecs-tiff-png.md). */
typedef enum {
    PPX_U8 = 0x01,
    PPX_U16 = 0x02,
    PPX_U32 = 0x04,
    PPX_I8 = 0x11,
    PPX_I16 = 0x12,
    PPX_I32 = 0x14,
    PPX_F32 = 0x24,
} ppx_sample;

/* Bands an image may have (docs/codecs-tiff-png.md): far above
 * multispectral scenes (Sentinel-2 has 13) and room for most hyperspectral
 * cubes; a bound on every per-band table. */
#define PPX_MAX_BANDS 256

/* Bytes of one sample of type t. */
static inline size_t ppx_sample_size(ppx_sample t)
{
    return (size_t)t & 0x0f;
}
/* 1 for I8, I16, I32. */
static inline int ppx_sample_is_signed(ppx_sample t)
{
    return ((unsigned)t >> 4) == 1;
}
/* 1 for F32. */
static inline int ppx_sample_is_float(ppx_sample t)
{
    return ((unsigned)t >> 4) == 2;
}
/* numpy's name of the type: "uint8", "uint16", "uint32", "int8", "int16",
 * "int32", "float32"; "unknown" for anything else. */
const char *ppx_sample_name(ppx_sample t);
/* The type from its numpy name, or -1. */
PPX_MUST_USE int ppx_sample_from_name(const char *name);

/* Colour space of the source file (informational; pixels are gray,
 * gray+alpha, RGB or RGBA after decoding, or plain bands, see ppx_image). */
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
    /* Samples per pixel (bands), interleaved: 1 gray, 2 gray+alpha, 3 RGB,
     * 4 RGBA, unless plain_bands is set; 1..PPX_MAX_BANDS. */
    unsigned channels;
    ppx_sample type;
    size_t stride; /* bytes from one row to the next, >= width*channels*sample size */
    uint8_t *data; /* owned by the image */
    size_t cap;    /* bytes allocated at data */

    /* Metadata that ops need. */
    int orientation;          /* EXIF/TIFF orientation 1..8; 1 = upright */
    int alpha_associated;     /* source alpha was premultiplied (pixels are straight) */
    ppx_colorspace source_cs; /* colour space in the file */
    /* 1: the channels are bands without a colour meaning (a multispectral
     * scene, TIFF ExtraSamples declared unspecified, any count above 4):
     * colour ops refuse the image, geometric ops keep every band. */
    int plain_bands;
} ppx_image;

/* 1 if img's channels are gray, gray+alpha, RGB or RGBA (not plain bands). */
static inline int ppx_image_is_color(const ppx_image *img)
{
    return !img->plain_bands && img->channels >= 1 && img->channels <= 4;
}

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
/* Copies metadata (orientation, alpha, source colour space, plain bands)
 * from src. */
void ppx_image_copy_meta(ppx_image *dst, const ppx_image *src);

static inline uint8_t *ppx_image_row(const ppx_image *img, uint32_t y)
{
    return img->data + (size_t)y * img->stride;
}

#endif
