/* WebP codec: files written by libwebp itself (lossy, lossless, alpha, VP8X
 * with ICC and EXIF, animations) decode to libwebp's own pixels; our encoder
 * round-trips; hostile files (truncated, huge canvas, chunk and RIFF sizes
 * that lie, damaged ALPH, VP8L and VP8 data) each fail once, with a reason. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <webp/decode.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "check.h"
#include "test_images.h"
#include "prepix/codec.h"
#include "prepix/io.h"

/* ---- helpers ------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Offset of the first top-level chunk of type t (its header), or 0. */
static size_t find_chunk(const ppx_buf *b, const char *t)
{
    for (size_t off = 12; off + 8 <= b->len; off += 8 + ((le32(b->data + off + 4) + 1) & ~1u))
        if (memcmp(b->data + off, t, 4) == 0)
            return off;
    return 0;
}

static void set_riff_size(ppx_buf *b)
{
    put_le32(b->data + 4, (uint32_t)(b->len - 8));
}

static int decode_buf(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                      ppx_info *info, ppx_err *err)
{
    ppx_decode_opts def = {0};
    ppx_err_clear(err);
    int rc = ppx_codec_decode(buf, len, o ? o : &def, img, info, err);
    if (rc)
        printf("%s %s: %s\n", ppx_err_name(rc), ppx_stage_name(err->stage), err->msg);
    return rc;
}

/* Decodes b->data[0..len) and returns the code; a failure must carry its
 * code, stage decode and a one-line message. */
static int decode_code(const ppx_buf *b, size_t len, const ppx_limits *l, ppx_err *err)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {.limits = l};
    int rc = decode_buf(len ? b->data : NULL, len, &o, &img, NULL, err);
    ppx_image_destroy(&img);
    if (rc && (err->code != rc || err->stage != PPX_STAGE_DECODE || !err->msg[0] ||
               strchr(err->msg, '\n')))
        return 1000; /* no CHECK outside a test: a code no test expects */
    return rc;
}

static int set_buf(ppx_buf *b, const uint8_t *p, size_t n)
{
    b->len = 0;
    return ppx_buf_append(b, p, n);
}

/* A smooth colour image (gradients and a triangle wave), so that lossy
 * coding keeps it well and a PSNR bound means something. */
static int make_smooth(ppx_image *img, uint32_t w, uint32_t h, unsigned ch)
{
    if (ppx_image_alloc(img, w, h, ch, PPX_U8, NULL, NULL))
        return 1;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *p = ppx_image_row(img, y);
        for (uint32_t x = 0; x < w; x++, p += ch) {
            unsigned t = (x + 2 * y) % 128;
            uint8_t v[4] = {(uint8_t)(x * 255 / (w - 1)), (uint8_t)(y * 255 / (h - 1)),
                            (uint8_t)(t < 64 ? t * 4 : (127 - t) * 4),
                            (uint8_t)(40 + (x + y) * 200 / (w + h))};
            if (ch == 1)
                p[0] = v[0];
            else if (ch == 2)
                p[0] = v[0], p[1] = v[3];
            else
                memcpy(p, v, ch);
        }
    }
    return 0;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        se += d * d;
    }
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

/* 1 if img has ch channels and the samples of p, packed rows of
 * width * ch bytes (libwebp's buffers). */
static int same_as_packed(const ppx_image *img, const uint8_t *p, unsigned ch)
{
    if (img->channels != ch)
        return 0;
    size_t row = (size_t)img->width * ch;
    for (uint32_t y = 0; y < img->height; y++)
        if (memcmp(ppx_image_row(img, y), p + y * row, row) != 0) {
            fprintf(stderr, "row %u differs\n", y);
            return 0;
        }
    return 1;
}

/* libwebp's simple encoder: lossless or lossy (quality q) from a packed image. */
static int lib_encode(const ppx_image *img, int lossless, float q, ppx_buf *out)
{
    uint8_t *o = NULL;
    size_t n = 0;
    int w = (int)img->width, h = (int)img->height, stride = (int)img->stride;
    if (lossless) {
        /* The advanced API for `exact`: the simple one (1.2.4) changes the
         * colour under fully transparent pixels. */
        WebPConfig c;
        WebPPicture p;
        WebPMemoryWriter mw;
        WebPMemoryWriterInit(&mw);
        if (!WebPConfigInit(&c) || !WebPPictureInit(&p))
            return 1;
        c.lossless = 1;
        c.exact = 1;
        p.width = w, p.height = h, p.use_argb = 1;
        p.writer = WebPMemoryWrite, p.custom_ptr = &mw;
        int ok = img->channels == 4 ? WebPPictureImportRGBA(&p, img->data, stride)
                                    : WebPPictureImportRGB(&p, img->data, stride);
        ok = ok && WebPEncode(&c, &p);
        WebPPictureFree(&p);
        int rc = !ok || set_buf(out, mw.mem, mw.size);
        WebPMemoryWriterClear(&mw);
        return rc;
    }
    if (img->channels == 4)
        n = WebPEncodeRGBA(img->data, w, h, stride, q, &o);
    else
        n = WebPEncodeRGB(img->data, w, h, stride, q, &o);
    int rc = n == 0 || set_buf(out, o, n);
    WebPFree(o);
    return rc;
}

/* A still file made by libwebp: lossy (q 80) or lossless, RGB or RGBA. */
static int lib_file(ppx_buf *out, uint32_t w, uint32_t h, unsigned ch, int lossless)
{
    ppx_image img;
    ppx_image_init(&img);
    int rc = make_smooth(&img, w, h, ch) || lib_encode(&img, lossless, 80, out);
    ppx_image_destroy(&img);
    return rc;
}

/* An EXIF payload with IFD0 holding Orientation = o (as a SHORT), in either
 * byte order, with or without the "Exif\0\0" signature that some writers
 * put in front of the TIFF header. Returns its length. */
static size_t make_exif(uint8_t *p, int big_endian, int o, int signature)
{
    size_t n = 0;
    if (signature) {
        memcpy(p, "Exif\0\0", 6);
        n = 6;
    }
    uint8_t *t = p + n;
    static const uint8_t le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0};
    static const uint8_t be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1};
    memcpy(t, big_endian ? be : le, sizeof le);
    t[18] = big_endian ? 0 : (uint8_t)o;
    t[19] = big_endian ? (uint8_t)o : 0;
    memset(t + 20, 0, 6); /* value padding, next IFD offset 0 */
    return n + 26;
}

/* The still file `img` with ICC and EXIF chunks (either may be NULL), as
 * libwebpmux writes it (VP8X first). */
static int mux_meta(const ppx_buf *img, const uint8_t *icc, size_t icc_n, const uint8_t *exif,
                    size_t exif_n, ppx_buf *out)
{
    WebPData in = {img->data, img->len}, chunk, asm_ = {NULL, 0};
    WebPMux *mux = WebPMuxCreate(&in, 1);
    int rc = mux == NULL;
    if (!rc && icc) {
        chunk.bytes = icc, chunk.size = icc_n;
        rc = WebPMuxSetChunk(mux, "ICCP", &chunk, 1) != WEBP_MUX_OK;
    }
    if (!rc && exif) {
        chunk.bytes = exif, chunk.size = exif_n;
        rc = WebPMuxSetChunk(mux, "EXIF", &chunk, 1) != WEBP_MUX_OK;
    }
    rc = rc || WebPMuxAssemble(mux, &asm_) != WEBP_MUX_OK || set_buf(out, asm_.bytes, asm_.size);
    WebPDataClear(&asm_);
    WebPMuxDelete(mux);
    return rc;
}

/* A 64x48 animation of `frames` frames; frame 1 is `first` (its own size)
 * placed at (fx, fy), the others cover the canvas. Lossless frames. */
static int mux_anim(const ppx_image *first, int fx, int fy, int frames, ppx_buf *out)
{
    WebPMux *mux = WebPMuxNew();
    WebPData asm_ = {NULL, 0};
    ppx_buf f;
    ppx_buf_init(&f);
    ppx_image other;
    ppx_image_init(&other);
    int rc = mux == NULL || make_image(&other, 64, 48, 4, PPX_U8);
    for (int i = 0; i < frames && !rc; i++) {
        rc = lib_encode(i == 0 ? first : &other, 1, 0, &f);
        WebPMuxFrameInfo fi;
        memset(&fi, 0, sizeof fi);
        fi.bitstream.bytes = f.data;
        fi.bitstream.size = f.len;
        fi.x_offset = i == 0 ? fx : 0;
        fi.y_offset = i == 0 ? fy : 0;
        fi.duration = 100;
        fi.id = WEBP_CHUNK_ANMF;
        fi.dispose_method = WEBP_MUX_DISPOSE_NONE;
        fi.blend_method = WEBP_MUX_NO_BLEND;
        rc = rc || WebPMuxPushFrame(mux, &fi, 1) != WEBP_MUX_OK;
    }
    WebPMuxAnimParams ap = {0xFF102030u, 0};
    rc = rc || WebPMuxSetAnimationParams(mux, &ap) != WEBP_MUX_OK ||
         WebPMuxSetCanvasSize(mux, 64, 48) != WEBP_MUX_OK ||
         WebPMuxAssemble(mux, &asm_) != WEBP_MUX_OK || set_buf(out, asm_.bytes, asm_.size);
    WebPDataClear(&asm_);
    WebPMuxDelete(mux);
    ppx_buf_destroy(&f);
    ppx_image_destroy(&other);
    return rc;
}

static int anim_file(ppx_buf *out)
{
    ppx_image first;
    ppx_image_init(&first);
    int rc = make_smooth(&first, 32, 20, 4) || mux_anim(&first, 8, 4, 3, out);
    ppx_image_destroy(&first);
    return rc;
}

/* ---- detection and names --------------------------------------------------- */

static int detect_and_names(void)
{
    static const uint8_t webp[12] = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P'};
    static const uint8_t wave[12] = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'A', 'V', 'E'};
    CHECK_EQ_INT(ppx_codec_detect(webp, sizeof webp), PPX_FMT_WEBP);
    CHECK_EQ_INT(ppx_codec_detect(webp, 11), PPX_FMT_UNKNOWN);
    CHECK_EQ_INT(ppx_codec_detect(wave, sizeof wave), PPX_FMT_UNKNOWN);
    CHECK_STR(ppx_format_name(PPX_FMT_WEBP), "webp");
    CHECK_STR(ppx_format_ext(PPX_FMT_WEBP), "webp");
    CHECK(ppx_is_image_name("a.webp") && ppx_is_image_name("b.WebP") &&
          !ppx_is_image_name(".webp"));
    /* A RIFF WAVE file is not an image: EFORMAT names the formats we read. */
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(set_buf(&b, wave, sizeof wave) == 0);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_EFORMAT);
    CHECK(strstr(err.msg, "WebP") != NULL);
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- files written by libwebp ------------------------------------------------ */

static int decode_lossless(unsigned ch)
{
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_info info;
    /* Every bit of every sample used; alpha 0 included (the simple API keeps
     * the colour under it: exact). */
    CHECK(make_image(&in, 157, 61, ch, PPX_U8) == 0);
    CHECK(lib_encode(&in, 1, 0, &b) == 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &out, &info, &err), 0);
    CHECK(same_pixels(&in, &out));
    CHECK_EQ_INT(info.format, PPX_FMT_WEBP);
    CHECK_EQ_INT(info.width, 157);
    CHECK_EQ_INT(info.height, 61);
    CHECK_EQ_INT(info.channels, ch);
    CHECK_EQ_INT(info.bits, 8);
    CHECK_EQ_INT(info.lossless, 1);
    CHECK_EQ_INT(info.has_alpha, ch == 4);
    CHECK_EQ_INT(info.alpha_associated, 0);
    CHECK_EQ_INT(info.cs, PPX_CS_RGB);
    CHECK_STR(info.compression, "vp8l");
    CHECK_EQ_INT(info.pages, 1);
    CHECK_EQ_INT(info.animated, 0);
    CHECK_EQ_INT(info.scale_denom, 1);
    CHECK_EQ_INT(out.orientation, 1);
    CHECK_EQ_INT(out.alpha_associated, 0);
    ppx_image_destroy(&in);
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    return 0;
}

static int decode_lossless_rgb(void)
{
    return decode_lossless(3);
}

static int decode_lossless_rgba(void)
{
    return decode_lossless(4);
}

/* Lossy files decode to exactly libwebp's pixels (WebPDecodeRGB/RGBA:
 * fancy upsampling, no dithering), straight alpha. */
static int decode_lossy(unsigned ch)
{
    ppx_image out;
    ppx_image_init(&out);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_info info;
    CHECK(lib_file(&b, 203, 117, ch, 0) == 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &out, &info, &err), 0);
    int w, h;
    uint8_t *ref =
        ch == 4 ? WebPDecodeRGBA(b.data, b.len, &w, &h) : WebPDecodeRGB(b.data, b.len, &w, &h);
    CHECK(ref != NULL);
    CHECK(same_as_packed(&out, ref, ch));
    WebPFree(ref);
    CHECK_EQ_INT(info.lossless, 0);
    CHECK_EQ_INT(info.has_alpha, ch == 4);
    CHECK_EQ_INT(info.cs, PPX_CS_YCBCR);
    CHECK_STR(info.compression, "vp8");
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    return 0;
}

static int decode_lossy_rgb(void)
{
    return decode_lossy(3);
}

static int decode_lossy_alpha(void)
{
    return decode_lossy(4);
}

static int inspect_facts(void)
{
    ppx_buf b, m;
    ppx_buf_init(&b);
    ppx_buf_init(&m);
    ppx_err err;
    ppx_info info;
    CHECK(lib_file(&b, 90, 70, 3, 0) == 0);
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.format, PPX_FMT_WEBP);
    CHECK_EQ_INT(info.width, 90);
    CHECK_EQ_INT(info.height, 70);
    CHECK_EQ_INT(info.channels, 3);
    CHECK_EQ_INT(info.has_icc, 0);
    CHECK_EQ_INT(info.orientation, 1);
    CHECK_STR(info.compression, "vp8");
    /* VP8X with an ICC profile and EXIF orientation 8. */
    uint8_t icc[200], exif[64];
    for (size_t i = 0; i < sizeof icc; i++)
        icc[i] = (uint8_t)i;
    size_t en = make_exif(exif, 0, 8, 0);
    CHECK(mux_meta(&b, icc, sizeof icc, exif, en, &m) == 0);
    CHECK(memcmp(m.data + 12, "VP8X", 4) == 0);
    CHECK_EQ_INT(ppx_codec_inspect(m.data, m.len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.has_icc, 1);
    CHECK_EQ_INT(info.orientation, 8);
    CHECK_EQ_INT(info.width, 90);
    CHECK_EQ_INT(info.pages, 1);
    /* An animation: its frames and the kind of its first frame. */
    CHECK(anim_file(&b) == 0);
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), 0);
    CHECK_EQ_INT(info.width, 64);
    CHECK_EQ_INT(info.height, 48);
    CHECK_EQ_INT(info.pages, 3);
    CHECK_EQ_INT(info.animated, 1);
    CHECK_EQ_INT(info.lossless, 1);
    CHECK_EQ_INT(info.channels, 4);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&m);
    return 0;
}

/* EXIF orientation from the EXIF chunk, as JPEG's APP1: both byte orders,
 * with and without the "Exif\0\0" signature; a broken block means 1. */
static int exif_orientation(void)
{
    ppx_buf b, m;
    ppx_buf_init(&b);
    ppx_buf_init(&m);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK(lib_file(&b, 40, 30, 3, 1) == 0);
    uint8_t exif[64];
    for (int o = 1; o <= 8; o++)
        for (int k = 0; k < 4; k++) {
            size_t n = make_exif(exif, k & 1, o, k >> 1);
            CHECK(mux_meta(&b, NULL, 0, exif, n, &m) == 0);
            CHECK_EQ_INT(decode_buf(m.data, m.len, NULL, &img, &info, &err), 0);
            CHECK_EQ_INT(img.orientation, o);
            CHECK_EQ_INT(info.orientation, o);
            CHECK_EQ_INT(img.width, 40);
        }
    /* IFD offset out of range: metadata we cannot read, the pixels are fine. */
    size_t n = make_exif(exif, 0, 6, 0);
    exif[4] = 200;
    CHECK(mux_meta(&b, NULL, 0, exif, n, &m) == 0);
    CHECK_EQ_INT(decode_buf(m.data, m.len, NULL, &img, &info, &err), 0);
    CHECK_EQ_INT(img.orientation, 1);
    /* Orientation 9 is no orientation. */
    n = make_exif(exif, 0, 9, 0);
    CHECK(mux_meta(&b, NULL, 0, exif, n, &m) == 0);
    CHECK_EQ_INT(decode_buf(m.data, m.len, NULL, &img, &info, &err), 0);
    CHECK_EQ_INT(img.orientation, 1);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&m);
    ppx_image_destroy(&img);
    return 0;
}

/* The first frame of an animation on its canvas: the frame's pixels where
 * it lies, transparent black elsewhere (libwebp's WebPAnimDecoder). */
static int animated_first_frame(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image first, img;
    ppx_image_init(&first);
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    CHECK(make_smooth(&first, 32, 20, 4) == 0);
    CHECK(mux_anim(&first, 8, 4, 3, &b) == 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &img, &info, &err), 0);
    CHECK_EQ_INT(img.width, 64);
    CHECK_EQ_INT(img.height, 48);
    CHECK_EQ_INT(img.channels, 4);
    CHECK_EQ_INT(info.pages, 3);
    CHECK_EQ_INT(info.animated, 1);
    for (uint32_t y = 0; y < 48; y++)
        for (uint32_t x = 0; x < 64; x++) {
            const uint8_t *p = ppx_image_row(&img, y) + 4 * x;
            int in = x >= 8 && x < 40 && y >= 4 && y < 24;
            static const uint8_t clear[4] = {0, 0, 0, 0};
            const uint8_t *want = in ? ppx_image_row(&first, y - 4) + 4 * (x - 8) : clear;
            if (memcmp(p, want, 4) != 0) {
                fprintf(stderr, "pixel %u,%u: %u %u %u %u\n", x, y, p[0], p[1], p[2], p[3]);
                return 1;
            }
        }
    /* A size hint does not scale an animation. */
    ppx_decode_opts o = {.min_width = 8, .min_height = 6};
    CHECK_EQ_INT(decode_buf(b.data, b.len, &o, &img, &info, &err), 0);
    CHECK_EQ_INT(img.width, 64);
    CHECK_EQ_INT(info.scale_denom, 1);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&first);
    ppx_image_destroy(&img);
    return 0;
}

/* Clears or sets the VP8X alpha flag of a muxed file: libwebpmux sets it
 * whenever a frame has alpha, but other writers leave it 0 (libwebp's
 * demuxer and Pillow accept either). */
static void set_alpha_flag(ppx_buf *b, int on)
{
    size_t x = find_chunk(b, "VP8X");
    if (x)
        b->data[x + 8] = (uint8_t)(on ? b->data[x + 8] | 0x10u : b->data[x + 8] & ~0x10u);
}

/* A file without the VP8X alpha flag has no alpha, as Pillow, webpinfo and
 * ImageMagick read it: a first frame smaller than its canvas is RGB with
 * black borders (Pillow's `Image.open(f)` is mode RGB), not RGBA with
 * transparent ones, and a frame with alpha keeps its colours and loses its
 * alpha (Pillow decodes RGBA and drops A). With the flag, an opaque first
 * frame that covers the canvas stays RGB (Pillow: RGBA, alpha 255). */
static int animated_alpha_flag(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image first, img;
    ppx_image_init(&first);
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    for (unsigned fch = 3; fch <= 4; fch++) {
        CHECK(make_smooth(&first, 32, 20, fch) == 0);
        CHECK(mux_anim(&first, 8, 4, 3, &b) == 0);
        set_alpha_flag(&b, 0);
        CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), 0);
        CHECK_EQ_INT(info.channels, 3);
        CHECK_EQ_INT(info.has_alpha, 0);
        CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &img, &info, &err), 0);
        CHECK_EQ_INT(img.width, 64);
        CHECK_EQ_INT(img.height, 48);
        CHECK_EQ_INT(img.channels, 3);
        for (uint32_t y = 0; y < 48; y++)
            for (uint32_t x = 0; x < 64; x++) {
                const uint8_t *p = ppx_image_row(&img, y) + 3 * x;
                int in = x >= 8 && x < 40 && y >= 4 && y < 24;
                static const uint8_t black[3] = {0, 0, 0};
                const uint8_t *want = in ? ppx_image_row(&first, y - 4) + fch * (x - 8) : black;
                if (memcmp(p, want, 3) != 0) {
                    fprintf(stderr, "frame %uch, pixel %u,%u: %u %u %u\n", fch, x, y, p[0], p[1],
                            p[2]);
                    return 1;
                }
            }
    }
    /* Flag set, frame 1 opaque and covering the canvas: its pixels, RGB. */
    CHECK(make_smooth(&first, 64, 48, 3) == 0);
    CHECK(mux_anim(&first, 0, 0, 2, &b) == 0);
    set_alpha_flag(&b, 1);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &img, &info, &err), 0);
    CHECK_EQ_INT(info.has_alpha, 0);
    CHECK(same_as_packed(&img, first.data, 3));
    ppx_buf_destroy(&b);
    ppx_image_destroy(&first);
    ppx_image_destroy(&img);
    return 0;
}

/* ---- shrink on load ----------------------------------------------------------- */

static uint32_t hint_w, hint_h;
static int hint_orientation = -1;

static void size_hint(void *arg, const ppx_info *info, uint32_t *min_w, uint32_t *min_h)
{
    (void)arg;
    hint_orientation = info->orientation;
    *min_w = hint_w;
    *min_h = hint_h;
}

/* The scale chosen as JPEG's (the largest 1/d, d in 8, 4, 2, whose
 * ceil(w/d) x ceil(h/d) covers the hint), done by libwebp's scaler: the
 * pixels equal libwebp's own scaled decode. Alpha images decode in full. */
static int scaled_decode(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    for (int lossless = 0; lossless < 2; lossless++) {
        CHECK(lib_file(&b, 203, 150, 3, lossless) == 0);
        static const struct {
            uint32_t mw, mh, d;
        } cases[] = {{51, 38, 4}, {52, 38, 2}, {26, 19, 8}, {1, 1, 8},
                     {0, 0, 1},   {203, 1, 1}, {0, 75, 2}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            ppx_decode_opts o = {.min_width = cases[i].mw, .min_height = cases[i].mh};
            CHECK_EQ_INT(decode_buf(b.data, b.len, &o, &img, &info, &err), 0);
            uint32_t d = cases[i].d, w = (203 + d - 1) / d, h = (150 + d - 1) / d;
            CHECK_EQ_INT(info.scale_denom, d);
            CHECK_EQ_INT(info.width, 203);
            CHECK_EQ_INT(img.width, w);
            CHECK_EQ_INT(img.height, h);
            WebPDecoderConfig c;
            CHECK(WebPInitDecoderConfig(&c));
            c.output.colorspace = MODE_RGB;
            c.options.use_scaling = d > 1;
            c.options.scaled_width = (int)w;
            c.options.scaled_height = (int)h;
            CHECK_EQ_INT(WebPDecode(b.data, b.len, &c), VP8_STATUS_OK);
            CHECK(same_as_packed(&img, c.output.u.RGBA.rgba, 3));
            WebPFreeDecBuffer(&c.output);
        }
        /* The callback form: called once with the header facts. */
        hint_w = 30, hint_h = 30, hint_orientation = -1;
        ppx_decode_opts o = {.size_hint = size_hint};
        CHECK_EQ_INT(decode_buf(b.data, b.len, &o, &img, &info, &err), 0);
        CHECK_EQ_INT(hint_orientation, 1);
        CHECK_EQ_INT(info.scale_denom, 4);
        CHECK_EQ_INT(img.width, 51);
    }
    /* Alpha: libwebp's scaler does not premultiply, so transparent colours
     * would bleed into visible ones; such files decode at full size. */
    CHECK(lib_file(&b, 203, 150, 4, 0) == 0);
    ppx_decode_opts o = {.min_width = 26, .min_height = 19};
    CHECK_EQ_INT(decode_buf(b.data, b.len, &o, &img, &info, &err), 0);
    CHECK_EQ_INT(info.scale_denom, 1);
    CHECK_EQ_INT(img.width, 203);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    return 0;
}

/* ---- our encoder ------------------------------------------------------------ */

static int roundtrip_lossless(unsigned ch)
{
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b, b2;
    ppx_buf_init(&b);
    ppx_buf_init(&b2);
    ppx_err err;
    ppx_info info;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_WEBP);
    eo.webp_lossless = 1;
    CHECK(make_image(&in, 131, 77, ch, PPX_U8) == 0);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b2, &err), 0);
    CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0); /* deterministic */
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &out, &info, &err), 0);
    CHECK_EQ_INT(info.lossless, 1);
    /* WebP has no gray: gray comes back as R = G = B, alpha kept. */
    unsigned och = ch < 3 ? ch + 2 : ch;
    CHECK_EQ_INT(out.channels, och);
    for (uint32_t y = 0; y < in.height; y++)
        for (uint32_t x = 0; x < in.width; x++) {
            const uint8_t *s = ppx_image_row(&in, y) + x * ch;
            const uint8_t *d = ppx_image_row(&out, y) + x * och;
            uint8_t want[4];
            if (ch < 3)
                want[0] = want[1] = want[2] = s[0], want[3] = s[ch - 1];
            else
                memcpy(want, s, ch);
            if (memcmp(d, want, och) != 0) {
                fprintf(stderr, "pixel %u,%u differs\n", x, y);
                return 1;
            }
        }
    ppx_image_destroy(&in);
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&b2);
    return 0;
}

static int roundtrip_lossless_1ch(void)
{
    return roundtrip_lossless(1);
}
static int roundtrip_lossless_2ch(void)
{
    return roundtrip_lossless(2);
}
static int roundtrip_lossless_3ch(void)
{
    return roundtrip_lossless(3);
}
static int roundtrip_lossless_4ch(void)
{
    return roundtrip_lossless(4);
}

/* Lossy at -q: PSNR bounds on a smooth image, smaller files at lower
 * quality, alpha kept exactly (lossless ALPH), the same bytes every time. */
static int roundtrip_lossy(void)
{
    ppx_image in, out;
    ppx_image_init(&in);
    ppx_image_init(&out);
    ppx_buf b, b2;
    ppx_buf_init(&b);
    ppx_buf_init(&b2);
    ppx_err err;
    ppx_info info;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_WEBP);
    CHECK_EQ_INT(eo.webp_lossless, 0);
    CHECK_EQ_INT(eo.quality, 90);
    CHECK(make_smooth(&in, 240, 160, 3) == 0);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b2, &err), 0);
    CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &out, &info, &err), 0);
    CHECK_EQ_INT(info.lossless, 0);
    double q90 = psnr(in.data, out.data, (size_t)240 * 160 * 3);
    printf("q90: %zu bytes, PSNR %.2f dB\n", b.len, q90);
    CHECK(q90 >= 38.0);
    eo.quality = 30;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b2, &err), 0);
    CHECK(b2.len < b.len);
    CHECK_EQ_INT(decode_buf(b2.data, b2.len, NULL, &out, &info, &err), 0);
    double q30 = psnr(in.data, out.data, (size_t)240 * 160 * 3);
    printf("q30: %zu bytes, PSNR %.2f dB\n", b2.len, q30);
    CHECK(q30 >= 30.0 && q30 < q90);
    /* RGBA: colour within the bound, alpha exact. */
    CHECK(make_smooth(&in, 240, 160, 4) == 0);
    eo.quality = 90;
    CHECK_EQ_INT(ppx_codec_encode(&in, &eo, &b, &err), 0);
    CHECK_EQ_INT(decode_buf(b.data, b.len, NULL, &out, &info, &err), 0);
    CHECK_EQ_INT(out.channels, 4);
    CHECK_EQ_INT(info.has_alpha, 1);
    for (size_t i = 3; i < (size_t)240 * 160 * 4; i += 4)
        CHECK_EQ_INT(out.data[i], in.data[i]);
    ppx_image_destroy(&in);
    ppx_image_destroy(&out);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&b2);
    return 0;
}

static int encode_refusals(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_WEBP);
    CHECK(ppx_image_alloc(&img, 4, 4, 3, PPX_U16, NULL, NULL) == 0);
    CHECK_EQ_INT(ppx_codec_encode(&img, &eo, &b, &err), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(err.stage, PPX_STAGE_ENCODE);
    CHECK(strstr(err.msg, "to-8bit") != NULL);
    CHECK(ppx_image_alloc(&img, 4, 4, 3, PPX_F32, NULL, NULL) == 0);
    CHECK_EQ_INT(ppx_codec_encode(&img, &eo, &b, &err), PPX_EUNSUPPORTED);
    CHECK(ppx_image_alloc(&img, 16384, 1, 3, PPX_U8, NULL, NULL) == 0);
    CHECK_EQ_INT(ppx_codec_encode(&img, &eo, &b, &err), PPX_EUNSUPPORTED);
    CHECK(strstr(err.msg, "16383") != NULL);
    CHECK(ppx_image_alloc(&img, 16383, 1, 3, PPX_U8, NULL, NULL) == 0);
    memset(img.data, 7, img.cap);
    CHECK_EQ_INT(ppx_codec_encode(&img, &eo, &b, &err), 0);
    eo.quality = 0;
    CHECK_EQ_INT(ppx_codec_encode(&img, &eo, &b, &err), PPX_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- hostile files --------------------------------------------------------- */

/* One file of each kind: lossy, lossless, lossy + ALPH, VP8X with ICC and
 * EXIF, animation. */
static int each_kind(int k, ppx_buf *b)
{
    ppx_buf t;
    ppx_buf_init(&t);
    uint8_t icc[300], exif[64];
    int rc;
    memset(icc, 0x5a, sizeof icc);
    switch (k) {
    case 0:
        rc = lib_file(b, 120, 90, 3, 0);
        break;
    case 1:
        rc = lib_file(b, 120, 90, 3, 1);
        break;
    case 2:
        rc = lib_file(b, 120, 90, 4, 0);
        break;
    case 3:
        rc = lib_file(&t, 120, 90, 3, 0) ||
             mux_meta(&t, icc, sizeof icc, exif, make_exif(exif, 1, 6, 0), b);
        break;
    default:
        rc = anim_file(b);
        break;
    }
    ppx_buf_destroy(&t);
    return rc;
}
#define KINDS 5

static int truncated_every_tenth(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_info info;
    for (int k = 0; k < KINDS; k++) {
        CHECK(each_kind(k, &b) == 0);
        CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), 0);
        CHECK_EQ_INT(decode_code(&b, 0, NULL, &err), PPX_EEMPTY);
        for (int t = 1; t < 10; t++) {
            size_t cut = b.len * (size_t)t / 10;
            int rc = decode_code(&b, cut, NULL, &err);
            if (rc != PPX_ETRUNC) {
                fprintf(stderr, "kind %d cut at %zu of %zu: %s\n", k, cut, b.len, ppx_err_name(rc));
                return 1;
            }
            CHECK(strstr(err.msg, "bytes") != NULL);
            CHECK_EQ_INT(ppx_codec_inspect(b.data, cut, NULL, &info, &err), PPX_ETRUNC);
        }
        /* One byte short: the last chunk (or its padding) is cut. */
        CHECK_EQ_INT(decode_code(&b, b.len - 1, NULL, &err), PPX_ETRUNC);
    }
    ppx_buf_destroy(&b);
    return 0;
}

/* Canvas sizes over the limits are refused from the header: libwebp
 * accepts VP8X canvases up to 2^24 a side and 2^32 pixels. */
static int huge_canvas(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_info info;
    /* VP8X of 16777216 x 255 (a still image: the VP8 frame inside is small). */
    CHECK(each_kind(3, &b) == 0);
    size_t x = find_chunk(&b, "VP8X");
    CHECK(x == 12);
    uint8_t *c = b.data + x + 8;
    c[4] = 0xFF, c[5] = 0xFF, c[6] = 0xFF; /* width - 1 */
    c[7] = 254, c[8] = 0, c[9] = 0;        /* height - 1 */
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ELIMIT);
    CHECK(strstr(err.msg, "16777216x255") != NULL);
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &err), PPX_ELIMIT);
    /* An animation whose canvas is 60000 x 60000: each side fits, the
     * pixel count does not; the canvas would be 14 GB. */
    CHECK(anim_file(&b) == 0);
    c = b.data + 12 + 8;
    uint32_t s = 60000 - 1;
    c[4] = (uint8_t)s, c[5] = (uint8_t)(s >> 8), c[6] = 0;
    c[7] = (uint8_t)s, c[8] = (uint8_t)(s >> 8), c[9] = 0;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ELIMIT);
    CHECK(strstr(err.msg, "pixels") != NULL);
    /* A lossless 16383 x 16383 header under a caller's 1 Mpixel limit: the
     * VP8L header is 14 bits a side, after the 0x2f signature. */
    CHECK(lib_file(&b, 64, 64, 3, 1) == 0);
    size_t l = find_chunk(&b, "VP8L");
    CHECK(l > 0 && b.data[l + 8] == 0x2f);
    uint32_t bits = le32(b.data + l + 9);
    bits = (bits & ~0x0FFFFFFFu) | 16382u | 16382u << 14;
    put_le32(b.data + l + 9, bits);
    ppx_limits lim;
    ppx_limits_default(&lim);
    lim.max_pixels = 1u << 20;
    CHECK_EQ_INT(decode_code(&b, b.len, &lim, &err), PPX_ELIMIT);
    CHECK(strstr(err.msg, "16383x16383") != NULL);
    /* Per-side limits too. */
    CHECK(lib_file(&b, 64, 64, 3, 0) == 0);
    lim.max_width = 63;
    CHECK_EQ_INT(decode_code(&b, b.len, &lim, &err), PPX_ELIMIT);
    ppx_buf_destroy(&b);
    return 0;
}

/* A chunk whose size runs past the end of a file whose RIFF size is
 * consistent: damage, not truncation. */
static int chunk_past_end(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    static const char *const chunks[] = {"VP8 ", "ALPH", "EXIF", "ICCP", "VP8X", "ANMF"};
    static const int kind[] = {0, 2, 3, 3, 3, 4};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        CHECK(each_kind(kind[i], &b) == 0);
        size_t off = find_chunk(&b, chunks[i]);
        CHECK(off > 0);
        put_le32(b.data + off + 4, le32(b.data + off + 4) + 100000);
        int rc = decode_code(&b, b.len, NULL, &err);
        if (rc != PPX_ECORRUPT) {
            fprintf(stderr, "%s: %s\n", chunks[i], ppx_err_name(rc));
            return 1;
        }
        CHECK(strstr(err.msg, chunks[i]) != NULL);
    }
    /* A chunk WebP does not define is named "unknown", never by its bytes
     * (a report must not quote a file). */
    CHECK(each_kind(3, &b) == 0);
    size_t icc = find_chunk(&b, "ICCP");
    memcpy(b.data + icc, "QZXJ", 4);
    put_le32(b.data + icc + 4, 100000);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "'unknown'") != NULL && strstr(err.msg, "QZXJ") == NULL);
    /* A chunk size near 2^32 does not wrap any sum. */
    CHECK(each_kind(3, &b) == 0);
    put_le32(b.data + find_chunk(&b, "ICCP") + 4, 0xFFFFFFF7u);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

static int riff_size_lies(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    for (int k = 0; k < KINDS; k++) {
        CHECK(each_kind(k, &b) == 0);
        uint32_t real = le32(b.data + 4);
        /* Larger than the file: the file is cut short, as far as anyone can tell. */
        put_le32(b.data + 4, real + 100);
        CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ETRUNC);
        put_le32(b.data + 4, 0xFFFFFFFEu);
        CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ETRUNC);
        /* Smaller: it ends inside the last chunk. */
        put_le32(b.data + 4, real - 10);
        CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
        /* Too small for any chunk, and odd sizes. */
        for (uint32_t v = 0; v < 12; v++) {
            put_le32(b.data + 4, v);
            CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
        }
        /* Data after the RIFF's end is ignored, as libwebp does. */
        put_le32(b.data + 4, real);
        size_t n = b.len;
        CHECK(ppx_buf_append(&b, "trailing junk!", 14) == 0);
        CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), 0);
        b.len = n;
    }
    ppx_buf_destroy(&b);
    return 0;
}

/* Damage libwebp can see in the ALPH chunk: an unknown compression method
 * or filter, and an alpha stream that ends early. */
static int alph_corrupt(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(each_kind(2, &b) == 0);
    size_t a = find_chunk(&b, "ALPH");
    CHECK(a > 0);
    uint8_t hdr = b.data[a + 8];
    /* Bits 0-1: compression (0 none, 1 lossless); 2 and 3 do not exist. */
    b.data[a + 8] = (uint8_t)((hdr & ~3u) | 3u);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "alpha") != NULL || strstr(err.msg, "ALPH") != NULL);
    /* Bits 6-7 are reserved, pre-processing (bits 4-5) over 1 is invalid. */
    b.data[a + 8] = (uint8_t)(hdr | 0x30u);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    b.data[a + 8] = hdr;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), 0);
    /* The lossless alpha stream zeroed after its header: the Huffman codes
     * it then describes are not valid. */
    uint32_t n = le32(b.data + a + 4);
    CHECK(n > 20);
    memset(b.data + a + 8 + 1, 0xFF, n - 1);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    /* An ALPH chunk of 1 byte: the header and no data. */
    CHECK(each_kind(2, &b) == 0);
    a = find_chunk(&b, "ALPH");
    n = le32(b.data + a + 4);
    size_t pad = (n + 1) & ~1u;
    memmove(b.data + a + 8 + 2, b.data + a + 8 + pad, b.len - (a + 8 + pad));
    b.len -= pad - 2;
    put_le32(b.data + a + 4, 1);
    set_riff_size(&b);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

static int vp8l_corrupt(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(each_kind(1, &b) == 0);
    size_t l = find_chunk(&b, "VP8L") + 8;
    /* Signature 0x2f. */
    b.data[l] = 0x2e;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    CHECK(strstr(err.msg, "VP8L") != NULL);
    b.data[l] = 0x2f;
    /* Version (the top 3 bits of the 32-bit header word) must be 0. */
    b.data[l + 4] |= 0xE0;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    /* Transforms and Huffman codes all ones: not a valid code. */
    CHECK(each_kind(1, &b) == 0);
    uint32_t n = le32(b.data + l - 4);
    memset(b.data + l + 5, 0xFF, n - 5);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    /* The bitstream ends early inside a complete chunk (chunk and RIFF sizes
     * agree with the shorter data). libwebp's lossless decoder reports this
     * as a bitstream error, not as missing data (unlike VP8, vp8_corrupt). */
    CHECK(each_kind(1, &b) == 0);
    b.len = l + n / 2;
    put_le32(b.data + l - 4, n / 2);
    if (b.len & 1)
        b.data[b.len++] = 0;
    set_riff_size(&b);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

static int vp8_corrupt(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(each_kind(0, &b) == 0);
    size_t v = find_chunk(&b, "VP8 ") + 8;
    /* Start code 9d 01 2a after the 3-byte frame tag. */
    CHECK(b.data[v + 3] == 0x9d && b.data[v + 4] == 0x01 && b.data[v + 5] == 0x2a);
    b.data[v + 3] = 0x9c;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    b.data[v + 3] = 0x9d;
    /* Not a key frame (bit 0 of the frame tag). */
    b.data[v] |= 1;
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ECORRUPT);
    b.data[v] &= (uint8_t)~1u;
    /* First partition size (19 bits of the frame tag) past the chunk. */
    b.data[v] |= 0xE0;
    b.data[v + 1] = 0xFF;
    b.data[v + 2] = 0xFF;
    int rc = decode_code(&b, b.len, NULL, &err);
    CHECK(rc == PPX_ECORRUPT || rc == PPX_ETRUNC);
    /* The token partition ends early inside a complete chunk. */
    CHECK(each_kind(0, &b) == 0);
    uint32_t n = le32(b.data + v - 4);
    b.len = v + n - n / 4;
    put_le32(b.data + v - 4, n - n / 4);
    if (b.len & 1)
        b.data[b.len++] = 0;
    set_riff_size(&b);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ETRUNC);
    ppx_buf_destroy(&b);
    return 0;
}

/* An animation claiming more frames than the cap is refused before the
 * demuxer builds a list of them. */
static int too_many_frames(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    CHECK(anim_file(&b) == 0);
    size_t a = find_chunk(&b, "ANMF");
    CHECK(a > 0);
    /* 70000 empty ANMF chunks (16-byte frame headers, no image) at the end. */
    uint8_t anmf[24] = {'A', 'N', 'M', 'F', 16, 0, 0, 0};
    for (int i = 0; i < 70000; i++)
        CHECK(ppx_buf_append(&b, anmf, sizeof anmf) == 0);
    set_riff_size(&b);
    CHECK_EQ_INT(decode_code(&b, b.len, NULL, &err), PPX_ELIMIT);
    CHECK(strstr(err.msg, "frames") != NULL);
    ppx_buf_destroy(&b);
    return 0;
}

/* Every byte of each kind of file damaged in turn (a few values each): a
 * decode gives a sane image or one failure with a reason, quickly. */
static int damage_sweep(void)
{
    ppx_buf b, d;
    ppx_buf_init(&b);
    ppx_buf_init(&d);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_info info;
    static const uint8_t vals[] = {0x00, 0xFF, 0x80};
    unsigned failed = 0, ok = 0;
    clock_t t0 = clock();
    for (int k = 0; k < KINDS; k++) {
        CHECK(each_kind(k, &b) == 0);
        size_t step = b.len / 400 + 1;
        for (size_t i = 0; i < b.len; i += step)
            for (size_t v = 0; v < sizeof vals; v++) {
                CHECK(set_buf(&d, b.data, b.len) == 0);
                /* 0xFF and 0x80 flip bits; 0 zeroes the byte. */
                d.data[i] = vals[v] ? (uint8_t)(d.data[i] ^ vals[v]) : 0;
                ppx_decode_opts o = {.min_width = 20, .min_height = 20};
                ppx_err_clear(&err);
                int rc = ppx_codec_decode(d.data, d.len, &o, &img, &info, &err);
                if (rc == 0) {
                    CHECK(img.width > 0 && img.height > 0 && img.channels >= 3);
                    ok++;
                    continue;
                }
                failed++;
                CHECK(err.code == rc && err.stage == PPX_STAGE_DECODE && err.msg[0]);
                CHECK(rc == PPX_ECORRUPT || rc == PPX_ETRUNC || rc == PPX_ELIMIT ||
                      rc == PPX_EUNSUPPORTED || rc == PPX_EFORMAT);
            }
    }
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("%u decoded, %u failed, %.2f s CPU\n", ok, failed, s);
    CHECK(failed > 0 && ok > 0);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&d);
    ppx_image_destroy(&img);
    return 0;
}

PPX_TEST_MAIN(TEST(detect_and_names), TEST(decode_lossless_rgb), TEST(decode_lossless_rgba),
              TEST(decode_lossy_rgb), TEST(decode_lossy_alpha), TEST(inspect_facts),
              TEST(exif_orientation), TEST(animated_first_frame), TEST(animated_alpha_flag),
              TEST(scaled_decode), TEST(roundtrip_lossless_1ch), TEST(roundtrip_lossless_2ch),
              TEST(roundtrip_lossless_3ch), TEST(roundtrip_lossless_4ch), TEST(roundtrip_lossy),
              TEST(encode_refusals), TEST(truncated_every_tenth), TEST(huge_canvas),
              TEST(chunk_past_end), TEST(riff_size_lies), TEST(alph_corrupt), TEST(vp8l_corrupt),
              TEST(vp8_corrupt), TEST(too_many_frames), TEST(damage_sweep))
