/* Transform ops: pure functions src -> dst on ppx_image.
 *
 * No I/O, no MPI, no globals: every function is safe to call from a worker.
 * An op writes a new image into dst (which must not be src), reusing dst's
 * allocation (ppx_image_alloc); dst's size is checked against the limits l
 * (NULL: only overflow is checked). Metadata is copied from src except where
 * an op says otherwise. Errors: a negative PPX_E* code with err filled,
 * stage TRANSFORM.
 *
 * Geometry follows torchvision (Resize, CenterCrop, RandomResizedCrop) and
 * resampling follows Pillow's Image.resize; docs/pipeline.md has the
 * rounding rules. */
#ifndef PREPIX_OPS_H
#define PREPIX_OPS_H

#include <stdint.h>

#include "prepix/error.h"
#include "prepix/image.h"
#include "prepix/limits.h"

typedef enum {
    PPX_FILTER_NEAREST = 0,
    PPX_FILTER_BILINEAR,
    PPX_FILTER_BICUBIC,
    PPX_FILTER_LANCZOS3,
} ppx_filter;

/* How `resize` maps a target size to the output size. */
typedef enum {
    PPX_FIT_SHORTER = 0, /* shorter side to S, keep aspect (torchvision Resize(int)) */
    PPX_FIT_LONGER,      /* longer side to S, keep aspect */
    PPX_FIT_FILL,        /* exactly W x H, aspect not kept */
    PPX_FIT_CONTAIN,     /* largest size inside W x H, keep aspect */
    PPX_FIT_COVER,       /* smallest size covering W x H, keep aspect */
} ppx_fit;

/* "nearest", "bilinear", "bicubic", "lanczos3". */
const char *ppx_filter_name(ppx_filter f);
/* Filter from its name, or -1. */
PPX_MUST_USE int ppx_filter_from_name(const char *name);
/* "shorter", "longer", "fill", "contain", "cover". */
const char *ppx_fit_name(ppx_fit f);
/* Fit from its name, or -1. */
PPX_MUST_USE int ppx_fit_from_name(const char *name);

/* ---- Geometry (pure arithmetic, no pixels) ---- */

/* Output size of resizing w x h to the target tw x th with `fit` (shorter and
 * longer use tw only). The side that the fit fixes is exact; the other is
 * truncated like torchvision's int(S * long / short), never below 1. */
void ppx_resize_dims(uint32_t w, uint32_t h, uint32_t tw, uint32_t th, ppx_fit fit, uint32_t *ow,
                     uint32_t *oh);

/* Offset of a centred window of `target` samples in an axis of `size`
 * samples, as torchvision's CenterCrop: int(round((size - target) / 2.0))
 * (round half to even) when the window fits, and -((target - size) / 2)
 * (the left padding, rounded down) when it does not. */
int64_t ppx_center_offset(uint32_t size, uint32_t target);

/* Size after applying EXIF orientation 1..8 (5..8 swap the axes). */
void ppx_orient_dims(int orientation, uint32_t w, uint32_t h, uint32_t *ow, uint32_t *oh);

/* ---- Deterministic random numbers ----
 * Caller-owned state, no globals: safe in any worker. */

/* xoshiro256** seeded through splitmix64 from (seed, FNV-1a 64 of key): the
 * same (seed, key) always gives the same stream, whatever process runs it. */
typedef struct {
    uint64_t s[4];
} ppx_rng;

/* key may be NULL (same as ""). */
void ppx_rng_seed(ppx_rng *rng, uint64_t seed, const char *key);
uint64_t ppx_rng_next(ppx_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double ppx_rng_uniform(ppx_rng *rng);
/* Uniform integer in [0, n) without modulo bias; n >= 1. */
uint64_t ppx_rng_below(ppx_rng *rng, uint64_t n);

typedef struct {
    uint32_t x, y, w, h;
} ppx_box;

/* RandomResizedCrop.get_params of torchvision on a w x h image: up to 10
 * draws of an area fraction in [scale[0], scale[1]] and a log-uniform aspect
 * ratio in [ratio[0], ratio[1]], then a uniform position; after 10 misses the
 * central crop clamped to the ratio range. Draws from rng in that order. */
void ppx_random_crop_box(ppx_rng *rng, uint32_t w, uint32_t h, const double scale[2],
                         const double ratio[2], ppx_box *box);

/* ---- Pixel ops ---- */

/* Applies EXIF orientation `orientation` (1..8) to the pixels: the result is
 * the upright image a viewer shows. dst->orientation is set to 1. Any sample
 * type. Orientation outside 1..8 is treated as 1 (a plain copy). */
PPX_MUST_USE int ppx_op_orient(const ppx_image *src, ppx_image *dst, int orientation,
                               const ppx_limits *l, ppx_err *err);
/* ppx_op_orient with src->orientation. */
PPX_MUST_USE int ppx_op_autorotate(const ppx_image *src, ppx_image *dst, const ppx_limits *l,
                                   ppx_err *err);
/* Mirror left-right (vertical == 0) or top-bottom (vertical != 0). */
PPX_MUST_USE int ppx_op_flip(const ppx_image *src, ppx_image *dst, int vertical,
                             const ppx_limits *l, ppx_err *err);
/* Rotates clockwise by 90, 180 or 270 degrees (PPX_EINVAL otherwise). */
PPX_MUST_USE int ppx_op_rotate(const ppx_image *src, ppx_image *dst, int degrees,
                               const ppx_limits *l, ppx_err *err);

/* Copies the w x h window whose top-left corner is at (x, y) in src (which
 * may lie partly or wholly outside src); samples outside src take fill[c]
 * (fill may be NULL: zeros). fill values are in the sample type's range.
 * Any sample type except that fill is ignored (zeros) for F32. */
PPX_MUST_USE int ppx_op_extract(const ppx_image *src, ppx_image *dst, int64_t x, int64_t y,
                                uint32_t w, uint32_t h, const uint16_t fill[4], const ppx_limits *l,
                                ppx_err *err);
/* torchvision CenterCrop to w x h: pads with zeros where src is smaller. */
PPX_MUST_USE int ppx_op_center_crop(const ppx_image *src, ppx_image *dst, uint32_t w, uint32_t h,
                                    const ppx_limits *l, ppx_err *err);
/* Letterbox: src centred on a w x h canvas of colour rgba (8-bit values,
 * scaled by 257 for 16-bit images; gray images take the BT.601 luma of
 * R,G,B; alpha channels take rgba[3]). Same placement as center-crop, so a
 * side larger than the canvas is cropped centrally. */
PPX_MUST_USE int ppx_op_pad(const ppx_image *src, ppx_image *dst, uint32_t w, uint32_t h,
                            const uint8_t rgba[4], const ppx_limits *l, ppx_err *err);

/* Coefficient tables and scratch buffers of the resampler, kept between
 * calls so that nothing is allocated per image once warm. One per worker
 * (not shared between threads). */
typedef struct ppx_resizer ppx_resizer;
/* Allocates an empty resizer into *out (caller owns it). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_resizer_new(ppx_resizer **out);
/* Frees *rs and sets it to NULL; accepts NULL. */
void ppx_resizer_free(ppx_resizer **rs);
/* Frees the buffers kept for reuse that are larger than keep bytes. */
void ppx_resizer_trim(ppx_resizer *rs, size_t keep);

/* Resamples src (U8 or U16, 1..4 channels) to w x h, separably (horizontal
 * then vertical pass, as Pillow), with the filter's support widened by the
 * scale factor when shrinking (antialiasing). 8-bit uses Pillow's fixed-point
 * arithmetic (22-bit coefficients, 32-bit sums), which makes the result equal
 * to Pillow's Image.resize; 16-bit uses float sums. Images with alpha are
 * resampled premultiplied, as Pillow does. rs may be NULL (a temporary one is
 * used). */
PPX_MUST_USE int ppx_op_resize(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t w,
                               uint32_t h, ppx_filter filter, const ppx_limits *l, ppx_err *err);
/* The window `box` of ppx_op_resize(src, w, h), computing only its samples:
 * the same bytes as resizing then cropping, for less work (resize followed
 * by center-crop). Needs a resizer, any filter (nearest included: a label
 * map's companion of a thumbnail) and a change of both
 * dimensions (w != src->width, h != src->height); box inside w x h. */
PPX_MUST_USE int ppx_op_resize_window(ppx_resizer *rs, const ppx_image *src, ppx_image *dst,
                                      uint32_t w, uint32_t h, const ppx_box *box, ppx_filter filter,
                                      const ppx_limits *l, ppx_err *err);
/* torchvision's resized_crop: the box (inside src) resized to w x h. */
PPX_MUST_USE int ppx_op_resized_crop(ppx_resizer *rs, const ppx_image *src, const ppx_box *box,
                                     ppx_image *dst, uint32_t w, uint32_t h, ppx_filter filter,
                                     const ppx_limits *l, ppx_err *err);

/* RGB(A) to gray(+alpha) with ITU-R BT.601 luma, Pillow's integer formula
 * (R*19595 + G*38470 + B*7471 + 32768) >> 16. Gray input is copied. */
PPX_MUST_USE int ppx_op_grayscale(const ppx_image *src, ppx_image *dst, const ppx_limits *l,
                                  ppx_err *err);
/* To three channels: gray is replicated, alpha dropped. */
PPX_MUST_USE int ppx_op_rgb(const ppx_image *src, ppx_image *dst, const ppx_limits *l,
                            ppx_err *err);
/* U16 to U8 rounding to nearest (v + 128) / 257; U8 is copied. */
PPX_MUST_USE int ppx_op_to_8bit(const ppx_image *src, ppx_image *dst, const ppx_limits *l,
                                ppx_err *err);
/* Histogram equalisation of each colour channel (alpha is left alone), with
 * Pillow's ImageOps.equalize lookup table (256 bins for U8, 65536 for U16). */
PPX_MUST_USE int ppx_op_equalize(const ppx_image *src, ppx_image *dst, const ppx_limits *l,
                                 ppx_err *err);
/* (x / max - mean[c]) / std[c] to PPX_F32, max 255 or 65535. n is 1 (one
 * value for every channel) or the channel count (PPX_EINVAL otherwise). */
/* Rasters (any sample type and band count). */

/* dst gets the bands idx[0..n) of src (0-based), in that order; any band may
 * repeat. A result of 1 or 3 bands is gray or RGB (the usual composite,
 * `bands 4,3,2` of a scene); other counts are plain bands. */
PPX_MUST_USE int ppx_op_bands(const ppx_image *src, ppx_image *dst, const uint16_t *idx, unsigned n,
                              const ppx_limits *l, ppx_err *err);
/* Linear map of [lo, hi] to 0..max (max 255 for bits 8, 65535 for 16):
 * round((v - lo) * max / (hi - lo)), half away from zero, clamped; NaN gives
 * 0. *clipped (may be NULL) gets the samples that were clamped or NaN. Every
 * band alike; plain bands stay plain. */
PPX_MUST_USE int ppx_op_scale(const ppx_image *src, ppx_image *dst, double lo, double hi, int bits,
                              uint64_t *clipped, const ppx_limits *l, ppx_err *err);

/* To float32 per band, n values of mean and std (1: every band alike, else
 * one a band). Photos (8/16-bit gray, RGB, alpha): (x / 255 - mean) / std
 * (x / 65535 for 16-bit), torchvision's floats. Rasters (other types, plain
 * bands; up to PPX_MAX_BANDS): (x - mean) / std on the sample values, x
 * rounded to float32 first. */
PPX_MUST_USE int ppx_op_normalize(const ppx_image *src, ppx_image *dst, const float *mean,
                                  const float *std, unsigned n, const ppx_limits *l, ppx_err *err);

#endif
