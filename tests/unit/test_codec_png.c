/* PNG codec: exact round trips, colour types and depths written with libpng
 * itself, and damaged files that must fail with a specific code. */
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_images.h"
#include "codec/codec_impl.h"
#include "prepix/codec.h"

/* ---- helpers ------------------------------------------------------------- */

static int decode_buf(const uint8_t *buf, size_t len, ppx_image *img, ppx_info *info, ppx_err *err,
                      const ppx_limits *l)
{
    ppx_decode_opts o = {0};
    o.limits = l;
    ppx_err_clear(err);
    int rc = ppx_codec_decode(buf, len, &o, img, info, err);
    if (rc)
        printf("%s: %s\n", ppx_err_name(rc), err->msg);
    return rc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Recomputes the CRC of the chunk starting at off (its length field). */
static void fix_crc(uint8_t *png, size_t off)
{
    uint32_t n = be32(png + off);
    put_be32(png + off + 8 + n, crc32_of(png + off + 4, 4 + (size_t)n));
}

/* Offset of the first chunk of type t, or 0. */
static size_t find_chunk(const ppx_buf *b, const char *t)
{
    for (size_t off = 8; off + 12 <= b->len; off += 12 + be32(b->data + off))
        if (memcmp(b->data + off + 4, t, 4) == 0)
            return off;
    return 0;
}

/* A valid RGB8 PNG of w x h made by our encoder. */
static int base_png(ppx_buf *b, uint32_t w, uint32_t h)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_PNG);
    if (make_image(&img, w, h, 3, PPX_U8) || ppx_codec_encode(&img, &eo, b, &err))
        return 1;
    ppx_image_destroy(&img);
    return 0;
}

static int decode_code(const ppx_buf *b, size_t len, const ppx_limits *l, ppx_err *err)
{
    ppx_image img;
    ppx_image_init(&img);
    int rc = decode_buf(b->data, len, &img, NULL, err, l);
    ppx_image_destroy(&img);
    return rc;
}

/* ---- round trips ------------------------------------------------------------ */

static int roundtrip(unsigned ch, ppx_sample t)
{
    static const int levels[] = {0, 1, 6, 9};
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b, b2;
    ppx_buf_init(&b);
    ppx_buf_init(&b2);
    ppx_err err;
    CHECK(make_image(&in, 157, 61, ch, t) == 0);
    for (unsigned k = 0; k < sizeof levels / sizeof levels[0]; k++) {
        ppx_encode_opts eo;
        ppx_encode_opts_default(&eo, PPX_FMT_PNG);
        eo.png_level = levels[k];
        CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
        CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b2, &err), 0);
        CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
        ppx_info info;
        CHECK_EQ_INT(decode_buf(b.data, b.len, &out, &info, &err, NULL), 0);
        CHECK(same_pixels(&in, &out));
        CHECK_EQ_INT(info.bits, t == PPX_U16 ? 16 : 8);
        CHECK_EQ_INT(info.channels, ch);
        CHECK_EQ_INT(info.has_alpha, ch == 2 || ch == 4);
        CHECK_EQ_INT(info.progressive, 0);
    }
    ppx_image_destroy(&in);
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&b2);
    return 0;
}

static int roundtrip_1ch_8bit(void)
{
    return roundtrip(1, PPX_U8);
}
static int roundtrip_2ch_8bit(void)
{
    return roundtrip(2, PPX_U8);
}
static int roundtrip_3ch_8bit(void)
{
    return roundtrip(3, PPX_U8);
}
static int roundtrip_4ch_8bit(void)
{
    return roundtrip(4, PPX_U8);
}
static int roundtrip_1ch_16bit(void)
{
    return roundtrip(1, PPX_U16);
}
static int roundtrip_2ch_16bit(void)
{
    return roundtrip(2, PPX_U16);
}
static int roundtrip_3ch_16bit(void)
{
    return roundtrip(3, PPX_U16);
}
static int roundtrip_4ch_16bit(void)
{
    return roundtrip(4, PPX_U16);
}

static int encode_levels_and_chunks(void)
{
    ppx_image in;
    ppx_image_init(&in);
    ppx_buf b0, b9;
    ppx_buf_init(&b0);
    ppx_buf_init(&b9);
    ppx_err err;
    /* A smooth image compresses: level 9 must be smaller than level 0. */
    CHECK(ppx_image_alloc(&in, 200, 100, 1, PPX_U8, NULL, NULL) == 0);
    for (uint32_t y = 0; y < 100; y++)
        for (uint32_t x = 0; x < 200; x++)
            ppx_image_row(&in, y)[x] = (uint8_t)(x + y);
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_PNG);
    eo.png_level = 0;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b0, &err), 0);
    eo.png_level = 9;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b9, &err), 0);
    CHECK(b9.len * 4 < b0.len);
    /* Only IHDR, IDAT and IEND: nothing that changes from run to run. */
    for (size_t off = 8; off + 12 <= b9.len; off += 12 + be32(b9.data + off))
        CHECK(memcmp(b9.data + off + 4, "IHDR", 4) == 0 ||
              memcmp(b9.data + off + 4, "IDAT", 4) == 0 ||
              memcmp(b9.data + off + 4, "IEND", 4) == 0);
    eo.png_level = 10;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b0, &err), PPX_EINVAL);
    CHECK(ppx_image_alloc(&in, 4, 4, 3, PPX_F32, NULL, NULL) == 0);
    eo.png_level = 6;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b0, &err), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(err.stage, PPX_STAGE_ENCODE);
    ppx_image_destroy(&in);
    ppx_buf_destroy(&b0);
    ppx_buf_destroy(&b9);
    return 0;
}

/* ---- files written by libpng ---------------------------------------------- */

typedef struct {
    uint32_t w, h;
    int depth, ctype, interlace;
    const png_color *pal;
    int npal;
    const png_byte *trns; /* palette alpha */
    int ntrns;
    const png_color_16 *trns_color; /* gray or RGB colour key */
} pspec;

static void PNGCBAPI mem_write(png_structp png, png_bytep d, size_t n)
{
    MUST(ppx_buf_append(png_get_io_ptr(png), d, n));
}

static void PNGCBAPI mem_flush(png_structp png)
{
    (void)png;
}

/* rows: h rows as PNG stores them (packed, 16-bit big-endian). */
static int write_png(const pspec *s, const uint8_t *rows, size_t rowbytes, ppx_buf *b)
{
    b->len = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, b, mem_write, mem_flush);
    png_set_IHDR(png, info, s->w, s->h, s->depth, s->ctype, s->interlace, 0, 0);
    if (s->pal)
        png_set_PLTE(png, info, s->pal, s->npal);
    if (s->trns || s->trns_color)
        png_set_tRNS(png, info, s->trns, s->ntrns, s->trns_color);
    png_write_info(png, info);
    png_bytep *rp = malloc(s->h * sizeof *rp);
    for (uint32_t y = 0; y < s->h; y++)
        rp[y] = (png_bytep)(rows + y * rowbytes);
    png_write_image(png, rp);
    png_write_end(png, NULL);
    free(rp);
    png_destroy_write_struct(&png, &info);
    return 0;
}

static int expect_png(const pspec *s, const uint8_t *rows, size_t rowbytes, unsigned ch,
                      ppx_sample t, const void *want)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK(write_png(s, rows, rowbytes, &b) == 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, &img, &info, &err, NULL), 0);
    CHECK_EQ_INT(img.channels, ch);
    CHECK_EQ_INT(img.type, t);
    CHECK_EQ_INT(info.bits, s->depth);
    CHECK_EQ_INT(info.progressive, s->interlace != 0);
    size_t n = (size_t)s->w * s->h * ch * (size_t)t;
    for (size_t i = 0; i < n; i++)
        if (img.data[i] != ((const uint8_t *)want)[i]) {
            fprintf(stderr, "byte %zu: got %u, want %u\n", i, img.data[i],
                    ((const uint8_t *)want)[i]);
            return 1;
        }
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int gray_low_depths_scaled(void)
{
    pspec s = {10, 1, 1, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, NULL};
    const uint8_t r1[] = {0xA5, 0xC0};
    const uint8_t w1[] = {255, 0, 255, 0, 0, 255, 0, 255, 255, 255};
    if (expect_png(&s, r1, 2, 1, PPX_U8, w1))
        return 1;
    s.w = 4, s.depth = 2;
    const uint8_t r2[] = {0x1B};
    const uint8_t w2[] = {0, 85, 170, 255};
    if (expect_png(&s, r2, 1, 1, PPX_U8, w2))
        return 1;
    s.w = 3, s.depth = 4;
    const uint8_t r4[] = {0x0F, 0x70};
    const uint8_t w4[] = {0, 255, 119};
    return expect_png(&s, r4, 2, 1, PPX_U8, w4);
}

static int palette_with_trns(void)
{
    const png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    const png_byte trns[2] = {0, 128};
    pspec s = {4, 1, 4, PNG_COLOR_TYPE_PALETTE, 0, pal, 3, trns, 2, NULL};
    const uint8_t r[] = {0x01, 0x22};
    const uint8_t w[] = {255, 0, 0, 0, 0, 255, 0, 128, 10, 20, 30, 255, 10, 20, 30, 255};
    if (expect_png(&s, r, 2, 4, PPX_U8, w))
        return 1;
    s.trns = NULL, s.ntrns = 0, s.depth = 8;
    const uint8_t r8[] = {2, 0, 1, 1};
    const uint8_t w8[] = {10, 20, 30, 255, 0, 0, 0, 255, 0, 0, 255, 0};
    return expect_png(&s, r8, 4, 3, PPX_U8, w8);
}

static int colour_key_trns(void)
{
    /* gray 4-bit, key 5: gray+alpha, gray scaled by 17. */
    png_color_16 key = {0, 0, 0, 0, 5};
    pspec s = {3, 1, 4, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0, &key};
    const uint8_t r4[] = {0x5F, 0x50};
    const uint8_t w4[] = {85, 0, 255, 255, 85, 0};
    if (expect_png(&s, r4, 2, 2, PPX_U8, w4))
        return 1;
    /* gray 16-bit, key 1000: 16-bit gray+alpha, native order. */
    key.gray = 1000;
    s.depth = 16, s.w = 2;
    const uint8_t r16[] = {0x03, 0xE8, 0xAB, 0xCD};
    const uint16_t w16[] = {1000, 0, 0xABCD, 65535};
    if (expect_png(&s, r16, 4, 2, PPX_U16, w16))
        return 1;
    /* RGB 8-bit, key (1, 2, 3): RGBA. */
    png_color_16 rgb = {0, 1, 2, 3, 0};
    pspec c = {2, 1, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0, &rgb};
    const uint8_t r3[] = {1, 2, 3, 1, 2, 4};
    const uint8_t w3[] = {1, 2, 3, 0, 1, 2, 4, 255};
    return expect_png(&c, r3, 6, 4, PPX_U8, w3);
}

static int adam7_rgb16_native(void)
{
    /* 13x11 Adam7: every pass holds pixels; 16-bit samples come out native. */
    enum { W = 13, H = 11 };
    pspec s = {W, H, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL};
    static uint8_t rows[W * H * 6];
    static uint16_t want[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) {
        uint16_t v = (uint16_t)(i * 4099 + 17);
        rows[2 * i] = (uint8_t)(v >> 8);
        rows[2 * i + 1] = (uint8_t)v;
        want[i] = v;
    }
    return expect_png(&s, rows, W * 6, 3, PPX_U16, want);
}

static int inspect_facts(void)
{
    const png_color pal[2] = {{1, 2, 3}, {4, 5, 6}};
    const png_byte trns[1] = {7};
    pspec s = {5, 3, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_ADAM7, pal, 2, trns, 1, NULL};
    const uint8_t rows[9] = {0};
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK(write_png(&s, rows, 3, &b) == 0);
    ppx_info info;
    ppx_err err;
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.format, PPX_FMT_PNG);
    CHECK_EQ_INT(info.width, 5);
    CHECK_EQ_INT(info.height, 3);
    CHECK_EQ_INT(info.bits, 4);
    CHECK_EQ_INT(info.channels, 1);
    CHECK_EQ_INT(info.cs, PPX_CS_PALETTE);
    CHECK_EQ_INT(info.progressive, 1);
    CHECK_EQ_INT(info.has_alpha, 1);
    CHECK_EQ_INT(info.pages, 1);
    CHECK_STR(info.compression, "deflate");
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- damaged files ------------------------------------------------------------ */

static int ihdr_limits(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(base_png(&b, 20, 10) == 0);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), 0);
    /* 2^31 - 1 wide: over the per-side limit, refused in IHDR. */
    put_be32(b.data + 16, 0x7FFFFFFF);
    fix_crc(b.data, 8);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ELIMIT);
    /* 60000 x 60000: each side fits, the pixel count does not. */
    put_be32(b.data + 16, 60000);
    put_be32(b.data + 20, 60000);
    fix_crc(b.data, 8);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ELIMIT);
    CHECK(strstr(err.msg, "pixels") != NULL);
    ppx_info info;
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), PPX_ELIMIT);
    /* A caller's smaller limits. */
    put_be32(b.data + 16, 20);
    put_be32(b.data + 20, 10);
    fix_crc(b.data, 8);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_width = 19;
    CHECK_EQ_INT(decode_code(&b, b.len, &l, &err), PPX_ELIMIT);
    /* Zero width. */
    put_be32(b.data + 16, 0);
    fix_crc(b.data, 8);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

static int truncated_files(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(base_png(&b, 64, 64) == 0);
    size_t idat = find_chunk(&b, "IDAT");
    CHECK(idat > 0);
    /* Cut inside IDAT. */
    CHECK_EQ_INT(decode_code(&b, idat + 8 + be32(b.data + idat) / 2, NULL, &err), PPX_ETRUNC);
    CHECK(strstr(err.msg, "Premature end of PNG file") != NULL);
    /* Complete pixel data, IEND missing: strict policy refuses. */
    CHECK_EQ_INT(decode_code(&b, b.len - 12, NULL, &err), PPX_ETRUNC);
    /* Signature only. */
    CHECK_EQ_INT(decode_code(&b, 8, NULL, &err), PPX_ETRUNC);
    /* The zlib stream ends early although the file goes on (IEND follows):
     * a small image, so that one IDAT holds all the data. */
    CHECK(base_png(&b, 16, 16) == 0);
    idat = find_chunk(&b, "IDAT");
    uint32_t n = be32(b.data + idat);
    size_t iend = idat + 12 + n;
    CHECK(memcmp(b.data + iend + 4, "IEND", 4) == 0);
    memmove(b.data + idat + 8 + n / 2 + 4, b.data + iend, 12);
    put_be32(b.data + idat, n / 2);
    fix_crc(b.data, idat);
    CHECK_EQ_INT(decode_code(&b, idat + 12 + n / 2 + 12, NULL, &err), PPX_ETRUNC);
    CHECK(strstr(err.msg, "Not enough image data") != NULL);
    ppx_buf_destroy(&b);
    return 0;
}

static int corrupt_data(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(base_png(&b, 64, 64) == 0);
    size_t idat = find_chunk(&b, "IDAT");
    /* CRC error in a critical chunk (the CRC itself damaged, so that the
     * data inflates and the check at the chunk's end is what fails). */
    b.data[idat + 8 + be32(b.data + idat)] ^= 0x55;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "CRC") != NULL);
    /* Damaged data with a matching CRC: the zlib stream is broken instead
     * (a bad header check byte). */
    b.data[idat + 9] ^= 0x01;
    fix_crc(b.data, idat);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    /* A chunk length over 2^31 - 1. */
    CHECK(base_png(&b, 64, 64) == 0);
    put_be32(b.data + idat, 0xFFFFFFF0u);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    /* Bit depth 3. */
    CHECK(base_png(&b, 64, 64) == 0);
    b.data[24] = 3;
    fix_crc(b.data, 8);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

static int warnings_flood_refused(void)
{
    ppx_buf b, f;
    ppx_buf_init(&b);
    ppx_buf_init(&f);
    ppx_err err;
    CHECK(base_png(&b, 16, 16) == 0);
    /* Five ancillary chunks with a bad CRC after IHDR: each is a warning. */
    MUST(ppx_buf_append(&f, b.data, 33));
    for (int i = 0; i < 5; i++) {
        uint8_t c[16] = {0, 0, 0, 4, 'p', 'r', 'V', 't', 1, 2, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF};
        MUST(ppx_buf_append(&f, c, sizeof c));
    }
    MUST(ppx_buf_append(&f, b.data + 33, b.len - 33));
    CHECK_EQ_INT(decode_code(&f, f.len, NULL, &err), 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_warnings = 2;
    CHECK_EQ_INT(decode_code(&f, f.len, &l, &err), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "more than 2 warnings") != NULL);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&f);
    return 0;
}

/* ---- label maps: the libdeflate fast path (src/codec/png_label.c) ------- */

typedef struct {
    uint32_t w, h;
    int ctype, depth, interlace;
    int filters;      /* PNG_FILTER_* for png_set_filter; 0: libpng's default */
    size_t idat_size; /* libpng's IDAT buffer size; 0: its default (one IDAT here) */
    int npal, ntrns;
} lspec;

/* A label map of s written by libpng: index (x * 7 + y * 3) % npal (runs,
 * ramps and a 255 border, as VOC's), in b. */
static int write_label(const lspec *s, ppx_buf *b)
{
    png_color pal[256];
    png_byte trns[256];
    for (int i = 0; i < 256; i++) {
        pal[i] = (png_color){(png_byte)(i * 37), (png_byte)(i * 91), (png_byte)(i * 13)};
        trns[i] = (png_byte)(255 - i);
    }
    size_t rb = (size_t)s->w * (s->depth == 16 ? 2 : 1);
    uint8_t *rows = calloc(s->h, rb);
    if (!rows)
        return 1;
    unsigned top = s->ctype == PNG_COLOR_TYPE_PALETTE ? (unsigned)s->npal : 256u;
    unsigned vmax = s->depth < 8 ? (1u << s->depth) : top;
    if (vmax > top)
        vmax = top;
    for (uint32_t y = 0; y < s->h; y++)
        for (uint32_t x = 0; x < s->w; x++) {
            unsigned v = (x / 5 + y / 3) % 3 ? (x * 7 + y * 3) % vmax : vmax - 1;
            if (x == 0 || y == 0 || x + 1 == s->w || y + 1 == s->h)
                v = vmax - 1;
            if (s->depth == 8)
                rows[y * rb + x] = (uint8_t)v;
            else if (s->depth == 16)
                rows[y * rb + 2 * x + 1] = (uint8_t)v;
            else /* packed: depth bits a sample, first sample in the high bits */
                rows[y * ((s->w * (size_t)s->depth + 7) / 8) + x * s->depth / 8] |=
                    (uint8_t)(v << (8 - s->depth - (x * s->depth) % 8));
        }
    b->len = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_bytep *rp = malloc(s->h * sizeof *rp);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rp);
        free(rows);
        return 1;
    }
    png_set_write_fn(png, b, mem_write, mem_flush);
    png_set_IHDR(png, info, s->w, s->h, s->depth, s->ctype, s->interlace, 0, 0);
    if (s->ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(png, info, pal, s->npal);
    if (s->ntrns)
        png_set_tRNS(png, info, trns, s->ntrns, NULL);
    if (s->filters)
        png_set_filter(png, 0, s->filters);
    if (s->idat_size)
        png_set_compression_buffer_size(png, s->idat_size);
    png_write_info(png, info);
    size_t stride = s->depth < 8 ? (s->w * (size_t)s->depth + 7) / 8 : rb;
    for (uint32_t y = 0; y < s->h; y++)
        rp[y] = rows + y * stride;
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rp);
    free(rows);
    return 0;
}

static void PNGCBAPI mem_read(png_structp png, png_bytep d, size_t n)
{
    ppx_buf *b = png_get_io_ptr(png);
    if (n > b->len)
        png_error(png, "short");
    memcpy(d, b->data, n);
    b->data += n;
    b->len -= n;
}

/* The reference: libpng's own reading of an 8-bit label map, untransformed
 * (indices or gray values), with its palette and tRNS. */
static int libpng_label(const ppx_buf *file, uint8_t *px, ppx_palette *pal)
{
    ppx_buf cur = *file;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &cur, mem_read);
    png_read_info(png, info);
    uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    for (int pass = png_set_interlace_handling(png); pass > 0; pass--)
        for (uint32_t y = 0; y < h; y++)
            png_read_row(png, px + (size_t)y * w, NULL);
    memset(pal, 0, sizeof *pal);
    png_colorp plte;
    int n = 0;
    if (png_get_PLTE(png, info, &plte, &n)) {
        pal->n = (unsigned)n;
        for (int i = 0; i < n; i++)
            pal->rgb[i][0] = plte[i].red, pal->rgb[i][1] = plte[i].green,
            pal->rgb[i][2] = plte[i].blue;
    }
    png_bytep t;
    int nt = 0;
    if (png_get_tRNS(png, info, &t, &nt, NULL) && t) {
        pal->n_alpha = (unsigned)nt;
        memcpy(pal->alpha, t, (size_t)nt);
    }
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* Decodes file as a label map through the codec; 0 when its pixels, palette
 * and facts equal libpng's own reading. *fast: whether the fast path took it. */
static int label_equals_libpng(const ppx_buf *file, const lspec *s, int *fast)
{
    ppx_limits l;
    ppx_limits_default(&l);
    ppx_image img, probe;
    ppx_image_init(&img);
    ppx_image_init(&probe);
    ppx_info info, pinfo;
    ppx_palette pal, ppal, want;
    *fast = ppx__png_label_fast(file->data, file->len, &l, &probe, &pinfo, &ppal);
    ppx_decode_opts o = {.limits = &l, .palette = &pal};
    ppx_err err;
    ppx_err_clear(&err);
    CHECK_EQ_INT(ppx_codec_decode(file->data, file->len, &o, &img, &info, &err), 0);
    uint8_t *px = malloc((size_t)s->w * s->h);
    CHECK(px != NULL);
    CHECK(libpng_label(file, px, &want) == 0);
    CHECK_EQ_INT(img.width, s->w);
    CHECK_EQ_INT(img.height, s->h);
    CHECK_EQ_INT(img.channels, 1);
    CHECK_EQ_INT(img.type, PPX_U8);
    CHECK_EQ_INT(info.width, s->w);
    CHECK_EQ_INT(info.cs, s->ctype == PNG_COLOR_TYPE_PALETTE ? PPX_CS_PALETTE : PPX_CS_GRAY);
    CHECK_EQ_INT(info.has_alpha, s->ntrns > 0);
    CHECK_EQ_INT(info.progressive, s->interlace != 0);
    for (uint32_t y = 0; y < s->h; y++)
        CHECK(memcmp(ppx_image_row(&img, y), px + (size_t)y * s->w, s->w) == 0);
    CHECK_EQ_INT(pal.n, want.n);
    CHECK_EQ_INT(pal.n_alpha, want.n_alpha);
    CHECK(memcmp(pal.rgb, want.rgb, 3 * (size_t)want.n) == 0);
    CHECK(memcmp(pal.alpha, want.alpha, want.n_alpha) == 0);
    free(px);
    ppx_image_destroy(&img);
    ppx_image_destroy(&probe);
    return 0;
}

/* Every row filter, one IDAT or many, palettes short and full, with and
 * without tRNS, gray: the fast path takes them and gives libpng's values. */
static int label_fast_equals_libpng(void)
{
    static const int filters[] = {0,
                                  PNG_FILTER_NONE,
                                  PNG_FILTER_SUB,
                                  PNG_FILTER_UP,
                                  PNG_FILTER_AVG,
                                  PNG_FILTER_PAETH,
                                  PNG_ALL_FILTERS};
    ppx_buf b;
    ppx_buf_init(&b);
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++)
        for (int k = 0; k < 4; k++) {
            lspec s = {.w = 61 + 40 * (uint32_t)k,
                       .h = 37 + 11 * (uint32_t)k,
                       .depth = 8,
                       .ctype = k == 3 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_PALETTE,
                       .filters = filters[f],
                       .idat_size = k == 1 ? 97 : 0,
                       .npal = k == 0 ? 22 : 256,
                       .ntrns = k == 2 ? 200 : 0};
            CHECK(write_label(&s, &b) == 0);
            int fast = 0;
            if (label_equals_libpng(&b, &s, &fast))
                return 1;
            CHECK(fast);
        }
    ppx_buf_destroy(&b);
    return 0;
}

/* What the fast path leaves to libpng: interlace, depths other than 8,
 * damaged files. Each still decodes (or fails) exactly as libpng says. */
static int label_fast_declines(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int fast = 1;
    lspec adam7 = {.w = 45,
                   .h = 33,
                   .depth = 8,
                   .ctype = PNG_COLOR_TYPE_PALETTE,
                   .npal = 256,
                   .interlace = PNG_INTERLACE_ADAM7};
    CHECK(write_label(&adam7, &b) == 0);
    CHECK(label_equals_libpng(&b, &adam7, &fast) == 0);
    CHECK(!fast);
    ppx_limits l;
    ppx_limits_default(&l);
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_palette pal;
    ppx_decode_opts o = {.limits = &l, .palette = &pal};
    ppx_err err;
    const lspec others[] = {
        {.w = 9, .h = 5, .depth = 4, .ctype = PNG_COLOR_TYPE_PALETTE, .npal = 16},
        {.w = 9, .h = 5, .depth = 16, .ctype = PNG_COLOR_TYPE_GRAY},
    };
    for (size_t i = 0; i < 2; i++) {
        CHECK(write_label(&others[i], &b) == 0);
        CHECK(!ppx__png_label_fast(b.data, b.len, &l, &img, &info, &pal));
        CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, &o, &img, &info, &err), 0);
        CHECK_EQ_INT(img.type, others[i].depth == 16 ? PPX_U16 : PPX_U8);
    }
    lspec s = {.w = 64, .h = 16, .depth = 8, .ctype = PNG_COLOR_TYPE_PALETTE, .npal = 256};
    CHECK(write_label(&s, &b) == 0);
    size_t idat = find_chunk(&b, "IDAT");
    CHECK(idat > 0);
    uint32_t n = be32(b.data + idat);
    /* A flipped bit in IDAT: the CRC says so. */
    b.data[idat + 8 + n / 2] ^= 0x10;
    CHECK(!ppx__png_label_fast(b.data, b.len, &l, &img, &info, &pal));
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, &o, &img, &info, &err), PPX_ECORRUPT);
    /* The same with its CRC made right: zlib's Adler-32 (or the stream) says so. */
    fix_crc(b.data, idat);
    CHECK(!ppx__png_label_fast(b.data, b.len, &l, &img, &info, &pal));
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, &o, &img, &info, &err), PPX_ECORRUPT);
    /* Cut in IDAT, and cut before IEND. */
    CHECK(write_label(&s, &b) == 0);
    CHECK(!ppx__png_label_fast(b.data, idat + 8 + n / 2, &l, &img, &info, &pal));
    CHECK_EQ_INT(ppx_codec_decode(b.data, idat + 8 + n / 2, &o, &img, &info, &err), PPX_ETRUNC);
    CHECK(!ppx__png_label_fast(b.data, b.len - 12, &l, &img, &info, &pal));
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len - 12, &o, &img, &info, &err), PPX_ETRUNC);
    /* Over the limits: libpng's message, not the fast path's silence. */
    l.max_width = 63;
    CHECK(!ppx__png_label_fast(b.data, b.len, &l, &img, &info, &pal));
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, &o, &img, &info, &err), PPX_ELIMIT);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

PPX_TEST_MAIN(TEST(roundtrip_1ch_8bit), TEST(roundtrip_2ch_8bit), TEST(roundtrip_3ch_8bit),
              TEST(roundtrip_4ch_8bit), TEST(roundtrip_1ch_16bit), TEST(roundtrip_2ch_16bit),
              TEST(roundtrip_3ch_16bit), TEST(roundtrip_4ch_16bit), TEST(encode_levels_and_chunks),
              TEST(gray_low_depths_scaled), TEST(palette_with_trns), TEST(colour_key_trns),
              TEST(adam7_rgb16_native), TEST(inspect_facts), TEST(ihdr_limits),
              TEST(truncated_files), TEST(corrupt_data), TEST(warnings_flood_refused),
              TEST(label_fast_equals_libpng), TEST(label_fast_declines))
