/* Unit tests of the JPEG codec and its EXIF reader on synthetic images and
 * crafted bytes. No corpus needed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>

#include "check.h"
#include "codec/codec_impl.h"
#include "codec/exif.h"
#include "prepix/codec.h"

/* ---- helpers ----------------------------------------------------------- */

/* Smooth ramps (a different one per channel) with a faint texture, so that
 * the encoder has real work but 4:2:0 loses little. */
static int make_gradient(ppx_image *img, uint32_t w, uint32_t h, unsigned channels)
{
    ppx_err e;
    if (ppx_image_alloc(img, w, h, channels, PPX_U8, NULL, &e))
        return -1;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *p = ppx_image_row(img, y);
        for (uint32_t x = 0; x < w; x++) {
            unsigned gx = x * 200 / w, gy = y * 200 / h, tex = (x / 4 + y / 4) % 2 * 8;
            unsigned v[4] = {gx + tex, gy + tex, (gx + gy) / 2 + tex, 255 - gx};
            for (unsigned c = 0; c < channels; c++)
                *p++ = (uint8_t)v[c];
        }
    }
    return 0;
}

static double psnr(const ppx_image *a, const ppx_image *b)
{
    double se = 0;
    size_t n = 0;
    for (uint32_t y = 0; y < a->height; y++) {
        const uint8_t *p = ppx_image_row(a, y), *q = ppx_image_row(b, y);
        for (size_t i = 0; i < (size_t)a->width * a->channels; i++, n++)
            se += (double)(p[i] - q[i]) * (p[i] - q[i]);
    }
    if (se == 0)
        return 99;
    return 10 * log10(255.0 * 255.0 * (double)n / se);
}

static int encode(const ppx_image *img, int quality, ppx_buf *out)
{
    ppx_encode_opts o;
    ppx_encode_opts_default(&o, PPX_FMT_JPEG);
    o.quality = quality;
    ppx_err e;
    int rc = ppx_codec_encode(img, &o, out, &e);
    if (rc)
        fprintf(stderr, "encode: %s: %s\n", ppx_err_name(rc), e.msg);
    return rc;
}

/* Encodes a w x h gradient at quality 90 into out. */
static int gradient_jpeg(uint32_t w, uint32_t h, unsigned channels, ppx_buf *out)
{
    ppx_image img;
    ppx_image_init(&img);
    int rc = make_gradient(&img, w, h, channels);
    if (rc == 0)
        rc = encode(&img, 90, out);
    ppx_image_destroy(&img);
    return rc;
}

static int decode_with(const ppx_buf *b, const ppx_limits *l, uint32_t min_w, uint32_t min_h,
                       ppx_image *img, ppx_info *info, ppx_err *e)
{
    ppx_decode_opts o = {.limits = l, .min_width = min_w, .min_height = min_h};
    return ppx_codec_decode(b->data, b->len, &o, img, info, e);
}

/* Expects decoding to fail with `code` and a message containing `needle`. */
static int expect_fail(const uint8_t *p, size_t n, const ppx_limits *l, int code,
                       const char *needle)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {.limits = l};
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_codec_decode(p, n, &o, &img, NULL, &e);
    ppx_image_destroy(&img);
    printf("%s: %s\n", ppx_err_name(rc), e.msg);
    CHECK_EQ_INT(rc, code);
    CHECK_EQ_INT(e.stage, PPX_STAGE_DECODE);
    CHECK(strchr(e.msg, '\n') == NULL && e.msg[0] != '\0');
    if (needle && !strstr(e.msg, needle)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.msg, needle);
        return 1;
    }
    return 0;
}

/* Offset of the first marker `m` (0xC0 for SOF0...) among the header
 * segments, or 0 if absent before SOS. */
static size_t find_marker(const uint8_t *p, size_t n, uint8_t m)
{
    size_t i = 2;
    while (i + 4 <= n && p[i] == 0xFF) {
        if (p[i + 1] == m)
            return i;
        if (p[i + 1] == 0xDA)
            return 0;
        i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
    }
    return 0;
}

static void put16(ppx_buf *b, unsigned v)
{
    uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    MUST(ppx_buf_append(b, t, 2));
}

static void put_bytes(ppx_buf *b, const char *s, size_t n)
{
    MUST(ppx_buf_append(b, s, n));
}

/* Entropy-coded bits, most significant first, with 0xFF bytes stuffed. */
typedef struct {
    ppx_buf *b;
    unsigned acc, n;
} bit_writer;

static void put_bits(bit_writer *w, uint32_t v, unsigned n)
{
    while (n--) {
        w->acc = w->acc << 1 | (v >> n & 1);
        if (++w->n == 8) {
            uint8_t byte = (uint8_t)w->acc;
            MUST(ppx_buf_append(w->b, &byte, 1));
            if (byte == 0xFF)
                MUST(ppx_buf_append(w->b, "", 1));
            w->acc = w->n = 0;
        }
    }
}

static void flush_bits(bit_writer *w)
{
    while (w->n)
        put_bits(w, 1, 1); /* pad with 1 bits */
}

/* A valid progressive grayscale JPEG: one DC scan, then `ac_scans` copies of
 * the same AC first scan (legal for a decoder: each one re-sets the AC
 * coefficients to 0). Each AC scan is a few bytes, end-of-band runs of up to
 * 32767 blocks, yet costs libjpeg a visit to every block: the shape of the
 * "many scans" attack on progressive decoders. Huffman tables: DC '0' ->
 * difference 0; AC '0' -> EOB (run of 1), '10' -> EOB14 (run 2^14 + 14 bits). */
static void many_scans_jpeg(ppx_buf *b, unsigned w, unsigned h, unsigned ac_scans)
{
    b->len = 0;
    put_bytes(b, "\xFF\xD8", 2);
    put_bytes(b, "\xFF\xDB", 2); /* DQT: table 0, all ones */
    put16(b, 67);
    put_bytes(b, "\x00", 1);
    for (int i = 0; i < 64; i++)
        put_bytes(b, "\x01", 1);
    put_bytes(b, "\xFF\xC2", 2); /* SOF2 */
    put16(b, 11);
    put_bytes(b, "\x08", 1);
    put16(b, h);
    put16(b, w);
    put_bytes(b, "\x01\x01\x11\x00", 4);
    put_bytes(b, "\xFF\xC4", 2); /* DHT: DC table 0 and AC table 0 */
    put16(b, 2 + 17 + 1 + 17 + 2);
    put_bytes(b, "\x00\x01", 2); /* DC: one code of length 1 */
    for (int i = 1; i < 16; i++)
        put_bytes(b, "\x00", 1);
    put_bytes(b, "\x00", 1);
    put_bytes(b, "\x10\x01\x01", 3); /* AC: one code of length 1, one of length 2 */
    for (int i = 2; i < 16; i++)
        put_bytes(b, "\x00", 1);
    put_bytes(b, "\x00\xE0", 2);
    size_t blocks = (size_t)((w + 7) / 8) * ((h + 7) / 8);
    bit_writer bw = {b, 0, 0};
    put_bytes(b, "\xFF\xDA\x00\x08\x01\x01\x00\x00\x00\x00", 10); /* DC first */
    for (size_t i = 0; i < blocks; i++)
        put_bits(&bw, 0, 1);
    flush_bits(&bw);
    for (unsigned s = 0; s < ac_scans; s++) {
        put_bytes(b, "\xFF\xDA\x00\x08\x01\x01\x00\x01\x3F\x00", 10); /* AC 1..63 */
        for (size_t left = blocks; left > 0;) {
            size_t run = left < 16384 ? 1 : left < 32767 ? left : 32767;
            if (run == 1) {
                put_bits(&bw, 0, 1);
            } else {
                put_bits(&bw, 2, 2);
                put_bits(&bw, (uint32_t)(run - 16384), 14);
            }
            left -= run;
        }
        flush_bits(&bw);
    }
    put_bytes(b, "\xFF\xD9", 2);
}

/* CPU time of this process: unlike wall time, not inflated when other jobs
 * share the machine, so a time bound does not turn flaky under load. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- encode / decode --------------------------------------------------- */

static int roundtrip(unsigned channels, double min_psnr)
{
    ppx_image src, dst;
    ppx_image_init(&src);
    ppx_image_init(&dst);
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(make_gradient(&src, 257, 131, channels), 0);
    CHECK_EQ_INT(encode(&src, 90, &b), 0);
    CHECK(b.len > 100 && b.data[0] == 0xFF && b.data[1] == 0xD8);
    CHECK(b.data[b.len - 2] == 0xFF && b.data[b.len - 1] == 0xD9);
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &dst, &info, &e), 0);
    CHECK_EQ_INT(dst.width, 257);
    CHECK_EQ_INT(dst.height, 131);
    CHECK_EQ_INT(dst.channels, channels);
    CHECK_EQ_INT(dst.type, PPX_U8);
    CHECK_EQ_INT(info.format, PPX_FMT_JPEG);
    CHECK_EQ_INT(info.channels, channels);
    CHECK_EQ_INT(info.bits, 8);
    CHECK_EQ_INT(info.cs, channels == 1 ? PPX_CS_GRAY : PPX_CS_YCBCR);
    CHECK_EQ_INT(info.scale_denom, 1);
    CHECK_EQ_INT(info.orientation, 1);
    CHECK_STR(info.compression, "huffman");
    CHECK(!info.progressive && !info.arithmetic && !info.has_icc);
    /* The codec entry point itself takes NULL options and info. */
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, NULL, &dst, NULL, &e), 0);
    double p = psnr(&src, &dst);
    printf("PSNR %.2f dB\n", p);
    CHECK(p >= min_psnr);
    /* A blank image must not pass: the bound means something. */
    memset(dst.data, 0, dst.cap);
    CHECK(psnr(&src, &dst) < 20);
    ppx_image_destroy(&src);
    ppx_image_destroy(&dst);
    ppx_buf_destroy(&b);
    return 0;
}

static int roundtrip_rgb(void)
{
    return roundtrip(3, 38.0);
}

static int roundtrip_gray(void)
{
    return roundtrip(1, 40.0);
}

/* Same pixels, same bytes; the buffer is reused and its old contents
 * replaced; quality changes the bytes. */
static int encode_deterministic(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK_EQ_INT(make_gradient(&img, 300, 200, 3), 0);
    ppx_buf a, b;
    ppx_buf_init(&a);
    ppx_buf_init(&b);
    CHECK_EQ_INT(encode(&img, 90, &a), 0);
    MUST(ppx_buf_append(&b, "stale bytes", 11));
    CHECK_EQ_INT(encode(&img, 90, &b), 0);
    CHECK_EQ_INT(a.len, b.len);
    CHECK(memcmp(a.data, b.data, a.len) == 0);
    uint8_t *keep = b.data;
    CHECK_EQ_INT(encode(&img, 50, &b), 0);
    CHECK(b.data == keep); /* smaller output: no reallocation */
    CHECK(b.len < a.len);
    ppx_buf_destroy(&a);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    return 0;
}

/* Output larger than the first guess of the destination manager: noise at
 * quality 100 compresses badly, so the buffer must grow several times. */
static int encode_grows_buffer(void)
{
    ppx_image img, back;
    ppx_image_init(&img);
    ppx_image_init(&back);
    ppx_err e;
    CHECK_EQ_INT(ppx_image_alloc(&img, 512, 512, 3, PPX_U8, NULL, &e), 0);
    uint32_t s = 12345;
    for (size_t i = 0; i < img.cap; i++) {
        s = s * 1103515245u + 12345u;
        img.data[i] = (uint8_t)(s >> 24);
    }
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(encode(&img, 100, &b), 0);
    CHECK(b.len > (size_t)512 * 512 * 3 / 4); /* over the first guess */
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &back, NULL, &e), 0);
    CHECK_EQ_INT(back.width, 512);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    ppx_image_destroy(&back);
    return 0;
}

static int encode_refuses(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_encode_opts o;
    ppx_encode_opts_default(&o, PPX_FMT_JPEG);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    for (unsigned ch = 2; ch <= 4; ch += 2) {
        CHECK_EQ_INT(make_gradient(&img, 16, 16, ch), 0);
        CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), PPX_EUNSUPPORTED);
        CHECK_EQ_INT(e.stage, PPX_STAGE_ENCODE);
        CHECK(strstr(e.msg, "alpha") && strstr(e.msg, "rgb"));
        CHECK_EQ_INT(b.len, 0);
    }
    ppx_err ae;
    CHECK_EQ_INT(ppx_image_alloc(&img, 16, 16, 3, PPX_U16, NULL, &ae), 0);
    CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), PPX_EUNSUPPORTED);
    CHECK(strstr(e.msg, "to-8bit"));
    CHECK_EQ_INT(ppx_image_alloc(&img, 16, 16, 3, PPX_F32, NULL, &ae), 0);
    CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(make_gradient(&img, 16, 16, 3), 0);
    o.quality = 0;
    CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), PPX_EINVAL);
    o.quality = 101;
    CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), PPX_EINVAL);
    o.quality = 1;
    CHECK_EQ_INT(ppx_codec_encode(&img, &o, &b, &e), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* Shrink-on-load picks the largest 1/d whose ceil(w/d) x ceil(h/d) still
 * covers the minimum. */
static int scale_select(void)
{
    static const struct {
        uint32_t min_w, min_h, denom, w, h;
    } cases[] = {
        {100, 100, 4, 160, 107},   {0, 0, 1, 640, 427},   {1, 1, 8, 80, 54},
        {320, 214, 2, 320, 214},   {321, 1, 1, 640, 427}, {0, 100, 4, 160, 107},
        {81, 0, 4, 160, 107},      {80, 54, 8, 80, 54},   {640, 427, 1, 640, 427},
        {5000, 5000, 1, 640, 427},
    };
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(640, 427, 3, &b), 0);
    ppx_image img;
    ppx_image_init(&img);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ppx_info info;
        ppx_err e;
        CHECK_EQ_INT(decode_with(&b, NULL, cases[i].min_w, cases[i].min_h, &img, &info, &e), 0);
        printf("min %ux%u -> 1/%u %ux%u\n", cases[i].min_w, cases[i].min_h, info.scale_denom,
               img.width, img.height);
        CHECK_EQ_INT(info.scale_denom, cases[i].denom);
        CHECK_EQ_INT(img.width, cases[i].w);
        CHECK_EQ_INT(img.height, cases[i].h);
        CHECK_EQ_INT(info.width, 640); /* info keeps the stored size */
        CHECK_EQ_INT(info.height, 427);
    }
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* The size hint gets the header's facts and its answer picks the scale,
 * overriding min_width/min_height. */
static void quarter_hint(void *arg, const ppx_info *info, uint32_t *min_w, uint32_t *min_h)
{
    *(int *)arg += 1;
    *min_w = info->width / 4;
    *min_h = info->height / 4;
}

static int size_hint(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(640, 427, 3, &b), 0);
    ppx_image img;
    ppx_image_init(&img);
    int calls = 0;
    ppx_decode_opts o = {.min_width = 5000, .size_hint = quarter_hint, .size_hint_arg = &calls};
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, &o, &img, &info, &e), 0);
    CHECK_EQ_INT(calls, 1);
    CHECK_EQ_INT(info.scale_denom, 4);
    CHECK_EQ_INT(img.width, 160);
    CHECK_EQ_INT(img.height, 107);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* A second decode into the same image reuses its allocation. */
static int image_reuse(void)
{
    ppx_buf big, small;
    ppx_buf_init(&big);
    ppx_buf_init(&small);
    CHECK_EQ_INT(gradient_jpeg(200, 100, 3, &big), 0);
    CHECK_EQ_INT(gradient_jpeg(50, 40, 1, &small), 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&big, NULL, 0, 0, &img, NULL, &e), 0);
    uint8_t *p = img.data;
    CHECK_EQ_INT(decode_with(&small, NULL, 0, 0, &img, NULL, &e), 0);
    CHECK(img.data == p);
    CHECK_EQ_INT(img.channels, 1);
    CHECK_EQ_INT(img.stride, 50);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&big);
    ppx_buf_destroy(&small);
    return 0;
}

/* ---- EXIF -------------------------------------------------------------- */

/* "Exif\0\0" + a TIFF header + IFD0 with the given entries (12 bytes each). */
static size_t exif_block(uint8_t *out, int big_endian, const uint16_t (*entries)[3],
                         const uint32_t *values, unsigned n)
{
    size_t i = 0;
    memcpy(out, "Exif\0\0", 6);
    i = 6;
#define W16(v)                                                                                     \
    do {                                                                                           \
        uint32_t v_ = (v);                                                                         \
        out[i++] = (uint8_t)(big_endian ? v_ >> 8 : v_);                                           \
        out[i++] = (uint8_t)(big_endian ? v_ : v_ >> 8);                                           \
    } while (0)
#define W32(v)                                                                                     \
    do {                                                                                           \
        uint32_t w_ = (v);                                                                         \
        if (big_endian) {                                                                          \
            W16(w_ >> 16);                                                                         \
            W16(w_ & 0xFFFF);                                                                      \
        } else {                                                                                   \
            W16(w_ & 0xFFFF);                                                                      \
            W16(w_ >> 16);                                                                         \
        }                                                                                          \
    } while (0)
    out[i++] = big_endian ? 'M' : 'I';
    out[i++] = big_endian ? 'M' : 'I';
    W16(42);
    W32(8);
    W16(n);
    for (unsigned k = 0; k < n; k++) {
        W16(entries[k][0]);                             /* tag */
        W16(entries[k][1]);                             /* type */
        W32(entries[k][2]);                             /* count */
        if (entries[k][1] == 1 || entries[k][1] == 6) { /* BYTE, SBYTE: first byte */
            out[i++] = (uint8_t)values[k];
            out[i++] = 0;
            W16(0);
        } else if (entries[k][1] == 3 || entries[k][1] == 8) { /* SHORT, SSHORT */
            W16(values[k]);
            W16(0);
        } else {
            W32(values[k]);
        }
    }
    W32(0); /* no next IFD */
#undef W16
#undef W32
    return i;
}

static int exif_valid(void)
{
    uint8_t b[256];
    /* Other tags around Orientation, as cameras write them (sorted). */
    const uint16_t ent[3][3] = {{0x010F, 2, 4}, {0x0112, 3, 1}, {0x011A, 5, 1}};
    const uint32_t val[3] = {0x41424300, 6, 200};
    for (int be = 0; be <= 1; be++) {
        size_t n = exif_block(b, be, ent, val, 3);
        int o = 0;
        CHECK_EQ_INT(ppx__exif_orientation(b, n, &o), 0);
        CHECK_EQ_INT(o, 6);
    }
    const uint16_t mm8[1][3] = {{0x0112, 3, 1}};
    const uint32_t v8[1] = {8};
    int o = 0;
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 1, mm8, v8, 1), &o), 0);
    CHECK_EQ_INT(o, 8);
    /* LONG instead of SHORT (seen in the wild). */
    const uint16_t lng[1][3] = {{0x0112, 4, 1}};
    const uint32_t v3[1] = {3};
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 0, lng, v3, 1), &o), 0);
    CHECK_EQ_INT(o, 3);
    return 0;
}

/* Well-formed blocks without a usable orientation give 1. */
static int exif_absent_or_bad_value(void)
{
    uint8_t b[256];
    int o = 0;
    const uint16_t other[1][3] = {{0x010F, 2, 4}};
    const uint32_t v0[1] = {0};
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 0, other, v0, 1), &o), 0);
    CHECK_EQ_INT(o, 1);
    const uint16_t ori[1][3] = {{0x0112, 3, 1}};
    const uint32_t v9[1] = {9};
    o = 0;
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 1, ori, v9, 1), &o), 0);
    CHECK_EQ_INT(o, 1);
    const uint16_t two[1][3] = {{0x0112, 3, 2}}; /* count 2: not a single value */
    const uint32_t v6[1] = {6};
    o = 0;
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 1, two, v6, 1), &o), 0);
    CHECK_EQ_INT(o, 1);
    CHECK_EQ_INT(ppx__exif_orientation(b, exif_block(b, 0, NULL, NULL, 0), &o), 0);
    CHECK_EQ_INT(o, 1);
    return 0;
}

static int exif_truncated(void)
{
    uint8_t b[256];
    const uint16_t ent[2][3] = {{0x010F, 2, 4}, {0x0112, 3, 1}};
    const uint32_t val[2] = {0, 6};
    size_t n = exif_block(b, 0, ent, val, 2);
    int o = 77;
    /* Every cut that loses part of an entry, the count or the header fails;
     * only the trailing next-IFD pointer may be missing. */
    for (size_t cut = 0; cut < n - 4; cut++) {
        int rc = ppx__exif_orientation(b, cut, &o);
        CHECK(rc == PPX_ECORRUPT || (cut < 6 && rc == PPX_EFORMAT));
        CHECK_EQ_INT(o, 77); /* untouched on failure */
    }
    CHECK_EQ_INT(ppx__exif_orientation(b, n - 4, &o), 0);
    CHECK_EQ_INT(o, 6);
    return 0;
}

static int exif_offsets_out_of_range(void)
{
    uint8_t b[256];
    const uint16_t ent[1][3] = {{0x0112, 3, 1}};
    const uint32_t val[1] = {6};
    size_t n = exif_block(b, 0, ent, val, 1);
    static const uint32_t bad_offsets[] = {0, 4, 7, 0xFFFFFFFFu, 0x80000000u, 0xFFFFFFF9u, 1000};
    for (size_t k = 0; k < sizeof bad_offsets / sizeof bad_offsets[0]; k++) {
        uint32_t off = bad_offsets[k];
        b[10] = (uint8_t)off, b[11] = (uint8_t)(off >> 8), b[12] = (uint8_t)(off >> 16),
        b[13] = (uint8_t)(off >> 24);
        int o = 77;
        CHECK_EQ_INT(ppx__exif_orientation(b, n, &o), PPX_ECORRUPT);
        CHECK_EQ_INT(o, 77);
    }
    /* IFD offset pointing at the last byte: the count itself is cut. */
    uint32_t last = (uint32_t)(n - 6 - 1);
    b[10] = (uint8_t)last, b[11] = (uint8_t)(last >> 8), b[12] = 0, b[13] = 0;
    int o = 77;
    CHECK_EQ_INT(ppx__exif_orientation(b, n, &o), PPX_ECORRUPT);
    return 0;
}

static int exif_huge_count(void)
{
    uint8_t b[256];
    const uint16_t ent[1][3] = {{0x0112, 3, 1}};
    const uint32_t val[1] = {6};
    size_t n = exif_block(b, 1, ent, val, 1);
    b[14] = 0xFF; /* entry count 0xFFFF, big-endian */
    b[15] = 0xFF;
    int o = 77;
    CHECK_EQ_INT(ppx__exif_orientation(b, n, &o), PPX_ECORRUPT);
    b[14] = 0;
    b[15] = 2; /* one entry more than present */
    CHECK_EQ_INT(ppx__exif_orientation(b, n - 4, &o), PPX_ECORRUPT);
    CHECK_EQ_INT(o, 77);
    return 0;
}

static int exif_not_exif(void)
{
    int o = 77;
    CHECK_EQ_INT(ppx__exif_orientation((const uint8_t *)"http://ns.adobe.com/xap/1.0/", 28, &o),
                 PPX_EFORMAT);
    CHECK_EQ_INT(ppx__exif_orientation((const uint8_t *)"Exif", 4, &o), PPX_EFORMAT);
    CHECK_EQ_INT(ppx__exif_orientation((const uint8_t *)"Exif\0\0IM*\0\x08\0\0\0", 14, &o),
                 PPX_ECORRUPT);
    CHECK_EQ_INT(ppx__exif_orientation((const uint8_t *)"Exif\0\0II+\0\x08\0\0\0", 14, &o),
                 PPX_ECORRUPT);
    CHECK_EQ_INT(o, 77);
    return 0;
}

/* Inserts an APP1 segment holding `exif` right after SOI. */
static void insert_app1(const ppx_buf *src, const uint8_t *exif, size_t n, ppx_buf *dst)
{
    dst->len = 0;
    MUST(ppx_buf_append(dst, src->data, 2));
    put_bytes(dst, "\xFF\xE1", 2);
    put16(dst, (unsigned)n + 2);
    MUST(ppx_buf_append(dst, exif, n));
    MUST(ppx_buf_append(dst, src->data + 2, src->len - 2));
}

static int exif_in_jpeg(void)
{
    ppx_buf plain, b;
    ppx_buf_init(&plain);
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(64, 48, 3, &plain), 0);
    uint8_t ex[256];
    const uint16_t ent[1][3] = {{0x0112, 3, 1}};
    const uint32_t v6[1] = {6};
    size_t n = exif_block(ex, 1, ent, v6, 1);
    insert_app1(&plain, ex, n, &b);
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, &info, &e), 0);
    CHECK_EQ_INT(img.orientation, 6);
    CHECK_EQ_INT(info.orientation, 6);
    CHECK_EQ_INT(img.width, 64); /* not applied */
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &e), 0);
    CHECK_EQ_INT(info.orientation, 6);
    CHECK_EQ_INT(info.width, 64);
    /* A broken EXIF block is unreadable metadata, not a broken image. */
    ex[14] = 0xFF;
    ex[15] = 0xFF;
    insert_app1(&plain, ex, n, &b);
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, &info, &e), 0);
    CHECK_EQ_INT(img.orientation, 1);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&plain);
    ppx_buf_destroy(&b);
    return 0;
}

/* Orientation stored as EXIF type `type`, in both byte orders (6 big-endian,
 * 8 little-endian, so that a value read in the wrong order shows), spliced
 * into a JPEG: the EXIF reader, inspect and decode all report it. A value
 * outside 1..8 (`bad`, as stored) is ignored: orientation 1. */
static int exif_type(uint16_t type, uint32_t bad)
{
    ppx_buf plain, b;
    ppx_buf_init(&plain);
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(32, 24, 3, &plain), 0);
    const uint16_t ent[1][3] = {{0x0112, type, 1}};
    ppx_image img;
    ppx_image_init(&img);
    for (int be = 0; be <= 1; be++) {
        const uint32_t want = be ? 6 : 8, val[1] = {want};
        uint8_t ex[64];
        size_t n = exif_block(ex, be, ent, val, 1);
        int o = 0;
        CHECK_EQ_INT(ppx__exif_orientation(ex, n, &o), 0);
        CHECK_EQ_INT(o, want);
        insert_app1(&plain, ex, n, &b);
        ppx_info info;
        ppx_err e;
        CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &e), 0);
        CHECK_EQ_INT(info.orientation, want);
        CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, &info, &e), 0);
        CHECK_EQ_INT(img.orientation, want);
        CHECK_EQ_INT(info.orientation, want);
        const uint32_t badv[1] = {bad};
        n = exif_block(ex, be, ent, badv, 1);
        o = 0;
        CHECK_EQ_INT(ppx__exif_orientation(ex, n, &o), 0);
        CHECK_EQ_INT(o, 1);
    }
    ppx_image_destroy(&img);
    ppx_buf_destroy(&plain);
    ppx_buf_destroy(&b);
    return 0;
}

static int exif_type_short(void)
{
    return exif_type(3, 9);
}

static int exif_type_long(void)
{
    return exif_type(4, 0x10006); /* 65542: its low half alone would read as 6 */
}

static int exif_type_sshort(void)
{
    return exif_type(8, 0xFFFA); /* -6 */
}

/* gdk-pixbuf's bug725582-testrotate.jpg stores Orientation 6 as SLONG. */
static int exif_type_slong(void)
{
    return exif_type(9, 0xFFFFFFFAu); /* -6 */
}

static int exif_type_byte(void)
{
    return exif_type(1, 0);
}

static int exif_type_sbyte(void)
{
    return exif_type(6, 0xFA); /* -6 */
}

/* ---- damaged and unsupported bytes -------------------------------------- */

static int crafted_soi_only(void)
{
    /* A lone SOI is a JPEG cut short, whether the file has 2 or 3 bytes. */
    static const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
    CHECK_EQ_INT(expect_fail(soi, 2, NULL, PPX_ETRUNC, "Premature end of JPEG file after 2 bytes"),
                 0);
    CHECK_EQ_INT(expect_fail(soi, 3, NULL, PPX_ETRUNC, "after 3 bytes"), 0);
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(ppx_codec_inspect(soi, 2, NULL, &info, &e), PPX_ETRUNC);
    CHECK_EQ_INT(ppx_codec_inspect(soi, 3, NULL, &info, &e), PPX_ETRUNC);
    return 0;
}

/* FF D8 and then no marker: a damaged JPEG, named so by libjpeg, never "not
 * a JPEG" with bytes of the file in the message. A stray byte after SOI is
 * the same benign quirk as stray bytes between other segments. */
static int crafted_soi_then_garbage(void)
{
    static const uint8_t junk[] = {0xFF, 0xD8, 0x00, 0x00, 0x13, 0x37, 0x00, 0x42};
    CHECK_EQ_INT(expect_fail(junk, sizeof junk, NULL, PPX_ETRUNC, "Premature end of JPEG file"), 0);
    ppx_buf plain, b;
    ppx_buf_init(&plain);
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(32, 24, 3, &plain), 0);
    MUST(ppx_buf_append(&b, plain.data, 2));
    MUST(ppx_buf_append(&b, "\x00", 1));
    MUST(ppx_buf_append(&b, plain.data + 2, plain.len - 2));
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, NULL, &e), 0);
    CHECK_EQ_INT(img.width, 32);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&plain);
    ppx_buf_destroy(&b);
    return 0;
}

/* No message names bytes of the file: a symbolic link to /etc/shadow must
 * not leak "72 6f 6f 74" ("root") into a report (issue 11.4). */
static int crafted_not_an_image(void)
{
    static const char *const files[] = {"root:x:0:0:root:/root:/bin/bash\n", "\x1f\x8b\x08\x00",
                                        "\xff\xfe\x68\x00", "\xff", "GIF89a"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const uint8_t *p = (const uint8_t *)files[i];
        size_t n = strlen(files[i]);
        CHECK_EQ_INT(expect_fail(p, n, NULL, PPX_EFORMAT, NULL), 0);
        ppx_err e;
        ppx_image img;
        ppx_image_init(&img);
        CHECK_EQ_INT(ppx_codec_decode(p, n, NULL, &img, NULL, &e), PPX_EFORMAT);
        CHECK_STR(e.msg, "not a JPEG, PNG, TIFF or WebP file");
        ppx_info info;
        CHECK_EQ_INT(ppx_codec_inspect(p, n, NULL, &info, &e), PPX_EFORMAT);
        CHECK_STR(e.msg, "not a JPEG, PNG, TIFF or WebP file");
    }
    return 0;
}

static int crafted_truncated(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(128, 96, 3, &b), 0);
    size_t sos = 2;
    while (!(b.data[sos] == 0xFF && b.data[sos + 1] == 0xDA))
        sos++;
    /* In the headers, in the scan, and only the EOI missing. */
    CHECK_EQ_INT(expect_fail(b.data, sos - 3, NULL, PPX_ETRUNC, "Premature end"), 0);
    CHECK_EQ_INT(expect_fail(b.data, (sos + b.len) / 2, NULL, PPX_ETRUNC, "Premature end"), 0);
    CHECK_EQ_INT(expect_fail(b.data, b.len - 2, NULL, PPX_ETRUNC, "Premature end"), 0);
    ppx_buf_destroy(&b);
    return 0;
}

static int crafted_corrupt(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(128, 96, 3, &b), 0);
    size_t n = b.len;
    uint8_t *copy = malloc(n);
    /* EOI in the middle of the entropy-coded data. */
    memcpy(copy, b.data, n);
    copy[n / 2] = 0xFF;
    copy[n / 2 + 1] = 0xD9;
    CHECK_EQ_INT(expect_fail(copy, n, NULL, PPX_ECORRUPT, "Corrupt JPEG data"), 0);
    /* Quantisation table index 15 in DQT (at most 3). */
    memcpy(copy, b.data, n);
    size_t dqt = find_marker(copy, n, 0xDB);
    CHECK(dqt > 0);
    copy[dqt + 4] = 0x0F;
    CHECK_EQ_INT(expect_fail(copy, n, NULL, PPX_ECORRUPT, "Bogus DQT index 15"), 0);
    /* Height 0 (DNL). */
    memcpy(copy, b.data, n);
    size_t sof = find_marker(copy, n, 0xC0);
    CHECK(sof > 0);
    copy[sof + 5] = 0;
    copy[sof + 6] = 0;
    CHECK_EQ_INT(expect_fail(copy, n, NULL, PPX_ECORRUPT, "Empty JPEG image"), 0);
    free(copy);
    ppx_buf_destroy(&b);
    return 0;
}

static int crafted_unsupported(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(64, 64, 3, &b), 0);
    size_t sof = find_marker(b.data, b.len, 0xC0);
    CHECK(sof > 0);
    b.data[sof + 1] = 0xC3;
    CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, "lossless JPEG (SOF3)"), 0);
    b.data[sof + 1] = 0xC5;
    CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, "hierarchical JPEG (SOF5)"), 0);
    b.data[sof + 1] = 0xC1;
    b.data[sof + 4] = 12; /* precision */
    CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, "12-bit JPEG"), 0);
    b.data[sof + 4] = 3;
    CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_ECORRUPT, "precision 3"), 0);
    ppx_buf_destroy(&b);
    return 0;
}

/* A real hierarchical file starts with DHP (0xDE, the same fields as a
 * SOF) before its first frame: libjpeg stops there with "Unsupported marker
 * type 0xde". The message must say hierarchical, as the docs promise. */
static int hierarchical_dhp_named(void)
{
    ppx_buf plain, b;
    ppx_buf_init(&plain);
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(64, 64, 3, &plain), 0);
    size_t sof = find_marker(plain.data, plain.len, 0xC0);
    CHECK(sof > 0);
    size_t seg = 2 + ((size_t)plain.data[sof + 2] << 8 | plain.data[sof + 3]);
    static const uint8_t kinds[] = {0xDE, 0xDF}; /* DHP, EXP */
    for (size_t k = 0; k < sizeof kinds; k++) {
        b.len = 0;
        MUST(ppx_buf_append(&b, plain.data, sof));
        MUST(ppx_buf_append(&b, plain.data + sof, seg)); /* DHP: a copy of the SOF */
        b.data[sof + 1] = kinds[k];
        MUST(ppx_buf_append(&b, plain.data + sof, plain.len - sof));
        b.data[sof + seg + 1] = 0xC5; /* the frame: SOF5, differential */
        CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, "hierarchical JPEG"), 0);
    }
    ppx_buf_destroy(&plain);
    ppx_buf_destroy(&b);
    return 0;
}

/* Every SOF type libjpeg does not decode, named by what it is. */
static int unsupported_sof_types_named(void)
{
    static const struct {
        uint8_t marker;
        const char *needle;
    } cases[] = {
        {0xC3, "lossless JPEG (SOF3) is not supported"},
        {0xC5, "hierarchical JPEG (SOF5) is not supported"},
        {0xC6, "hierarchical JPEG (SOF6) is not supported"},
        {0xC7, "hierarchical JPEG (SOF7) is not supported"},
        {0xC8, "reserved JPEG extension marker (JPG, 0xc8) is not supported"},
        {0xCB, "lossless JPEG (SOF11) is not supported"},
        {0xCD, "hierarchical JPEG (SOF13) is not supported"},
        {0xCE, "hierarchical JPEG (SOF14) is not supported"},
        {0xCF, "hierarchical JPEG (SOF15) is not supported"},
        {0xF7, "JPEG-LS (SOF55) is not supported"},
    };
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(64, 64, 3, &b), 0);
    size_t sof = find_marker(b.data, b.len, 0xC0);
    CHECK(sof > 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b.data[sof + 1] = cases[i].marker;
        CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, cases[i].needle), 0);
    }
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- limits ------------------------------------------------------------ */

static int scan_limit(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    many_scans_jpeg(&b, 1024, 1024, 5999); /* 6000 scans in all */
    printf("6000-scan file: %zu bytes\n", b.len);
    ppx_limits l;
    ppx_limits_default(&l);
    double t0 = now_s();
    CHECK_EQ_INT(expect_fail(b.data, b.len, &l, PPX_ELIMIT, "limit of 1000 scans"), 0);
    double dt = now_s() - t0;
    printf("refused in %.3f s of CPU\n", dt);
    CHECK(dt < 0.5);
    /* The file itself is valid: with the limit raised it decodes, so the
     * refusal above came from the limit and nothing else. */
    l.max_jpeg_scans = 10000;
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_err e;
    t0 = now_s();
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, &info, &e), 0);
    printf("decoded all 6000 scans in %.3f s of CPU\n", now_s() - t0);
    CHECK(info.progressive);
    CHECK_EQ_INT(img.channels, 1);
    CHECK_EQ_INT(img.width, 1024);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* Decodes b in a child process, whose CPU time and peak RSS the kernel
 * measures (getrusage of a child, not of this process). The child runs
 * under a CPU rlimit of 10 s, so that a decoder that does not stop is
 * killed (SIGXCPU) instead of hanging the test. Returns 0 when the child
 * exited 0: the decode failed with `code` and a message holding `needle`. */
static int decode_in_child(const ppx_buf *b, const ppx_limits *l, int code, const char *needle,
                           double *cpu_s, long *rss_mb)
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit cpu = {10, 11};
        setrlimit(RLIMIT_CPU, &cpu);
        int bad = expect_fail(b->data, b->len, l, code, needle);
        fflush(stdout);
        _exit(bad ? 1 : 0);
    }
    int status;
    struct rusage ru;
    CHECK(wait4(pid, &status, 0, &ru) == pid);
    *cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
             ru.ru_stime.tv_usec / 1e6;
    *rss_mb = ru.ru_maxrss / 1024; /* KiB on Linux */
    printf("child: %.3f s of CPU, peak RSS %ld MB, ", *cpu_s, *rss_mb);
    if (WIFSIGNALED(status))
        printf("killed by signal %d\n", WTERMSIG(status));
    else
        printf("exit %d\n", WEXITSTATUS(status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

/* A few hundred KB of valid progressive JPEG whose scans each cost a pass
 * over every block: refused from the header, before libjpeg allocates the
 * coefficient buffer or decodes a scan (issue 10.3: such a file took a
 * worker for a minute and 1.6 GB). */
static int scan_budget_child(unsigned side, unsigned scans)
{
    ppx_buf b;
    ppx_buf_init(&b);
    many_scans_jpeg(&b, side, side, scans - 1);
    printf("%ux%u, %u scans: %zu bytes\n", side, side, scans, b.len);
    ppx_limits l;
    ppx_limits_default(&l);
    CHECK(scans <= l.max_jpeg_scans || side == 16384); /* 999: under the scan-count limit */
    double cpu;
    long rss;
    CHECK_EQ_INT(decode_in_child(&b, &l, PPX_ELIMIT, "over the budget of", &cpu, &rss), 0);
    CHECK(cpu < 2.0);
    CHECK(rss < 200);
    ppx_buf_destroy(&b);
    return 0;
}

static int scan_budget_16k_2647_scans(void)
{
    return scan_budget_child(16384, 2647);
}

static int scan_budget_8k_999_scans(void)
{
    return scan_budget_child(8192, 999);
}

/* The budget is 3/4 x max_pixels block decodes: with max_pixels = 512 x 512,
 * 196608 = 48 scans of the 4096 blocks of a 512 x 512 gray image. 48
 * scans decode, 49 are refused. */
static int scan_budget_boundary(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 512 * 512;
    many_scans_jpeg(&b, 512, 512, 47);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), 0);
    many_scans_jpeg(&b, 512, 512, 48);
    CHECK_EQ_INT(expect_fail(b.data, b.len, &l, PPX_ELIMIT, "over the budget of 196608"), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int memory_limit(void)
{
    /* Progressive 512x512 gray: 256 KiB of pixels, 512 KiB of coefficients
     * that libjpeg must buffer. A 400 KiB limit admits the first only. */
    ppx_buf b;
    ppx_buf_init(&b);
    many_scans_jpeg(&b, 512, 512, 1);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_alloc = 400 << 10;
    CHECK_EQ_INT(expect_fail(b.data, b.len, &l, PPX_ELIMIT, "decoder memory"), 0);
    l.max_alloc = 4 << 20;
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int pixel_limit(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(300, 200, 3, &b), 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 300 * 200 - 1;
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), PPX_ELIMIT);
    CHECK(img.data == NULL); /* refused before any pixel allocation */
    /* Shrink-on-load does not get around it: the limit is on the file. */
    CHECK_EQ_INT(decode_with(&b, &l, 10, 10, &img, NULL, &e), PPX_ELIMIT);
    l.max_pixels = 300 * 200;
    l.max_width = 299;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), PPX_ELIMIT);
    l.max_width = 300;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* Stray bytes before header markers are a benign warning each; a flood of
 * them is refused. */
static int warnings_flood(void)
{
    ppx_buf plain, b;
    ppx_buf_init(&plain);
    ppx_buf_init(&b);
    CHECK_EQ_INT(gradient_jpeg(64, 48, 3, &plain), 0);
    /* SOI and an empty COM first: the dispatcher wants 0xFF as the third byte. */
    MUST(ppx_buf_append(&b, plain.data, 2));
    put_bytes(&b, "\xFF\xFE\x00\x02", 4);
    for (int i = 0; i < 50; i++)
        put_bytes(&b, "\x00\xFF\xFE\x00\x02", 5); /* a junk byte, then an empty COM */
    MUST(ppx_buf_append(&b, plain.data + 2, plain.len - 2));
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, NULL, &e), 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_warnings = 49;
    CHECK_EQ_INT(expect_fail(b.data, b.len, &l, PPX_ECORRUPT, "more than 49 JPEG warnings"), 0);
    l.max_warnings = 50;
    CHECK_EQ_INT(decode_with(&b, &l, 0, 0, &img, NULL, &e), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&plain);
    ppx_buf_destroy(&b);
    return 0;
}

/* ---- colour spaces made with libjpeg directly ---------------------------- */

/* Encodes w x h samples of `comps` components in colour space `cs` (written
 * as `jcs`), with or without the Adobe marker. */
static int libjpeg_encode(const uint8_t *px, unsigned w, unsigned h, int comps, J_COLOR_SPACE cs,
                          J_COLOR_SPACE jcs, int adobe, ppx_buf *out)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = w;
    c.image_height = h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, jcs);
    jpeg_set_quality(&c, 95, TRUE);
    c.write_Adobe_marker = adobe ? TRUE : FALSE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < h) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * (unsigned)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    out->len = 0;
    int rc = ppx_buf_append(out, mem, size);
    free(mem);
    return rc;
}

/* The reference: libjpeg's CMYK samples, converted with floating point. */
static int reference_cmyk_rgb(const ppx_buf *b, int inverted, uint8_t *rgb)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->data, b->len);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&d);
    uint8_t *row = malloc((size_t)d.output_width * 4);
    while (d.output_scanline < d.output_height) {
        JSAMPROW r = row;
        jpeg_read_scanlines(&d, &r, 1);
        for (unsigned x = 0; x < d.output_width; x++) {
            double k = inverted ? row[4 * x + 3] : 255 - row[4 * x + 3];
            for (int c = 0; c < 3; c++) {
                double v = inverted ? row[4 * x + c] : 255 - row[4 * x + c];
                *rgb++ = (uint8_t)(v * k / 255.0 + 0.5);
            }
        }
    }
    free(row);
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return 0;
}

static int check_cmyk(J_COLOR_SPACE jcs, int adobe, ppx_colorspace expect_cs)
{
    enum { W = 64, H = 64 };
    uint8_t *px = malloc(W * H * 4);
    /* Every C and K value appears with a range of the other: noise over ramps. */
    uint32_t s = 99;
    for (int i = 0; i < W * H; i++) {
        s = s * 1103515245u + 12345u;
        px[4 * i + 0] = (uint8_t)(i % W * 4);
        px[4 * i + 1] = (uint8_t)(s >> 24);
        px[4 * i + 2] = (uint8_t)(i / W * 4);
        px[4 * i + 3] = (uint8_t)(255 - i % W * 4);
    }
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(libjpeg_encode(px, W, H, 4, JCS_CMYK, jcs, adobe, &b), 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(decode_with(&b, NULL, 0, 0, &img, &info, &e), 0);
    CHECK_EQ_INT(info.channels, 4);
    CHECK_EQ_INT(info.cs, expect_cs);
    CHECK_EQ_INT(img.channels, 3);
    CHECK_EQ_INT(img.source_cs, expect_cs);
    uint8_t *ref = malloc(W * H * 3);
    reference_cmyk_rgb(&b, adobe, ref);
    CHECK(memcmp(ref, img.data, W * H * 3) == 0);
    /* And the other convention would have given different pixels. */
    reference_cmyk_rgb(&b, !adobe, ref);
    CHECK(memcmp(ref, img.data, W * H * 3) != 0);
    free(ref);
    free(px);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int cmyk_adobe(void)
{
    return check_cmyk(JCS_CMYK, 1, PPX_CS_CMYK);
}

static int ycck_adobe(void)
{
    return check_cmyk(JCS_YCCK, 1, PPX_CS_YCCK);
}

static int cmyk_plain(void)
{
    return check_cmyk(JCS_CMYK, 0, PPX_CS_CMYK);
}

static int unknown_colorspace(void)
{
    uint8_t px[16 * 16 * 2];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)i;
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(libjpeg_encode(px, 16, 16, 2, JCS_UNKNOWN, JCS_UNKNOWN, 0, &b), 0);
    CHECK_EQ_INT(expect_fail(b.data, b.len, NULL, PPX_EUNSUPPORTED, "2 components"), 0);
    ppx_info info;
    ppx_err e;
    CHECK_EQ_INT(ppx_codec_inspect(b.data, b.len, NULL, &info, &e), 0);
    CHECK_EQ_INT(info.channels, 2);
    CHECK_EQ_INT(info.cs, PPX_CS_UNKNOWN);
    ppx_buf_destroy(&b);
    return 0;
}

PPX_TEST_MAIN(TEST(roundtrip_rgb), TEST(roundtrip_gray), TEST(encode_deterministic),
              TEST(encode_grows_buffer), TEST(encode_refuses), TEST(scale_select), TEST(size_hint),
              TEST(image_reuse), TEST(exif_valid), TEST(exif_absent_or_bad_value),
              TEST(exif_truncated), TEST(exif_offsets_out_of_range), TEST(exif_huge_count),
              TEST(exif_not_exif), TEST(exif_in_jpeg), TEST(exif_type_short), TEST(exif_type_long),
              TEST(exif_type_sshort), TEST(exif_type_slong), TEST(exif_type_byte),
              TEST(exif_type_sbyte), TEST(crafted_soi_only), TEST(crafted_soi_then_garbage),
              TEST(crafted_not_an_image), TEST(crafted_truncated), TEST(crafted_corrupt),
              TEST(crafted_unsupported), TEST(hierarchical_dhp_named),
              TEST(unsupported_sof_types_named), TEST(scan_limit), TEST(scan_budget_16k_2647_scans),
              TEST(scan_budget_8k_999_scans), TEST(scan_budget_boundary), TEST(memory_limit),
              TEST(pixel_limit), TEST(warnings_flood), TEST(cmyk_adobe), TEST(ycck_adobe),
              TEST(cmyk_plain), TEST(unknown_colorspace))
