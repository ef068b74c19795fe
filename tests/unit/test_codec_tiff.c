/* TIFF codec: exact round trips, features written with libtiff itself, and
 * hand-made hostile headers that must fail with a specific code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include "check.h"
#include "test_images.h"
#include "prepix/codec.h"

/* ---- helpers ------------------------------------------------------------- */

static int decode(const ppx_buf *b, ppx_image *img, ppx_info *info, ppx_err *err,
                  const ppx_limits *l)
{
    ppx_decode_opts o = {0};
    o.limits = l;
    ppx_err_clear(err);
    return ppx_codec_decode(b->data, b->len, &o, img, info, err);
}

/* Encodes with each compression, decodes, compares; also checks determinism. */
static int roundtrip(unsigned ch, ppx_sample t)
{
    static const ppx_tiff_compression comps[] = {PPX_TIFF_LZW, PPX_TIFF_DEFLATE, PPX_TIFF_NONE};
    static const char *names[] = {"lzw", "deflate", "none"};
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b, b2;
    ppx_buf_init(&b);
    ppx_buf_init(&b2);
    ppx_err err;
    /* 301x157: odd sizes, several ~64 KiB strips, a short last strip. */
    CHECK(make_image(&in, 301, 157, ch, t) == 0);
    for (unsigned k = 0; k < 3; k++) {
        ppx_encode_opts eo;
        ppx_encode_opts_default(&eo, PPX_FMT_TIFF);
        eo.tiff_compression = comps[k];
        CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
        CHECK_EQ_INT(ppx_codec_detect(b.data, b.len), PPX_FMT_TIFF);
        CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b2, &err), 0);
        CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
        ppx_info info;
        CHECK_EQ_INT(decode(&b, &out, &info, &err, NULL), 0);
        CHECK(same_pixels(&in, &out));
        CHECK_STR(info.compression, names[k]);
        CHECK_EQ_INT(info.channels, ch);
        CHECK_EQ_INT(info.bits, t == PPX_U16 ? 16 : 8);
        CHECK_EQ_INT(info.has_alpha, ch == 2 || ch == 4);
        CHECK_EQ_INT(info.alpha_associated, 0);
        CHECK_EQ_INT(info.pages, 1);
        CHECK_EQ_INT(out.orientation, 1);
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

static int encode_orientation_kept(void)
{
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(make_image(&in, 20, 10, 3, PPX_U8) == 0);
    in.orientation = 6;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_TIFF);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    ppx_info info;
    CHECK_EQ_INT(decode(&b, &out, &info, &err, NULL), 0);
    CHECK_EQ_INT(out.orientation, 6);
    CHECK_EQ_INT(info.orientation, 6);
    CHECK(same_pixels(&in, &out)); /* stored as is, not rotated */
    ppx_image_destroy(&in);
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    return 0;
}

static int encode_refuses(void)
{
    ppx_image in;
    ppx_image_init(&in);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_TIFF);
    /* Float and plain bands: TIFF keeps them; the photo formats refuse
     * them with the op to add, never quantise them. */
    CHECK(ppx_image_alloc(&in, 4, 4, 3, PPX_F32, NULL, NULL) == 0);
    memset(in.data, 0, in.cap);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    static const ppx_format photo[] = {PPX_FMT_JPEG, PPX_FMT_PNG, PPX_FMT_WEBP};
    for (size_t i = 0; i < 3; i++) {
        ppx_encode_opts po;
        ppx_encode_opts_default(&po, photo[i]);
        CHECK_EQ_INT(ppx_codec_encode(&in, &po, &b, &err), PPX_EUNSUPPORTED);
        CHECK_EQ_INT(err.stage, PPX_STAGE_ENCODE);
        CHECK(strstr(err.msg, "`scale LO,HI`") != NULL);
    }
    CHECK(ppx_image_alloc(&in, 4, 4, 6, PPX_U8, NULL, NULL) == 0);
    in.plain_bands = 1;
    memset(in.data, 0, in.cap);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    ppx_encode_opts po;
    ppx_encode_opts_default(&po, PPX_FMT_PNG);
    CHECK_EQ_INT(ppx_codec_encode(&in, &po, &b, &err), PPX_EUNSUPPORTED);
    CHECK(strstr(err.msg, "`bands B1,B2,B3`") != NULL);
    CHECK(ppx_image_alloc(&in, 4, 4, 3, PPX_U8, NULL, NULL) == 0);
    eo.tiff_compression = (ppx_tiff_compression)42;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), PPX_EINVAL);
    ppx_image_destroy(&in);
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- files written by libtiff --------------------------------------------- */

typedef struct {
    uint32_t w, h;
    uint16_t bps, spp, photometric, planar, compression, orientation;
    uint32_t tile; /* 0: strips of rows_per_strip */
    uint32_t rows_per_strip;
    int nextra; /* -1: no ExtraSamples tag */
    uint16_t extra[2];
    const uint16_t *cmap[3];
    const char *mode; /* "w", "wb" (big-endian), "w8" (BigTIFF) */
    int pages;
} tspec;

static void tspec_init(tspec *s, uint32_t w, uint32_t h, uint16_t bps, uint16_t spp,
                       uint16_t photometric)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->h = h;
    s->bps = bps;
    s->spp = spp;
    s->photometric = photometric;
    s->planar = PLANARCONFIG_CONTIG;
    s->compression = COMPRESSION_NONE;
    s->orientation = 1;
    s->rows_per_strip = 3;
    s->nextra = -1;
    s->mode = "w";
    s->pages = 1;
}

/* Writes a TIFF with libtiff from raw file-layout samples: contiguous rows
 * of packed samples, or for separate planes plane after plane. Reads the
 * file back into b. */
static int write_tiff(const tspec *s, const uint8_t *raw, ppx_buf *b)
{
    char path[] = "/tmp/ppx_test_tiff_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    TIFF *tif = TIFFOpen(path, s->mode);
    if (!tif)
        return 1;
    uint64_t line =
        ((uint64_t)s->w * (s->planar == PLANARCONFIG_SEPARATE ? 1 : s->spp) * s->bps + 7) / 8;
    unsigned planes = s->planar == PLANARCONFIG_SEPARATE ? s->spp : 1;
    for (int page = 0; page < s->pages; page++) {
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, s->w);
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, s->h);
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, s->bps);
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, s->spp);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, s->photometric);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, s->planar);
        TIFFSetField(tif, TIFFTAG_COMPRESSION, s->compression);
        TIFFSetField(tif, TIFFTAG_ORIENTATION, s->orientation);
        /* As tiffcp -c jpeg writes colour: YCbCr in the file, RGB given. */
        if (s->compression == COMPRESSION_JPEG && s->photometric == PHOTOMETRIC_YCBCR)
            TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        if (s->nextra >= 0)
            TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)s->nextra, s->extra);
        if (s->cmap[0])
            TIFFSetField(tif, TIFFTAG_COLORMAP, s->cmap[0], s->cmap[1], s->cmap[2]);
        if (s->tile) {
            TIFFSetField(tif, TIFFTAG_TILEWIDTH, s->tile);
            TIFFSetField(tif, TIFFTAG_TILELENGTH, s->tile);
            uint64_t tsize = (uint64_t)TIFFTileSize64(tif);
            uint64_t trow = (uint64_t)TIFFTileRowSize64(tif);
            uint8_t *t = calloc(1, tsize);
            unsigned sbps = s->bps / 8; /* tiles are only used with whole bytes here */
            unsigned sps = s->planar == PLANARCONFIG_SEPARATE ? 1 : s->spp;
            for (unsigned p = 0; p < planes; p++)
                for (uint32_t ty = 0; ty < s->h; ty += s->tile)
                    for (uint32_t tx = 0; tx < s->w; tx += s->tile) {
                        memset(t, 0, tsize);
                        for (uint32_t r = 0; r < s->tile && ty + r < s->h; r++) {
                            uint32_t n = s->w - tx < s->tile ? s->w - tx : s->tile;
                            memcpy(t + r * trow,
                                   raw + p * line * s->h + (ty + r) * line +
                                       (uint64_t)tx * sps * sbps,
                                   (size_t)n * sps * sbps);
                        }
                        if (TIFFWriteTile(tif, t, tx, ty, 0, (uint16_t)p) < 0)
                            return 1;
                    }
            free(t);
        } else {
            TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, s->rows_per_strip);
            for (unsigned p = 0; p < planes; p++)
                for (uint32_t y = 0; y < s->h; y++)
                    if (TIFFWriteScanline(tif, (void *)(raw + p * line * s->h + y * line), y,
                                          (uint16_t)p) < 0)
                        return 1;
        }
        if (!TIFFWriteDirectory(tif))
            return 1;
    }
    TIFFClose(tif);
    FILE *f = fopen(path, "rb");
    uint8_t tmp[65536];
    size_t n;
    b->len = 0;
    while (f && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
        MUST(ppx_buf_append(b, tmp, n));
    if (f)
        fclose(f);
    unlink(path);
    return b->len == 0;
}

/* Decodes s/raw and checks the samples against want (output layout). */
static int expect_pixels(const tspec *s, const uint8_t *raw, unsigned ch, ppx_sample t,
                         const void *want)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK(write_tiff(s, raw, &b) == 0);
    int rc = decode(&b, &img, &info, &err, NULL);
    if (rc)
        fprintf(stderr, "decode: %s %s\n", ppx_err_name(rc), err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(img.channels, ch);
    CHECK_EQ_INT(img.type, t);
    CHECK_EQ_INT(img.width, s->w);
    CHECK_EQ_INT(img.height, s->h);
    size_t n = (size_t)s->w * s->h * ch * (size_t)t;
    if (memcmp(img.data, want, n) != 0) {
        for (size_t i = 0; i < n; i++)
            if (img.data[i] != ((const uint8_t *)want)[i]) {
                fprintf(stderr, "byte %zu: got %u, want %u\n", i, img.data[i],
                        ((const uint8_t *)want)[i]);
                break;
            }
        return 1;
    }
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int miniswhite_1bit(void)
{
    tspec s;
    tspec_init(&s, 10, 2, 1, 1, PHOTOMETRIC_MINISWHITE);
    /* 10 pixels: 2 bytes a row, MSB first. 1 = black in MinIsWhite. */
    const uint8_t raw[] = {0xA5, 0xC0, 0x0F, 0x40};
    const uint8_t want[] = {0,   255, 0,   255, 255, 0, 255, 0, 0,   0,
                            255, 255, 255, 255, 0,   0, 0,   0, 255, 0};
    return expect_pixels(&s, raw, 1, PPX_U8, want);
}

static int gray_2bit_4bit_scaled(void)
{
    tspec s;
    tspec_init(&s, 4, 1, 2, 1, PHOTOMETRIC_MINISBLACK);
    const uint8_t raw2[] = {0x1B}; /* 0 1 2 3 */
    const uint8_t want2[] = {0, 85, 170, 255};
    if (expect_pixels(&s, raw2, 1, PPX_U8, want2))
        return 1;
    tspec_init(&s, 3, 1, 4, 1, PHOTOMETRIC_MINISBLACK);
    const uint8_t raw4[] = {0x0F, 0x70}; /* 0 15 7 */
    const uint8_t want4[] = {0, 255, 119};
    return expect_pixels(&s, raw4, 1, PPX_U8, want4);
}

static int gray16_miniswhite_bigendian(void)
{
    tspec s;
    tspec_init(&s, 3, 2, 16, 1, PHOTOMETRIC_MINISWHITE);
    s.mode = "wb";
    s.compression = COMPRESSION_LZW;
    const uint16_t raw[] = {0, 1, 65535, 1000, 40000, 12345};
    uint16_t want[6];
    for (int i = 0; i < 6; i++)
        want[i] = (uint16_t)(65535 - raw[i]);
    return expect_pixels(&s, (const uint8_t *)raw, 1, PPX_U16, want);
}

static int palette_4bit_and_8bit_colormap(void)
{
    uint16_t r[16], g[16], b[16];
    for (int i = 0; i < 16; i++) {
        r[i] = (uint16_t)(i * 4369); /* i * 17 * 257: full 16-bit entries */
        g[i] = (uint16_t)((15 - i) * 4369);
        b[i] = (uint16_t)(i * 256 + 255);
    }
    tspec s;
    tspec_init(&s, 3, 1, 4, 1, PHOTOMETRIC_PALETTE);
    s.cmap[0] = r, s.cmap[1] = g, s.cmap[2] = b;
    const uint8_t raw[] = {0x0F, 0x50}; /* 0 15 5 */
    const uint8_t want[] = {0, 255, 0, 255, 0, 15, 85, 170, 5};
    if (expect_pixels(&s, raw, 3, PPX_U8, want))
        return 1;
    /* Old writers store 8-bit values in the 16-bit colormap: taken as is. */
    uint16_t r8[256], g8[256], b8[256];
    for (int i = 0; i < 256; i++)
        r8[i] = (uint16_t)i, g8[i] = (uint16_t)(255 - i), b8[i] = (uint16_t)(i / 2);
    tspec_init(&s, 2, 1, 8, 1, PHOTOMETRIC_PALETTE);
    s.cmap[0] = r8, s.cmap[1] = g8, s.cmap[2] = b8;
    const uint8_t raw8[] = {200, 3};
    const uint8_t want8[] = {200, 55, 100, 3, 252, 1};
    return expect_pixels(&s, raw8, 3, PPX_U8, want8);
}

static int cmyk_contig_and_planar(void)
{
    tspec s;
    tspec_init(&s, 3, 1, 8, 4, PHOTOMETRIC_SEPARATED);
    s.compression = COMPRESSION_PACKBITS;
    const uint8_t raw[] = {0, 0, 0, 0, 255, 128, 0, 0, 10, 20, 30, 100};
    /* R = round((255 - C) * (255 - K) / 255) */
    const uint8_t want[] = {255, 255, 255, 0, 127, 255, 149, 143, 137};
    if (expect_pixels(&s, raw, 3, PPX_U8, want))
        return 1;
    s.planar = PLANARCONFIG_SEPARATE;
    const uint8_t planes[] = {0, 255, 10, 0, 128, 20, 0, 0, 30, 0, 0, 100};
    return expect_pixels(&s, planes, 3, PPX_U8, want);
}

static int rgb16_planar_tiled_partial(void)
{
    /* 40x20 in 16x16 tiles: partial tiles on the right and at the bottom. */
    tspec s;
    tspec_init(&s, 40, 20, 16, 3, PHOTOMETRIC_RGB);
    s.planar = PLANARCONFIG_SEPARATE;
    s.tile = 16;
    s.compression = COMPRESSION_ADOBE_DEFLATE;
    size_t n = 40 * 20;
    uint16_t *raw = malloc(n * 3 * 2), *want = malloc(n * 3 * 2);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            uint16_t v = (uint16_t)(i * 97 + c * 20011);
            raw[c * n + i] = v;
            want[i * 3 + c] = v;
        }
    int rc = expect_pixels(&s, (const uint8_t *)raw, 3, PPX_U16, want);
    free(raw);
    free(want);
    return rc;
}

static int rgba_associated_unpremultiplied(void)
{
    tspec s;
    tspec_init(&s, 4, 1, 8, 4, PHOTOMETRIC_RGB);
    s.nextra = 1;
    s.extra[0] = EXTRASAMPLE_ASSOCALPHA;
    const uint8_t raw[] = {1, 1, 1, 2, 50, 100, 0, 100, 9, 8, 7, 0, 200, 100, 255, 255};
    /* round(c * 255 / a); alpha 0 and 255 keep their samples. */
    const uint8_t want[] = {128, 128, 128, 2, 128, 255, 0, 100, 9, 8, 7, 0, 200, 100, 255, 255};
    return expect_pixels(&s, raw, 4, PPX_U8, want);
}

static int extra_samples_rules(void)
{
    tspec s;
    /* Gray plus one undeclared extra sample: straight alpha. */
    tspec_init(&s, 2, 1, 8, 2, PHOTOMETRIC_MINISBLACK);
    const uint8_t raw[] = {10, 20, 30, 40};
    if (expect_pixels(&s, raw, 2, PPX_U8, raw))
        return 1;
    /* RGB plus an extra declared unspecified: kept, four plain bands. */
    tspec_init(&s, 2, 1, 8, 4, PHOTOMETRIC_RGB);
    s.nextra = 1;
    s.extra[0] = EXTRASAMPLE_UNSPECIFIED;
    const uint8_t raw4[] = {1, 2, 3, 4, 5, 6, 7, 8};
    if (expect_pixels(&s, raw4, 4, PPX_U8, raw4))
        return 1;
    /* RGB plus unspecified then unassociated alpha: every sample a band. */
    tspec_init(&s, 1, 1, 8, 5, PHOTOMETRIC_RGB);
    s.nextra = 2;
    s.extra[0] = EXTRASAMPLE_UNSPECIFIED;
    s.extra[1] = EXTRASAMPLE_UNASSALPHA;
    const uint8_t raw5[] = {1, 2, 3, 4, 5};
    return expect_pixels(&s, raw5, 5, PPX_U8, raw5);
}

static int bigtiff_multipage_orientation(void)
{
    tspec s;
    tspec_init(&s, 5, 4, 8, 3, PHOTOMETRIC_RGB);
    s.mode = "w8";
    s.pages = 3;
    s.orientation = 8;
    s.compression = COMPRESSION_LZW;
    uint8_t raw[5 * 4 * 3];
    for (int i = 0; i < 60; i++)
        raw[i] = (uint8_t)(i * 4);
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK(write_tiff(&s, raw, &b) == 0);
    CHECK(b.data[2] == 43); /* BigTIFF */
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK_EQ_INT(decode(&b, &img, &info, &err, NULL), 0);
    CHECK_EQ_INT(info.pages, 3);
    CHECK_EQ_INT(img.orientation, 8);
    CHECK(memcmp(img.data, raw, sizeof raw) == 0);
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 3);
    CHECK_EQ_INT(info.width, 5);
    CHECK_STR(info.compression, "lzw");
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* Raw YCbCr (no JPEG) goes through libtiff's RGBA interface: our pixels
 * must equal what that interface gives when called directly. */
static int ycbcr_raw_fallback(void)
{
    tspec s;
    tspec_init(&s, 4, 2, 8, 3, PHOTOMETRIC_YCBCR);
    const uint8_t raw[] = {16, 128, 128, 235, 128, 128, 81,  90, 240, 145, 54,  34,
                           41, 240, 110, 128, 128, 128, 200, 10, 200, 60,  200, 10};
    ppx_buf b;
    ppx_buf_init(&b);
    /* Subsampling 1x1, so that the file is plain YCbCr triples. */
    char path[] = "/tmp/ppx_test_ycc_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    TIFF *t = TIFFOpen(path, "w");
    CHECK(t != NULL);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, s.w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, s.h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
    TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, 1, 1);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 2);
    CHECK(TIFFWriteEncodedStrip(t, 0, (void *)raw, sizeof raw) == (tmsize_t)sizeof raw);
    TIFFClose(t);
    t = TIFFOpen(path, "r");
    uint32_t rgba[8];
    CHECK(TIFFReadRGBAImageOriented(t, 4, 2, rgba, ORIENTATION_TOPLEFT, 1) == 1);
    TIFFClose(t);
    FILE *f = fopen(path, "rb");
    uint8_t tmp[4096];
    size_t n = fread(tmp, 1, sizeof tmp, f);
    fclose(f);
    unlink(path);
    MUST(ppx_buf_append(&b, tmp, n));
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK_EQ_INT(decode(&b, &img, &info, &err, NULL), 0);
    CHECK_EQ_INT(img.channels, 3);
    CHECK_EQ_INT(info.cs, PPX_CS_YCBCR);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(img.data[3 * i], TIFFGetR(rgba[i]));
        CHECK_EQ_INT(img.data[3 * i + 1], TIFFGetG(rgba[i]));
        CHECK_EQ_INT(img.data[3 * i + 2], TIFFGetB(rgba[i]));
    }
    CHECK(img.data[0] != img.data[3]); /* not a constant image */
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- hand-made hostile files ------------------------------------------------ */

typedef struct {
    uint16_t tag, type;
    uint32_t count, value;
} tent;

#define T_SHORT 3
#define T_LONG 4
#define AT_DATA 0xFFFFFFFFu /* value: offset of the data after the IFD */

/* Little-endian classic TIFF: header, one IFD of n entries (sorted by tag),
 * next-IFD pointer `next` (AT_DATA: none), then dlen bytes of data. */
static size_t make_tiff(uint8_t *out, const tent *e, unsigned n, uint32_t next, const uint8_t *data,
                        size_t dlen)
{
    uint32_t data_off = 8 + 2 + 12 * n + 4;
    memcpy(out, "II*\0\x08\0\0\0", 8);
    uint8_t *p = out + 8;
    *p++ = (uint8_t)n;
    *p++ = (uint8_t)(n >> 8);
    for (unsigned i = 0; i < n; i++) {
        uint32_t v = e[i].value == AT_DATA ? data_off : e[i].value;
        uint8_t ent[12] = {(uint8_t)e[i].tag,
                           (uint8_t)(e[i].tag >> 8),
                           (uint8_t)e[i].type,
                           0,
                           (uint8_t)e[i].count,
                           (uint8_t)(e[i].count >> 8),
                           (uint8_t)(e[i].count >> 16),
                           (uint8_t)(e[i].count >> 24),
                           (uint8_t)v,
                           (uint8_t)(v >> 8),
                           (uint8_t)(v >> 16),
                           (uint8_t)(v >> 24)};
        memcpy(p, ent, 12);
        p += 12;
    }
    uint32_t nx = next == AT_DATA ? 0 : next;
    uint8_t nb[4] = {(uint8_t)nx, (uint8_t)(nx >> 8), (uint8_t)(nx >> 16), (uint8_t)(nx >> 24)};
    memcpy(p, nb, 4);
    p += 4;
    memcpy(p, data, dlen);
    return data_off + dlen;
}

/* A gray8 w x h file with one strip of dlen bytes; extra entries replace
 * or add tags (kept sorted by the caller's choice of tags). */
static int gray_file(uint8_t *out, size_t *len, uint32_t w, uint32_t h, uint32_t strip_off,
                     uint32_t strip_len, uint16_t compression, uint16_t sampleformat, size_t dlen)
{
    static uint8_t data[8192];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31);
    tent e[] = {
        {256, T_LONG, 1, w},
        {257, T_LONG, 1, h},
        {258, T_SHORT, 1, 8},
        {259, T_SHORT, 1, compression},
        {262, T_SHORT, 1, PHOTOMETRIC_MINISBLACK},
        {273, T_LONG, 1, strip_off},
        {277, T_SHORT, 1, 1},
        {278, T_LONG, 1, h},
        {279, T_LONG, 1, strip_len},
        {339, T_SHORT, 1, sampleformat},
    };
    *len = make_tiff(out, e, sizeof e / sizeof e[0], 0, data, dlen);
    return 0;
}

static int decode_raw(const uint8_t *buf, size_t len, ppx_err *err, const ppx_limits *l)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {0};
    o.limits = l;
    ppx_err_clear(err);
    int rc = ppx_codec_decode(buf, len, &o, &img, NULL, err);
    if (rc)
        printf("%s: %s\n", ppx_err_name(rc), err->msg);
    ppx_image_destroy(&img);
    return rc;
}

static uint8_t g_buf[1 << 16];

static int valid_crafted_file_decodes(void)
{
    /* The baseline the hostile cases below alter: it must decode. */
    size_t len;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    ppx_err err;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), 0);
    return 0;
}

static int huge_dimensions_elimit(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 2147483647u, 2147483647u, AT_DATA, 64, COMPRESSION_NONE,
              SAMPLEFORMAT_UINT, 64);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ELIMIT);
    /* Under the per-side limit, over the pixel limit. */
    gray_file(g_buf, &len, 60000, 60000, AT_DATA, 64, COMPRESSION_LZW, SAMPLEFORMAT_UINT, 64);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ELIMIT);
    CHECK(strstr(err.msg, "pixels") != NULL);
    /* Inside the default limits but over a caller's. */
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 100;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, &l), PPX_ELIMIT);
    ppx_info info;
    CHECK_EQ_INT(ppx_codec_inspect(g_buf, len, &l, &info, &err), PPX_ELIMIT);
    return 0;
}

static int zero_width_ecorrupt(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 0, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    return 0;
}

static int ifd_offsets_checked(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    /* First IFD beyond the end of the file: a cut file. */
    g_buf[4] = 0xF0, g_buf[5] = 0xFF, g_buf[6] = 0, g_buf[7] = 0;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ETRUNC);
    /* Inside the header. */
    g_buf[4] = 2, g_buf[5] = 0;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    /* Entries running past the end. */
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    CHECK_EQ_INT(decode_raw(g_buf, 60, &err, NULL), PPX_ETRUNC);
    /* No entries. */
    g_buf[8] = 0, g_buf[9] = 0;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    /* Header only. */
    CHECK_EQ_INT(decode_raw((const uint8_t *)"II*\0\x08\0", 6, &err, NULL), PPX_ETRUNC);
    return 0;
}

static int strips_checked(void)
{
    size_t len;
    ppx_err err;
    /* Strip past the end of the file. */
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 100);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ETRUNC);
    /* Strip inside the header. */
    gray_file(g_buf, &len, 16, 8, 0, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    /* A single uncompressed strip whose count is short is re-estimated by
     * libtiff; past the end of the file, that is a cut file. */
    gray_file(g_buf, &len, 16, 8, AT_DATA, 100, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 100);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ETRUNC);
    /* Two strips of 4 rows (64 bytes each), the second 30 bytes: corrupt.
     * Two SHORT offsets and counts fit in the entries themselves. */
    static uint8_t data[128];
    uint32_t data_off = 8 + 2 + 12 * 9 + 4;
    tent e[] = {
        {256, T_LONG, 1, 16},
        {257, T_LONG, 1, 8},
        {258, T_SHORT, 1, 8},
        {259, T_SHORT, 1, 1},
        {262, T_SHORT, 1, 1},
        {273, T_SHORT, 2, data_off | (data_off + 64) << 16},
        {277, T_SHORT, 1, 1},
        {278, T_LONG, 1, 4},
        {279, T_SHORT, 2, 64 | 30u << 16},
    };
    len = make_tiff(g_buf, e, sizeof e / sizeof e[0], 0, data, sizeof data);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "holds 30 bytes, 64 expected") != NULL);
    e[8].value = 64 | 64u << 16; /* and with the right count it decodes */
    len = make_tiff(g_buf, e, sizeof e / sizeof e[0], 0, data, sizeof data);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), 0);
    /* Garbage where LZW data should be: 9-bit codes of 511, far beyond the
     * table's first free code (258). */
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_LZW, SAMPLEFORMAT_UINT, 128);
    memset(g_buf + len - 128, 0xFF, 128);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "libtiff: ") == err.msg);
    return 0;
}

static int unsupported_features(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, 12345, SAMPLEFORMAT_UINT, 128);
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_EUNSUPPORTED);
    CHECK(strstr(err.msg, "12345") != NULL);
    gray_file(g_buf, &len, 4, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_IEEEFP, 128);
    /* 8-bit "float" is nonsense but must still be refused as float. */
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_EUNSUPPORTED);
    CHECK_STR(err.msg, "8-bit float samples are not supported (16, 32 or 64)");
    ppx_info info; /* inspect still reports the facts */
    CHECK_EQ_INT(ppx_codec_inspect(g_buf, len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.width, 4);
    return 0;
}

static int huge_tile_elimit(void)
{
    static uint8_t data[4096];
    tent e[] = {
        {256, T_LONG, 1, 16},       {257, T_LONG, 1, 16},       {258, T_SHORT, 1, 8},
        {259, T_SHORT, 1, 1},       {262, T_SHORT, 1, 1},       {277, T_SHORT, 1, 1},
        {322, T_LONG, 1, 1u << 20}, {323, T_LONG, 1, 1u << 14}, {324, T_LONG, 1, AT_DATA},
        {325, T_LONG, 1, 4096},
    };
    size_t len = make_tiff(g_buf, e, sizeof e / sizeof e[0], 0, data, sizeof data);
    ppx_err err;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), PPX_ELIMIT);
    return 0;
}

static int max_alloc_limit(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_alloc = 100; /* the 128-byte image does not fit */
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, &l), PPX_ELIMIT);
    return 0;
}

static int warnings_flood_refused(void)
{
    static uint8_t data[128];
    tent e[40];
    unsigned n = 0;
    tent base[] = {{256, T_LONG, 1, 16}, {257, T_LONG, 1, 8},  {258, T_SHORT, 1, 8},
                   {259, T_SHORT, 1, 1}, {262, T_SHORT, 1, 1}, {273, T_LONG, 1, AT_DATA},
                   {277, T_SHORT, 1, 1}, {278, T_LONG, 1, 8},  {279, T_LONG, 1, 128}};
    for (unsigned i = 0; i < sizeof base / sizeof base[0]; i++)
        e[n++] = base[i];
    /* Unknown private tags: libtiff warns about each. */
    for (unsigned i = 0; i < 20; i++)
        e[n++] = (tent){(uint16_t)(65000 + i), T_SHORT, 1, i};
    size_t len = make_tiff(g_buf, e, n, 0, data, sizeof data);
    ppx_err err;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, NULL), 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_warnings = 5;
    CHECK_EQ_INT(decode_raw(g_buf, len, &err, &l), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "more than 5 warnings") != NULL);
    return 0;
}

static int ifd_loop_counted_once(void)
{
    size_t len;
    ppx_err err;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    /* next-IFD pointer (after 10 entries) back to the first IFD. */
    size_t at = 8 + 2 + 12 * 10;
    g_buf[at] = 8, g_buf[at + 1] = 0, g_buf[at + 2] = 0, g_buf[at + 3] = 0;
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_decode_opts o = {0};
    CHECK_EQ_INT(ppx_codec_decode(g_buf, len, &o, &img, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 1);
    ppx_image_destroy(&img);
    return 0;
}

/* ---- damaged data: libtiff's warnings ------------------------------------ */

/* Ramps with texture and some grain, like a photo: JPEG strips of a few KB,
 * PackBits finds runs (in blue) and literals both. 3 channels. */
static void photo_like(uint8_t *px, uint32_t w, uint32_t h)
{
    uint32_t r = 1;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            unsigned tex = (x / 4 + y / 4) % 2 * 24;
            r = r * 1103515245u + 12345u;
            p[0] = (uint8_t)(x * 150 / w + tex + (r >> 27));
            p[1] = (uint8_t)(y * 180 / h + tex + (r >> 24 & 15));
            p[2] = (uint8_t)(x % 32 < 16 ? 40 : 200);
        }
}

/* Where strip `strip` of the file in b lies: libtiff reads it back from a
 * temporary file, so the test does not depend on our own decoder. */
static int strip_extent(const ppx_buf *b, uint32_t strip, uint64_t *off, uint64_t *cnt)
{
    char path[] = "/tmp/ppx_test_strip_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    int ok = write(fd, b->data, b->len) == (ssize_t)b->len;
    close(fd);
    TIFF *t = ok ? TIFFOpen(path, "r") : NULL;
    unlink(path);
    if (!t)
        return 1;
    ok = strip < TIFFNumberOfStrips(t);
    if (ok) {
        *off = TIFFGetStrileOffset(t, strip);
        *cnt = TIFFGetStrileByteCount(t, strip);
    }
    TIFFClose(t);
    return !ok;
}

/* Expects the decode to fail in stage decode with `code` and a message that
 * holds every needle (NULL-terminated). */
static int expect_refused(const ppx_buf *b, int code, const char *const *needles)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    int rc = decode(b, &img, NULL, &err, NULL);
    printf("%s: %s\n", ppx_err_name(rc), err.msg);
    CHECK_EQ_INT(rc, code);
    CHECK_EQ_INT(err.stage, PPX_STAGE_DECODE);
    for (; *needles; needles++)
        if (!strstr(err.msg, *needles)) {
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, *needles);
            return 1;
        }
    ppx_image_destroy(&img);
    return 0;
}

enum { DW = 512, DH = 128 };

/* A JPEG-compressed TIFF as `tiffcp -c jpeg -r 16` writes it, with 512
 * bytes in the middle of strip 4 overwritten. libjpeg only warns ("Corrupt
 * JPEG data: 44 extraneous bytes before marker 0xd9" here: the entropy
 * decoder lost its way and finished early) and hands over garbage rows.
 * Random bytes are not always noticed (Huffman codes can fall back into
 * step), so a second copy has an EOI marker in the middle of the strip,
 * which libjpeg meets whatever the encoder wrote ("premature end of data
 * segment"). The clean twin decodes close to the source. */
static int damaged_jpeg_strip_refused(void)
{
    static uint8_t px[DW * DH * 3];
    photo_like(px, DW, DH);
    tspec s;
    tspec_init(&s, DW, DH, 8, 3, PHOTOMETRIC_YCBCR);
    s.compression = COMPRESSION_JPEG;
    s.rows_per_strip = 16;
    ppx_buf b, d;
    ppx_buf_init(&b);
    ppx_buf_init(&d);
    CHECK(write_tiff(&s, px, &b) == 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    CHECK_EQ_INT(decode(&b, &img, NULL, &err, NULL), 0);
    CHECK_EQ_INT(img.channels, 3);
    double diff = 0;
    for (size_t i = 0; i < sizeof px; i++)
        diff += abs((int)img.data[i] - (int)px[i]);
    printf("clean: mean abs difference %.2f\n", diff / sizeof px);
    CHECK(diff / sizeof px < 12.0); /* lossy; a wrong image is off by ~100 */
    uint64_t off, cnt;
    CHECK(strip_extent(&b, 4, &off, &cnt) == 0);
    printf("strip 4: %llu bytes\n", (unsigned long long)cnt);
    CHECK(cnt > 1024);
    static const char *const want[] = {"libtiff: JPEGLib: Corrupt JPEG data", "(strip 4)", NULL};
    MUST(ppx_buf_append(&d, b.data, b.len));
    uint32_t r = 1;
    for (size_t i = 0; i < 512; i++) {
        r = r * 1103515245u + 12345u;
        d.data[off + cnt / 2 - 256 + i] = (uint8_t)(r >> 24);
    }
    CHECK_EQ_INT(expect_refused(&d, PPX_ECORRUPT, want), 0);
    memcpy(d.data, b.data, b.len);
    d.data[off + cnt / 2] = 0xFF;
    d.data[off + cnt / 2 + 1] = 0xD9;
    CHECK_EQ_INT(expect_refused(&d, PPX_ECORRUPT, want), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&d);
    return 0;
}

/* A PackBits TIFF with 64 bytes of one strip replaced by run headers that
 * each claim 128 bytes: libtiff warns "Discarding 54 bytes to avoid buffer
 * overrun" and returns a full strip of wrong pixels. (It notices only when
 * a run crosses the end of the strip; runs that end exactly there, or
 * overwritten literals, are other pixels no decoder can tell from real
 * ones. libtiff's encoder is deterministic, so this strip always
 * overruns.) The clean twin is exact. */
static int damaged_packbits_strip_refused(void)
{
    static uint8_t px[DW * DH * 3];
    photo_like(px, DW, DH);
    tspec s;
    tspec_init(&s, DW, DH, 8, 3, PHOTOMETRIC_RGB);
    s.compression = COMPRESSION_PACKBITS;
    s.rows_per_strip = 8;
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK(write_tiff(&s, px, &b) == 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    CHECK_EQ_INT(decode(&b, &img, NULL, &err, NULL), 0);
    CHECK(memcmp(img.data, px, sizeof px) == 0);
    uint64_t off, cnt;
    CHECK(strip_extent(&b, 7, &off, &cnt) == 0);
    CHECK(cnt > 256);
    memset(b.data + off + cnt / 2 - 32, 0x81, 64);
    static const char *const want[] = {"libtiff: PackBitsDecode: Discarding",
                                       "to avoid buffer overrun", "(strip 7)", NULL};
    CHECK_EQ_INT(expect_refused(&b, PPX_ECORRUPT, want), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* The harmless libtiff warnings, one test per entry of the list in tiff.c:
 * each file below makes libtiff warn and must decode to the stored pixels.
 * The pixels of gray_file() are data[i] = i * 31. */
static int decodes_exactly(const uint8_t *buf, size_t len, uint32_t w, uint32_t h)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {0};
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_decode(buf, len, &o, &img, NULL, &err);
    if (rc)
        printf("%s: %s\n", ppx_err_name(rc), err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(img.width, w);
    CHECK_EQ_INT(img.height, h);
    CHECK_EQ_INT(img.channels, 1);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            CHECK_EQ_INT(ppx_image_row(&img, y)[x], (uint8_t)((y * w + x) * 31));
    ppx_image_destroy(&img);
    return 0;
}

/* The 16x8 gray file of gray_file(), with `extra` entries merged in (sorted
 * unless `unsorted`); the pixel data follows the IFD and the extra entries'
 * out-of-line values (xdata) follow the pixels. Returns the length. */
static size_t gray_with(uint8_t *out, const tent *extra, unsigned nx, int unsorted,
                        const uint8_t *xdata, size_t xlen)
{
    static uint8_t data[128 + 256];
    for (size_t i = 0; i < 128; i++)
        data[i] = (uint8_t)(i * 31);
    if (xlen) /* xdata may be NULL then */
        memcpy(data + 128, xdata, xlen);
    tent e[32];
    unsigned n = 0;
    const tent base[] = {
        {256, T_LONG, 1, 16}, {257, T_LONG, 1, 8},  {258, T_SHORT, 1, 8},
        {259, T_SHORT, 1, 1}, {262, T_SHORT, 1, 1}, {273, T_LONG, 1, AT_DATA},
        {277, T_SHORT, 1, 1}, {278, T_LONG, 1, 8},  {279, T_LONG, 1, 128},
    };
    unsigned nb = sizeof base / sizeof base[0], i = 0, j = 0;
    while (i < nb || j < nx)
        e[n++] = j >= nx || (i < nb && base[i].tag < extra[j].tag) ? base[i++] : extra[j++];
    if (unsorted) {
        tent t = e[0];
        e[0] = e[1];
        e[1] = t;
    }
    return make_tiff(out, e, n, 0, data, 128 + xlen);
}

/* Offset of the extra data gray_with() places after the pixels. */
static uint32_t gray_xdata_at(unsigned nx)
{
    return 8 + 2 + 12 * (9 + nx) + 4 + 128;
}

static int harmless_unknown_tag(void)
{
    const tent x[] = {{65000, T_SHORT, 1, 7}};
    size_t len = gray_with(g_buf, x, 1, 0, NULL, 0);
    return decodes_exactly(g_buf, len, 16, 8);
}

static int harmless_unsorted_tags(void)
{
    size_t len = gray_with(g_buf, NULL, 0, 1, NULL, 0);
    return decodes_exactly(g_buf, len, 16, 8);
}

#define T_ASCII 2
#define T_RATIONAL 5

/* DocumentName "ab\0cd": libtiff keeps "ab" and says so. */
static int harmless_ascii_nul(void)
{
    const tent x[] = {{269, T_ASCII, 6, gray_xdata_at(1)}};
    size_t len = gray_with(g_buf, x, 1, 0, (const uint8_t *)"ab\0cd", 6);
    return decodes_exactly(g_buf, len, 16, 8);
}

/* DocumentName "abcd" without its NUL (inline in the entry). */
static int harmless_ascii_unterminated(void)
{
    const tent x[] = {{269, T_ASCII, 4, 'a' | 'b' << 8 | 'c' << 16 | (uint32_t)'d' << 24}};
    size_t len = gray_with(g_buf, x, 1, 0, NULL, 0);
    return decodes_exactly(g_buf, len, 16, 8);
}

/* Metadata tags libtiff ignores: a DocumentName of 2^32 - 1 bytes (libtiff's
 * size sanity check) and an XResolution of two values. */
static int harmless_metadata_tag_ignored(void)
{
    const uint8_t res[16] = {72, 0, 0, 0, 1, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0};
    const tent x[] = {{269, T_ASCII, 0xFFFFFFFFu, gray_xdata_at(2)},
                      {282, T_RATIONAL, 2, gray_xdata_at(2)}};
    size_t len = gray_with(g_buf, x, 2, 0, res, sizeof res);
    return decodes_exactly(g_buf, len, 16, 8);
}

/* Tiles of 8x8 (TIFF wants multiples of 16): libtiff reads them. */
static int harmless_nonstandard_tiles(void)
{
    /* After the IFD: two tile byte counts, two tile offsets, then the two
     * 8x8 tiles that make the 16x8 image side by side. */
    static uint8_t data[16 + 128];
    const uint32_t base = 8 + 2 + 12 * 10 + 4, t0 = base + 16, t1 = base + 80;
    const uint32_t words[4] = {64, 64, t0, t1};
    for (unsigned i = 0; i < 16; i++)
        data[i] = (uint8_t)(words[i / 4] >> (8 * (i % 4)));
    for (uint32_t t = 0; t < 2; t++)
        for (uint32_t r = 0; r < 8; r++)
            for (uint32_t c = 0; c < 8; c++)
                data[16 + t * 64 + r * 8 + c] = (uint8_t)((r * 16 + t * 8 + c) * 31);
    const tent e[] = {
        {256, T_LONG, 1, 16},   {257, T_LONG, 1, 8},  {258, T_SHORT, 1, 8},
        {259, T_SHORT, 1, 1},   {262, T_SHORT, 1, 1}, {277, T_SHORT, 1, 1},
        {322, T_LONG, 1, 8},    {323, T_LONG, 1, 8},  {324, T_LONG, 2, base + 8},
        {325, T_LONG, 2, base},
    };
    size_t len = make_tiff(g_buf, e, sizeof e / sizeof e[0], 0, data, sizeof data);
    return decodes_exactly(g_buf, len, 16, 8);
}

/* Old-style JPEG (compression 6): libtiff always warns that the scheme is
 * deprecated. A JFIF stream that the strip and JPEGInterchangeFormat both
 * point at, as old cameras wrote it; decoded through TIFFRGBAImage. */
static int harmless_old_jpeg_notice(void)
{
    enum { W = 64, H = 32 };
    ppx_image src;
    ppx_image_init(&src);
    CHECK(ppx_image_alloc(&src, W, H, 3, PPX_U8, NULL, NULL) == 0);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            uint8_t *p = ppx_image_row(&src, y) + x * 3;
            p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 8), p[2] = 128;
        }
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_JPEG);
    ppx_buf jpg;
    ppx_buf_init(&jpg);
    ppx_err err;
    CHECK_EQ_INT(ppx_codec_encode(&src, &eo, &jpg, &err), 0);
    static uint8_t data[8192];
    CHECK(jpg.len + 6 <= sizeof data);
    memcpy(data, (uint8_t[]){8, 0, 8, 0, 8, 0}, 6);
    memcpy(data + 6, jpg.data, jpg.len);
    const uint32_t base = 8 + 2 + 12 * 11 + 4, jl = (uint32_t)jpg.len;
    const tent e[] = {
        {256, T_LONG, 1, W},        {257, T_LONG, 1, H},  {258, T_SHORT, 3, base},
        {259, T_SHORT, 1, 6},       {262, T_SHORT, 1, 6}, {273, T_LONG, 1, base + 6},
        {277, T_SHORT, 1, 3},       {278, T_LONG, 1, H},  {279, T_LONG, 1, jl},
        {513, T_LONG, 1, base + 6}, {514, T_LONG, 1, jl},
    };
    size_t len = make_tiff(g_buf, e, sizeof e / sizeof e[0], 0, data, 6 + jpg.len);
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_decode_opts o = {0};
    int rc = ppx_codec_decode(g_buf, len, &o, &img, &info, &err);
    if (rc)
        printf("%s: %s\n", ppx_err_name(rc), err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_STR(info.compression, "old-jpeg");
    CHECK_EQ_INT(img.channels, 3);
    CHECK_EQ_INT(img.width, W);
    double diff = 0;
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t i = 0; i < W * 3; i++)
            diff += abs((int)ppx_image_row(&img, y)[i] - (int)ppx_image_row(&src, y)[i]);
    printf("mean abs difference %.2f\n", diff / (W * H * 3));
    CHECK(diff / (W * H * 3) < 3.0);
    ppx_image_destroy(&img);
    ppx_image_destroy(&src);
    ppx_buf_destroy(&jpg);
    return 0;
}

/* Pointer to the entry of `tag` in the first IFD of a little-endian classic
 * TIFF, or NULL. */
static uint8_t *entry_of(uint8_t *b, size_t len, uint16_t tag)
{
    uint32_t off = b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24;
    if (off + 2 > len)
        return NULL;
    unsigned n = b[off] | b[off + 1] << 8;
    for (unsigned i = 0; i < n && off + 2 + 12 * (i + 1) <= len; i++) {
        uint8_t *e = b + off + 2 + 12 * i;
        if ((e[0] | e[1] << 8) == tag)
            return e;
    }
    return NULL;
}

/* The "tag ignored" rule is for metadata only: a Predictor that libtiff
 * ignores (count 2) would leave LZW data undifferenced, every pixel wrong. */
static int unlisted_warning_refused(void)
{
    ppx_image in;
    ppx_image_init(&in);
    CHECK(make_image(&in, 40, 20, 1, PPX_U8) == 0);
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_TIFF); /* LZW with the horizontal predictor */
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    uint8_t *pred = entry_of(b.data, b.len, 317);
    CHECK(pred != NULL);
    pred[4] = 2;
    static const char *const want[] = {
        "libtiff: TIFFFetchNormalTag: Incorrect count for \"Predictor\"; tag ignored", NULL};
    CHECK_EQ_INT(expect_refused(&b, PPX_ECORRUPT, want), 0);
    /* A single uncompressed strip whose byte count is short: libtiff guesses
     * the count from the image size, i.e. invents where the pixels are. */
    size_t len;
    gray_file(g_buf, &len, 16, 8, AT_DATA, 100, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    b.len = 0;
    MUST(ppx_buf_append(&b, g_buf, len));
    static const char *const want2[] = {"Bogus \"StripByteCounts\" field", NULL};
    CHECK_EQ_INT(expect_refused(&b, PPX_ECORRUPT, want2), 0);
    ppx_image_destroy(&in);
    ppx_buf_destroy(&b);
    return 0;
}

/* A file cut anywhere in its directory, in the entries or in the values
 * they point to (BitsPerSample, StripOffsets, StripByteCounts after the IFD,
 * as libtiff writes them), is a cut file: ETRUNC, not ECORRUPT. */
static int cut_in_ifd_etrunc(void)
{
    static uint8_t raw[40 * 20 * 3];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 7);
    tspec s;
    tspec_init(&s, 40, 20, 8, 3, PHOTOMETRIC_RGB);
    s.compression = COMPRESSION_LZW;
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK(write_tiff(&s, raw, &b) == 0);
    uint32_t ifd = b.data[4] | b.data[5] << 8 | b.data[6] << 16 | (uint32_t)b.data[7] << 24;
    CHECK(ifd > sizeof raw / 4 && ifd < b.len); /* the IFD follows the strips */
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK_EQ_INT(decode(&b, &img, &info, &err, NULL), 0);
    size_t full = b.len;
    for (size_t cut = ifd; cut < full; cut++) {
        b.len = cut;
        int rc = decode(&b, &img, NULL, &err, NULL);
        if (rc != PPX_ETRUNC) {
            printf("cut at %zu of %zu (IFD at %u): %s: %s\n", cut, full, ifd, ppx_err_name(rc),
                   err.msg);
            return 1;
        }
        CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), PPX_ETRUNC);
    }
    b.len = full - 1;
    CHECK_EQ_INT(decode(&b, &img, NULL, &err, NULL), PPX_ETRUNC);
    printf("%s\n", err.msg);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* gray_file() followed by a chain of `extra` one-entry IFDs (NewSubfileType
 * "page"), 18 bytes each. Returns the buffer (malloc) and its length. */
static uint8_t *many_pages(uint32_t extra, size_t *len)
{
    size_t base;
    gray_file(g_buf, &base, 16, 8, AT_DATA, 128, COMPRESSION_NONE, SAMPLEFORMAT_UINT, 128);
    size_t n = base + (size_t)extra * 18;
    uint8_t *b = malloc(n);
    if (!b)
        return NULL;
    memcpy(b, g_buf, base);
    for (uint32_t i = 0; i <= extra; i++) {
        /* The next-IFD pointer of the first IFD (10 entries), then of each page. */
        size_t at = i == 0 ? 8 + 2 + 12 * 10 : base + (size_t)(i - 1) * 18 + 14;
        uint32_t next = i == extra ? 0 : (uint32_t)(base + (size_t)i * 18);
        for (int k = 0; k < 4; k++)
            b[at + k] = (uint8_t)(next >> (8 * k));
        if (i < extra) {
            static const uint8_t page[14] = {1, 0, 254, 0, 4, 0, 1, 0, 0, 0, 2, 0, 0, 0};
            memcpy(b + base + (size_t)i * 18, page, sizeof page);
        }
    }
    *len = n;
    return b;
}

/* 100000 pages are counted, not reported as 65535. */
static int pages_counted_exactly(void)
{
    size_t len;
    uint8_t *b = many_pages(99999, &len);
    CHECK(b != NULL);
    ppx_info info;
    ppx_err err;
    CHECK_EQ_INT(ppx_codec_inspect(b, len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 100000);
    CHECK_EQ_INT(info.pages_capped, 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {0};
    CHECK_EQ_INT(ppx_codec_decode(b, len, &o, &img, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 100000);
    ppx_image_destroy(&img);
    free(b);
    return 0;
}

/* Counting stops at 2^20 pages, which bounds its time; the count then says
 * so (pages_capped: "at least 1048576"). */
static int pages_capped_at_2_20(void)
{
    size_t len;
    uint8_t *b = many_pages((1u << 20) + 4, &len);
    CHECK(b != NULL);
    ppx_info info;
    ppx_err err;
    CHECK_EQ_INT(ppx_codec_inspect(b, len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 1 << 20);
    CHECK_EQ_INT(info.pages_capped, 1);
    /* Exactly at the cap: counted, not capped. */
    free(b);
    b = many_pages((1u << 20) - 1, &len);
    CHECK(b != NULL);
    CHECK_EQ_INT(ppx_codec_inspect(b, len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.pages, 1 << 20);
    CHECK_EQ_INT(info.pages_capped, 0);
    free(b);
    return 0;
}

PPX_TEST_MAIN(TEST(roundtrip_1ch_8bit), TEST(roundtrip_2ch_8bit), TEST(roundtrip_3ch_8bit),
              TEST(roundtrip_4ch_8bit), TEST(roundtrip_1ch_16bit), TEST(roundtrip_2ch_16bit),
              TEST(roundtrip_3ch_16bit), TEST(roundtrip_4ch_16bit), TEST(encode_orientation_kept),
              TEST(encode_refuses), TEST(miniswhite_1bit), TEST(gray_2bit_4bit_scaled),
              TEST(gray16_miniswhite_bigendian), TEST(palette_4bit_and_8bit_colormap),
              TEST(cmyk_contig_and_planar), TEST(rgb16_planar_tiled_partial),
              TEST(rgba_associated_unpremultiplied), TEST(extra_samples_rules),
              TEST(bigtiff_multipage_orientation), TEST(ycbcr_raw_fallback),
              TEST(valid_crafted_file_decodes), TEST(huge_dimensions_elimit),
              TEST(zero_width_ecorrupt), TEST(ifd_offsets_checked), TEST(strips_checked),
              TEST(unsupported_features), TEST(huge_tile_elimit), TEST(max_alloc_limit),
              TEST(warnings_flood_refused), TEST(ifd_loop_counted_once),
              TEST(damaged_jpeg_strip_refused), TEST(damaged_packbits_strip_refused),
              TEST(harmless_unknown_tag), TEST(harmless_unsorted_tags), TEST(harmless_ascii_nul),
              TEST(harmless_ascii_unterminated), TEST(harmless_metadata_tag_ignored),
              TEST(harmless_nonstandard_tiles), TEST(harmless_old_jpeg_notice),
              TEST(unlisted_warning_refused), TEST(cut_in_ifd_etrunc), TEST(pages_counted_exactly),
              TEST(pages_capped_at_2_20))
