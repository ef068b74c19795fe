/* Decoding and encoding of JPEG, TIFF, PNG and WebP, from and to memory.
 *
 * All functions are safe to call from a worker process: no globals, no
 * exit(), errors go into the caller's ppx_err. Input bytes are untrusted. */
#ifndef PREPIX_CODEC_H
#define PREPIX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/image.h"
#include "prepix/limits.h"

typedef enum {
    PPX_FMT_UNKNOWN = 0,
    PPX_FMT_JPEG,
    PPX_FMT_PNG,
    PPX_FMT_TIFF,
    PPX_FMT_WEBP,
} ppx_format;

/* "jpeg", "png", "tiff", "webp", "unknown". */
const char *ppx_format_name(ppx_format f);
/* Usual file extension without dot: "jpg", "png", "tif", "webp". */
const char *ppx_format_ext(ppx_format f);
/* Format from the first bytes of a file (magic), never from the name:
 * JPEG from its SOI (FF D8), PNG from its 8-byte signature, TIFF and BigTIFF
 * from their 4-byte headers in either byte order, WebP from RIFF....WEBP. */
ppx_format ppx_codec_detect(const uint8_t *buf, size_t len);

/* Header facts, as `prepix inspect` prints them. */
typedef struct {
    ppx_format format;
    uint32_t width, height; /* full size, as stored (before orientation) */
    unsigned channels;      /* channels in the file (4 for CMYK) */
    unsigned bits;          /* bits per sample in the file */
    ppx_colorspace cs;
    int orientation;  /* 1..8 */
    int progressive;  /* JPEG progressive, PNG Adam7 */
    int arithmetic;   /* JPEG arithmetic coding */
    int tiled;        /* TIFF tiles */
    int pages;        /* TIFF directories (1 for others), counted up to 2^20; WebP frames */
    int pages_capped; /* 1: the chain goes on past 2^20, so `pages` is a lower bound */
    int animated;     /* WebP animation: prepix decodes the first frame */
    int lossless;     /* WebP VP8L (of the first frame) rather than lossy VP8 */
    int has_alpha;
    int alpha_associated;
    int has_icc;
    unsigned scale_denom;    /* decode: JPEG DCT or WebP scale used (1, 2, 4, 8); 1 otherwise */
    const char *compression; /* static string: "lzw", "deflate", "huffman", ... or "" */
    ppx_sample sample;       /* sample type the decode gives (U8 or U16 for photos) */
    int plain_bands;         /* the decode gives bands without colour meaning */
    uint64_t narrowed;       /* decode: float64 samples changed by narrowing to float32 */
    uint64_t unit_bytes;     /* decode of a TIFF: encoded bytes of the strips or tiles read */
} ppx_info;

/* The palette of a PNG label map (VOC's masks), kept through a companion's
 * geometry so that the output is a palette PNG again. */
typedef struct {
    unsigned n; /* entries; 0: the file had none */
    uint8_t rgb[256][3];
    unsigned n_alpha; /* tRNS entries (alpha of the first n_alpha entries) */
    uint8_t alpha[256];
} ppx_palette;
/* GeoTIFF georeferencing of one page, kept as the file has it: tags 33550
 * ModelPixelScale, 33922 ModelTiepoint, 34264 ModelTransformation, 34735
 * GeoKeyDirectory, 34736 GeoDoubleParams, 34737 GeoAsciiParams, 42113
 * GDAL_NODATA. Arrays longer than the room here are not kept (the tag is
 * dropped, never cut). */
#define PPX_GEO_MAX_TIES 600  /* doubles: 100 tiepoints (GCPs) of 6 */
#define PPX_GEO_MAX_KEYS 1024 /* shorts: 255 keys of 4 after the header */
#define PPX_GEO_MAX_DOUBLES 256
#define PPX_GEO_MAX_ASCII 2048 /* bytes, NUL included */
typedef struct {
    int present; /* any of the tags below */
    uint32_t n_scale, n_ties, n_matrix, n_keys, n_doubles;
    double scale[3];
    double ties[PPX_GEO_MAX_TIES];
    double matrix[16];
    uint16_t keys[PPX_GEO_MAX_KEYS];
    double doubles[PPX_GEO_MAX_DOUBLES];
    char ascii[PPX_GEO_MAX_ASCII]; /* "" when absent */
    char nodata[64];               /* GDAL_NODATA, "" when absent */
} ppx_geotiff;

/* Moves g's georeferencing onto a new raster: fwd[6] maps a point of the
 * old raster to the new one (x' = f0 x + f1 y + f2, y' = f3 x + f4 y + f5,
 * pixel corners on the integers, as prepix/geom.h), inv[6] is its inverse.
 * Pixel scale and tiepoint stay that form when the map only scales (by
 * positive factors) and shifts; otherwise they become a
 * ModelTransformation. GCP tiepoints move with the map. RasterPixelIsPoint
 * (GTRasterTypeGeoKey 2) is honoured: its raster coordinates are pixel
 * centres. Pure; safe anywhere. */
void ppx_geotiff_remap(ppx_geotiff *g, const double fwd[6], const double inv[6]);

typedef struct {
    const ppx_limits *limits; /* NULL: defaults */
    /* Shrink-on-load: the decoded image must be at least this large (in the
     * stored frame, before orientation). 0 = no shrink. JPEG picks the
     * smallest DCT scale 1/1, 1/2, 1/4, 1/8 that still covers both; WebP
     * picks the same scale for libwebp's scaler (still images without
     * alpha only, see docs/codecs.md). Other formats decode at full size. */
    uint32_t min_width, min_height;
    /* Or, when set, called once the header is read (info holds the size and
     * orientation) to set the two from the real size: the caller needs no
     * separate ppx_codec_inspect. JPEG and WebP call it. */
    void (*size_hint)(void *arg, const ppx_info *info, uint32_t *min_width, uint32_t *min_height);
    void *size_hint_arg;
    /* Label maps (PNG only; NULL elsewhere): when not NULL, sample values are
     * kept as stored: a palette image decodes to one channel of its 8-bit
     * indices with its palette written here (n 0 for other images), gray
     * below 8 bits is unpacked without scaling, and tRNS adds no alpha. */
    ppx_palette *palette;
    /* Pages and chips (docs/codecs-tiff-png.md), TIFF only: the directory
     * of the main chain to decode (0: the first), and, when win_w > 0, only
     * the window [win_x, win_x + win_w) x [win_y, win_y + win_h) of it,
     * reading only the strips or tiles the window touches. Limits apply to
     * the window, not to the page. A window reaching past the right or
     * bottom edge is filled there with `fill` (rounded and clamped to the
     * sample type); one starting outside the page is PPX_EINVAL. Other
     * formats refuse a page > 0 or a window (PPX_EUNSUPPORTED). */
    uint32_t page;
    uint32_t win_x, win_y, win_w, win_h;
    double fill;
    /* TIFF: when not NULL, gets the page's GeoTIFF tags (present 0: none). */
    ppx_geotiff *geo;
} ppx_decode_opts;

/* Reads the header only. Writes *info on success. Returns 0 or a negative
 * code with err filled (stage DECODE). */
PPX_MUST_USE int ppx_codec_inspect(const uint8_t *buf, size_t len, const ppx_limits *limits,
                                   ppx_info *info, ppx_err *err);

/* Decodes buf into img (reusing its allocation). On success img holds gray,
 * gray+alpha, RGB or RGBA samples of type U8 or U16 (16-bit PNG/TIFF), with
 * straight (unassociated) alpha; CMYK, YCCK, YCbCr and palettes are converted
 * to RGB(A); bit depths below 8 are scaled to 0..255. img->orientation carries
 * the EXIF/TIFF orientation, not applied. *info (may be NULL) gets the header
 * facts and the scale used. Limits are checked before any pixel allocation.
 * Returns 0 or a negative code with err filled (stage DECODE). */
PPX_MUST_USE int ppx_codec_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *opts,
                                  ppx_image *img, ppx_info *info, ppx_err *err);

/* Called by ppx_codec_tiff_pages for each page: its index and size.
 * Returns 0 to go on, or a negative code (with err filled) to stop. */
typedef int (*ppx_page_fn)(void *arg, uint32_t page, uint32_t w, uint32_t h, ppx_err *err);

/* The pages first..last (last clipped to the file's last page) of the TIFF
 * in buf, in order, through fn; reads the directories only, never a strip.
 * More than max_pages pages in the range (a page bomb) is PPX_ELIMIT before
 * fn is called; the chain is walked at most 2^20 directories deep, loops
 * cut. A range starting past the last page is PPX_EINVAL. 0 or a negative
 * code (stage DECODE) with err filled. Safe in a worker. */
PPX_MUST_USE int ppx_codec_tiff_pages(const uint8_t *buf, size_t len, const ppx_limits *limits,
                                      uint32_t first, uint32_t last, uint32_t max_pages,
                                      ppx_page_fn fn, void *arg, ppx_err *err);

typedef enum { PPX_TIFF_LZW = 0, PPX_TIFF_DEFLATE, PPX_TIFF_NONE } ppx_tiff_compression;

typedef struct {
    ppx_format format;
    int quality;                           /* JPEG 1..100 (default 90) */
    ppx_tiff_compression tiff_compression; /* default LZW */
    int png_level;                         /* zlib level 0..9, default 6 */
    int webp_lossless; /* WebP: lossless (VP8L, every sample kept) instead of lossy at quality */
    /* PNG: when not NULL with n > 0, a one-channel 8-bit image is written as
     * a palette image, its samples the indices into this palette. */
    const ppx_palette *palette;
    /* PNG: zlib's run-length strategy instead of its default, for label
     * maps: on masks of a few flat regions it is 20x faster than level 6's
     * lazy matching and within 2x of its size (a 224x224 VOC-like mask: 0.05
     * ms and ~790 bytes against 1.0 ms and ~460). */
    int png_rle;
    const ppx_geotiff *geo; /* TIFF: GeoTIFF tags to write (NULL or present 0: none) */
} ppx_encode_opts;

void ppx_encode_opts_default(ppx_encode_opts *o, ppx_format f);

/* Encodes img (U8, or U16 for PNG and TIFF) into out (out->len reset to the
 * size of the file). Deterministic: the same pixels give the same bytes.
 * JPEG takes 1 or 3 channels (alpha is refused: PPX_EUNSUPPORTED; callers
 * drop it first), 4:2:0 for colour. WebP takes 8-bit 1..4 channels (gray is
 * stored as RGB) up to 16383 pixels a side. Returns 0 or a negative code
 * with err filled (stage ENCODE). */
PPX_MUST_USE int ppx_codec_encode(const ppx_image *img, const ppx_encode_opts *opts, ppx_buf *out,
                                  ppx_err *err);

#endif
