/* libFuzzer target over ppx_codec_decode (all formats, dispatched by magic).
 *
 * Limits are capped (4096 x 4096, 16 Mpixel, 256 MiB per allocation, 500
 * JPEG scans) so that the fuzzer explores parsers rather than the allocator,
 * and every output pixel is read, so that a decoder that reports success
 * over memory it never wrote or sized wrongly shows up under the sanitizers
 * (libjpeg-turbo's fuzz/decompress.cc does the same). Beyond not crashing,
 * the target checks the codec contract and aborts when it is broken: a
 * failure carries its code and a one-line message, a success a sane image,
 * our own JPEG encoding of a decoded image decodes again, and our lossless
 * WebP encoding of a small decoded WebP gives back exactly its pixels. For
 * PNG label maps it compares the libdeflate fast path with libpng. For
 * JPEG it also decodes at 1/8 with and without DC-only decoding of
 * progressive files (src/codec/jpeg_acskip.c): where the whole decode
 * succeeds the default must give exactly its pixels, and where both fail
 * they must fail alike.
 *
 * Built with -fsanitize=fuzzer when PPX_FUZZ is ON (preset fuzz); otherwise
 * standalone_main.c replays files through it as ordinary CTest tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_impl.h"
#include "codec/jpeg_acskip.h"
#include "prepix/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void contract(int ok, const char *what, const ppx_err *err)
{
    if (ok)
        return;
    fprintf(stderr, "codec contract broken: %s (code %d, stage %d, msg \"%s\")\n", what,
            err ? err->code : 0, err ? err->stage : 0, err ? err->msg : "");
    abort();
}

static void check_failure(int rc, const ppx_err *err)
{
    contract(rc < 0 && err->code == rc, "failure code not recorded in err", err);
    contract(err->msg[0] != '\0', "failure without a message", err);
    contract(strchr(err->msg, '\n') == NULL, "message is not one line", err);
}

/* Reads every sample of the image. */
static void touch(const ppx_image *img, const ppx_err *err)
{
    contract(img->width > 0 && img->height > 0 && img->data != NULL, "empty image", err);
    contract(img->channels >= 1 && img->channels <= PPX_MAX_BANDS, "bad channel count", err);
    contract(img->plain_bands || img->channels <= 4, "more than 4 colour channels", err);
    contract(strcmp(ppx_sample_name(img->type), "unknown") != 0, "unknown sample type", err);
    size_t row = (size_t)img->width * img->channels * ppx_sample_size(img->type);
    contract(img->stride >= row, "stride shorter than a row", err);
    contract(img->orientation >= 1 && img->orientation <= 8, "orientation outside 1..8", err);
    uint64_t sum = 0;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *p = ppx_image_row(img, y);
        for (size_t i = 0; i < row; i++)
            sum += p[i];
    }
    sink += sum;
}

/* Encodes a decoded 8-bit gray or RGB image as JPEG and decodes that again:
 * exercises the encoder, and our own output must always be readable. */
static void reencode(const ppx_image *img, const ppx_decode_opts *o)
{
    if (img->type != PPX_U8 || img->plain_bands || (img->channels != 1 && img->channels != 3) ||
        (uint64_t)img->width * img->height > (1u << 20))
        return;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_JPEG);
    eo.quality = 75;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_encode(img, &eo, &b, &err);
    contract(rc == 0, "cannot encode a decoded image", &err);
    ppx_image back;
    ppx_image_init(&back);
    rc = ppx_codec_decode(b.data, b.len, o, &back, NULL, &err);
    contract(rc == 0, "cannot decode our own JPEG", &err);
    contract(back.width == img->width && back.height == img->height, "size changed", &err);
    ppx_image_destroy(&back);
    ppx_buf_destroy(&b);
}

/* Lossless WebP of a small decoded WebP image must give back exactly its
 * pixels: exercises the encoder on whatever the decoder produced. Lossless
 * encoding costs about 20 decodes under the sanitizers, so it runs on small
 * images, and on one input in 16 picked by a hash of its bytes (the same
 * input is always picked, as libFuzzer needs). */
static void webp_roundtrip(const ppx_image *img, const ppx_decode_opts *o, uint64_t pick)
{
    if ((uint64_t)img->width * img->height > (1u << 12) || pick % 16 != 0)
        return;
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_WEBP);
    eo.webp_lossless = 1;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_encode(img, &eo, &b, &err);
    contract(rc == 0, "cannot encode a decoded WebP image", &err);
    ppx_image back;
    ppx_image_init(&back);
    rc = ppx_codec_decode(b.data, b.len, o, &back, NULL, &err);
    contract(rc == 0, "cannot decode our own WebP", &err);
    int same =
        back.width == img->width && back.height == img->height && back.channels == img->channels;
    size_t row = (size_t)img->width * img->channels;
    for (uint32_t y = 0; same && y < img->height; y++)
        same = memcmp(ppx_image_row(&back, y), ppx_image_row(img, y), row) == 0;
    /* The encoder drops an alpha channel that is all 255: RGB then. */
    if (!same && img->channels == 4 && back.channels == 3) {
        same = back.width == img->width && back.height == img->height;
        for (uint32_t y = 0; same && y < img->height; y++)
            for (uint32_t x = 0; same && x < img->width; x++) {
                const uint8_t *s = ppx_image_row(img, y) + 4 * x;
                same = s[3] == 255 && memcmp(ppx_image_row(&back, y) + 3 * x, s, 3) == 0;
            }
    }
    contract(same, "lossless WebP changed the pixels", &err);
    ppx_image_destroy(&back);
    ppx_buf_destroy(&b);
}

/* PNG label maps: the fast path (src/codec/png_label.c) against libpng on
 * the same file. Where the fast path takes a file, libpng must decode it to
 * the same values, palette and facts; where it declines, nothing is
 * compared (libpng decodes it as before). */
static void png_label(const uint8_t *data, size_t size, const ppx_limits *l)
{
    static ppx_palette fpal, lpal;
    ppx_image fast, slow;
    ppx_image_init(&fast);
    ppx_image_init(&slow);
    ppx_info fi, li;
    memset(&fi, 0, sizeof fi);
    memset(&li, 0, sizeof li);
    if (ppx__png_label_fast(data, size, l, &fast, &fi, &fpal)) {
        touch(&fast, NULL);
        ppx_decode_opts o = {.limits = l, .palette = &lpal};
        ppx_err err;
        ppx_err_clear(&err);
        int rc = ppx__png_decode_libpng(data, size, &o, &slow, &li, &err);
        contract(rc == 0, "the PNG label fast path took a file that libpng refuses", &err);
        int same = fast.width == slow.width && fast.height == slow.height &&
                   fast.channels == slow.channels && fast.type == slow.type && fpal.n == lpal.n &&
                   fpal.n_alpha == lpal.n_alpha &&
                   memcmp(fpal.rgb, lpal.rgb, 3 * (size_t)fpal.n) == 0 &&
                   memcmp(fpal.alpha, lpal.alpha, fpal.n_alpha) == 0 && fi.cs == li.cs &&
                   fi.has_alpha == li.has_alpha && fi.has_icc == li.has_icc;
        for (uint32_t y = 0; same && y < fast.height; y++)
            same = memcmp(ppx_image_row(&fast, y), ppx_image_row(&slow, y), fast.width) == 0;
        contract(same, "the PNG label fast path and libpng differ", &err);
    }
    ppx_image_destroy(&fast);
    ppx_image_destroy(&slow);
}

/* DC-only decoding at 1/8 against the whole decode it replaces. */
static void dc_only(const uint8_t *data, size_t size, const ppx_limits *l)
{
    if (size < 2 || data[0] != 0xFF || data[1] != 0xD8)
        return;
    ppx_decode_opts small = {.limits = l, .min_width = 1, .min_height = 1};
    ppx_image whole, dflt;
    ppx_image_init(&whole);
    ppx_image_init(&dflt);
    ppx_err e1, e2;
    ppx_err_clear(&e1);
    ppx_err_clear(&e2);
    int r1 = ppx__jpeg_decode_mode(data, size, &small, PPX_JPEG_ACSKIP_NEVER, &whole, NULL, &e1);
    int r2 = ppx__jpeg_decode_mode(data, size, &small, PPX_JPEG_ACSKIP_AUTO, &dflt, NULL, &e2);
    if (r1 == 0) {
        contract(r2 == 0, "DC-only decoding fails where the whole decode does not", &e2);
        int same = whole.width == dflt.width && whole.height == dflt.height &&
                   whole.channels == dflt.channels;
        for (uint32_t y = 0; same && y < whole.height; y++)
            same = memcmp(ppx_image_row(&whole, y), ppx_image_row(&dflt, y),
                          (size_t)whole.width * whole.channels) == 0;
        contract(same, "DC-only decoding changed the pixels", &e2);
    } else if (r2 != 0) {
        contract(r1 == r2 && strcmp(e1.msg, e2.msg) == 0,
                 "DC-only decoding changed how a file fails", &e2);
    } else {
        touch(&dflt, &e2);
    }
    ppx_image_destroy(&whole);
    ppx_image_destroy(&dflt);
}

/* Pages and chips of a TIFF: each of the first pages listed from its
 * directory, then a window of it decoded (reaching 5 pixels past the right
 * and bottom edges, so that the pad path runs) with its GeoTIFF tags. A
 * window of page 0 that decodes must be the whole page's pixels where it
 * lies inside the page, and the fill (0) outside. */
typedef struct {
    const uint8_t *data;
    size_t size;
    const ppx_limits *l;
    const ppx_image *whole; /* page 0 decoded whole, or NULL */
} parts_ctx;

static int on_page(void *arg, uint32_t page, uint32_t w, uint32_t h, ppx_err *perr)
{
    (void)perr;
    parts_ctx *p = arg;
    uint32_t x = w / 3, y = h / 3;
    uint32_t ww = w - x > 32 ? 37 : w - x + 5, wh = h - y > 32 ? 29 : h - y + 5;
    ppx_geotiff *geo = malloc(sizeof *geo);
    contract(geo != NULL, "out of memory in the fuzzer", NULL);
    ppx_decode_opts o = {
        .limits = p->l, .page = page, .win_x = x, .win_y = y, .win_w = ww, .win_h = wh, .geo = geo};
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_decode(p->data, p->size, &o, &img, NULL, &err);
    if (rc) {
        check_failure(rc, &err);
    } else {
        touch(&img, &err);
        contract(img.width == ww && img.height == wh, "window of the wrong size", &err);
        const ppx_image *wh0 = page == 0 ? p->whole : NULL;
        if (wh0 && wh0->width == w && wh0->height == h && wh0->channels == img.channels &&
            wh0->type == img.type) {
            size_t px = (size_t)img.channels * ppx_sample_size(img.type);
            for (uint32_t r = 0; r < wh; r++) {
                const uint8_t *got = ppx_image_row(&img, r);
                for (uint32_t c = 0; c < ww; c++) {
                    int inside = y + r < h && x + c < w;
                    static const uint8_t zero[64];
                    const uint8_t *want =
                        inside ? ppx_image_row(wh0, y + r) + (size_t)(x + c) * px : zero;
                    contract(px > sizeof zero || memcmp(got + (size_t)c * px, want, px) == 0,
                             inside ? "window differs from the whole page" : "pad is not 0", &err);
                }
            }
        }
    }
    ppx_image_destroy(&img);
    free(geo);
    return 0;
}

static void tiff_parts(const uint8_t *data, size_t size, const ppx_limits *l,
                       const ppx_image *whole)
{
    parts_ctx p = {data, size, l, whole};
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_tiff_pages(data, size, l, 0, 3, 64, on_page, &p, &err);
    if (rc)
        check_failure(rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_width = 4096;
    l.max_height = 4096;
    l.max_pixels = 16u << 20;
    l.max_alloc = 256u << 20;
    l.max_jpeg_scans = 500;

    ppx_err err;
    ppx_err_clear(&err);
    ppx_info info;
    int rc = ppx_codec_inspect(data, size, &l, &info, &err);
    if (rc)
        check_failure(rc, &err);

    ppx_image img;
    ppx_image_init(&img);
    ppx_decode_opts o = {.limits = &l};
    ppx_err_clear(&err);
    rc = ppx_codec_decode(data, size, &o, &img, &info, &err);
    if (rc) {
        check_failure(rc, &err);
    } else {
        touch(&img, &err);
        reencode(&img, &o);
        /* The smallest DCT scale too: other IDCT and upsampling paths. */
        if (info.format == PPX_FMT_JPEG) {
            ppx_decode_opts small = {.limits = &l, .min_width = 1, .min_height = 1};
            ppx_err_clear(&err);
            rc = ppx_codec_decode(data, size, &small, &img, &info, &err);
            contract(rc == 0, "decodes at 1/1 but not at 1/8", &err);
            touch(&img, &err);
        }
        if (info.format == PPX_FMT_WEBP) {
            webp_roundtrip(&img, &o, ppx_fnv1a(PPX_FNV1A_INIT, data, size));
            /* libwebp's scaler: another output path. The header is the
             * same, so the scaled decode may fail only on the pixels. */
            ppx_decode_opts small = {.limits = &l, .min_width = 1, .min_height = 1};
            ppx_err_clear(&err);
            rc = ppx_codec_decode(data, size, &small, &img, &info, &err);
            if (rc)
                check_failure(rc, &err);
            else
                touch(&img, &err);
        }
    }
    if (ppx_codec_detect(data, size) == PPX_FMT_TIFF)
        tiff_parts(data, size, &l, rc == 0 && info.format == PPX_FMT_TIFF ? &img : NULL);
    ppx_image_destroy(&img);
    dc_only(data, size, &l);
    png_label(data, size, &l);
    return 0;
}
