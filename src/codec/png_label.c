/* The fast path for PNG label maps (VOC's masks): 8-bit palette or gray,
 * not interlaced, decoded with libdeflate instead of libpng + zlib.
 *
 * Why: a companion mask is decoded for every image of a segmentation set,
 * and libpng inflates it one row at a time through zlib, whose inflate and
 * Adler-32 run byte by byte: 0.21 ms a 500x375 mask of the VOC-shaped
 * benchmark set against 0.03 ms for libdeflate's whole-buffer inflate
 * (which checks the Adler-32 too), and the mask's decode was the largest
 * part of what carrying masks cost (docs/benchmarks.md, "Companion masks").
 *
 * The path only takes files it can decode exactly as libpng does, and it
 * never reports an error of its own: on anything unusual (a bad CRC, an
 * unknown critical chunk, chunks out of order, a short or long zlib stream, other colour types and
 * depths, interlace, iCCP) it declines, and the caller decodes the file with libpng, whose checks
 * and messages stay the only ones users see. */
#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_impl.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What the chunk walk found: the header, the palette and the image data. */
typedef struct {
    uint32_t w, h;
    int ctype;
    const uint8_t *plte, *trns;
    uint32_t n_plte, n_trns;
    const uint8_t *idat; /* the first IDAT's data */
    size_t idat_len;     /* the IDATs' data together */
    int idat_chunks;
} label_png;

/* Ancillary chunks the path may skip: those libpng is told to skip too
 * (png.c's read_open), which it reads past without a warning once their
 * CRC is right. Any other ancillary chunk makes the path decline, so that
 * what libpng does with it (facts, and a warning for a bad one, which
 * counts towards the warnings limit) stays what happens. */
static int skippable(const uint8_t *type)
{
    static const char names[][5] = {"tEXt", "zTXt", "iTXt", "tIME", "sPLT"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (memcmp(type, names[i], 4) == 0)
            return 1;
    return 0;
}

static int take_ihdr(label_png *p, const uint8_t *d, uint32_t n)
{
    if (n != 13)
        return 0;
    p->w = be32(d);
    p->h = be32(d + 4);
    p->ctype = d[9];
    /* 8-bit palette or gray, deflate, filter method 0, no interlace. */
    return p->w > 0 && p->h > 0 && p->w <= 0x7fffffffu && p->h <= 0x7fffffffu && d[8] == 8 &&
           (p->ctype == 3 || p->ctype == 0) && d[10] == 0 && d[11] == 0 && d[12] == 0;
}

/* One chunk after IHDR, in file order. 1: go on, 0: decline. */
static int take_chunk(label_png *p, const uint8_t *type, const uint8_t *d, uint32_t n,
                      int *after_idat)
{
    int is_idat = memcmp(type, "IDAT", 4) == 0;
    if (p->idat_chunks > 0 && !is_idat)
        *after_idat = 1;
    if (is_idat) {
        /* IDATs are consecutive, and a palette image has its PLTE first. */
        if (*after_idat || (p->ctype == 3 && !p->plte))
            return 0;
        if (p->idat_chunks++ == 0)
            p->idat = d;
        p->idat_len += n;
        return 1;
    }
    if (memcmp(type, "PLTE", 4) == 0) {
        if (p->ctype != 3 || p->plte || *after_idat || n == 0 || n % 3 || n / 3 > 256)
            return 0;
        p->plte = d;
        p->n_plte = n / 3;
        return 1;
    }
    if (memcmp(type, "tRNS", 4) == 0) {
        if (p->ctype != 3 || !p->plte || p->trns || *after_idat || n == 0 || n > p->n_plte)
            return 0;
        p->trns = d;
        p->n_trns = n;
        return 1;
    }
    /* Any other critical chunk (upper-case first letter) is libpng's to judge. */
    return !(type[0] & 0x20) ? 0 : skippable(type);
}

/* Walks the chunks from the signature to IEND, checking every CRC. 1 when
 * the file is one the path takes. */
static int walk(const uint8_t *buf, size_t len, label_png *p)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(p, 0, sizeof *p);
    if (len < 8 || memcmp(buf, sig, 8) != 0)
        return 0;
    int after_idat = 0;
    for (size_t pos = 8, k = 0;; k++) {
        if (len - pos < 12)
            return 0; /* cut short: libpng says how */
        uint32_t n = be32(buf + pos);
        if (n > 0x7fffffffu || len - pos - 12 < n)
            return 0;
        const uint8_t *type = buf + pos + 4, *d = buf + pos + 8;
        if ((uint32_t)libdeflate_crc32(0, type, (size_t)n + 4) != be32(d + n))
            return 0;
        pos += 12 + (size_t)n;
        if (k == 0) {
            if (memcmp(type, "IHDR", 4) != 0 || !take_ihdr(p, d, n))
                return 0;
        } else if (memcmp(type, "IEND", 4) == 0) {
            return n == 0 && p->idat_chunks > 0;
        } else if (memcmp(type, "IHDR", 4) == 0 || !take_chunk(p, type, d, n, &after_idat)) {
            return 0;
        }
    }
}

/* The IDATs' data in one piece: the first chunk's own bytes when there is
 * one IDAT, else a copy in *owned (NULL on failure). */
static const uint8_t *idat_data(const label_png *p, uint8_t **owned)
{
    *owned = NULL;
    if (p->idat_chunks == 1)
        return p->idat;
    uint8_t *all = malloc(p->idat_len ? p->idat_len : 1);
    if (!all)
        return NULL;
    size_t at = 0;
    /* The IDATs are consecutive (walk checked), starting at the first. */
    for (const uint8_t *c = p->idat - 8; at < p->idat_len;) {
        uint32_t n = be32(c);
        memcpy(all + at, c + 8, n);
        at += n;
        c += 12 + (size_t)n;
    }
    *owned = all;
    return all;
}

static uint8_t paeth(uint8_t a, uint8_t b, uint8_t c)
{
    int pa = abs((int)b - c), pb = abs((int)a - c), pc = abs((int)a + b - 2 * c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the row filters of one byte a pixel into img. 0 on an unknown
 * filter type. */
static int unfilter(const uint8_t *raw, ppx_image *img)
{
    uint32_t w = img->width;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *s = raw + (size_t)y * (w + 1u) + 1;
        uint8_t *o = ppx_image_row(img, y);
        const uint8_t *up = y ? ppx_image_row(img, y - 1) : NULL;
        switch (s[-1]) {
        case 0:
            memcpy(o, s, w);
            break;
        case 1:
            o[0] = s[0];
            for (uint32_t x = 1; x < w; x++)
                o[x] = (uint8_t)(s[x] + o[x - 1]);
            break;
        case 2:
            for (uint32_t x = 0; x < w; x++)
                o[x] = (uint8_t)(s[x] + (up ? up[x] : 0));
            break;
        case 3:
            for (uint32_t x = 0; x < w; x++)
                o[x] = (uint8_t)(s[x] + (((x ? o[x - 1] : 0) + (up ? up[x] : 0)) >> 1));
            break;
        case 4:
            for (uint32_t x = 0; x < w; x++)
                o[x] = (uint8_t)(s[x] +
                                 paeth(x ? o[x - 1] : 0, up ? up[x] : 0, x && up ? up[x - 1] : 0));
            break;
        default:
            return 0;
        }
    }
    return 1;
}

static void fill_facts(const label_png *p, ppx_info *info, ppx_palette *pal)
{
    info->format = PPX_FMT_PNG;
    info->width = p->w;
    info->height = p->h;
    info->channels = 1;
    info->bits = 8;
    info->cs = p->ctype == 3 ? PPX_CS_PALETTE : PPX_CS_GRAY;
    info->progressive = 0;
    info->has_alpha = p->trns != NULL;
    info->has_icc = 0;
    info->compression = "deflate";
    info->pages = 1;
    pal->n = p->n_plte;
    pal->n_alpha = p->n_trns;
    for (uint32_t i = 0; i < p->n_plte; i++)
        memcpy(pal->rgb[i], p->plte + 3 * i, 3);
    if (p->n_trns)
        memcpy(pal->alpha, p->trns, p->n_trns);
}

int ppx__png_label_fast(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_image *img,
                        ppx_info *info, ppx_palette *pal)
{
    label_png p;
    if (!walk(buf, len, &p))
        return 0;
    ppx_err scratch;
    size_t raw_len;
    /* Limits before any allocation; the filtered rows (one byte more a row)
     * count against the largest single allocation as libpng's row buffers
     * and zlib's window would not, so a map within a byte a row of the
     * limit is left to libpng. */
    if (ppx_limits_check(l, p.w, p.h, 1, 1, NULL, &scratch) ||
        ppx_mul_size((size_t)p.w + 1, p.h, &raw_len) || raw_len > l->max_alloc)
        return 0;
    uint8_t *owned = NULL, *raw = NULL;
    int ok = 0;
    const uint8_t *z = idat_data(&p, &owned);
    struct libdeflate_decompressor *d = z ? libdeflate_alloc_decompressor() : NULL;
    raw = d ? malloc(raw_len) : NULL;
    size_t in_used = 0, out_len = 0;
    /* The zlib stream must fill the rows exactly and end with the IDATs
     * (libpng warns of extra data; that case is left to it). */
    if (!raw ||
        libdeflate_zlib_decompress_ex(d, z, p.idat_len, raw, raw_len, &in_used, &out_len) !=
            LIBDEFLATE_SUCCESS ||
        in_used != p.idat_len || out_len != raw_len)
        goto out;
    if (ppx_image_alloc(img, p.w, p.h, 1, PPX_U8, l, &scratch))
        goto out;
    /* An index beyond the palette is kept, as libpng keeps it (with a
     * warning); the encoder grows the palette to cover it. */
    if (!unfilter(raw, img))
        goto out;
    fill_facts(&p, info, pal);
    img->source_cs = info->cs;
    img->orientation = 1;
    ok = 1;
out:
    free(raw);
    free(owned);
    libdeflate_free_decompressor(d);
    return ok;
}
