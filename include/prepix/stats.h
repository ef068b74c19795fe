/* Exact statistics: integer accumulators that merge exactly, so the report
 * is the same for any number of ranks and workers. */
#ifndef PREPIX_STATS_H
#define PREPIX_STATS_H

#include "prepix/error.h"

#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/image.h"

/* Exact sum of float32 (and 32-bit integer) values and of their squares: a
 * two's complement fixed-point integer of PPX_XACC_LIMBS 64-bit limbs, low
 * first, worth w / 2^298. A float32 is m * 2^e with m < 2^24 and
 * -149 <= e <= 104, its square m^2 * 2^2e, so both are integers at this scale
 * (2^-298 is the smallest square) and fit, with 2^64 of them added, in 640
 * bits (sums of squares below 2^618, sums below 2^490 in magnitude).
 * Adding is integer addition, so any order gives the same bits. */
#define PPX_XACC_LIMBS 10
typedef struct {
    uint64_t w[PPX_XACC_LIMBS];
} ppx_xacc;

/* a += v (finite). */
void ppx_xacc_add_f32(ppx_xacc *a, float v);
/* a += v * v (v finite). */
void ppx_xacc_add_sq_f32(ppx_xacc *a, float v);
/* a += v, an integer. */
void ppx_xacc_add_i64(ppx_xacc *a, int64_t v);
/* a += v, an unsigned 128-bit integer given as two words. */
void ppx_xacc_add_u128(ppx_xacc *a, uint64_t lo, uint64_t hi);
/* d += s, exactly. */
void ppx_xacc_merge(ppx_xacc *d, const ppx_xacc *s);
/* The value, rounded to long double. */
long double ppx_xacc_value(const ppx_xacc *a);
/* Mean and population standard deviation of n values whose sum is s and sum
 * of squares q: the variance from the exact integer n*q - s^2, rounded once. */
void ppx_xacc_mean_std(const ppx_xacc *s, const ppx_xacc *q, uint64_t n, double *mean, double *std);

/* Statistics of the first PPX_RSTATS_BANDS bands of rasters (images that
 * are not 8/16-bit photos of 1 to 4 channels: other sample types, plain
 * bands), per sample type; docs/formats.md `raster_stats`. */
#define PPX_RSTATS_BANDS 16
#define PPX_RSTATS_BINS 64
#define PPX_RSTATS_TYPES 7 /* U8 U16 U32 I8 I16 I32 F32 */

typedef struct {
    uint64_t count;               /* finite values */
    uint64_t nan, posinf, neginf; /* not in count, sums, extremes or histogram */
    double min, max;              /* of the finite values; -0.0 below 0.0 */
    ppx_xacc sum, sumsq;
    uint64_t hist[PPX_RSTATS_BINS]; /* ppx_rstats_bin */
} ppx_band_stats;

/* One image's: type index + 1 (0: none), its bands, the bands measured. */
typedef struct {
    uint8_t type;
    uint16_t bands;
    uint64_t pixels;
    ppx_band_stats band[PPX_RSTATS_BANDS];
} ppx_raster_img_stats;

typedef struct {
    uint64_t images, pixels;
    uint32_t bands_min, bands_max;
    ppx_band_stats band[PPX_RSTATS_BANDS];
} ppx_raster_group;

/* Index 0..6 of a sample type in raster groups, or -1. */
PPX_MUST_USE int ppx_rstats_type_index(ppx_sample t);
ppx_sample ppx_rstats_type(int index);
/* Histogram bin of a finite sample of type t whose value is v (float32
 * samples: their bits in fbits). Integers: the high 6 bits of the value
 * offset to unsigned (v - type minimum); float32: the high 6 bits of the
 * IEEE bits (sign, then the high 5 exponent bits: bins 0-31 non-negative
 * values, bin k from 2^(8k-127) to 2^(8k-119), bin 0 with zero and
 * subnormals; bins 32-63 the same for negative values). */
PPX_MUST_USE unsigned ppx_rstats_bin(ppx_sample t, int64_t v, uint32_t fbits);
void ppx_band_stats_init(ppx_band_stats *b);
void ppx_band_stats_merge(ppx_band_stats *d, const ppx_band_stats *s);
/* Computes the statistics of a raster (any type, any bands). */
void ppx_raster_img_stats_compute(const ppx_image *img, ppx_raster_img_stats *st);

/* Statistics of one image, computed in a worker (plain data, sent through a
 * pipe). Sums fit 64 bits for one image: 2^28 pixels * 65535^2 < 2^64. */
typedef struct {
    uint8_t channels; /* 1..4, 0 = no image */
    uint8_t bits;     /* 8 or 16 */
    uint64_t pixels;
    uint64_t sum[4];
    uint64_t sumsq[4];
    uint16_t min[4], max[4];
    uint32_t hist[4][256];       /* 16-bit samples binned by their high byte */
    ppx_raster_img_stats raster; /* type 0 unless the image is a raster */
    uint64_t clipped;            /* samples `scale` clipped */
    uint64_t narrowed;           /* float64 samples whose value float32 could not hold */
} ppx_img_stats;

/* 128-bit unsigned integer as two words, for sums over a whole dataset. */
typedef struct {
    uint64_t lo, hi;
} ppx_u128;

/* Accumulator of one group of alike images (same channel count and depth). */
typedef struct {
    uint64_t images;
    uint64_t pixels;
    ppx_u128 sum[4];
    ppx_u128 sumsq[4];
    uint32_t min[4], max[4];
    uint64_t hist[4][256];
} ppx_group_stats;

#define PPX_STATS_GROUPS 8 /* channels 1..4 x depth 8/16 */

/* Accumulator of a set of images (a chunk, a rank, a job). Plain data of
 * fixed size; it travels between ranks and into the journal only through
 * ppx_stats_serialize. */
typedef struct {
    uint64_t total, ok, failed;
    uint64_t nodata; /* chips all of --nodata: skipped, in total but neither ok nor failed */
    uint64_t bytes_read, bytes_written;
    uint64_t sized;               /* images whose input size is known */
    uint64_t w_min, w_max, w_sum; /* input sizes */
    uint64_t h_min, h_max, h_sum;
    uint64_t clipped, narrowed; /* sums of ppx_img_stats' */
    ppx_group_stats group[PPX_STATS_GROUPS];
    ppx_raster_group raster[PPX_RSTATS_TYPES]; /* by ppx_rstats_type_index */
} ppx_stats;

void ppx_stats_init(ppx_stats *s);
/* Group index of an image kind, or -1. */
PPX_MUST_USE int ppx_stats_group(unsigned channels, unsigned bits);
/* Computes the statistics of img (U8 or U16 photos; rasters: st->raster). */
void ppx_img_stats_compute(const ppx_image *img, ppx_img_stats *st);
/* Adds one processed image: its pixel stats (channels 0 = none) and input size. */
void ppx_stats_add_image(ppx_stats *s, const ppx_img_stats *st, uint32_t in_w, uint32_t in_h);
/* dst += src, exactly. Commutative and associative. */
void ppx_stats_merge(ppx_stats *dst, const ppx_stats *src);
/* 1 if equal in every field. */
PPX_MUST_USE int ppx_stats_equal(const ppx_stats *a, const ppx_stats *b);

/* Compact, portable, exact serialisation, for the resume journal and for
 * sending a chunk's statistics between ranks: appended to out (format 2,
 * sparse: only fields that differ from ppx_stats_init's, histograms
 * delta- and Rice-coded; docs/formats.md). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_stats_serialize(const ppx_stats *s, ppx_buf *out);
/* Parses format 2 or format 1 (journals written before format 2) from the
 * untrusted bytes p[0..n): 0, with *s (written only on success) equal bit
 * for bit to what was serialised and *used (may be NULL) the bytes read,
 * or PPX_ECORRUPT. */
PPX_MUST_USE int ppx_stats_deserialize(const uint8_t *p, size_t n, ppx_stats *s, size_t *used);

/* One image's statistics as part of a message between ranks (the bytes
 * transport sends them with the image's output): the little-endian encoding
 * of prepix/buf.h, only the channels the image has. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_img_stats_pack(const ppx_img_stats *st, ppx_buf *out);
/* Reads what ppx_img_stats_pack wrote from r (untrusted bytes): 0 with *st
 * written, or PPX_ECORRUPT (too short, or a field out of range). */
PPX_MUST_USE int ppx_img_stats_unpack(ppx_rd *r, ppx_img_stats *st);

/* Mean and standard deviation of band b of group g on the 0..1 scale. */
void ppx_group_mean_std(const ppx_group_stats *g, unsigned bits, int b, double *mean, double *std);

#endif
