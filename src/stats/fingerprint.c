/* Fingerprints of decoded images: an exact pixel hash and imagehash's pHash.
 *
 * The perceptual hash follows imagehash.phash (hash_size 8, highfreq_factor
 * 4) step by step, so that its bits equal imagehash's on the same pixels:
 *  1. grey: Pillow's convert("L"), L = (19595 R + 38470 G + 7471 B + 0x8000)
 *     >> 16 on 8-bit samples; alpha ignored; grey taken as it is;
 *  2. resize to 32x32 with Pillow's LANCZOS (antialiased), which
 *     ppx_op_resize reproduces byte for byte;
 *  3. scipy.fftpack.dct along axis 0, then axis 1 (type II, unnormalised:
 *     y[k] = 2 sum x[n] cos(pi k (2n + 1) / 2N)), of which only the 8x8
 *     lowest frequencies are computed (rows 0..7 of the first pass);
 *  4. numpy.median of those 64 (the mean of the 32nd and 33rd);
 *  5. bit = coefficient > median, row-major, the first bit the highest.
 * 16-bit samples are taken by their high byte, as Pillow does when it opens
 * a 16-bit RGB PNG or TIFF (docs/duplicates.md says where Pillow differs).
 *
 * Cost: one pass over the decoded pixels for the grey copy and the hash,
 * a 32x32 resize (its horizontal pass reads every grey sample once per
 * output column's support) and 10,240 multiply-adds of DCT. */
#include "prepix/fingerprint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "prepix/ops.h"

struct ppx_fp_ctx {
    ppx_image gray, small;
    ppx_resizer *rs;
    EVP_MD *md;
    EVP_MD_CTX *mdc;
    uint8_t *row; /* 16-bit rows in little-endian order, on big-endian hosts */
    size_t row_cap;
};

int ppx_fp_ctx_new(ppx_fp_ctx **out)
{
    ppx_fp_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return PPX_ENOMEM;
    ppx_image_init(&c->gray);
    ppx_image_init(&c->small);
    /* Fetched once per worker: an implicit fetch at each digest's start
     * would look the algorithm up again for every image. */
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->mdc = EVP_MD_CTX_new();
    if (ppx_resizer_new(&c->rs) || !c->md || !c->mdc) {
        ppx_fp_ctx_free(&c);
        return PPX_ENOMEM;
    }
    *out = c;
    return 0;
}

void ppx_fp_ctx_free(ppx_fp_ctx **pc)
{
    ppx_fp_ctx *c = pc ? *pc : NULL;
    if (!c)
        return;
    ppx_image_destroy(&c->gray);
    ppx_image_destroy(&c->small);
    ppx_resizer_free(&c->rs);
    EVP_MD_CTX_free(c->mdc);
    EVP_MD_free(c->md);
    free(c->row);
    free(c);
    *pc = NULL;
}

void ppx_fp_ctx_trim(ppx_fp_ctx *c, size_t keep)
{
    if (!c)
        return;
    if (c->gray.cap > keep)
        ppx_image_destroy(&c->gray);
    if (c->row_cap > keep) {
        free(c->row);
        c->row = NULL;
        c->row_cap = 0;
    }
    ppx_resizer_trim(c->rs, keep);
}

/* ---- exact ---------------------------------------------------------------- */

/* SHA-256 of a 16-byte header (width and height as u32, channels, bits per
 * sample, a version byte, zeros) and the rows without padding, 16-bit
 * samples little-endian; the first 16 bytes of the digest. */
static int exact_hash(ppx_fp_ctx *c, const ppx_image *img, uint8_t out[PPX_EXACT_BYTES],
                      ppx_err *err)
{
    uint8_t head[16] = {0};
    for (int i = 0; i < 4; i++) {
        head[i] = (uint8_t)(img->width >> (8 * i));
        head[4 + i] = (uint8_t)(img->height >> (8 * i));
    }
    head[8] = (uint8_t)img->channels;
    head[9] = (uint8_t)(8 * ppx_sample_size(img->type));
    head[10] = 1; /* version of this layout */
    size_t row = (size_t)img->width * img->channels * ppx_sample_size(img->type);
    int ok = EVP_DigestInit_ex2(c->mdc, c->md, NULL) && EVP_DigestUpdate(c->mdc, head, sizeof head);
    for (uint32_t y = 0; y < img->height && ok; y++) {
        const uint8_t *p = ppx_image_row(img, y);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        if (img->type == PPX_U16) {
            if (row > c->row_cap) {
                uint8_t *nr = realloc(c->row, row);
                if (!nr)
                    return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_DECODE, "out of memory");
                c->row = nr;
                c->row_cap = row;
            }
            for (size_t i = 0; i < row; i += 2) {
                c->row[i] = p[i + 1];
                c->row[i + 1] = p[i];
            }
            p = c->row;
        }
#endif
        ok = EVP_DigestUpdate(c->mdc, p, row);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ok || !EVP_DigestFinal_ex(c->mdc, md, &n) || n < PPX_EXACT_BYTES)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_DECODE, "cannot hash the pixels (SHA-256)");
    memcpy(out, md, PPX_EXACT_BYTES);
    return 0;
}

/* ---- perceptual ---------------------------------------------------------- */

/* Pillow's L from RGB (ImagingConvert's L24). */
#define LUMA(r, g, b)                                                                              \
    ((uint8_t)(((uint32_t)(r)*19595u + (uint32_t)(g)*38470u + (uint32_t)(b)*7471u + 0x8000u) >> 16))

/* Step 1: c->gray = convert("L") of img. */
static int to_gray(ppx_fp_ctx *c, const ppx_image *img, ppx_err *err)
{
    int rc = ppx_image_alloc(&c->gray, img->width, img->height, 1, PPX_U8, NULL, err);
    if (rc)
        return rc;
    unsigned C = img->channels;
    for (uint32_t y = 0; y < img->height; y++) {
        uint8_t *d = ppx_image_row(&c->gray, y);
        if (img->type == PPX_U8) {
            const uint8_t *s = ppx_image_row(img, y);
            if (C >= 3)
                for (uint32_t x = 0; x < img->width; x++, s += C)
                    d[x] = LUMA(s[0], s[1], s[2]);
            else
                for (uint32_t x = 0; x < img->width; x++, s += C)
                    d[x] = s[0];
        } else {
            const uint16_t *s = (const uint16_t *)ppx_image_row(img, y);
            if (C >= 3)
                for (uint32_t x = 0; x < img->width; x++, s += C)
                    d[x] = LUMA(s[0] >> 8, s[1] >> 8, s[2] >> 8);
            else
                for (uint32_t x = 0; x < img->width; x++, s += C)
                    d[x] = (uint8_t)(s[0] >> 8);
        }
    }
    return 0;
}

/* 2 cos(pi k (2n + 1) / 64): scipy's unnormalised DCT-II of length 32. */
static double dct_cos[8][32];

static void dct_init(void)
{
    static int done;
    if (done)
        return;
    for (int k = 0; k < 8; k++)
        for (int n = 0; n < 32; n++)
            dct_cos[k][n] = 2.0 * cos(M_PI * k * (2 * n + 1) / 64.0);
    done = 1;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

uint64_t ppx_phash32(const uint8_t px[32 * 32])
{
    dct_init();
    /* Axis 0: a[k][j] = DCT of column j, only its 8 lowest frequencies. */
    double a[8][32];
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 32; j++) {
            double s = 0;
            for (int n = 0; n < 32; n++)
                s += px[n * 32 + j] * dct_cos[k][n];
            a[k][j] = s;
        }
    /* Axis 1, again only the 8 lowest. */
    double d[64], sorted[64];
    for (int k = 0; k < 8; k++)
        for (int l = 0; l < 8; l++) {
            double s = 0;
            for (int j = 0; j < 32; j++)
                s += a[k][j] * dct_cos[l][j];
            /* Sums of up to 1024 terms of magnitude 4 * 255: rounding leaves
             * errors near 1e-9; a true coefficient this small does not
             * come from 8-bit pixels in practice. */
            d[k * 8 + l] = fabs(s) < 1e-6 ? 0.0 : s;
        }
    memcpy(sorted, d, sizeof d);
    qsort(sorted, 64, sizeof *sorted, cmp_dbl);
    double med = (sorted[31] + sorted[32]) / 2;
    uint64_t h = 0;
    for (int i = 0; i < 64; i++)
        h = h << 1 | (d[i] > med);
    return h;
}

static int phash(ppx_fp_ctx *c, const ppx_image *img, uint64_t *out, ppx_err *err)
{
    int rc = to_gray(c, img, err);
    if (!rc)
        rc = ppx_op_resize(c->rs, &c->gray, &c->small, 32, 32, PPX_FILTER_LANCZOS3, NULL, err);
    if (rc) {
        err->stage = PPX_STAGE_DECODE;
        return rc;
    }
    uint8_t px[32 * 32];
    for (int y = 0; y < 32; y++)
        memcpy(px + 32 * y, ppx_image_row(&c->small, (uint32_t)y), 32);
    *out = ppx_phash32(px);
    return 0;
}

int ppx_fingerprint_compute(ppx_fp_ctx *c, const ppx_image *img, unsigned scale,
                            ppx_fingerprint *fp, ppx_err *err)
{
    /* Rasters (other sample types, plain bands) have no perceptual hash;
     * they are left out of duplicate detection rather than failed. */
    if ((img->type != PPX_U8 && img->type != PPX_U16) || !ppx_image_is_color(img)) {
        memset(fp, 0, sizeof *fp);
        return 0;
    }
    if (img->channels < 1 || img->channels > 4 || !img->width || !img->height)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE,
                           "fingerprints need an 8- or 16-bit image of 1 to 4 channels");
    ppx_fingerprint f;
    memset(&f, 0, sizeof f);
    int rc = exact_hash(c, img, f.exact, err);
    if (!rc)
        rc = phash(c, img, &f.phash, err);
    if (rc)
        return rc;
    f.scale = (uint8_t)(scale ? scale : 1);
    f.valid = 1;
    *fp = f;
    return 0;
}

void ppx_phash_hex(uint64_t h, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = hex[(h >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

void ppx_exact_hex(const uint8_t exact[PPX_EXACT_BYTES], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < PPX_EXACT_BYTES; i++) {
        out[2 * i] = hex[exact[i] >> 4];
        out[2 * i + 1] = hex[exact[i] & 15];
    }
    out[32] = '\0';
}

/* ---- sets of fingerprints ------------------------------------------------ */

int ppx_prints_add(ppx_prints *p, uint64_t index, const ppx_fingerprint *fp)
{
    if (ppx_array_grow((void **)&p->v, &p->cap, p->n, sizeof *p->v, 64))
        return PPX_ENOMEM;
    ppx_print *e = &p->v[p->n++];
    e->index = index;
    e->phash = fp->phash;
    memcpy(e->exact, fp->exact, PPX_EXACT_BYTES);
    e->scale = fp->valid ? fp->scale : 0;
    e->geom = fp->geom;
    return 0;
}

void ppx_prints_keep_hashed(ppx_prints *p)
{
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].scale)
            p->v[m++] = p->v[i];
    p->n = m;
}

const ppx_print *ppx_prints_find(const ppx_prints *p, uint64_t index)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->n && p->v[lo].index == index ? &p->v[lo] : NULL;
}

int ppx_prints_extend(ppx_prints *dst, const ppx_prints *src)
{
    if (src->n > dst->cap - dst->n) {
        size_t cap = dst->n + src->n;
        ppx_print *v = cap <= SIZE_MAX / sizeof *v ? realloc(dst->v, cap * sizeof *v) : NULL;
        if (!v)
            return PPX_ENOMEM;
        dst->v = v;
        dst->cap = cap;
    }
    if (src->n)
        memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
    return 0;
}

static int cmp_print(const void *a, const void *b)
{
    uint64_t x = ((const ppx_print *)a)->index, y = ((const ppx_print *)b)->index;
    return (x > y) - (x < y);
}

void ppx_prints_sort(ppx_prints *p)
{
    if (p->n)
        qsort(p->v, p->n, sizeof *p->v, cmp_print);
}

void ppx_prints_destroy(ppx_prints *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* "PXPRINT2": what the geometry record's layout starts with. A count of
 * the older layout is never this large (it is checked against the bytes). */
#define PRINTS_TAG2 0x32544e4952505850ULL

static int put_geom(ppx_buf *out, const ppx_geom *g)
{
    int rc = 0;
    for (int k = 0; k < 6 && !rc; k++) {
        uint64_t bits;
        memcpy(&bits, &g->m[k], 8);
        rc = ppx_put_u64(out, bits);
    }
    return rc || ppx_put_u64(out, g->w) || ppx_put_u64(out, g->h);
}

/* A record from another rank or the journal: finite numbers, sizes that fit
 * 32 bits, and both sizes zero (none) or neither. */
static int get_geom(ppx_rd *r, ppx_geom *g)
{
    for (int k = 0; k < 6; k++) {
        uint64_t bits = ppx_get_u64(r);
        memcpy(&g->m[k], &bits, 8);
        if (!isfinite(g->m[k]))
            r->bad = 1;
    }
    uint64_t w = ppx_get_u64(r), h = ppx_get_u64(r);
    if (w > UINT32_MAX || h > UINT32_MAX || (w == 0) != (h == 0))
        r->bad = 1;
    g->w = (uint32_t)w;
    g->h = (uint32_t)h;
    return r->bad ? PPX_ECORRUPT : 0;
}

int ppx_prints_pack(const ppx_prints *p, ppx_buf *out)
{
    int rc = ppx_put_u64(out, PRINTS_TAG2) || ppx_put_u64(out, p->n);
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = ppx_put_u64(out, p->v[i].index) || ppx_put_u64(out, p->v[i].phash) ||
             ppx_put_u64(out, p->v[i].scale) ||
             ppx_buf_append(out, p->v[i].exact, PPX_EXACT_BYTES) || put_geom(out, &p->v[i].geom);
    return rc ? PPX_ENOMEM : 0;
}

static int good_scale(uint64_t s)
{
    return s == 1 || s == 2 || s == 4 || s == 8;
}

#define PRINT_BYTES (3 * 8 + PPX_EXACT_BYTES)
#define GEOM_BYTES (8 * 8)

int ppx_prints_unpack(const uint8_t *p, size_t n, ppx_prints *out, size_t *used)
{
    ppx_rd r = {p, p + n, 0};
    uint64_t count = ppx_get_u64(&r);
    int tagged = count == PRINTS_TAG2;
    if (tagged)
        count = ppx_get_u64(&r);
    size_t each = PRINT_BYTES + (tagged ? GEOM_BYTES : 0);
    /* The count is checked against the bytes before anything is allocated. */
    if (r.bad || count > (uint64_t)(r.end - r.p) / each)
        return PPX_ECORRUPT;
    size_t start = out->n;
    for (uint64_t i = 0; i < count; i++) {
        ppx_fingerprint fp;
        memset(&fp, 0, sizeof fp);
        uint64_t index = ppx_get_u64(&r);
        fp.phash = ppx_get_u64(&r);
        uint64_t scale = ppx_get_u64(&r);
        const uint8_t *ex = ppx_get_bytes(&r, PPX_EXACT_BYTES);
        /* Only the tagged layout holds entries without fingerprints. */
        if (r.bad || (tagged ? scale && !good_scale(scale) : !good_scale(scale)) ||
            (tagged && get_geom(&r, &fp.geom)) || (!scale && !fp.geom.w)) {
            out->n = start;
            return PPX_ECORRUPT;
        }
        fp.valid = scale != 0;
        fp.scale = (uint8_t)scale;
        memcpy(fp.exact, ex, PPX_EXACT_BYTES);
        if (ppx_prints_add(out, index, &fp)) {
            out->n = start;
            return PPX_ENOMEM;
        }
    }
    if (used)
        *used = (size_t)(r.p - p);
    return 0;
}

int ppx_fingerprint_pack(const ppx_fingerprint *fp, ppx_buf *out)
{
    return ppx_put_u64(out, fp->valid ? fp->scale : 0) || ppx_put_u64(out, fp->phash) ||
                   ppx_buf_append(out, fp->exact, PPX_EXACT_BYTES) || put_geom(out, &fp->geom)
               ? PPX_ENOMEM
               : 0;
}

int ppx_fingerprint_unpack(ppx_rd *r, ppx_fingerprint *fp)
{
    ppx_fingerprint f;
    memset(&f, 0, sizeof f);
    uint64_t scale = ppx_get_u64(r);
    f.phash = ppx_get_u64(r);
    const uint8_t *ex = ppx_get_bytes(r, PPX_EXACT_BYTES);
    if (r->bad || (scale && !good_scale(scale)) || get_geom(r, &f.geom))
        return PPX_ECORRUPT;
    memcpy(f.exact, ex, PPX_EXACT_BYTES);
    f.scale = (uint8_t)scale;
    f.valid = scale != 0;
    *fp = f;
    return 0;
}
