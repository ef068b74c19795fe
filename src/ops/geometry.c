/* Geometry: sizes, boxes, orientation, flips, rotations, crops and padding. */
#include <string.h>

#include "ops/ops_impl.h"
#include "prepix/buf.h"
#include "prepix/ops.h"

static const char *const filter_names[] = {"nearest", "bilinear", "bicubic", "lanczos3"};
static const char *const fit_names[] = {"shorter", "longer", "fill", "contain", "cover"};

const char *ppx_filter_name(ppx_filter f)
{
    return (unsigned)f < 4 ? filter_names[f] : "unknown";
}

int ppx_filter_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, filter_names[i]) == 0)
            return i;
    return -1;
}

const char *ppx_fit_name(ppx_fit f)
{
    return (unsigned)f < 5 ? fit_names[f] : "unknown";
}

int ppx_fit_from_name(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, fit_names[i]) == 0)
            return i;
    return -1;
}

/* floor(a * b / c) clamped to 1..UINT32_MAX: the computed side of a resize.
 * Integer arithmetic gives torchvision's int(S * long / short) exactly: the
 * float quotient of two integers below 2^53 is never rounded across an
 * integer boundary for the sizes images have. */
static uint32_t scaled_side(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t v = a * b / c;
    if (v < 1)
        v = 1;
    if (v > UINT32_MAX)
        v = UINT32_MAX;
    return (uint32_t)v;
}

void ppx_resize_dims(uint32_t w, uint32_t h, uint32_t tw, uint32_t th, ppx_fit fit, uint32_t *ow,
                     uint32_t *oh)
{
    if (w == 0 || h == 0) {
        *ow = tw;
        *oh = fit == PPX_FIT_SHORTER || fit == PPX_FIT_LONGER ? tw : th;
        return;
    }
    /* Which side the fit pins: 1 = width, 0 = height. */
    int pin_w;
    switch (fit) {
    case PPX_FIT_FILL:
        *ow = tw;
        *oh = th;
        return;
    case PPX_FIT_SHORTER:
        th = tw;
        pin_w = w <= h; /* torchvision: short side is w when w <= h */
        break;
    case PPX_FIT_LONGER:
        th = tw;
        pin_w = w >= h;
        break;
    case PPX_FIT_CONTAIN:
        /* The smaller of the two scale factors tw/w and th/h wins. */
        pin_w = (uint64_t)tw * h <= (uint64_t)th * w;
        break;
    case PPX_FIT_COVER:
    default:
        pin_w = (uint64_t)tw * h >= (uint64_t)th * w;
        break;
    }
    if (pin_w) {
        *ow = tw;
        *oh = scaled_side(tw, h, w);
    } else {
        *oh = th;
        *ow = scaled_side(th, w, h);
    }
}

int64_t ppx_center_offset(uint32_t size, uint32_t target)
{
    if (target > size)
        return -(int64_t)((target - size) / 2);
    uint32_t d = size - target;
    uint32_t q = d / 2;
    /* d / 2.0 = q + 0.5 for odd d: Python's round() goes to the even one. */
    if ((d & 1) && (q & 1))
        q++;
    return q;
}

void ppx_orient_dims(int orientation, uint32_t w, uint32_t h, uint32_t *ow, uint32_t *oh)
{
    int swap = orientation >= 5 && orientation <= 8;
    *ow = swap ? h : w;
    *oh = swap ? w : h;
}

/* ---- Random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void ppx_rng_seed(ppx_rng *rng, uint64_t seed, const char *key)
{
    const char *k = key ? key : "";
    uint64_t h = ppx_fnv1a(PPX_FNV1A_INIT, k, strlen(k));
    /* Mix the seed first so that seeds 0, 1, 2 ... are far apart before the
     * key is folded in. */
    uint64_t x = seed;
    x = splitmix64(&x) ^ h;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t ppx_rng_next(ppx_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

double ppx_rng_uniform(ppx_rng *rng)
{
    return (double)(ppx_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t ppx_rng_below(ppx_rng *rng, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Reject the top partial block of 2^64 so that every residue is equally
     * likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = ppx_rng_next(rng);
        if (r >= threshold)
            return r % n;
    }
}

static uint32_t round_side(double v)
{
    /* rint rounds half to even, as Python's round() on a double. */
    double r = rint(v);
    if (!(r >= 1.0))
        return 1;
    if (r > 4294967295.0)
        return UINT32_MAX;
    return (uint32_t)r;
}

void ppx_random_crop_box(ppx_rng *rng, uint32_t w, uint32_t h, const double scale[2],
                         const double ratio[2], ppx_box *box)
{
    double area = (double)w * (double)h;
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (scale[0] + (scale[1] - scale[0]) * ppx_rng_uniform(rng));
        double aspect = exp(lr0 + (lr1 - lr0) * ppx_rng_uniform(rng));
        double cw = rint(sqrt(target * aspect));
        double ch = rint(sqrt(target / aspect));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            box->w = (uint32_t)cw;
            box->h = (uint32_t)ch;
            /* torchvision draws the row (i) before the column (j). */
            box->y = (uint32_t)ppx_rng_below(rng, (uint64_t)h - box->h + 1);
            box->x = (uint32_t)ppx_rng_below(rng, (uint64_t)w - box->w + 1);
            return;
        }
    }
    /* Fallback: central crop, the whole image clamped to the ratio range. */
    double in_ratio = (double)w / (double)h;
    double rmin = ratio[0] < ratio[1] ? ratio[0] : ratio[1];
    double rmax = ratio[0] < ratio[1] ? ratio[1] : ratio[0];
    uint32_t cw = w, ch = h;
    if (in_ratio < rmin) {
        ch = round_side((double)w / rmin);
        if (ch > h)
            ch = h;
    } else if (in_ratio > rmax) {
        cw = round_side((double)h * rmax);
        if (cw > w)
            cw = w;
    }
    box->w = cw;
    box->h = ch;
    box->x = (w - cw) / 2;
    box->y = (h - ch) / 2;
}

/* ---- Orientation, flips, rotations ---- */

/* Copies n pixels of `ps` bytes from s (advancing by `step` bytes) to d
 * (contiguous). The switch is outside the loop so that each case is a
 * fixed-size copy the compiler turns into plain loads and stores. */
static void copy_strided(uint8_t *d, const uint8_t *s, ptrdiff_t step, uint32_t n, size_t ps)
{
#define COPY_LOOP(PS)                                                                              \
    for (uint32_t i = 0; i < n; i++, d += (PS), s += step)                                         \
        memcpy(d, s, (PS));                                                                        \
    break;
    switch (ps) {
    case 1:
        COPY_LOOP(1)
    case 2:
        COPY_LOOP(2)
    case 3:
        COPY_LOOP(3)
    case 4:
        COPY_LOOP(4)
    case 6:
        COPY_LOOP(6)
    case 8:
        COPY_LOOP(8)
    default:
        COPY_LOOP(ps)
    }
#undef COPY_LOOP
}

int ppx_op_orient(const ppx_image *src, ppx_image *dst, int orientation, const ppx_limits *l,
                  ppx_err *err)
{
    if (orientation < 1 || orientation > 8)
        orientation = 1;
    uint32_t w = src->width, h = src->height, ow, oh;
    ppx_orient_dims(orientation, w, h, &ow, &oh);
    int rc = ppx_image_alloc(dst, ow, oh, src->channels, src->type, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    dst->orientation = 1;

    size_t ps = (size_t)src->channels * ppx_sample_size(src->type);
    ptrdiff_t sstride = (ptrdiff_t)src->stride, pst = (ptrdiff_t)ps;
    /* Output pixel (x, y) reads source pixel (sx0 + x*dx_x + y*dy_x, ...):
     * for each orientation the source of the start of output row y and the
     * source step along an output row. */
    for (uint32_t y0 = 0; y0 < oh; y0 += 64) {
        /* Orientations 5..8 walk source columns: blocks of 64 output rows
         * keep the source lines they touch in cache (a blocked transpose). */
        uint32_t y1 = y0 + 64 < oh ? y0 + 64 : oh;
        uint32_t xb = orientation >= 5 ? 64 : ow;
        for (uint32_t x0 = 0; x0 < ow; x0 += xb) {
            uint32_t n = x0 + xb < ow ? xb : ow - x0;
            for (uint32_t y = y0; y < y1; y++) {
                int64_t sx, sy;
                ptrdiff_t step;
                switch (orientation) {
                case 2: /* mirror */
                    sx = (int64_t)w - 1 - x0, sy = y, step = -pst;
                    break;
                case 3: /* rotate 180 */
                    sx = (int64_t)w - 1 - x0, sy = (int64_t)h - 1 - y, step = -pst;
                    break;
                case 4: /* mirror top-bottom */
                    sx = x0, sy = (int64_t)h - 1 - y, step = pst;
                    break;
                case 5: /* transpose */
                    sx = y, sy = x0, step = sstride;
                    break;
                case 6: /* rotate 90 clockwise */
                    sx = y, sy = (int64_t)h - 1 - x0, step = -sstride;
                    break;
                case 7: /* transverse */
                    sx = (int64_t)w - 1 - y, sy = (int64_t)h - 1 - x0, step = -sstride;
                    break;
                case 8: /* rotate 90 counter-clockwise */
                    sx = (int64_t)w - 1 - y, sy = x0, step = sstride;
                    break;
                default:
                    sx = x0, sy = y, step = pst;
                    break;
                }
                const uint8_t *s = src->data + (size_t)sy * src->stride + (size_t)sx * ps;
                copy_strided(ppx_image_row(dst, y) + (size_t)x0 * ps, s, step, n, ps);
            }
        }
    }
    return 0;
}

int ppx_op_autorotate(const ppx_image *src, ppx_image *dst, const ppx_limits *l, ppx_err *err)
{
    return ppx_op_orient(src, dst, src->orientation, l, err);
}

int ppx_op_flip(const ppx_image *src, ppx_image *dst, int vertical, const ppx_limits *l,
                ppx_err *err)
{
    int o = src->orientation;
    int rc = ppx_op_orient(src, dst, vertical ? 4 : 2, l, err);
    /* A flip is not an orientation fix: keep the metadata for autorotate. */
    dst->orientation = o;
    return rc;
}

int ppx_op_rotate(const ppx_image *src, ppx_image *dst, int degrees, const ppx_limits *l,
                  ppx_err *err)
{
    int o;
    switch (degrees) {
    case 90:
        o = 6;
        break;
    case 180:
        o = 3;
        break;
    case 270:
        o = 8;
        break;
    default:
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "rotate: %d degrees; expected 90, 180 or 270", degrees);
    }
    int keep = src->orientation;
    int rc = ppx_op_orient(src, dst, o, l, err);
    dst->orientation = keep;
    return rc;
}

/* ---- Crops and padding ---- */

static void fill_pixels(uint8_t *d, uint32_t n, const uint8_t *px, size_t ps, int zero)
{
    if (zero) {
        memset(d, 0, (size_t)n * ps);
        return;
    }
    for (uint32_t i = 0; i < n; i++, d += ps)
        memcpy(d, px, ps);
}

int ppx_op_extract(const ppx_image *src, ppx_image *dst, int64_t x, int64_t y, uint32_t w,
                   uint32_t h, const uint16_t fill[4], const ppx_limits *l, ppx_err *err)
{
    int rc = ppx_image_alloc(dst, w, h, src->channels, src->type, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    size_t ps = (size_t)src->channels * ppx_sample_size(src->type);
    /* One fill pixel in the image's sample layout. */
    uint8_t px[16] = {0};
    int zero = 1;
    /* Fill colours are for photos; rasters pad with zeros. */
    if (fill && (src->type == PPX_U8 || src->type == PPX_U16) && src->channels <= 4) {
        for (unsigned c = 0; c < src->channels; c++) {
            if (fill[c])
                zero = 0;
            if (src->type == PPX_U8) {
                px[c] = (uint8_t)(fill[c] > 255 ? 255 : fill[c]);
            } else {
                uint16_t v = fill[c];
                memcpy(px + 2 * c, &v, 2);
            }
        }
    }
    /* The part of the window that overlaps src, in window coordinates. */
    int64_t sw = src->width, sh = src->height;
    int64_t cx0 = x < 0 ? -x : 0, cx1 = sw - x < (int64_t)w ? sw - x : (int64_t)w;
    int64_t cy0 = y < 0 ? -y : 0, cy1 = sh - y < (int64_t)h ? sh - y : (int64_t)h;
    if (cx1 < cx0)
        cx1 = cx0;
    for (uint32_t r = 0; r < h; r++) {
        uint8_t *d = ppx_image_row(dst, r);
        if ((int64_t)r < cy0 || (int64_t)r >= cy1 || cx0 >= cx1) {
            fill_pixels(d, w, px, ps, zero);
            continue;
        }
        fill_pixels(d, (uint32_t)cx0, px, ps, zero);
        const uint8_t *s = ppx_image_row(src, (uint32_t)(y + r)) + (size_t)(x + cx0) * ps;
        memcpy(d + (size_t)cx0 * ps, s, (size_t)(cx1 - cx0) * ps);
        fill_pixels(d + (size_t)cx1 * ps, (uint32_t)(w - cx1), px, ps, zero);
    }
    return 0;
}

int ppx_op_center_crop(const ppx_image *src, ppx_image *dst, uint32_t w, uint32_t h,
                       const ppx_limits *l, ppx_err *err)
{
    return ppx_op_extract(src, dst, ppx_center_offset(src->width, w),
                          ppx_center_offset(src->height, h), w, h, NULL, l, err);
}

int ppx_op_pad(const ppx_image *src, ppx_image *dst, uint32_t w, uint32_t h, const uint8_t rgba[4],
               const ppx_limits *l, ppx_err *err)
{
    uint16_t fill[4];
    unsigned luma = (rgba[0] * 19595u + rgba[1] * 38470u + rgba[2] * 7471u + 0x8000u) >> 16;
    switch (src->channels) {
    case 1:
        fill[0] = (uint16_t)luma;
        break;
    case 2:
        fill[0] = (uint16_t)luma;
        fill[1] = rgba[3];
        break;
    default:
        for (int c = 0; c < 4; c++)
            fill[c] = rgba[c];
        break;
    }
    if (src->type == PPX_U16)
        for (int c = 0; c < 4; c++)
            fill[c] = (uint16_t)(fill[c] * 257u);
    return ppx_op_extract(src, dst, ppx_center_offset(src->width, w),
                          ppx_center_offset(src->height, h), w, h, fill, l, err);
}
