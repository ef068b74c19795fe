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
    /* The memset above zeroed the bands; only their extremes start elsewhere
     * (what ppx_band_stats_init does, without zeroing 112 bands twice: rank
     * 0 decodes a result's statistics for every chunk it serves with the
     * bytes transport, and this loop was 6 % of its CPU there). */
    for (int t = 0; t < PPX_RSTATS_TYPES; t++) {
        s->raster[t].bands_min = UINT32_MAX;
        for (int b = 0; b < PPX_RSTATS_BANDS; b++) {
            s->raster[t].band[b].min = INFINITY;
            s->raster[t].band[b].max = -INFINITY;
        }
    }
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

static void add_raster(ppx_stats *s, const ppx_raster_img_stats *r)
{
    ppx_raster_group *g = &s->raster[r->type - 1];
    g->images++;
    g->pixels += r->pixels;
    if (r->bands < g->bands_min)
        g->bands_min = r->bands;
    if (r->bands > g->bands_max)
        g->bands_max = r->bands;
    for (unsigned b = 0; b < r->bands && b < PPX_RSTATS_BANDS; b++)
        ppx_band_stats_merge(&g->band[b], &r->band[b]);
}

static void merge_raster(ppx_raster_group *d, const ppx_raster_group *s)
{
    if (!s->images)
        return;
    d->images += s->images;
    d->pixels += s->pixels;
    if (s->bands_min < d->bands_min)
        d->bands_min = s->bands_min;
    if (s->bands_max > d->bands_max)
        d->bands_max = s->bands_max;
    for (unsigned b = 0; b < s->bands_max && b < PPX_RSTATS_BANDS; b++)
        ppx_band_stats_merge(&d->band[b], &s->band[b]);
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
    if (st && st->raster.type)
        add_raster(s, &st->raster);
    if (st) {
        s->clipped += st->clipped;
        s->narrowed += st->narrowed;
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
    d->nodata += s->nodata;
    d->clipped += s->clipped;
    d->narrowed += s->narrowed;
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
    for (int t = 0; t < PPX_RSTATS_TYPES; t++)
        merge_raster(&d->raster[t], &s->raster[t]);
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

/* ---- Serialisation --------------------------------------------------------
 *
 * Format 2 (tag "PXS2") writes only what differs from an empty accumulator,
 * so that a resume-journal record costs what its chunk holds: format 1 wrote
 * every present group whole, 8.56 KB a record, and `--chunk-size 1` on
 * 10,000 images made an 86 MB journal. Integers are LEB128 varints (7 bits
 * a byte, low first).
 *
 *   "PXS2"
 *   varint  mask of the 15 scalars (ppx_stats order) that differ from
 *           ppx_stats_init's value, then each of those as a varint
 *   u8      mask of the groups that differ from an empty group, then each:
 *     varint images, varint pixels
 *     4 x band: u8 flags (F_* below), then the flagged fields as varints in
 *           flag order: sum lo, sum hi, sumsq lo, sumsq hi, min (written
 *           when below UINT32_MAX), max (when above 0), then the histogram:
 *       varint  number of runs of non-zero bins; per run a varint gap of
 *               empty bins before it and a varint length
 *       u8      Rice parameter k (0..63)
 *       bits    per bin of the runs, its count minus the previous count
 *               (mod 2^64, zigzag-coded), Rice-coded: quotient in unary
 *               (RICE_ESC ones: an escape, then the value in 64 raw bits),
 *               then k low bits; low bit first, padded to a byte
 *
 * Neighbouring bins of a photo's histogram hold similar counts, so their
 * differences are small and about Laplacian; Rice coding them with the best
 * k for the band costs about log2(spread) + 2 bits a bin, near their entropy,
 * where a byte-aligned varint of each count costs 16 to 24 bits. Every field
 * is written whole and differences wrap modulo 2^64, so any ppx_stats
 * (counts near 2^64, 128-bit sums) reads back bit-identical.
 *
 * Format 1 ("PPXS1" as a u64, then fixed u64 words) is still read, so that
 * journals written before format 2 resume. */
static const uint8_t stats_tag2[4] = {'P', 'X', 'S', '2'};
/* Format 3 ("PXS3"): format 2's fields, then a u8 mask of the raster groups
 * present (ppx_rstats_type_index) and each (put_raster), all varints, the
 * doubles as their IEEE bits. Written only when rasters were measured, so
 * photo-only journals stay format 2. */
static const uint8_t stats_tag3[4] = {'P', 'X', 'S', '3'};
#define STATS_MAGIC1 0x3153585050ULL
#define STATS_NSCAL 15
#define STATS_NSCAL_V1 12 /* format 1 had no nodata count */

enum { F_SUM_LO = 1, F_SUM_HI = 2, F_SQ_LO = 4, F_SQ_HI = 8, F_MIN = 16, F_MAX = 32, F_HIST = 64 };

/* A Rice quotient from here on is written as an escape and 64 raw bits: it
 * bounds the unary run a reader follows, and an outlier costs 88 bits
 * instead of a k chosen for it. */
#define RICE_ESC 24

_Static_assert(PPX_STATS_GROUPS <= 8, "the group mask is one byte");

/* The 15 scalars in serialisation order (the same for writing and reading;
 * format 1 has the first 12). */
#define STATS_SCALARS(s)                                                                           \
    {                                                                                              \
        &(s)->total, &(s)->ok, &(s)->failed, &(s)->bytes_read, &(s)->bytes_written, &(s)->sized,   \
            &(s)->w_min, &(s)->w_max, &(s)->w_sum, &(s)->h_min, &(s)->h_max, &(s)->h_sum,          \
            &(s)->nodata, &(s)->clipped, &(s)->narrowed                                            \
    }

static int put_u8(ppx_buf *o, unsigned v)
{
    uint8_t b = (uint8_t)v;
    return ppx_buf_append(o, &b, 1);
}

static int put_varint(ppx_buf *o, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    return ppx_buf_append(o, b, n);
}

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

/* Bits appended low first, straight into room reserved in the output. */
#define HIST_BITS_MAX (256 * (RICE_ESC + 64) / 8 + 1)
typedef struct {
    uint8_t *out;
    size_t len;
    uint64_t acc;
    unsigned n; /* bits in acc, below 8 between calls */
} bit_writer;

/* Appends the k <= 32 low bits of v. */
static void put_bits(bit_writer *w, uint64_t v, unsigned k)
{
    w->acc |= (v & ((1ULL << k) - 1)) << w->n;
    w->n += k;
    for (; w->n >= 8; w->n -= 8, w->acc >>= 8)
        w->out[w->len++] = (uint8_t)w->acc;
}

static void put_rice(bit_writer *w, uint64_t z, unsigned k)
{
    uint64_t q = z >> k;
    if (q >= RICE_ESC) {
        put_bits(w, (1u << RICE_ESC) - 1, RICE_ESC);
        put_bits(w, z, 32);
        put_bits(w, z >> 32, 32);
        return;
    }
    put_bits(w, (1u << q) - 1, (unsigned)q + 1); /* q ones, then a zero */
    if (k > 32) {
        put_bits(w, z, 32);
        put_bits(w, z >> 32, k - 32);
    } else {
        put_bits(w, z, k);
    }
}

static uint64_t rice_bits(const uint64_t *z, size_t n, unsigned k)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t q = z[i] >> k;
        bits += q < RICE_ESC ? q + 1 + k : RICE_ESC + 64;
    }
    return bits;
}

/* The k that codes z[0..n) in the fewest bits, or close to it: a descent
 * from log2 of the mean (Golomb's rule for geometric data). The cost is
 * about unimodal in k, and the descent tries a handful of k instead of 64;
 * the mean alone is a poor guess, as each run's first count (a jump from
 * the previous run) inflates it. */
static unsigned rice_k(const uint64_t *z, size_t n)
{
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += (double)z[i];
    mean = n ? mean / (double)n : 0;
    int e = 0;
    if (mean >= 1)
        frexp(mean, &e);
    unsigned k = e < 63 ? (unsigned)e : 63;
    uint64_t bits = rice_bits(z, n, k);
    for (int down = 1; down >= 0; down--)
        while (down ? k > 0 : k < 63) {
            unsigned next = down ? k - 1 : k + 1;
            uint64_t b = rice_bits(z, n, next);
            if (b >= bits)
                break;
            bits = b;
            k = next;
        }
    return k;
}

static int put_hist(ppx_buf *o, const uint64_t h[256])
{
    unsigned runs = 0;
    for (unsigned v = 0; v < 256; v++)
        runs += h[v] && (v == 0 || !h[v - 1]);
    int rc = put_varint(o, runs);
    uint64_t z[256], prev = 0;
    size_t nz = 0;
    for (unsigned v = 0, pos = 0; v < 256 && !rc;) {
        if (!h[v]) {
            v++;
            continue;
        }
        unsigned start = v;
        for (; v < 256 && h[v]; v++) {
            z[nz++] = zigzag(h[v] - prev);
            prev = h[v];
        }
        rc = put_varint(o, start - pos) || put_varint(o, v - start);
        pos = v;
    }
    unsigned k = rice_k(z, nz);
    if (rc || put_u8(o, k) || ppx_buf_reserve(o, o->len + HIST_BITS_MAX))
        return PPX_ENOMEM;
    bit_writer w = {o->data + o->len, 0, 0, 0};
    for (size_t i = 0; i < nz; i++)
        put_rice(&w, z[i], k);
    if (w.n)
        put_bits(&w, 0, 8 - w.n);
    o->len += w.len;
    return 0;
}

static int group_is_empty(const ppx_group_stats *g)
{
    static const ppx_group_stats empty = {.min = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX}};
    return memcmp(g, &empty, sizeof empty) == 0;
}

static int put_group(ppx_buf *o, const ppx_group_stats *g)
{
    int rc = put_varint(o, g->images) || put_varint(o, g->pixels);
    for (int b = 0; b < 4 && !rc; b++) {
        int hist = 0;
        for (int v = 0; v < 256 && !hist; v++)
            hist = g->hist[b][v] != 0;
        unsigned f = (g->sum[b].lo ? F_SUM_LO : 0) | (g->sum[b].hi ? F_SUM_HI : 0) |
                     (g->sumsq[b].lo ? F_SQ_LO : 0) | (g->sumsq[b].hi ? F_SQ_HI : 0) |
                     (g->min[b] != UINT32_MAX ? F_MIN : 0) | (g->max[b] ? F_MAX : 0) |
                     (hist ? F_HIST : 0);
        rc = put_u8(o, f) || ((f & F_SUM_LO) && put_varint(o, g->sum[b].lo)) ||
             ((f & F_SUM_HI) && put_varint(o, g->sum[b].hi)) ||
             ((f & F_SQ_LO) && put_varint(o, g->sumsq[b].lo)) ||
             ((f & F_SQ_HI) && put_varint(o, g->sumsq[b].hi)) ||
             ((f & F_MIN) && put_varint(o, g->min[b])) ||
             ((f & F_MAX) && put_varint(o, g->max[b])) || ((f & F_HIST) && put_hist(o, g->hist[b]));
    }
    return rc;
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static int put_band(ppx_buf *o, const ppx_band_stats *b)
{
    int rc = put_varint(o, b->count) || put_varint(o, b->nan) || put_varint(o, b->posinf) ||
             put_varint(o, b->neginf) || put_varint(o, dbits(b->min)) ||
             put_varint(o, dbits(b->max));
    for (int j = 0; j < PPX_XACC_LIMBS && !rc; j++)
        rc = put_varint(o, b->sum.w[j]) || put_varint(o, b->sumsq.w[j]);
    for (int k = 0; k < PPX_RSTATS_BINS && !rc; k++)
        rc = put_varint(o, b->hist[k]);
    return rc;
}

/* Format 3's raster group: images, pixels, bands_min, bands_max, the
 * number of bands written (those up to the last that differs from an
 * empty band, at most PPX_RSTATS_BANDS), then each. */
static int put_raster(ppx_buf *o, const ppx_raster_group *g)
{
    ppx_band_stats empty;
    ppx_band_stats_init(&empty);
    unsigned nb = PPX_RSTATS_BANDS;
    while (nb && memcmp(&g->band[nb - 1], &empty, sizeof empty) == 0)
        nb--;
    int rc = put_varint(o, g->images) || put_varint(o, g->pixels) || put_varint(o, g->bands_min) ||
             put_varint(o, g->bands_max) || put_varint(o, nb);
    for (unsigned b = 0; b < nb && !rc; b++)
        rc = put_band(o, &g->band[b]);
    return rc;
}

int ppx_stats_serialize(const ppx_stats *s, ppx_buf *o)
{
    ppx_stats init;
    ppx_stats_init(&init);
    const uint64_t *scal[] = STATS_SCALARS(s), *scal0[] = STATS_SCALARS(&init);
    uint64_t smask = 0;
    for (int i = 0; i < STATS_NSCAL; i++)
        if (*scal[i] != *scal0[i])
            smask |= 1ULL << i;
    unsigned gmask = 0;
    for (int g = 0; g < PPX_STATS_GROUPS; g++)
        if (!group_is_empty(&s->group[g]))
            gmask |= 1u << g;
    unsigned rmask = 0;
    for (int t = 0; t < PPX_RSTATS_TYPES; t++)
        if (memcmp(&s->raster[t], &init.raster[t], sizeof init.raster[t]) != 0)
            rmask |= 1u << t;
    int rc = ppx_buf_append(o, rmask ? stats_tag3 : stats_tag2, sizeof stats_tag2) ||
             put_varint(o, smask);
    for (int i = 0; i < STATS_NSCAL && !rc; i++)
        if (smask & (1ULL << i))
            rc = put_varint(o, *scal[i]);
    rc = rc || put_u8(o, gmask);
    for (int g = 0; g < PPX_STATS_GROUPS && !rc; g++)
        if (gmask & (1u << g))
            rc = put_group(o, &s->group[g]);
    if (rmask) {
        rc = rc || put_u8(o, rmask);
        for (int t = 0; t < PPX_RSTATS_TYPES && !rc; t++)
            if (rmask & (1u << t))
                rc = put_raster(o, &s->raster[t]);
    }
    return rc ? PPX_ENOMEM : 0;
}

/* Reader over untrusted bytes: a read past the end sets bad and yields 0,
 * so a parser checks bad once after a group of fields. */
typedef struct {
    const uint8_t *p, *end;
    int bad;
} rd;

static unsigned get_u8(rd *r)
{
    if (r->bad || r->p == r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static uint64_t get_varint(rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        unsigned b = get_u8(r);
        /* The tenth byte holds bit 63 only: anything more overflows. */
        if (r->bad || (shift == 63 && b > 1)) {
            r->bad = 1;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

/* Bits read low first from r's bytes. acc is filled a byte at a time ahead
 * of use; bytes it holds whole when the band ends go back to r (the
 * partial last byte is padding). */
typedef struct {
    rd *r;
    uint64_t acc;
    unsigned n; /* bits in acc */
} bit_reader;

static void fill(bit_reader *b)
{
    for (; b->n <= 56 && b->r->p < b->r->end; b->n += 8)
        b->acc |= (uint64_t)*b->r->p++ << b->n;
}

/* The next k <= 32 bits. */
static uint64_t get_bits(bit_reader *b, unsigned k)
{
    if (b->n < k)
        fill(b);
    if (b->n < k) {
        b->r->bad = 1;
        return 0;
    }
    uint64_t v = b->acc & ((1ULL << k) - 1);
    b->acc >>= k;
    b->n -= k;
    return v;
}

static uint64_t get_rice(bit_reader *b, unsigned k)
{
    /* The quotient: the ones before the first zero. Bits of acc past n are
     * zero, so the count stops at n when the input ends first. */
    fill(b);
    uint64_t q = b->acc == UINT64_MAX ? 64 : (uint64_t)__builtin_ctzll(~b->acc), low;
    if (q >= RICE_ESC) {
        get_bits(b, RICE_ESC);
        low = get_bits(b, 32);
        return low | get_bits(b, 32) << 32;
    }
    /* The terminating zero, or a quotient the writer cannot have made
     * (q << k would overflow). */
    if (q >= b->n || q > UINT64_MAX >> k) {
        b->r->bad = 1;
        return 0;
    }
    get_bits(b, (unsigned)q + 1);
    low = get_bits(b, k > 32 ? 32 : k);
    if (k > 32)
        low |= get_bits(b, k - 32) << 32;
    return q << k | low;
}

static void end_bits(bit_reader *b)
{
    b->r->p -= b->n / 8;
}

static int get_hist(rd *r, uint64_t h[256])
{
    uint16_t start[128], len[128];
    uint64_t runs = get_varint(r);
    if (r->bad || runs > 128) /* runs are separated by empty bins */
        return PPX_ECORRUPT;
    uint64_t pos = 0;
    for (uint64_t i = 0; i < runs; i++) {
        uint64_t gap = get_varint(r), n = get_varint(r);
        if (r->bad || gap > 256 - pos || n == 0 || n > 256 - pos - gap)
            return PPX_ECORRUPT;
        start[i] = (uint16_t)(pos + gap);
        len[i] = (uint16_t)n;
        pos += gap + n;
    }
    unsigned k = get_u8(r);
    if (r->bad || k > 63)
        return PPX_ECORRUPT;
    bit_reader b = {r, 0, 0};
    uint64_t prev = 0;
    for (uint64_t i = 0; i < runs && !r->bad; i++)
        for (unsigned v = start[i]; v < (unsigned)start[i] + len[i]; v++) {
            prev += unzigzag(get_rice(&b, k));
            h[v] = prev;
        }
    end_bits(&b);
    return r->bad ? PPX_ECORRUPT : 0;
}

static int get_group(rd *r, ppx_group_stats *g)
{
    g->images = get_varint(r);
    g->pixels = get_varint(r);
    for (int b = 0; b < 4 && !r->bad; b++) {
        unsigned f = get_u8(r);
        if (f & ~0x7fu)
            return PPX_ECORRUPT; /* a flag this version does not know */
        g->sum[b].lo = f & F_SUM_LO ? get_varint(r) : 0;
        g->sum[b].hi = f & F_SUM_HI ? get_varint(r) : 0;
        g->sumsq[b].lo = f & F_SQ_LO ? get_varint(r) : 0;
        g->sumsq[b].hi = f & F_SQ_HI ? get_varint(r) : 0;
        uint64_t mn = f & F_MIN ? get_varint(r) : UINT32_MAX, mx = f & F_MAX ? get_varint(r) : 0;
        if (mn > UINT32_MAX || mx > UINT32_MAX)
            return PPX_ECORRUPT;
        g->min[b] = (uint32_t)mn;
        g->max[b] = (uint32_t)mx;
        if ((f & F_HIST) && get_hist(r, g->hist[b]))
            return PPX_ECORRUPT;
    }
    return r->bad ? PPX_ECORRUPT : 0;
}

static double get_dbl(rd *r)
{
    uint64_t u = get_varint(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static int get_raster(rd *r, ppx_raster_group *g)
{
    g->images = get_varint(r);
    g->pixels = get_varint(r);
    uint64_t bmin = get_varint(r), bmax = get_varint(r), nb = get_varint(r);
    if (r->bad || bmin > UINT32_MAX || bmax > UINT32_MAX || nb > PPX_RSTATS_BANDS)
        return PPX_ECORRUPT;
    g->bands_min = (uint32_t)bmin;
    g->bands_max = (uint32_t)bmax;
    for (unsigned b = 0; b < nb && !r->bad; b++) {
        ppx_band_stats *s = &g->band[b];
        s->count = get_varint(r);
        s->nan = get_varint(r);
        s->posinf = get_varint(r);
        s->neginf = get_varint(r);
        s->min = get_dbl(r);
        s->max = get_dbl(r);
        for (int j = 0; j < PPX_XACC_LIMBS; j++) {
            s->sum.w[j] = get_varint(r);
            s->sumsq.w[j] = get_varint(r);
        }
        for (int k = 0; k < PPX_RSTATS_BINS; k++)
            s->hist[k] = get_varint(r);
    }
    return r->bad ? PPX_ECORRUPT : 0;
}

static int deserialize_v2(const uint8_t *p, size_t n, ppx_stats *t, size_t *used, int v3)
{
    rd r = {p + sizeof stats_tag2, p + n, 0};
    uint64_t *scal[] = STATS_SCALARS(t);
    uint64_t smask = get_varint(&r);
    if (r.bad || smask >> STATS_NSCAL)
        return PPX_ECORRUPT;
    for (int i = 0; i < STATS_NSCAL; i++)
        if (smask & (1ULL << i))
            *scal[i] = get_varint(&r);
    unsigned gmask = get_u8(&r);
    if (r.bad || gmask >> PPX_STATS_GROUPS)
        return PPX_ECORRUPT;
    for (int g = 0; g < PPX_STATS_GROUPS; g++)
        if ((gmask & (1u << g)) && get_group(&r, &t->group[g]))
            return PPX_ECORRUPT;
    if (v3) {
        unsigned rmask = get_u8(&r);
        if (r.bad || !rmask || rmask >> PPX_RSTATS_TYPES)
            return PPX_ECORRUPT;
        for (int i = 0; i < PPX_RSTATS_TYPES; i++)
            if ((rmask & (1u << i)) && get_raster(&r, &t->raster[i]))
                return PPX_ECORRUPT;
    }
    *used = (size_t)(r.p - p);
    return 0;
}

/* Format 1: magic, the 12 scalars, a mask of present groups, then each
 * group's 1058 words (images, pixels, per band sum lo/hi, sumsq lo/hi, min,
 * max, then the four 256-bin histograms). */
static int deserialize_v1(const uint8_t *p, size_t n, ppx_stats *t, size_t *used)
{
    const size_t group_words = 2 + 4 * 6 + 4 * 256;
    if (n < 8 * (STATS_NSCAL_V1 + 2))
        return PPX_ECORRUPT;
    const uint8_t *q = p + 8;
    uint64_t *scal[] = STATS_SCALARS(t);
    for (size_t i = 0; i < STATS_NSCAL_V1; i++, q += 8)
        *scal[i] = ppx_get_le64(q);
    uint64_t mask = ppx_get_le64(q);
    q += 8;
    if (mask >> PPX_STATS_GROUPS)
        return PPX_ECORRUPT;
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        if (!(mask & (1ULL << gi)))
            continue;
        if ((size_t)(p + n - q) < 8 * group_words)
            return PPX_ECORRUPT;
        ppx_group_stats *g = &t->group[gi];
        g->images = ppx_get_le64(q);
        g->pixels = ppx_get_le64(q + 8);
        q += 16;
        for (int b = 0; b < 4; b++, q += 48) {
            g->sum[b].lo = ppx_get_le64(q);
            g->sum[b].hi = ppx_get_le64(q + 8);
            g->sumsq[b].lo = ppx_get_le64(q + 16);
            g->sumsq[b].hi = ppx_get_le64(q + 24);
            uint64_t mn = ppx_get_le64(q + 32), mx = ppx_get_le64(q + 40);
            if (mn > UINT32_MAX || mx > UINT32_MAX)
                return PPX_ECORRUPT;
            g->min[b] = (uint32_t)mn;
            g->max[b] = (uint32_t)mx;
        }
        for (int b = 0; b < 4; b++)
            for (int v = 0; v < 256; v++, q += 8)
                g->hist[b][v] = ppx_get_le64(q);
    }
    *used = (size_t)(q - p);
    return 0;
}

int ppx_stats_deserialize(const uint8_t *p, size_t n, ppx_stats *s, size_t *used)
{
    /* Parsed into a copy: s is written only on success. */
    ppx_stats t;
    ppx_stats_init(&t);
    size_t u = 0;
    int rc = PPX_ECORRUPT;
    if (n >= sizeof stats_tag2 && memcmp(p, stats_tag2, sizeof stats_tag2) == 0)
        rc = deserialize_v2(p, n, &t, &u, 0);
    else if (n >= sizeof stats_tag3 && memcmp(p, stats_tag3, sizeof stats_tag3) == 0)
        rc = deserialize_v2(p, n, &t, &u, 1);
    else if (n >= 8 && ppx_get_le64(p) == STATS_MAGIC1)
        rc = deserialize_v1(p, n, &t, &u);
    if (rc)
        return rc;
    *s = t;
    if (used)
        *used = u;
    return 0;
}

int ppx_img_stats_pack(const ppx_img_stats *st, ppx_buf *o)
{
    int rc = ppx_put_u32(o, st->channels) || ppx_put_u32(o, st->bits) || ppx_put_u64(o, st->pixels);
    for (unsigned c = 0; c < st->channels && c < 4 && !rc; c++) {
        rc = ppx_put_u64(o, st->sum[c]) || ppx_put_u64(o, st->sumsq[c]) ||
             ppx_put_u32(o, st->min[c]) || ppx_put_u32(o, st->max[c]);
        for (int v = 0; v < 256 && !rc; v++)
            rc = ppx_put_u32(o, st->hist[c][v]);
    }
    const ppx_raster_img_stats *ra = &st->raster;
    rc = rc || ppx_put_u64(o, st->clipped) || ppx_put_u64(o, st->narrowed) ||
         ppx_put_u32(o, ra->type) || ppx_put_u32(o, ra->bands) || ppx_put_u64(o, ra->pixels);
    for (unsigned b = 0; ra->type && b < ra->bands && b < PPX_RSTATS_BANDS && !rc; b++) {
        const ppx_band_stats *bs = &ra->band[b];
        rc = ppx_put_u64(o, bs->count) || ppx_put_u64(o, bs->nan) || ppx_put_u64(o, bs->posinf) ||
             ppx_put_u64(o, bs->neginf) || ppx_put_u64(o, dbits(bs->min)) ||
             ppx_put_u64(o, dbits(bs->max));
        for (int j = 0; j < PPX_XACC_LIMBS && !rc; j++)
            rc = ppx_put_u64(o, bs->sum.w[j]) || ppx_put_u64(o, bs->sumsq.w[j]);
        for (int k = 0; k < PPX_RSTATS_BINS && !rc; k++)
            rc = ppx_put_u64(o, bs->hist[k]);
    }
    return rc ? PPX_ENOMEM : 0;
}

static int unpack_raster(ppx_rd *r, ppx_raster_img_stats *ra)
{
    uint32_t type = ppx_get_u32(r), bands = ppx_get_u32(r);
    ra->pixels = ppx_get_u64(r);
    if (r->bad || type > PPX_RSTATS_TYPES || bands > PPX_MAX_BANDS || (type && !bands))
        return PPX_ECORRUPT;
    ra->type = (uint8_t)type;
    ra->bands = (uint16_t)bands;
    for (unsigned b = 0; type && b < bands && b < PPX_RSTATS_BANDS; b++) {
        ppx_band_stats *bs = &ra->band[b];
        bs->count = ppx_get_u64(r);
        bs->nan = ppx_get_u64(r);
        bs->posinf = ppx_get_u64(r);
        bs->neginf = ppx_get_u64(r);
        uint64_t mn = ppx_get_u64(r), mx = ppx_get_u64(r);
        memcpy(&bs->min, &mn, 8);
        memcpy(&bs->max, &mx, 8);
        for (int j = 0; j < PPX_XACC_LIMBS; j++) {
            bs->sum.w[j] = ppx_get_u64(r);
            bs->sumsq.w[j] = ppx_get_u64(r);
        }
        for (int k = 0; k < PPX_RSTATS_BINS; k++)
            bs->hist[k] = ppx_get_u64(r);
    }
    return r->bad ? PPX_ECORRUPT : 0;
}

int ppx_img_stats_unpack(ppx_rd *r, ppx_img_stats *st)
{
    ppx_img_stats t;
    memset(&t, 0, sizeof t);
    uint32_t channels = ppx_get_u32(r), bits = ppx_get_u32(r);
    t.pixels = ppx_get_u64(r);
    if (r->bad || channels > 4 || (channels && bits != 8 && bits != 16))
        return PPX_ECORRUPT;
    t.channels = (uint8_t)channels;
    t.bits = (uint8_t)bits;
    for (uint32_t c = 0; c < channels; c++) {
        t.sum[c] = ppx_get_u64(r);
        t.sumsq[c] = ppx_get_u64(r);
        uint32_t mn = ppx_get_u32(r), mx = ppx_get_u32(r);
        if (mn > UINT16_MAX || mx > UINT16_MAX)
            return PPX_ECORRUPT;
        t.min[c] = (uint16_t)mn;
        t.max[c] = (uint16_t)mx;
        for (int v = 0; v < 256; v++)
            t.hist[c][v] = ppx_get_u32(r);
    }
    t.clipped = ppx_get_u64(r);
    t.narrowed = ppx_get_u64(r);
    if (unpack_raster(r, &t.raster) || r->bad)
        return PPX_ECORRUPT;
    *st = t;
    return 0;
}
