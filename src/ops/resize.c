/* Separable resampling, Pillow-compatible.
 *
 * Coefficients are computed exactly as Pillow's Resample.c does (same
 * filters, same support widened by the scale factor when shrinking, same
 * double arithmetic), then quantised to 22-bit fixed point for 8-bit images.
 * A horizontal pass writes rounded 8-bit rows, a vertical pass reads them:
 * the same order and rounding as Pillow, so 8-bit results are identical to
 * Image.resize. Integer sums do not depend on their order, which leaves us
 * free to arrange the loops for vectorisation:
 *
 *  - the vertical pass adds whole row segments times one coefficient
 *    (acc[i] += row[i] * k), a plain loop the compiler vectorises;
 *  - the horizontal pass first transposes a strip of 16 rows into a tile
 *    whose column x holds the 16 rows' samples side by side, so that the
 *    same shape of loop works along x (acc[j] += tile[x][j] * k over the
 *    16 * channels lanes).
 *
 * On x86-64 the 8-bit passes also exist in AVX2 intrinsics, chosen at run time
 * (the baseline SSE2 has no 32-bit lane multiply, and gcc left the plain loops'
 * sums on the stack), and the 16-bit passes are compiled for AVX2 as well
 * (target_clones). Coefficient tables are cached per resizer, by (input size,
 * output size, filter), since a dataset repeats a few sizes.
 *
 * The window of `resize 256 | center-crop 224` of a 500x375 photo takes 160 us
 * of CPU (AVX2 on the project's AMD EPYC, family 26; 330 us before the AVX2
 * passes): the horizontal pass 70% of it, of which moving strips into the tile
 * is 15% and the results back to their rows 9% of the whole (measured by
 * leaving each out), the vertical pass 28%. The multiply-adds, 3 instructions
 * per 8 samples and tap, are the rest. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* AVX2 passes chosen at run time (x86-64, gcc or clang). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(PPX_NO_CLONES)
#define PPX_AVX2 1
#include <immintrin.h>
#else
#define PPX_AVX2 0
#endif

#include "ops/ops_impl.h"
#include "prepix/ops.h"

#define PRECISION_BITS (32 - 8 - 2)
#define TILE_ROWS 16
#define VBLOCK 1024

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(PPX_NO_CLONES)
#if __has_attribute(target_clones)
#define PPX_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef PPX_CLONES
#define PPX_CLONES
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- Filters: Pillow's definitions, value for value ---- */

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static double bicubic_filter(double x)
{
    /* Keys' cubic convolution with a = -0.5. */
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    /* Truncated sinc, three lobes. */
    if (-3.0 <= x && x < 3.0)
        return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

typedef struct {
    double (*fn)(double);
    double support;
} filter_def;

static const filter_def filters[] = {
    [PPX_FILTER_NEAREST] = {NULL, 0.0},
    [PPX_FILTER_BILINEAR] = {bilinear_filter, 1.0},
    [PPX_FILTER_BICUBIC] = {bicubic_filter, 2.0},
    [PPX_FILTER_LANCZOS3] = {lanczos_filter, 3.0},
};

/* ---- Coefficient tables ----
 *
 * A table depends only on (input size, output size, filter): computing one costs two sin()
 * per tap, which was 6.6% of a worker's instructions for `resize 256 | center-crop 224` on
 * ImageNet-sized photos (`bench/profile imagenet`) when it was done for every image that
 * changed size, and is 0.2% with the cache. Datasets repeat their sizes
 * (ImageNet's photos are mostly 500x375, 500x333, 375x500 and a few others) and a portrait
 * photo's vertical axis is a landscape photo's horizontal one, so each worker keeps the last
 * TABLE_SLOTS tables it computed, least recently used evicted first, and a table found there
 * is the same memory that computing it again would fill (tests/unit/test_ops_resize.c). A
 * window (resize + center-crop) reads a slice of the whole axis's table. */

#define TABLE_SLOTS 16
/* Bytes the cache may keep beyond the tables of the image being resized. */
#define TABLE_BYTES_MAX ((size_t)4 << 20)

typedef ppx__resize_axis axis;

typedef struct {
    axis ax;       /* lo, n, ik and fk point into mem */
    int filter;    /* valid while used != 0 */
    uint64_t used; /* the resizer's clock at the last lookup; 0: empty */
    void *mem;     /* one block: lo[out], n[out], ik[out * ksize], fk[out * ksize] */
    size_t cap;    /* bytes of mem */
} table;

struct ppx_resizer {
    table tables[TABLE_SLOTS];
    uint64_t clock;
    uint64_t pin; /* tables used at or after this clock are the current image's: kept
                   * (UINT64_MAX between images: none) */
    uint64_t hits, misses;
    double *dk;    /* the doubles of the table being computed */
    size_t dk_cap; /* bytes */
    uint8_t *tmp;  /* rows after the horizontal pass */
    size_t tmp_cap;
    uint8_t *tile; /* transposed strip for the horizontal pass */
    size_t tile_cap;
    int32_t *map; /* nearest: source column of each output column */
    size_t map_cap;
    ppx_image pre; /* premultiplied copy of an image with alpha */
    int portable;  /* 1: the portable 8-bit passes even where AVX2 is there (tests) */
};

int ppx_resizer_new(ppx_resizer **out)
{
    ppx_resizer *rs = calloc(1, sizeof *rs);
    if (!rs)
        return PPX_ENOMEM;
    ppx_image_init(&rs->pre);
    rs->pin = UINT64_MAX;
    *out = rs;
    return 0;
}

static void table_drop(table *t)
{
    free(t->mem);
    memset(t, 0, sizeof *t);
}

void ppx_resizer_trim(ppx_resizer *rs, size_t keep)
{
    if (rs->tmp_cap > keep) {
        free(rs->tmp);
        rs->tmp = NULL;
        rs->tmp_cap = 0;
    }
    if (rs->tile_cap > keep) {
        free(rs->tile);
        rs->tile = NULL;
        rs->tile_cap = 0;
    }
    if (rs->dk_cap > keep) {
        free(rs->dk);
        rs->dk = NULL;
        rs->dk_cap = 0;
    }
    for (int i = 0; i < TABLE_SLOTS; i++)
        if (rs->tables[i].cap > keep)
            table_drop(&rs->tables[i]);
    if (rs->pre.cap > keep)
        ppx_image_destroy(&rs->pre);
}

void ppx_resizer_free(ppx_resizer **prs)
{
    if (!prs || !*prs)
        return;
    ppx_resizer *rs = *prs;
    for (int i = 0; i < TABLE_SLOTS; i++)
        table_drop(&rs->tables[i]);
    free(rs->dk);
    free(rs->tmp);
    free(rs->tile);
    free(rs->map);
    ppx_image_destroy(&rs->pre);
    free(rs);
    *prs = NULL;
}

/* Grows *p to hold at least n bytes; contents are not kept. */
static int grow(void *pp, size_t *cap, size_t n)
{
    void **p = pp;
    if (n <= *cap)
        return 0;
    free(*p);
    *p = malloc(n);
    if (!*p) {
        *cap = 0;
        return PPX_ENOMEM;
    }
    *cap = n;
    return 0;
}

/* Pillow's precompute_coeffs for the full input range [0, in) into dk (out * ksize doubles),
 * lo and n, followed by normalize_coeffs_8bpc into ik, and the same doubles as floats into
 * fk (16-bit path). */
static void table_compute(double *dk, int32_t *lo, int32_t *n, int32_t *ik, float *fk, uint32_t in,
                          uint32_t out, int ksize, ppx_filter f)
{
    const filter_def *fd = &filters[f];
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fd->support * filterscale;
    for (uint32_t xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        /* (int) truncates like Pillow's; negatives are clamped anyway. */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)in)
            xmax = (int)in;
        xmax -= xmin;
        double *k = &dk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = fd->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                k[x] /= ww;
        for (; x < ksize; x++)
            k[x] = 0;
        lo[xx] = xmin;
        n[xx] = xmax;
    }
    size_t nk = (size_t)out * ksize;
    for (size_t i = 0; i < nk; i++) {
        double d = dk[i];
        ik[i] = d < 0 ? (int32_t)(-0.5 + d * (1 << PRECISION_BITS))
                      : (int32_t)(0.5 + d * (1 << PRECISION_BITS));
        fk[i] = (float)d;
    }
}

/* The slot a new table of `bytes` goes into: an empty one, else the least recently used
 * one that the current image does not use. Before that, tables that the current image does
 * not use are dropped, least recently used first, until the cache with the new table holds
 * at most TABLE_BYTES_MAX. TABLE_SLOTS > 2, and an image uses two tables at most, so a slot
 * is always found. */
static table *table_slot(ppx_resizer *rs, size_t bytes)
{
    for (;;) {
        size_t held = bytes;
        table *lru = NULL;
        for (int i = 0; i < TABLE_SLOTS; i++) {
            table *t = &rs->tables[i];
            held += t->cap;
            if (t->used && t->used < rs->pin && (!lru || t->used < lru->used))
                lru = t;
        }
        if (held <= TABLE_BYTES_MAX || !lru)
            break;
        table_drop(lru);
    }
    table *lru = NULL;
    for (int i = 0; i < TABLE_SLOTS; i++) {
        table *t = &rs->tables[i];
        if (!t->used)
            return t;
        if (t->used < rs->pin && (!lru || t->used < lru->used))
            lru = t;
    }
    return lru;
}

int ppx__resizer_axis(ppx_resizer *rs, uint32_t in, uint32_t out, ppx_filter f, axis *ax,
                      ppx_err *err)
{
    rs->clock++;
    for (int i = 0; i < TABLE_SLOTS; i++) {
        table *t = &rs->tables[i];
        if (t->used && t->ax.in == in && t->ax.out == out && t->filter == (int)f) {
            t->used = rs->clock;
            rs->hits++;
            *ax = t->ax;
            return 0;
        }
    }
    rs->misses++;
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double ksize_d = ceil(filters[f].support * filterscale) * 2 + 1;
    size_t nk, bytes, dbytes;
    if (ksize_d > INT_MAX / 8 || ppx_mul_size(out, (size_t)ksize_d, &nk) ||
        ppx_mul_size(nk + out, 2 * sizeof(int32_t), &bytes) ||
        ppx_mul_size(nk, sizeof(double), &dbytes))
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_TRANSFORM,
                           "resize: coefficient table for %u -> %u is too large", in, out);
    int ksize = (int)ksize_d;
    table *t = table_slot(rs, bytes);
    if (!t)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_TRANSFORM,
                           "resize: no free coefficient table");
    t->used = 0; /* empty until computed */
    if (grow(&t->mem, &t->cap, bytes) || grow(&rs->dk, &rs->dk_cap, dbytes)) {
        table_drop(t);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM,
                           "resize: out of memory for coefficients");
    }
    int32_t *lo = t->mem, *n = lo + out, *ik = n + out;
    float *fk = (float *)(ik + nk);
    table_compute(rs->dk, lo, n, ik, fk, in, out, ksize, f);
    t->ax = (axis){.in = in, .out = out, .ksize = ksize, .lo = lo, .n = n, .ik = ik, .fk = fk};
    t->filter = (int)f;
    t->used = rs->clock;
    *ax = t->ax;
    return 0;
}

void ppx__resizer_set_portable(ppx_resizer *rs, int portable)
{
    rs->portable = portable != 0;
}

void ppx__resizer_cache_stats(const ppx_resizer *rs, ppx__resize_cache_stats *st)
{
    memset(st, 0, sizeof *st);
    st->slots = TABLE_SLOTS;
    st->bytes_max = TABLE_BYTES_MAX;
    for (int i = 0; i < TABLE_SLOTS; i++) {
        st->tables += rs->tables[i].used != 0;
        st->bytes += rs->tables[i].cap;
    }
    st->hits = rs->hits;
    st->misses = rs->misses;
}

/* ---- 8-bit passes ---- */

static ALWAYS_INLINE uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    v = v < 0 ? 0 : v;
    v = v > 255 ? 255 : v;
    return (uint8_t)v;
}

/* out[j] = clip8(acc[j]) for n lanes, n a multiple of 16. */
static ALWAYS_INLINE void narrow_u8(const int32_t *acc, uint8_t *out, const unsigned n)
{
#if defined(__SSE2__)
    /* clip8 one lane at a time was 42% of the horizontal pass. The same in
     * SSE2 (baseline x86-64): an arithmetic shift as clip8's, then packs with
     * signed saturation to 16 bits (a no-op: shifted sums lie in -512..511)
     * and unsigned saturation to 8 bits, which is clip8's clamp to 0..255. */
    for (unsigned j = 0; j < n; j += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(acc + j));
        __m128i b = _mm_loadu_si128((const __m128i *)(acc + j + 4));
        __m128i c = _mm_loadu_si128((const __m128i *)(acc + j + 8));
        __m128i d = _mm_loadu_si128((const __m128i *)(acc + j + 12));
        __m128i ab =
            _mm_packs_epi32(_mm_srai_epi32(a, PRECISION_BITS), _mm_srai_epi32(b, PRECISION_BITS));
        __m128i cd =
            _mm_packs_epi32(_mm_srai_epi32(c, PRECISION_BITS), _mm_srai_epi32(d, PRECISION_BITS));
        _mm_storeu_si128((__m128i *)(out + j), _mm_packus_epi16(ab, cd));
    }
#else
    for (unsigned j = 0; j < n; j++)
        out[j] = clip8(acc[j]);
#endif
}

/* One strip of R rows (RC = R * C lanes) transposed into `tile`, resampled
 * along x into dst. Inlined with constant RC for full strips, so that the
 * lane loops have fixed trip counts. The lanes are narrowed together into
 * one block of R pixels, then each pixel is copied to its row. */
static ALWAYS_INLINE void hstrip_u8(const axis *ax, const uint8_t *tile, int32_t xfirst,
                                    const unsigned RC, unsigned C, uint8_t *dst, size_t dstride)
{
    const int ksize = ax->ksize;
    const unsigned RCV = (RC + 15) & ~15u; /* whole vectors; full strips have RCV == RC */
    for (uint32_t xx = 0; xx < ax->out; xx++) {
        int32_t acc[TILE_ROWS * 4];
        uint8_t px[TILE_ROWS * 4];
        for (unsigned j = 0; j < RCV; j++)
            acc[j] = 1 << (PRECISION_BITS - 1);
        const int32_t *k = ax->ik + (size_t)xx * ksize;
        const uint8_t *p = tile + (size_t)(ax->lo[xx] - xfirst) * RC;
        for (int32_t t = 0; t < ax->n[xx]; t++, p += RC) {
            int32_t kt = k[t];
            for (unsigned j = 0; j < RC; j++)
                acc[j] += (int32_t)p[j] * kt;
        }
        narrow_u8(acc, px, RCV);
        uint8_t *d = dst + (size_t)xx * C;
        for (unsigned j = 0; j < RC; j += C, d += dstride)
            memcpy(d, px + j, C);
    }
}

/* Copies R rows of n pixels of C samples into tile, pixel x of row r at
 * tile[(x * R + r) * C]: the strip's rows side by side. Inlined with a
 * constant C, so that the pixel copy is a fixed-size move. */
static ALWAYS_INLINE void transpose_u8(const uint8_t *src, size_t sstride, uint8_t *tile,
                                       unsigned R, int32_t n, const unsigned C)
{
    size_t RC = (size_t)R * C;
    for (unsigned r = 0; r < R; r++) {
        const uint8_t *s = src + (size_t)r * sstride;
        uint8_t *t = tile + (size_t)r * C;
        for (int32_t x = 0; x < n; x++, s += C, t += RC)
            memcpy(t, s, C);
    }
}

/* transpose_u8 for a full strip (TILE_ROWS rows), one pixel column at a time: a column is
 * 16 fixed-size moves from 16 row pointers into consecutive places of the tile. A 3-byte
 * pixel goes as a 4-byte move whose last byte lands on the next row's place, written next
 * (the last row's, on the next column's first place); the last column, whose 4-byte read
 * could pass the end of the image, moves 3 bytes. 3 instructions a pixel instead of 8. */
static ALWAYS_INLINE void transpose16_u8(const uint8_t *src, size_t sstride, uint8_t *tile,
                                         int32_t n, const unsigned C)
{
    const uint8_t *row[TILE_ROWS];
    for (unsigned r = 0; r < TILE_ROWS; r++)
        row[r] = src + (size_t)r * sstride;
    const unsigned W = C == 3 ? 4 : C; /* bytes moved a pixel */
    int32_t x = 0;
    for (; x + 1 < n; x++, tile += TILE_ROWS * C)
        for (unsigned r = 0; r < TILE_ROWS; r++)
            memcpy(tile + r * C, row[r] + (size_t)x * C, W);
    for (; x < n; x++, tile += TILE_ROWS * C)
        for (unsigned r = 0; r < TILE_ROWS; r++)
            memcpy(tile + r * C, row[r] + (size_t)x * C, C);
}

/* Horizontal pass over `rows` rows of src into dst (ax->out * C samples a
 * row). tile holds (xlast - xfirst) * TILE_ROWS * C bytes. */
static void hpass_u8(const axis *ax, const uint8_t *src, size_t sstride, unsigned C, uint32_t rows,
                     uint8_t *dst, size_t dstride, uint8_t *tile)
{
    int32_t xfirst = ax->lo[0];
    int32_t xlast = ax->lo[ax->out - 1] + ax->n[ax->out - 1];
    for (uint32_t r0 = 0; r0 < rows; r0 += TILE_ROWS) {
        unsigned R = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
        const uint8_t *s0 = src + (size_t)r0 * sstride + (size_t)xfirst * C;
        uint8_t *d = dst + (size_t)r0 * dstride;
        if (R < TILE_ROWS) { /* the last rows: once an image */
            transpose_u8(s0, sstride, tile, R, xlast - xfirst, C);
            hstrip_u8(ax, tile, xfirst, R * C, C, d, dstride);
            continue;
        }
        switch (C) {
        case 1:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 1);
            hstrip_u8(ax, tile, xfirst, TILE_ROWS * 1, 1, d, dstride);
            break;
        case 2:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 2);
            hstrip_u8(ax, tile, xfirst, TILE_ROWS * 2, 2, d, dstride);
            break;
        case 3:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 3);
            hstrip_u8(ax, tile, xfirst, TILE_ROWS * 3, 3, d, dstride);
            break;
        default:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 4);
            hstrip_u8(ax, tile, xfirst, TILE_ROWS * 4, 4, d, dstride);
            break;
        }
    }
}

/* nb samples of one output row of the vertical pass: the sum of n source
 * rows (s, s + sstride, ...) times k. Inlined with nb = VBLOCK for full
 * blocks, a constant trip count that the vectoriser takes even at -O2. */
static ALWAYS_INLINE void vblock_u8(const uint8_t *s, size_t sstride, const int32_t *k, int32_t n,
                                    uint8_t *d, const size_t nb)
{
    int32_t acc[VBLOCK];
    for (size_t j = 0; j < nb; j++)
        acc[j] = 1 << (PRECISION_BITS - 1);
    for (int32_t t = 0; t < n; t++, s += sstride) {
        int32_t kt = k[t];
        for (size_t j = 0; j < nb; j++)
            acc[j] += (int32_t)s[j] * kt;
    }
    for (size_t j = 0; j < nb; j++)
        d[j] = clip8(acc[j]);
}

/* Vertical pass: output row yy is the sum of src rows lo..lo+n-1 (src row 0
 * being input row ybase) times their coefficients, `len` samples a row. */
static void vpass_u8(const axis *ax, const uint8_t *src, size_t sstride, int32_t ybase, size_t len,
                     uint8_t *dst, size_t dstride)
{
    const int ksize = ax->ksize;
    for (uint32_t yy = 0; yy < ax->out; yy++) {
        const int32_t *k = ax->ik + (size_t)yy * ksize;
        const uint8_t *s0 = src + (size_t)(ax->lo[yy] - ybase) * sstride;
        uint8_t *d = dst + (size_t)yy * dstride;
        size_t x0 = 0;
        for (; x0 + VBLOCK <= len; x0 += VBLOCK)
            vblock_u8(s0 + x0, sstride, k, ax->n[yy], d + x0, VBLOCK);
        if (x0 < len)
            vblock_u8(s0 + x0, sstride, k, ax->n[yy], d + x0, len - x0);
    }
}

/* ---- 8-bit passes in AVX2 ----
 *
 * The same sums as above, written with intrinsics, because gcc turned the plain loops into
 * something slow: in the horizontal pass it vectorised across taps and kept the 48 sums of a
 * strip on the stack, and its vertical pass reloaded and stored its sums at every tap
 * (bench/profile: 3.9 M and 1.3 M instructions a 500x375 photo for `resize 256 |
 * center-crop 224`). Here the sums of one output stay in registers from the first tap to the
 * last: eight samples a register, widened from bytes by the load (vpmovzxbd), multiplied and
 * added in 32 bits as Pillow does, then narrowed as clip8 (shift, saturating packs). */
#if PPX_AVX2

#define AVX2 __attribute__((target("avx2")))

/* The sums of one block of lanes, 8 a register: up to 64 lanes. Named members, not an array:
 * gcc kept an array of __m256i partly on the stack and copied each sum between two registers
 * at every tap (22% more instructions in the vertical pass). */
typedef struct {
    __m256i a0, a1, a2, a3, a4, a5, a6, a7;
} sums;

/* a + the 8 bytes at p, widened, times k. */
AVX2 static ALWAYS_INLINE __m256i mac8(__m256i a, const uint8_t *p, __m256i k)
{
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm256_add_epi32(a, _mm256_mullo_epi32(v, k));
}

/* The first 8 NV sums (NV = 2, 4, 6 or 8) += the bytes at p times k. */
AVX2 static ALWAYS_INLINE void mac_avx2(sums *s, const uint8_t *p, __m256i k, const unsigned NV)
{
    s->a0 = mac8(s->a0, p, k);
    s->a1 = mac8(s->a1, p + 8, k);
    if (NV > 2) {
        s->a2 = mac8(s->a2, p + 16, k);
        s->a3 = mac8(s->a3, p + 24, k);
    }
    if (NV > 4) {
        s->a4 = mac8(s->a4, p + 32, k);
        s->a5 = mac8(s->a5, p + 40, k);
    }
    if (NV > 6) {
        s->a6 = mac8(s->a6, p + 48, k);
        s->a7 = mac8(s->a7, p + 56, k);
    }
}

AVX2 static ALWAYS_INLINE void sums_init(sums *s)
{
    __m256i h = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    *s = (sums){h, h, h, h, h, h, h, h};
}

/* clip8 of the 32 sums a, b, c, d into out[0..31]. The packs work within 128-bit lanes, so
 * the bytes come out as 4-byte groups a[0..3] b[0..3] c[0..3] d[0..3] | a[4..7] ..., which
 * one permutation of 32-bit groups puts in order. */
AVX2 static ALWAYS_INLINE void narrow32_avx2(__m256i a, __m256i b, __m256i c, __m256i d,
                                             uint8_t *out)
{
    __m256i ab = _mm256_packs_epi32(_mm256_srai_epi32(a, PRECISION_BITS),
                                    _mm256_srai_epi32(b, PRECISION_BITS));
    __m256i cd = _mm256_packs_epi32(_mm256_srai_epi32(c, PRECISION_BITS),
                                    _mm256_srai_epi32(d, PRECISION_BITS));
    __m256i v = _mm256_packus_epi16(ab, cd);
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, v);
}

/* clip8 of the 16 sums a, b into out[0..15]. */
AVX2 static ALWAYS_INLINE void narrow16_avx2(__m256i a, __m256i b, uint8_t *out)
{
    __m256i ab = _mm256_packs_epi32(_mm256_srai_epi32(a, PRECISION_BITS),
                                    _mm256_srai_epi32(b, PRECISION_BITS));
    __m256i v = _mm256_packus_epi16(ab, ab);
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(v));
}

/* clip8 of the first 8 NV sums into out. */
AVX2 static ALWAYS_INLINE void narrow_avx2(const sums *s, uint8_t *out, const unsigned NV)
{
    if (NV == 2) {
        narrow16_avx2(s->a0, s->a1, out);
        return;
    }
    narrow32_avx2(s->a0, s->a1, s->a2, s->a3, out);
    if (NV == 6)
        narrow16_avx2(s->a4, s->a5, out + 32);
    if (NV == 8)
        narrow32_avx2(s->a4, s->a5, s->a6, s->a7, out + 32);
}

/* One full strip (TILE_ROWS rows of C samples: 16 C lanes, NV = 2 C registers) of the
 * horizontal pass from `tile`. Each output pixel's 16 rows are narrowed together and copied
 * to their rows: for C = 3, as 4 bytes, the fourth landing on the next pixel of the row,
 * which is written after it (the last pixel of a row, and the last row's pixel, whose fourth
 * byte is not in px, are copied exactly). */
AVX2 static ALWAYS_INLINE void hstrip_avx2(const axis *ax, const uint8_t *tile, int32_t xfirst,
                                           const unsigned C, uint8_t *dst, size_t dstride)
{
    const unsigned RC = TILE_ROWS * C, NV = RC / 8;
    const int ksize = ax->ksize;
    for (uint32_t xx = 0; xx < ax->out; xx++) {
        sums acc;
        uint8_t px[TILE_ROWS * 4];
        sums_init(&acc);
        const int32_t *k = ax->ik + (size_t)xx * ksize;
        const uint8_t *p = tile + (size_t)(ax->lo[xx] - xfirst) * RC;
        for (int32_t t = 0; t < ax->n[xx]; t++, p += RC)
            mac_avx2(&acc, p, _mm256_set1_epi32(k[t]), NV);
        narrow_avx2(&acc, px, NV);
        uint8_t *d = dst + (size_t)xx * C;
        if (C == 3 && xx + 1 < ax->out) {
            for (unsigned r = 0; r + 1 < TILE_ROWS; r++, d += dstride)
                memcpy(d, px + 3 * r, 4);
            memcpy(d, px + 3 * (TILE_ROWS - 1), 3); /* px holds 48 bytes */
        } else {
            for (unsigned r = 0; r < TILE_ROWS; r++, d += dstride)
                memcpy(d, px + C * r, C);
        }
    }
}

AVX2 static void hpass_u8_avx2(const axis *ax, const uint8_t *src, size_t sstride, unsigned C,
                               uint32_t rows, uint8_t *dst, size_t dstride, uint8_t *tile)
{
    int32_t xfirst = ax->lo[0];
    int32_t xlast = ax->lo[ax->out - 1] + ax->n[ax->out - 1];
    for (uint32_t r0 = 0; r0 < rows; r0 += TILE_ROWS) {
        if (rows - r0 < TILE_ROWS) {
            if (rows < TILE_ROWS) { /* a thumbnail's few rows */
                const uint8_t *s0 = src + (size_t)r0 * sstride + (size_t)xfirst * C;
                transpose_u8(s0, sstride, tile, rows, xlast - xfirst, C);
                hstrip_u8(ax, tile, xfirst, rows * C, C, dst, dstride);
                break;
            }
            /* The last rows: a full strip that ends at the last row, computing some rows of
             * the strip before again (the same sums, written twice). */
            r0 = rows - TILE_ROWS;
        }
        const uint8_t *s0 = src + (size_t)r0 * sstride + (size_t)xfirst * C;
        uint8_t *d = dst + (size_t)r0 * dstride;
        switch (C) {
        case 1:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 1);
            hstrip_avx2(ax, tile, xfirst, 1, d, dstride);
            break;
        case 2:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 2);
            hstrip_avx2(ax, tile, xfirst, 2, d, dstride);
            break;
        case 3:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 3);
            hstrip_avx2(ax, tile, xfirst, 3, d, dstride);
            break;
        default:
            transpose16_u8(s0, sstride, tile, xlast - xfirst, 4);
            hstrip_avx2(ax, tile, xfirst, 4, d, dstride);
            break;
        }
    }
}

/* 8 NV samples of one output row of the vertical pass: the sum of n source rows (s,
 * s + sstride, ...) times k. */
AVX2 static ALWAYS_INLINE void vblock_avx2(const uint8_t *s, size_t sstride, const int32_t *k,
                                           int32_t n, uint8_t *d, const unsigned NV)
{
    sums acc;
    sums_init(&acc);
    for (int32_t t = 0; t < n; t++, s += sstride)
        mac_avx2(&acc, s, _mm256_set1_epi32(k[t]), NV);
    narrow_avx2(&acc, d, NV);
}

/* As vpass_u8, by blocks of 64 samples, then 16; the last 16 samples of a row whose length
 * is not a multiple of 16 are computed again from its end (the same sums, written twice). */
AVX2 static void vpass_u8_avx2(const axis *ax, const uint8_t *src, size_t sstride, int32_t ybase,
                               size_t len, uint8_t *dst, size_t dstride)
{
    const int ksize = ax->ksize;
    for (uint32_t yy = 0; yy < ax->out; yy++) {
        const int32_t *k = ax->ik + (size_t)yy * ksize;
        const int32_t n = ax->n[yy];
        const uint8_t *s0 = src + (size_t)(ax->lo[yy] - ybase) * sstride;
        uint8_t *d = dst + (size_t)yy * dstride;
        size_t x0 = 0;
        for (; x0 + 64 <= len; x0 += 64)
            vblock_avx2(s0 + x0, sstride, k, n, d + x0, 8);
        for (; x0 + 16 <= len; x0 += 16)
            vblock_avx2(s0 + x0, sstride, k, n, d + x0, 2);
        if (x0 < len)
            vblock_avx2(s0 + len - 16, sstride, k, n, d + len - 16, 2);
    }
}

#endif /* PPX_AVX2 */

/* The 8-bit passes: AVX2 where the CPU has it (and the resizer allows it), else the portable
 * loops (SSE2 on x86-64). */
static void hpass8(const ppx_resizer *rs, const axis *ax, const uint8_t *src, size_t sstride,
                   unsigned C, uint32_t rows, uint8_t *dst, size_t dstride, uint8_t *tile)
{
#if PPX_AVX2
    if (!rs->portable && __builtin_cpu_supports("avx2")) {
        hpass_u8_avx2(ax, src, sstride, C, rows, dst, dstride, tile);
        return;
    }
#else
    (void)rs;
#endif
    hpass_u8(ax, src, sstride, C, rows, dst, dstride, tile);
}

static void vpass8(const ppx_resizer *rs, const axis *ax, const uint8_t *src, size_t sstride,
                   int32_t ybase, size_t len, uint8_t *dst, size_t dstride)
{
#if PPX_AVX2
    /* Rows of at least 16 samples; shorter ones go the portable way. */
    if (len >= 16 && !rs->portable && __builtin_cpu_supports("avx2")) {
        vpass_u8_avx2(ax, src, sstride, ybase, len, dst, dstride);
        return;
    }
#else
    (void)rs;
#endif
    vpass_u8(ax, src, sstride, ybase, len, dst, dstride);
}

/* ---- 16-bit passes: the same shapes with float sums ---- */

static ALWAYS_INLINE uint16_t clip16(float v)
{
    v += 0.5f;
    v = v < 0.0f ? 0.0f : v;
    v = v > 65535.0f ? 65535.0f : v;
    return (uint16_t)v;
}

static ALWAYS_INLINE void hstrip_u16(const axis *ax, const uint16_t *tile, int32_t xfirst,
                                     const unsigned RC, unsigned C, uint16_t *dst, size_t dstride)
{
    const int ksize = ax->ksize;
    for (uint32_t xx = 0; xx < ax->out; xx++) {
        float acc[TILE_ROWS * 4];
        for (unsigned j = 0; j < RC; j++)
            acc[j] = 0.0f;
        const float *k = ax->fk + (size_t)xx * ksize;
        const uint16_t *p = tile + (size_t)(ax->lo[xx] - xfirst) * RC;
        for (int32_t t = 0; t < ax->n[xx]; t++, p += RC) {
            float kt = k[t];
            for (unsigned j = 0; j < RC; j++)
                acc[j] += (float)p[j] * kt;
        }
        uint16_t *d = dst + (size_t)xx * C;
        for (unsigned j = 0, r = 0; j < RC; j += C, r++)
            for (unsigned c = 0; c < C; c++)
                d[r * dstride + c] = clip16(acc[j + c]);
    }
}

/* As transpose_u8, for 16-bit samples (stride in samples). */
static ALWAYS_INLINE void transpose_u16(const uint16_t *src, size_t sstride, uint16_t *tile,
                                        unsigned R, int32_t n, const unsigned C)
{
    size_t RC = (size_t)R * C;
    for (unsigned r = 0; r < R; r++) {
        const uint16_t *s = src + (size_t)r * sstride;
        uint16_t *t = tile + (size_t)r * C;
        for (int32_t x = 0; x < n; x++, s += C, t += RC)
            memcpy(t, s, C * sizeof *s);
    }
}

/* As hpass_u8; strides in samples. */
PPX_CLONES static void hpass_u16(const axis *ax, const uint16_t *src, size_t sstride, unsigned C,
                                 uint32_t rows, uint16_t *dst, size_t dstride, uint16_t *tile)
{
    int32_t xfirst = ax->lo[0];
    int32_t xlast = ax->lo[ax->out - 1] + ax->n[ax->out - 1];
    for (uint32_t r0 = 0; r0 < rows; r0 += TILE_ROWS) {
        unsigned R = rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS;
        unsigned RC = R * C;
        const uint16_t *s0 = src + (size_t)r0 * sstride + (size_t)xfirst * C;
        switch (C) {
        case 1:
            transpose_u16(s0, sstride, tile, R, xlast - xfirst, 1);
            break;
        case 2:
            transpose_u16(s0, sstride, tile, R, xlast - xfirst, 2);
            break;
        case 3:
            transpose_u16(s0, sstride, tile, R, xlast - xfirst, 3);
            break;
        default:
            transpose_u16(s0, sstride, tile, R, xlast - xfirst, 4);
            break;
        }
        uint16_t *d = dst + (size_t)r0 * dstride;
        if (R == TILE_ROWS) {
            switch (C) {
            case 1:
                hstrip_u16(ax, tile, xfirst, TILE_ROWS * 1, 1, d, dstride);
                break;
            case 2:
                hstrip_u16(ax, tile, xfirst, TILE_ROWS * 2, 2, d, dstride);
                break;
            case 3:
                hstrip_u16(ax, tile, xfirst, TILE_ROWS * 3, 3, d, dstride);
                break;
            default:
                hstrip_u16(ax, tile, xfirst, TILE_ROWS * 4, 4, d, dstride);
                break;
            }
        } else {
            hstrip_u16(ax, tile, xfirst, RC, C, d, dstride);
        }
    }
}

static ALWAYS_INLINE void vblock_u16(const uint16_t *s, size_t sstride, const float *k, int32_t n,
                                     uint16_t *d, const size_t nb)
{
    float acc[VBLOCK];
    for (size_t j = 0; j < nb; j++)
        acc[j] = 0.0f;
    for (int32_t t = 0; t < n; t++, s += sstride) {
        float kt = k[t];
        for (size_t j = 0; j < nb; j++)
            acc[j] += (float)s[j] * kt;
    }
    for (size_t j = 0; j < nb; j++)
        d[j] = clip16(acc[j]);
}

PPX_CLONES static void vpass_u16(const axis *ax, const uint16_t *src, size_t sstride, int32_t ybase,
                                 size_t len, uint16_t *dst, size_t dstride)
{
    const int ksize = ax->ksize;
    for (uint32_t yy = 0; yy < ax->out; yy++) {
        const float *k = ax->fk + (size_t)yy * ksize;
        const uint16_t *s0 = src + (size_t)(ax->lo[yy] - ybase) * sstride;
        uint16_t *d = dst + (size_t)yy * dstride;
        size_t x0 = 0;
        for (; x0 + VBLOCK <= len; x0 += VBLOCK)
            vblock_u16(s0 + x0, sstride, k, ax->n[yy], d + x0, VBLOCK);
        if (x0 < len)
            vblock_u16(s0 + x0, sstride, k, ax->n[yy], d + x0, len - x0);
    }
}

/* ---- Nearest neighbour ---- */

/* Pillow resizes with NEAREST through an affine transform that walks the
 * source in steps of in/out from the centre of the first output sample,
 * accumulating in double: the same walk picks the same samples. */
static void nearest_map(int32_t *map, uint32_t in, uint32_t out)
{
    double step = (double)in / out, pos = step * 0.5;
    for (uint32_t i = 0; i < out; i++, pos += step) {
        int32_t v = pos < 0.0 ? 0 : (int32_t)pos;
        map[i] = v >= (int32_t)in ? (int32_t)in - 1 : v;
    }
}

/* One output row: the samples of s that xmap picks. Typed copies for the
 * usual sample sizes (a label map's 1 and 2 bytes above all): a memcpy of a
 * size known only at run time is a call per sample, and it was most of a
 * mask's resize. */
static void nearest_row(uint8_t *d, const uint8_t *s, const int32_t *xmap, uint32_t w, size_t ps)
{
    switch (ps) {
    case 1:
        for (uint32_t x = 0; x < w; x++)
            d[x] = s[xmap[x]];
        break;
    case 2:
        for (uint32_t x = 0; x < w; x++)
            memcpy(d + 2 * (size_t)x, s + 2 * (size_t)xmap[x], 2);
        break;
    case 3:
        for (uint32_t x = 0; x < w; x++)
            memcpy(d + 3 * (size_t)x, s + 3 * (size_t)xmap[x], 3);
        break;
    case 4:
        for (uint32_t x = 0; x < w; x++)
            memcpy(d + 4 * (size_t)x, s + 4 * (size_t)xmap[x], 4);
        break;
    default:
        for (uint32_t x = 0; x < w; x++)
            memcpy(d + (size_t)x * ps, s + (size_t)xmap[x] * ps, ps);
    }
}

/* Nearest neighbour from src to a full_w x full_h image, of which only the
 * window box (NULL: all of it) is written into dst, already allocated to
 * the window's size: the same samples as resizing and then cropping. */
static int resize_nearest(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t full_w,
                          uint32_t full_h, const ppx_box *box, ppx_err *err)
{
    size_t need;
    if (ppx_mul_size((size_t)full_w + full_h, sizeof(int32_t), &need) ||
        grow(&rs->map, &rs->map_cap, need))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM, "resize: out of memory");
    int32_t *xmap = rs->map, *ymap = rs->map + full_w;
    nearest_map(xmap, src->width, full_w);
    nearest_map(ymap, src->height, full_h);
    if (box) {
        xmap += box->x;
        ymap += box->y;
    }
    uint32_t w = dst->width, h = dst->height;
    size_t ps = (size_t)src->channels * ppx_sample_size(src->type);
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *d = ppx_image_row(dst, y);
        if (y > 0 && ymap[y] == ymap[y - 1])
            memcpy(d, ppx_image_row(dst, y - 1), (size_t)w * ps);
        else
            nearest_row(d, ppx_image_row(src, (uint32_t)ymap[y]), xmap, w, ps);
    }
    return 0;
}

/* ---- Alpha: resample premultiplied, as Pillow (RGBA -> RGBa -> RGBA) ---- */

static int alpha_is_opaque(const ppx_image *img)
{
    unsigned C = img->channels;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *row = ppx_image_row(img, y);
        if (img->type == PPX_U8) {
            for (uint32_t x = 0; x < img->width; x++)
                if (row[(size_t)x * C + C - 1] != 255)
                    return 0;
        } else {
            const uint16_t *r16 = (const uint16_t *)row;
            for (uint32_t x = 0; x < img->width; x++)
                if (r16[(size_t)x * C + C - 1] != 65535)
                    return 0;
        }
    }
    return 1;
}

/* Pillow's MULDIV255: round(a * b / 255) without a division. */
static inline uint8_t muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void premultiply(const ppx_image *src, ppx_image *dst)
{
    unsigned C = src->channels;
    for (uint32_t y = 0; y < src->height; y++) {
        if (src->type == PPX_U8) {
            const uint8_t *s = ppx_image_row(src, y);
            uint8_t *d = ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += C) {
                unsigned a = s[C - 1];
                for (unsigned c = 0; c + 1 < C; c++)
                    d[c] = muldiv255(s[c], a);
                d[C - 1] = (uint8_t)a;
            }
        } else {
            const uint16_t *s = (const uint16_t *)ppx_image_row(src, y);
            uint16_t *d = (uint16_t *)ppx_image_row(dst, y);
            for (uint32_t x = 0; x < src->width; x++, s += C, d += C) {
                uint32_t a = s[C - 1];
                for (unsigned c = 0; c + 1 < C; c++)
                    d[c] = (uint16_t)(((uint64_t)s[c] * a + 32767) / 65535);
                d[C - 1] = (uint16_t)a;
            }
        }
    }
}

static void unpremultiply(ppx_image *img)
{
    unsigned C = img->channels;
    for (uint32_t y = 0; y < img->height; y++) {
        if (img->type == PPX_U8) {
            uint8_t *p = ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++, p += C) {
                unsigned a = p[C - 1];
                /* Pillow: RGBa -> RGBA keeps the colour for alpha 0 and 255,
                 * La -> LA zeroes it for alpha 0. */
                if (a == 255 || (a == 0 && C == 4))
                    continue;
                for (unsigned c = 0; c + 1 < C; c++) {
                    unsigned v = a ? p[c] * 255u / a : 0;
                    p[c] = (uint8_t)(v > 255 ? 255 : v);
                }
            }
        } else {
            uint16_t *p = (uint16_t *)ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++, p += C) {
                uint32_t a = p[C - 1];
                if (a == 65535)
                    continue;
                for (unsigned c = 0; c + 1 < C; c++) {
                    uint64_t v = a ? ((uint64_t)p[c] * 65535 + a / 2) / a : 0;
                    p[c] = (uint16_t)(v > 65535 ? 65535 : v);
                }
            }
        }
    }
}

/* ---- The op ---- */

/* The outputs [first, first + n) of a prepared axis, as an axis of its own:
 * the same coefficients, so the samples computed are exactly those of the
 * whole resize. */
static axis axis_window(const axis *a, uint32_t first, uint32_t n)
{
    axis v = *a;
    v.lo += first;
    v.n += first;
    size_t k = (size_t)first * a->ksize;
    v.ik += k;
    v.fk += k;
    v.out = n;
    return v;
}

/* Resamples src to wf x hf, or only the window `box` of that result (NULL:
 * all of it) into dst, which has the window's size. A window needs both
 * passes (wf != src->width, hf != src->height). */
static int resample(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t wf, uint32_t hf,
                    const ppx_box *box, ppx_filter filter, const ppx_limits *l, ppx_err *err)
{
    uint32_t w = dst->width, h = dst->height;
    unsigned C = src->channels;
    int need_h = wf != src->width, need_v = hf != src->height;
    int rc;
    if (box && (!need_h || !need_v))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "resize: a window needs both passes");
    axis xh = {0}, xv = {0};
    if (need_h && (rc = ppx__resizer_axis(rs, src->width, wf, filter, &xh, err)))
        return rc;
    /* The horizontal table (used at this clock) stays while the vertical one is looked up. */
    rs->pin = rs->clock;
    rc = need_v ? ppx__resizer_axis(rs, src->height, hf, filter, &xv, err) : 0;
    rs->pin = UINT64_MAX;
    if (rc)
        return rc;
    if (box) {
        xh = axis_window(&xh, box->x, box->w);
        xv = axis_window(&xv, box->y, box->h);
    }
    const axis *ah = &xh, *av = &xv;
    size_t bs = ppx_sample_size(src->type);
    if (!need_h && !need_v) {
        for (uint32_t y = 0; y < h; y++)
            memcpy(ppx_image_row(dst, y), ppx_image_row(src, y), (size_t)w * C * bs);
        return 0;
    }
    if (!need_h) {
        if (src->type == PPX_U8)
            vpass8(rs, av, src->data, src->stride, 0, (size_t)w * C, dst->data, dst->stride);
        else
            vpass_u16(av, (const uint16_t *)src->data, src->stride / 2, 0, (size_t)w * C,
                      (uint16_t *)dst->data, dst->stride / 2);
        return 0;
    }
    /* Rows of src that the vertical pass reads (all of them without one). */
    int32_t yfirst = 0, ylast = (int32_t)src->height;
    if (need_v) {
        yfirst = av->lo[0];
        ylast = av->lo[h - 1] + av->n[h - 1];
    }
    uint32_t rows = (uint32_t)(ylast - yfirst);
    int32_t xspan = ah->lo[w - 1] + ah->n[w - 1] - ah->lo[0];
    size_t tile_bytes, tmp_bytes = 0, row_bytes = (size_t)w * C * bs;
    if (ppx_mul_size((size_t)xspan, (size_t)TILE_ROWS * C * bs, &tile_bytes) ||
        (need_v && ppx_mul_size(row_bytes, rows, &tmp_bytes)))
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_TRANSFORM, "resize: buffers too large");
    if (need_v && l && ((uint64_t)w * rows > l->max_pixels || tmp_bytes > l->max_alloc))
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_TRANSFORM,
                           "resize: intermediate image %ux%u exceeds the limits", w, rows);
    if (grow(&rs->tile, &rs->tile_cap, tile_bytes) ||
        (need_v && grow(&rs->tmp, &rs->tmp_cap, tmp_bytes)))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM,
                           "resize: out of memory for a %ux%u intermediate image", w, rows);
    /* Without a vertical pass the horizontal one writes straight into dst. */
    uint8_t *hdst = need_v ? rs->tmp : dst->data;
    size_t hstride = need_v ? row_bytes : dst->stride;
    const uint8_t *hsrc = src->data + (size_t)yfirst * src->stride;
    if (src->type == PPX_U8) {
        hpass8(rs, ah, hsrc, src->stride, C, rows, hdst, hstride, rs->tile);
        if (need_v)
            vpass8(rs, av, rs->tmp, row_bytes, yfirst, (size_t)w * C, dst->data, dst->stride);
    } else {
        hpass_u16(ah, (const uint16_t *)hsrc, src->stride / 2, C, rows, (uint16_t *)hdst,
                  hstride / 2, (uint16_t *)rs->tile);
        if (need_v)
            vpass_u16(av, (const uint16_t *)rs->tmp, row_bytes / 2, yfirst, (size_t)w * C,
                      (uint16_t *)dst->data, dst->stride / 2);
    }
    return 0;
}

/* ---- Rasters: every other sample type, any number of bands ----
 * The same coefficients as the photo paths (Pillow's), applied to every band
 * alike (no alpha handling: plain bands have none), accumulated in double
 * with no rounding between the passes; floats are stored as float32 (NaN
 * and infinities spread to the outputs whose window holds them), integers
 * rounded half away from zero and clamped to their type. */

static inline double clampd(double v, double lo, double hi)
{
    v = v < 0 ? ceil(v - 0.5) : floor(v + 0.5);
    return v < lo ? lo : v > hi ? hi : v;
}

static inline void put_any(uint8_t *p, ppx_sample t, double v)
{
    switch (t) {
    case PPX_U8: {
        uint8_t x = (uint8_t)clampd(v, 0, 255);
        memcpy(p, &x, 1);
        break;
    }
    case PPX_I8: {
        int8_t x = (int8_t)clampd(v, -128, 127);
        memcpy(p, &x, 1);
        break;
    }
    case PPX_U16: {
        uint16_t x = (uint16_t)clampd(v, 0, 65535);
        memcpy(p, &x, 2);
        break;
    }
    case PPX_I16: {
        int16_t x = (int16_t)clampd(v, -32768, 32767);
        memcpy(p, &x, 2);
        break;
    }
    case PPX_U32: {
        uint32_t x = (uint32_t)clampd(v, 0, 4294967295.0);
        memcpy(p, &x, 4);
        break;
    }
    case PPX_I32: {
        int32_t x = (int32_t)clampd(v, -2147483648.0, 2147483647.0);
        memcpy(p, &x, 4);
        break;
    }
    default: {
        float x = (float)v;
        memcpy(p, &x, 4);
        break;
    }
    }
}

static int resample_raster(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, ppx_filter filter,
                           const ppx_limits *l, ppx_err *err)
{
    const uint32_t w = dst->width, h = dst->height, ih = src->height;
    const unsigned C = src->channels;
    const ppx_sample t = src->type;
    const size_t bs = ppx_sample_size(t);
    axis ah = {0}, av = {0};
    int rc = ppx__resizer_axis(rs, src->width, w, filter, &ah, err);
    if (rc)
        return rc;
    rs->pin = rs->clock;
    rc = ppx__resizer_axis(rs, ih, h, filter, &av, err);
    rs->pin = UINT64_MAX;
    if (rc)
        return rc;
    /* The horizontal pass into doubles: w x ih x C. */
    size_t n, bytes;
    if (ppx_mul_size((size_t)w * C, ih, &n) || ppx_mul_size(n, sizeof(double), &bytes))
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_TRANSFORM, "resize: buffers too large");
    if (l && bytes > l->max_alloc)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_TRANSFORM,
                           "resize: intermediate image %ux%u exceeds the limits", w, ih);
    if (grow(&rs->tmp, &rs->tmp_cap, bytes))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM,
                           "resize: out of memory for a %ux%u intermediate image", w, ih);
    double *tmp = (double *)(void *)rs->tmp;
    const size_t ps = (size_t)C * bs;
    for (uint32_t y = 0; y < ih; y++) {
        const uint8_t *row = ppx_image_row(src, y);
        double *d = tmp + (size_t)y * w * C;
        for (uint32_t x = 0; x < w; x++) {
            const float *k = ah.fk + (size_t)x * ah.ksize;
            const uint8_t *p = row + (size_t)ah.lo[x] * ps;
            for (unsigned c = 0; c < C; c++) {
                double acc = 0;
                for (int32_t j = 0; j < ah.n[x]; j++)
                    acc += (double)k[j] * ppx__sample_get(p + (size_t)j * ps + c * bs, t);
                d[(size_t)x * C + c] = acc;
            }
        }
    }
    const size_t len = (size_t)w * C;
    for (uint32_t y = 0; y < h; y++) {
        const float *k = av.fk + (size_t)y * av.ksize;
        const double *s0 = tmp + (size_t)av.lo[y] * len;
        uint8_t *d = ppx_image_row(dst, y);
        for (size_t i = 0; i < len; i++) {
            double acc = 0;
            for (int32_t j = 0; j < av.n[y]; j++)
                acc += (double)k[j] * s0[(size_t)j * len + i];
            put_any(d + i * bs, t, acc);
        }
    }
    return 0;
}

/* 1 if src takes the raster path: not an 8- or 16-bit photo. */
static int is_raster(const ppx_image *src)
{
    return (src->type != PPX_U8 && src->type != PPX_U16) || !ppx_image_is_color(src);
}

/* resample(), with images that have alpha resampled premultiplied, as
 * Pillow does. */
static int resample_alpha(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t w,
                          uint32_t h, const ppx_box *box, ppx_filter filter, const ppx_limits *l,
                          ppx_err *err)
{
    const ppx_image *in = src;
    int alpha = ppx__has_alpha(src->channels) && !alpha_is_opaque(src);
    if (alpha) {
        int rc =
            ppx_image_alloc(&rs->pre, src->width, src->height, src->channels, src->type, NULL, err);
        if (rc)
            return rc;
        premultiply(src, &rs->pre);
        in = &rs->pre;
    }
    int rc = resample(rs, in, dst, w, h, box, filter, l, err);
    if (rc == 0 && alpha)
        unpremultiply(dst);
    return rc;
}

int ppx_op_resize(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t w, uint32_t h,
                  ppx_filter filter, const ppx_limits *l, ppx_err *err)
{
    ppx_resizer *own = NULL;
    int rc = is_raster(src) ? 0 : ppx__ops_check_int(src, "resize", err);
    if (rc)
        return rc;
    if (src->width == 0 || src->height == 0 || w == 0 || h == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "resize: empty image");
    if ((unsigned)filter > PPX_FILTER_LANCZOS3)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "resize: bad filter %d",
                           (int)filter);
    if (src->stride % ppx_sample_size(src->type))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM, "resize: misaligned rows");
    if (!rs) {
        if (ppx_resizer_new(&own))
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM, "resize: out of memory");
        rs = own;
    }
    rc = ppx_image_alloc(dst, w, h, src->channels, src->type, l, err);
    if (rc)
        goto out;
    ppx_image_copy_meta(dst, src);
    if (filter == PPX_FILTER_NEAREST) {
        rc = resize_nearest(rs, src, dst, w, h, NULL, err);
        goto out;
    }
    if (is_raster(src))
        rc = resample_raster(rs, src, dst, filter, l, err);
    else
        rc = resample_alpha(rs, src, dst, w, h, NULL, filter, l, err);
out:
    ppx_resizer_free(&own);
    return rc;
}

int ppx_op_resize_window(ppx_resizer *rs, const ppx_image *src, ppx_image *dst, uint32_t w,
                         uint32_t h, const ppx_box *box, ppx_filter filter, const ppx_limits *l,
                         ppx_err *err)
{
    int rc = ppx__ops_check_int(src, "resize", err);
    if (rc)
        return rc;
    if ((unsigned)filter > PPX_FILTER_LANCZOS3 || !rs || w == src->width || h == src->height ||
        box->w == 0 || box->h == 0 || box->x > w || box->y > h || box->w > w - box->x ||
        box->h > h - box->y || src->stride % ppx_sample_size(src->type))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "resize: bad window %u,%u,%u,%u of %ux%u", box->x, box->y, box->w,
                           box->h, w, h);
    rc = ppx_image_alloc(dst, box->w, box->h, src->channels, src->type, l, err);
    if (rc)
        return rc;
    ppx_image_copy_meta(dst, src);
    if (filter == PPX_FILTER_NEAREST)
        return resize_nearest(rs, src, dst, w, h, box, err);
    return resample_alpha(rs, src, dst, w, h, box, filter, l, err);
}

int ppx_op_resized_crop(ppx_resizer *rs, const ppx_image *src, const ppx_box *box, ppx_image *dst,
                        uint32_t w, uint32_t h, ppx_filter filter, const ppx_limits *l,
                        ppx_err *err)
{
    if (box->w == 0 || box->h == 0 || box->x > src->width || box->y > src->height ||
        box->w > src->width - box->x || box->h > src->height - box->y)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "resize: box %u,%u,%u,%u is not inside the %ux%u image", box->x, box->y,
                           box->w, box->h, src->width, src->height);
    /* A view of the box: same rows, no copy. It owns nothing (cap 0). */
    ppx_image view = *src;
    view.data = src->data + (size_t)box->y * src->stride +
                (size_t)box->x * src->channels * ppx_sample_size(src->type);
    view.width = box->w;
    view.height = box->h;
    view.cap = 0;
    return ppx_op_resize(rs, &view, dst, w, h, filter, l, err);
}
