/* Exact statistics of rasters: the fixed-point superaccumulator, per-band
 * counts, extremes and histograms for every sample type. */
#include <math.h>
#include <string.h>

#include "prepix/stats.h"

#define SCALE 298 /* the accumulator holds value * 2^SCALE */

/* a += mag << k, or a -= mag << k when neg; k + 128 <= 64 * PPX_XACC_LIMBS. */
static void add_shifted(ppx_xacc *a, uint64_t mag, unsigned k, int neg)
{
    if (!mag)
        return;
    unsigned i = k / 64, off = k % 64;
    unsigned __int128 t = (unsigned __int128)mag << off;
    uint64_t part[2] = {(uint64_t)t, (uint64_t)(t >> 64)};
    unsigned carry = 0;
    for (unsigned j = i; j < PPX_XACC_LIMBS; j++) {
        uint64_t x = j - i < 2 ? part[j - i] : 0;
        if (j - i >= 2 && !carry)
            break;
        uint64_t old = a->w[j];
        if (!neg) {
            uint64_t s = old + x;
            unsigned c1 = s < old;
            a->w[j] = s + carry;
            carry = c1 | (a->w[j] < s);
        } else {
            uint64_t s = old - x;
            unsigned b1 = old < x;
            a->w[j] = s - carry;
            carry = b1 | (s < carry);
        }
    }
}

/* A finite float32 as m * 2^e (m < 2^24, e from -149); its sign bit. */
static int f32_parts(float v, uint64_t *m, int *e)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    unsigned ex = (bits >> 23) & 0xff;
    *m = bits & 0x7fffff;
    *e = -149;
    if (ex) {
        *m |= 1u << 23;
        *e = (int)ex - 150;
    }
    return (int)(bits >> 31);
}

void ppx_xacc_add_f32(ppx_xacc *a, float v)
{
    uint64_t m;
    int e;
    int neg = f32_parts(v, &m, &e);
    add_shifted(a, m, (unsigned)(e + SCALE), neg);
}

void ppx_xacc_add_sq_f32(ppx_xacc *a, float v)
{
    uint64_t m;
    int e;
    f32_parts(v, &m, &e);
    add_shifted(a, m * m, (unsigned)(2 * e + SCALE), 0);
}

void ppx_xacc_add_i64(ppx_xacc *a, int64_t v)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    add_shifted(a, mag, SCALE, v < 0);
}

void ppx_xacc_add_u128(ppx_xacc *a, uint64_t lo, uint64_t hi)
{
    add_shifted(a, lo, SCALE, 0);
    add_shifted(a, hi, SCALE + 64, 0);
}

void ppx_xacc_merge(ppx_xacc *d, const ppx_xacc *s)
{
    unsigned carry = 0;
    for (int j = 0; j < PPX_XACC_LIMBS; j++) {
        uint64_t x = d->w[j] + s->w[j];
        unsigned c1 = x < d->w[j];
        d->w[j] = x + carry;
        carry = c1 | (d->w[j] < x);
    }
}

/* Magnitude of a two's complement number of n limbs; returns its sign. */
static int magnitude(const uint64_t *w, uint64_t *m, int n)
{
    int neg = (int)(w[n - 1] >> 63);
    unsigned carry = 1;
    for (int j = 0; j < n; j++) {
        m[j] = neg ? ~w[j] + carry : w[j];
        if (neg)
            carry = carry && m[j] == 0;
    }
    return neg;
}

/* An unsigned number of n limbs rounded to long double, times 2^-shift. */
static long double limbs_ld(const uint64_t *m, int n, int shift)
{
    int top = n - 1;
    while (top > 0 && !m[top])
        top--;
    long double v = (long double)m[top];
    if (top > 0)
        v = v * 18446744073709551616.0L + (long double)m[top - 1];
    if (top > 1)
        v = v * 18446744073709551616.0L + (long double)m[top - 2];
    int below = top > 1 ? top - 2 : 0;
    return ldexpl(v, 64 * below - shift);
}

long double ppx_xacc_value(const ppx_xacc *a)
{
    uint64_t m[PPX_XACC_LIMBS];
    int neg = magnitude(a->w, m, PPX_XACC_LIMBS);
    long double v = limbs_ld(m, PPX_XACC_LIMBS, SCALE);
    return neg ? -v : v;
}

#define WIDE 20 /* limbs of n*q*2^SCALE and s^2: below 2^1000 */

/* out[0..WIDE) = a[0..na) * b[0..nb). */
static void mul(const uint64_t *a, int na, const uint64_t *b, int nb, uint64_t *out)
{
    memset(out, 0, WIDE * sizeof *out);
    for (int i = 0; i < na; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < nb && i + j < WIDE; j++) {
            unsigned __int128 t = (unsigned __int128)a[i] * b[j] + out[i + j] + carry;
            out[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        if (i + nb < WIDE)
            out[i + nb] = carry;
    }
}

void ppx_xacc_mean_std(const ppx_xacc *s, const ppx_xacc *q, uint64_t n, double *mean, double *std)
{
    if (!n) {
        *mean = *std = 0;
        return;
    }
    *mean = (double)(ppx_xacc_value(s) / (long double)n);
    /* n*q*2^SCALE - s^2 = n^2 * var * 2^(2*SCALE), exactly. */
    uint64_t sm[PPX_XACC_LIMBS], s2[WIDE], nq[WIDE], qs[PPX_XACC_LIMBS + 5] = {0};
    magnitude(s->w, sm, PPX_XACC_LIMBS);
    mul(sm, PPX_XACC_LIMBS, sm, PPX_XACC_LIMBS, s2);
    /* q << SCALE: SCALE = 4*64 + 42 */
    for (int j = 0; j < PPX_XACC_LIMBS; j++) {
        qs[j + 4] |= q->w[j] << 42;
        qs[j + 5] |= q->w[j] >> 22;
    }
    mul(qs, PPX_XACC_LIMBS + 5, &n, 1, nq);
    uint64_t d[WIDE];
    unsigned borrow = 0;
    for (int j = 0; j < WIDE; j++) {
        uint64_t x = nq[j] - s2[j];
        unsigned b1 = nq[j] < s2[j];
        d[j] = x - borrow;
        borrow = b1 | (x < borrow);
    }
    if (borrow) { /* cannot happen (Cauchy-Schwarz); a zero spread, not garbage */
        *std = 0;
        return;
    }
    long double var = limbs_ld(d, WIDE, 2 * SCALE) / ((long double)n * (long double)n);
    *std = (double)sqrtl(var);
}

int ppx_rstats_type_index(ppx_sample t)
{
    switch (t) {
    case PPX_U8:
        return 0;
    case PPX_U16:
        return 1;
    case PPX_U32:
        return 2;
    case PPX_I8:
        return 3;
    case PPX_I16:
        return 4;
    case PPX_I32:
        return 5;
    case PPX_F32:
        return 6;
    }
    return -1;
}

ppx_sample ppx_rstats_type(int index)
{
    static const ppx_sample t[PPX_RSTATS_TYPES] = {PPX_U8,  PPX_U16, PPX_U32, PPX_I8,
                                                   PPX_I16, PPX_I32, PPX_F32};
    return t[index];
}

unsigned ppx_rstats_bin(ppx_sample t, int64_t v, uint32_t fbits)
{
    if (t == PPX_F32)
        return fbits >> 26;
    unsigned bits = (unsigned)ppx_sample_size(t) * 8;
    uint64_t off =
        ppx_sample_is_signed(t) ? (uint64_t)(v + (INT64_C(1) << (bits - 1))) : (uint64_t)v;
    return (unsigned)(off >> (bits - 6));
}

void ppx_band_stats_init(ppx_band_stats *b)
{
    memset(b, 0, sizeof *b);
    b->min = INFINITY;
    b->max = -INFINITY;
}

/* a < b in the order that puts -0.0 below 0.0. */
static int below(double a, double b)
{
    return a < b || (a == b && signbit(a) && !signbit(b));
}

void ppx_band_stats_merge(ppx_band_stats *d, const ppx_band_stats *s)
{
    d->count += s->count;
    d->nan += s->nan;
    d->posinf += s->posinf;
    d->neginf += s->neginf;
    if (below(s->min, d->min))
        d->min = s->min;
    if (below(d->max, s->max))
        d->max = s->max;
    ppx_xacc_merge(&d->sum, &s->sum);
    ppx_xacc_merge(&d->sumsq, &s->sumsq);
    for (int k = 0; k < PPX_RSTATS_BINS; k++)
        d->hist[k] += s->hist[k];
}

/* The value of sample x of row p. */
static int64_t sample_int(ppx_sample t, const uint8_t *p, size_t x)
{
    switch (t) {
    case PPX_U8:
        return p[x];
    case PPX_U16:
        return ((const uint16_t *)p)[x];
    case PPX_U32:
        return ((const uint32_t *)p)[x];
    case PPX_I8:
        return ((const int8_t *)p)[x];
    case PPX_I16:
        return ((const int16_t *)p)[x];
    default:
        return ((const int32_t *)p)[x];
    }
}

/* Integer bands: exact 64/128-bit sums per image, then one addition each. */
static void band_int(const ppx_image *img, unsigned b, ppx_band_stats *bs)
{
    int64_t sum = 0, mn = INT64_MAX, mx = INT64_MIN;
    unsigned __int128 sq = 0;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *p = ppx_image_row(img, y);
        for (uint32_t x = 0; x < img->width; x++) {
            int64_t v = sample_int(img->type, p, (size_t)x * img->channels + b);
            sum += v;
            uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            sq += (unsigned __int128)a * a;
            if (v < mn)
                mn = v;
            if (v > mx)
                mx = v;
            bs->hist[ppx_rstats_bin(img->type, v, 0)]++;
        }
    }
    bs->count = (uint64_t)img->width * img->height;
    if (bs->count) {
        bs->min = (double)mn;
        bs->max = (double)mx;
    }
    ppx_xacc_add_i64(&bs->sum, sum);
    ppx_xacc_add_u128(&bs->sumsq, (uint64_t)sq, (uint64_t)(sq >> 64));
}

static void band_f32(const ppx_image *img, unsigned b, ppx_band_stats *bs)
{
    for (uint32_t y = 0; y < img->height; y++) {
        const float *p = (const float *)ppx_image_row(img, y);
        for (uint32_t x = 0; x < img->width; x++) {
            float v = p[(size_t)x * img->channels + b];
            uint32_t bits;
            memcpy(&bits, &v, 4);
            if (isnan(v)) {
                bs->nan++;
                continue;
            }
            if (isinf(v)) {
                if (v > 0)
                    bs->posinf++;
                else
                    bs->neginf++;
                continue;
            }
            bs->count++;
            if (below(v, bs->min))
                bs->min = v;
            if (below(bs->max, v))
                bs->max = v;
            ppx_xacc_add_f32(&bs->sum, v);
            ppx_xacc_add_sq_f32(&bs->sumsq, v);
            bs->hist[bits >> 26]++;
        }
    }
}

void ppx_raster_img_stats_compute(const ppx_image *img, ppx_raster_img_stats *st)
{
    int ti = ppx_rstats_type_index(img->type);
    st->type = (uint8_t)(ti + 1);
    st->bands = (uint16_t)img->channels;
    st->pixels = (uint64_t)img->width * img->height;
    if (ti < 0)
        return;
    for (unsigned b = 0; b < img->channels && b < PPX_RSTATS_BANDS; b++) {
        ppx_band_stats_init(&st->band[b]);
        if (img->type == PPX_F32)
            band_f32(img, b, &st->band[b]);
        else
            band_int(img, b, &st->band[b]);
    }
}
