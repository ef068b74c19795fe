/* Conversion of TIFF sample rows into ppx_image pixels. Pure functions, no
 * libtiff: the TIFF driver (tiff.c) decodes strips and tiles, this turns
 * their rows into gray, gray+alpha, RGB or RGBA of U8 or U16. */
#ifndef PPX_CODEC_TIFF_PIXELS_H
#define PPX_CODEC_TIFF_PIXELS_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/image.h"

/* What the colour samples of a pixel mean. */
typedef enum {
    PPX__TIFF_GRAY = 0, /* MinIsBlack */
    PPX__TIFF_GRAY_INV, /* MinIsWhite: inverted on the way out */
    PPX__TIFF_RGB,      /* RGB, or YCbCr that libjpeg converted to RGB */
    PPX__TIFF_CMYK,     /* Separated, InkSet CMYK: converted to RGB */
    PPX__TIFF_PALETTE,  /* one index sample, expanded to RGB by lut */
} ppx__tiff_kind;

typedef struct {
    ppx__tiff_kind kind;
    unsigned bps;        /* bits per sample in the file: 1, 2, 4, 8 or 16 */
    unsigned spp;        /* samples per pixel in the file */
    int separate;        /* PlanarConfig 2: each plane holds one sample */
    unsigned ncolor;     /* colour samples: 1 (gray, index), 3 (RGB) or 4 (CMYK) */
    int alpha;           /* sample index of the alpha sample, or -1 */
    unsigned out_ch;     /* channels of the output image */
    ppx_sample out_type; /* PPX_U8, or PPX_U16 for 16-bit sources except palettes */
    const uint8_t *lut;  /* palette: 3 bytes (R, G, B) for each of the 2^bps indices */
    /* Raster samples (any depth 1..32, signed, float, extra bands): every
     * sample of the file is kept as a band of out_type with its value as
     * stored (docs/codecs-tiff-png.md); kind, lut and alpha are unused. */
    int raw;
    unsigned sformat; /* raw: 1 unsigned, 2 signed, 3 float (TIFF SampleFormat) */
} ppx__tiff_px;

/* The output type of raw samples of bps bits in TIFF sample format sf:
 * unsigned to the smallest of U8, U16, U32 that holds them, signed to I8,
 * I16, I32, float (16, 32 or 64 bits) to F32. */
PPX_MUST_USE ppx_sample ppx__tiff_px_raw_type(unsigned sf, unsigned bps);

/* Whether plane `plane` of a separate-planes image holds a sample that
 * reaches the output (colour or alpha); samples we drop need not be decoded. */
PPX_MUST_USE int ppx__tiff_px_plane_used(const ppx__tiff_px *p, unsigned plane);

/* Whether a source row is already laid out as an output row (8- or 16-bit
 * gray or RGB, contiguous, every sample kept), so that it can be copied. */
PPX_MUST_USE int ppx__tiff_px_is_copy(const ppx__tiff_px *p);

/* Converts n pixels of one source row into dst, the output row at its first
 * pixel. Contiguous data: src holds every sample of each pixel. Separate
 * planes: src holds the samples of plane `plane` only, and only that output
 * channel is written; planes must be converted in order (CMYK's K combines
 * with the C, M and Y already written). src is a row as libtiff returns it:
 * byte aligned, samples of other than 8, 16, 32 or 64 bits packed MSB
 * first, the others in native byte order. Returns the number of 64-bit float
 * samples whose value changed when narrowed to float32 (0 for all else). */
uint64_t ppx__tiff_px_row(const ppx__tiff_px *p, unsigned plane, const uint8_t *src, uint32_t n,
                          uint8_t *dst);

/* Builds the 8-bit RGB palette lut (3 * 2^bps bytes) from TIFF's 16-bit
 * colormap. Entries are scaled by >> 8, except in colormaps whose entries all
 * fit in 8 bits, which old writers stored unscaled (libtiff's heuristic). */
void ppx__tiff_px_palette(const uint16_t *r, const uint16_t *g, const uint16_t *b, unsigned bps,
                          uint8_t *lut);

/* Turns premultiplied (associated) colour into straight colour in place:
 * c = round(c * max / a), clamped to max; pixels with alpha 0 or max keep
 * their values. The last channel of img is alpha. */
void ppx__tiff_px_unpremultiply(ppx_image *img);

#endif
