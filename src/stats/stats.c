#include "prepix/stats.h"

#include <math.h>
#include <string.h>

#include "prepix/error.h"

void ppx_stats_init(ppx_stats *s)
{
    memset(s, 0, sizeof *s);
    s->w_min = s->h_min = UINT64_MAX;
    for (int g = 0; g < PPX_STATS_GROUPS; g++)
        for (int b = 0; b < 4; b++)
            s->group[g].min[b] = UINT32_MAX;
}

int ppx_stats_group(unsigned channels, unsigned bits)
{
    if (channels < 1 || channels > 4 || (bits != 8 && bits != 16))
        return -1;
    return (int)(channels - 1) + (bits == 16 ? 4 : 0);
}

static void add128(ppx_u128 *a, uint64_t lo, uint64_t hi)
{
    uint64_t old = a->lo;
    a->lo += lo;
    a->hi += hi + (a->lo < old);
}

/* 8-bit histograms. Called with a constant c, so the band loop unrolls;
 * two sub-histograms for even and odd pixels break the store-to-load chain
 * of flat areas, where consecutive samples hit the same bin. */
static inline __attribute__((always_inline)) void hist8(const ppx_image *img, unsigned c,
                                                        uint32_t hist[4][256])
{
    uint32_t sub[2][4][256];
    memset(sub, 0, sizeof sub);
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *p = ppx_image_row(img, y);
        uint32_t x = 0;
        for (; x + 1 < img->width; x += 2, p += 2 * c)
            for (unsigned b = 0; b < c; b++) {
                sub[0][b][p[b]]++;
                sub[1][b][p[c + b]]++;
            }
        if (x < img->width)
            for (unsigned b = 0; b < c; b++)
                sub[0][b][p[b]]++;
    }
    for (unsigned b = 0; b < c; b++)
        for (int v = 0; v < 256; v++)
            hist[b][v] = sub[0][b][v] + sub[1][b][v];
}

void ppx_img_stats_compute(const ppx_image *img, ppx_img_stats *st)
{
    memset(st, 0, sizeof *st);
    unsigned c = img->channels;
    st->channels = (uint8_t)c;
    st->bits = img->type == PPX_U16 ? 16 : 8;
    st->pixels = (uint64_t)img->width * img->height;
    for (unsigned b = 0; b < c; b++)
        st->min[b] = UINT16_MAX;
    if (img->type == PPX_U8) {
        /* Histogram per band; sums and extremes derive from it exactly. */
        switch (c) {
        case 1:
            hist8(img, 1, st->hist);
            break;
        case 2:
            hist8(img, 2, st->hist);
            break;
        case 3:
            hist8(img, 3, st->hist);
            break;
        default:
            hist8(img, 4, st->hist);
            break;
        }
        for (unsigned b = 0; b < c; b++)
            for (unsigned v = 0; v < 256; v++) {
                uint64_t h = st->hist[b][v];
                if (!h)
                    continue;
                st->sum[b] += h * v;
                st->sumsq[b] += h * v * v;
                if (v < st->min[b])
                    st->min[b] = (uint16_t)v;
                st->max[b] = (uint16_t)v;
            }
    } else {
        for (uint32_t y = 0; y < img->height; y++) {
            const uint16_t *p = (const uint16_t *)ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++)
                for (unsigned b = 0; b < c; b++) {
                    uint64_t v = p[x * c + b];
                    st->hist[b][v >> 8]++;
                    st->sum[b] += v;
                    st->sumsq[b] += v * v;
                    if (v < st->min[b])
                        st->min[b] = (uint16_t)v;
                    if (v > st->max[b])
                        st->max[b] = (uint16_t)v;
                }
        }
    }
}

void ppx_stats_add_image(ppx_stats *s, const ppx_img_stats *st, uint32_t in_w, uint32_t in_h)
{
    if (in_w && in_h) {
        s->sized++;
        s->w_sum += in_w;
        s->h_sum += in_h;
        if (in_w < s->w_min)
            s->w_min = in_w;
        if (in_w > s->w_max)
            s->w_max = in_w;
        if (in_h < s->h_min)
            s->h_min = in_h;
        if (in_h > s->h_max)
            s->h_max = in_h;
    }
    int gi = st ? ppx_stats_group(st->channels, st->bits) : -1;
    if (gi < 0)
        return;
    ppx_group_stats *g = &s->group[gi];
    g->images++;
    g->pixels += st->pixels;
    for (unsigned b = 0; b < st->channels; b++) {
        add128(&g->sum[b], st->sum[b], 0);
        add128(&g->sumsq[b], st->sumsq[b], 0);
        if (st->min[b] < g->min[b])
            g->min[b] = st->min[b];
        if (st->max[b] > g->max[b])
            g->max[b] = st->max[b];
        for (int v = 0; v < 256; v++)
            g->hist[b][v] += st->hist[b][v];
    }
}

void ppx_stats_merge(ppx_stats *d, const ppx_stats *s)
{
    d->total += s->total;
    d->ok += s->ok;
    d->failed += s->failed;
    d->bytes_read += s->bytes_read;
    d->bytes_written += s->bytes_written;
    d->sized += s->sized;
    d->w_sum += s->w_sum;
    d->h_sum += s->h_sum;
    if (s->w_min < d->w_min)
        d->w_min = s->w_min;
    if (s->h_min < d->h_min)
        d->h_min = s->h_min;
    if (s->w_max > d->w_max)
        d->w_max = s->w_max;
    if (s->h_max > d->h_max)
        d->h_max = s->h_max;
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *sg = &s->group[gi];
        ppx_group_stats *dg = &d->group[gi];
        if (!sg->images)
            continue;
        dg->images += sg->images;
        dg->pixels += sg->pixels;
        for (int b = 0; b < 4; b++) {
            add128(&dg->sum[b], sg->sum[b].lo, sg->sum[b].hi);
            add128(&dg->sumsq[b], sg->sumsq[b].lo, sg->sumsq[b].hi);
            if (sg->min[b] < dg->min[b])
                dg->min[b] = sg->min[b];
            if (sg->max[b] > dg->max[b])
                dg->max[b] = sg->max[b];
            for (int v = 0; v < 256; v++)
                dg->hist[b][v] += sg->hist[b][v];
        }
    }
}

int ppx_stats_equal(const ppx_stats *a, const ppx_stats *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static long double u128_ld(ppx_u128 v)
{
    return (long double)v.hi * 18446744073709551616.0L + (long double)v.lo;
}

void ppx_group_mean_std(const ppx_group_stats *g, unsigned bits, int b, double *mean, double *std)
{
    long double n = (long double)g->pixels;
    long double scale = bits == 16 ? 65535.0L : 255.0L;
    if (n <= 0) {
        *mean = *std = 0;
        return;
    }
    long double m = u128_ld(g->sum[b]) / n;
    long double var = u128_ld(g->sumsq[b]) / n - m * m;
    if (var < 0)
        var = 0;
    *mean = (double)(m / scale);
    *std = (double)(sqrtl(var) / scale);
}

/* Serialisation: little-endian u64 words. Layout: magic, the 11 scalar
 * words, a bitmask of present groups, then each present group's words. */
#define STATS_MAGIC 0x3153585050ULL /* "PPXS1" */

static size_t group_words(void)
{
    return 2 + 4 * 2 * 2 + 4 * 2 + 4 * 256;
}

int ppx_stats_serialize(const ppx_stats *s, ppx_buf *o)
{
    uint64_t scal[] = {s->total, s->ok,    s->failed, s->bytes_read, s->bytes_written, s->sized,
                       s->w_min, s->w_max, s->w_sum,  s->h_min,      s->h_max,         s->h_sum};
    uint64_t mask = 0;
    for (int g = 0; g < PPX_STATS_GROUPS; g++)
        if (s->group[g].images)
            mask |= 1ULL << g;
    int rc = ppx_buf_put_le64(o, STATS_MAGIC);
    for (size_t i = 0; i < sizeof scal / sizeof scal[0] && !rc; i++)
        rc = ppx_buf_put_le64(o, scal[i]);
    rc = rc ? rc : ppx_buf_put_le64(o, mask);
    for (int gi = 0; gi < PPX_STATS_GROUPS && !rc; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!(mask & (1ULL << gi)))
            continue;
        rc = ppx_buf_put_le64(o, g->images) || ppx_buf_put_le64(o, g->pixels);
        for (int b = 0; b < 4 && !rc; b++)
            rc = ppx_buf_put_le64(o, g->sum[b].lo) || ppx_buf_put_le64(o, g->sum[b].hi) || ppx_buf_put_le64(o, g->sumsq[b].lo) ||
                 ppx_buf_put_le64(o, g->sumsq[b].hi) || ppx_buf_put_le64(o, g->min[b]) || ppx_buf_put_le64(o, g->max[b]);
        for (int b = 0; b < 4 && !rc; b++)
            for (int v = 0; v < 256 && !rc; v++)
                rc = ppx_buf_put_le64(o, g->hist[b][v]);
    }
    return rc ? PPX_ENOMEM : 0;
}

int ppx_stats_deserialize(const uint8_t *p, size_t n, ppx_stats *s, size_t *used)
{
    const size_t nscal = 12;
    if (n < 8 * (nscal + 2) || ppx_get_le64(p) != STATS_MAGIC)
        return PPX_ECORRUPT;
    ppx_stats t;
    ppx_stats_init(&t);
    const uint8_t *q = p + 8;
    uint64_t *scal[] = {&t.total, &t.ok,    &t.failed, &t.bytes_read, &t.bytes_written, &t.sized,
                        &t.w_min, &t.w_max, &t.w_sum,  &t.h_min,      &t.h_max,         &t.h_sum};
    for (size_t i = 0; i < nscal; i++, q += 8)
        *scal[i] = ppx_get_le64(q);
    uint64_t mask = ppx_get_le64(q);
    q += 8;
    if (mask >> PPX_STATS_GROUPS)
        return PPX_ECORRUPT;
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        if (!(mask & (1ULL << gi)))
            continue;
        if ((size_t)(p + n - q) < 8 * group_words())
            return PPX_ECORRUPT;
        ppx_group_stats *g = &t.group[gi];
        g->images = ppx_get_le64(q);
        g->pixels = ppx_get_le64(q + 8);
        q += 16;
        for (int b = 0; b < 4; b++, q += 48) {
            g->sum[b].lo = ppx_get_le64(q);
            g->sum[b].hi = ppx_get_le64(q + 8);
            g->sumsq[b].lo = ppx_get_le64(q + 16);
            g->sumsq[b].hi = ppx_get_le64(q + 24);
            g->min[b] = (uint32_t)ppx_get_le64(q + 32);
            g->max[b] = (uint32_t)ppx_get_le64(q + 40);
        }
        for (int b = 0; b < 4; b++)
            for (int v = 0; v < 256; v++, q += 8)
                g->hist[b][v] = ppx_get_le64(q);
    }
    *s = t;
    if (used)
        *used = (size_t)(q - p);
    return 0;
}
