/* Exact statistics: integer accumulators that merge exactly, so the report
 * is the same for any number of ranks and workers. */
#ifndef PREPIX_STATS_H
#define PREPIX_STATS_H

#include "prepix/error.h"

#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/image.h"

/* Statistics of one image, computed in a worker (plain data, sent through a
 * pipe). Sums fit 64 bits for one image: 2^28 pixels * 65535^2 < 2^64. */
typedef struct {
    uint8_t channels; /* 1..4, 0 = no image */
    uint8_t bits;     /* 8 or 16 */
    uint64_t pixels;
    uint64_t sum[4];
    uint64_t sumsq[4];
    uint16_t min[4], max[4];
    uint32_t hist[4][256]; /* 16-bit samples binned by their high byte */
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
    ppx_group_stats group[PPX_STATS_GROUPS];
} ppx_stats;

void ppx_stats_init(ppx_stats *s);
/* Group index of an image kind, or -1. */
PPX_MUST_USE int ppx_stats_group(unsigned channels, unsigned bits);
/* Computes the statistics of img (U8 or U16). */
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
