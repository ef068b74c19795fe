/* WebP codec: decoding with libwebp's advanced API (WebPDecoderConfig) and
 * libwebpdemux, encoding with WebPEncode, from and to memory.
 *
 * Decoding reads the container in three steps, each before anything big is
 * allocated: our own walk over the RIFF chunk headers (so that a file cut
 * short, a RIFF size that lies or a chunk running past the end each get a
 * code and a message that names them, and the VP8X canvas is checked against
 * the limits before libwebp sees it), WebPGetFeatures (the bitstream's
 * header), and for extended files (VP8X) the demuxer, which gives the ICC and
 * EXIF chunks and the first frame of an animation. The pixels are then
 * decoded by WebPDecode straight into the ppx_image, scaled when the caller
 * asked for shrink-on-load. libwebp keeps no global state and prints
 * nothing; everything it allocates is freed before we return.
 *
 * Animations: the first frame is composed on its canvas as the WebP
 * container specification says (a transparent black canvas, the frame at its
 * offset; RGB and black when the VP8X alpha flag is 0, as Pillow gives it),
 * decoding the frame straight into the canvas; WebPAnimDecoder would
 * allocate two more canvases and blend with integer rounding that moves
 * colours of half-transparent pixels by one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>

#include "codec/codec_impl.h"
#include "codec/exif.h"

#define RIFF_HEADER_BYTES 12 /* "RIFF", size, "WEBP" */
#define CHUNK_HEADER_BYTES 8 /* fourcc, size */
#define VP8X_PAYLOAD_BYTES 10
#define VP8X_ANIMATION_FLAG 0x02u
#define VP8X_ALPHA_FLAG 0x10u
/* VP8 and VP8L store each side in 14 bits. */
#define WEBP_MAX_SIDE 16383u
/* The demuxer keeps a record (about 100 bytes) per frame and per chunk of
 * the whole file, although prepix reads one frame: these caps bound that
 * memory and time by far less than the file size would. 65536 frames are
 * 36 minutes at 30 frames a second; real files have a handful of metadata
 * chunks (ICCP, EXIF, XMP). */
#define MAX_FRAMES 65536u
#define MAX_OTHER_CHUNKS 4096u
/* EXIF blocks are read in their first 64 KiB: the most a JPEG APP1 segment
 * can hold, so WebP files get the same reach as JPEG ones. */
#define EXIF_MAX_BYTES 65535u

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

/* A chunk's name for messages: one of those WebP defines, as our own
 * constant, or "unknown". Messages name no byte of the file: reports are
 * shared, and an input may be a link to a secret. */
static const char *chunk_name(const uint8_t *p)
{
    static const char *const known[] = {"VP8 ", "VP8L", "VP8X", "ALPH", "ANIM",
                                        "ANMF", "ICCP", "EXIF", "XMP "};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (memcmp(p, known[i], 4) == 0)
            return known[i];
    return "unknown";
}

/* What the header steps learn, and what they hold until the decode is done. */
typedef struct {
    size_t end; /* 8 + the RIFF size: the bytes that belong to the file */
    uint32_t canvas_w, canvas_h;
    uint32_t flags; /* VP8X flags, 0 without VP8X */
    int vp8x;
    const char *kind; /* of the first image chunk, for messages: "VP8", "VP8L", "ANMF" */
    uint32_t frames;
    /* The bitstream to decode (the whole file, or the first frame's chunks)
     * and where it goes on the canvas. */
    const uint8_t *bits;
    size_t bits_len;
    uint32_t x, y, w, h;
    int blend;    /* the frame is alpha-blended onto the canvas */
    int channels; /* 3 or 4 */
    int lossless;
    WebPDemuxer *dmux;
    WebPIterator it;
    int have_it;
} webp_hdr;

/* libwebp's status as one of ours. NOT_ENOUGH_DATA and SUSPENDED mean the
 * bitstream ended before the image did; the file itself is complete (its
 * length was checked against the RIFF size before libwebp saw it). */
static int status_code(VP8StatusCode st)
{
    switch (st) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return PPX_ENOMEM;
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return PPX_EUNSUPPORTED;
    case VP8_STATUS_NOT_ENOUGH_DATA:
    case VP8_STATUS_SUSPENDED:
        return PPX_ETRUNC;
    case VP8_STATUS_BITSTREAM_ERROR:
        return PPX_ECORRUPT;
    default:
        return PPX_EINTERNAL; /* INVALID_PARAM, USER_ABORT: our misuse */
    }
}

static const char *status_text(VP8StatusCode st)
{
    switch (st) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
        return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
        return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return "unsupported feature";
    case VP8_STATUS_SUSPENDED:
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return "the data ends early";
    case VP8_STATUS_USER_ABORT:
        return "aborted";
    default:
        return "unknown status";
    }
}

/* Checks the RIFF header and walks the top-level chunks: each must lie
 * inside the RIFF data. Reads the VP8X canvas and checks it against the
 * limits, and counts frames and other chunks. No allocation. */
static int walk_riff(const uint8_t *buf, size_t len, const ppx_limits *l, webp_hdr *h, ppx_err *err)
{
    uint32_t size = le32(buf + 4);
    /* "WEBP" and at least one chunk header, as libwebp requires. */
    if (size < 4 + CHUNK_HEADER_BYTES)
        return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE,
                           "WebP RIFF size %u is too small to hold an image chunk", size);
    if ((uint64_t)size + 8 > len)
        return ppx_err_set(err, PPX_ETRUNC, PPX_STAGE_DECODE,
                           "WebP file of %zu bytes is shorter than the %llu bytes its RIFF "
                           "header declares",
                           len, (unsigned long long)size + 8);
    /* Bytes after the RIFF data are not part of the file (libwebp ignores
     * them too). */
    h->end = (size_t)size + 8;
    uint32_t others = 0;
    for (size_t off = RIFF_HEADER_BYTES; h->end - off >= CHUNK_HEADER_BYTES;) {
        const uint8_t *c = buf + off;
        uint32_t n = le32(c + 4);
        if (n > h->end - off - CHUNK_HEADER_BYTES)
            return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE,
                               "WebP chunk '%s' of %u bytes at offset %zu runs past the end of "
                               "the RIFF data (%zu bytes)",
                               chunk_name(c), n, off, h->end);
        if (off == RIFF_HEADER_BYTES && memcmp(c, "VP8X", 4) == 0 && n >= VP8X_PAYLOAD_BYTES) {
            h->vp8x = 1;
            h->flags = le32(c + 8);
            h->canvas_w = le24(c + 12) + 1;
            h->canvas_h = le24(c + 15) + 1;
        } else if (memcmp(c, "ANMF", 4) == 0) {
            if (!h->kind)
                h->kind = "ANMF";
            if (++h->frames > MAX_FRAMES)
                return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                                   "WebP animation has more than %u frames", MAX_FRAMES);
        } else if (!h->kind && (memcmp(c, "VP8 ", 4) == 0 || memcmp(c, "VP8L", 4) == 0)) {
            h->kind = c[3] == 'L' ? "VP8L" : "VP8";
        } else if (++others > MAX_OTHER_CHUNKS) {
            return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                               "WebP file has more than %u chunks", MAX_OTHER_CHUNKS);
        }
        /* Chunks are padded to an even size; a missing pad byte after the
         * last one ends the walk (libwebp decides whether it matters). */
        off += CHUNK_HEADER_BYTES + (size_t)n + (n & 1);
        if (off > h->end)
            break;
    }
    /* libwebp accepts canvases of 2^24 a side: check ours before it sizes
     * anything from them. 4 bytes a pixel: the canvas or VP8L's ARGB buffer. */
    if (h->vp8x)
        return ppx_limits_check(l, h->canvas_w, h->canvas_h, 4, 1, NULL, err);
    return 0;
}

/* Orientation from an EXIF chunk. WebP stores the TIFF structure itself;
 * some writers put JPEG's "Exif\0\0" signature in front, which the reader
 * (written for JPEG's APP1) expects, so a copy gets it. A malformed block
 * means orientation 1: metadata we cannot read, not damaged pixels. */
static void exif_facts(const uint8_t *p, size_t n, ppx_info *info)
{
    int o;
    if (ppx__exif_orientation(p, n, &o) == 0) {
        info->orientation = o;
        return;
    }
    if (n > EXIF_MAX_BYTES)
        n = EXIF_MAX_BYTES;
    uint8_t *copy = malloc(n + 6);
    if (!copy)
        return;
    memcpy(copy, "Exif\0\0", 6);
    memcpy(copy + 6, p, n);
    if (ppx__exif_orientation(copy, n + 6, &o) == 0)
        info->orientation = o;
    free(copy);
}

static void hdr_close(webp_hdr *h)
{
    if (h->have_it)
        WebPDemuxReleaseIterator(&h->it);
    WebPDemuxDelete(h->dmux);
    h->have_it = 0;
    h->dmux = NULL;
}

/* Everything up to the pixels: fills *h and *info, checks the limits.
 * Allocates only the demuxer (extended files); hdr_close frees it. */
static int read_header(const uint8_t *buf, size_t len, const ppx_limits *l, webp_hdr *h,
                       ppx_info *info, ppx_err *err)
{
    memset(h, 0, sizeof *h);
    int rc = walk_riff(buf, len, l, h, err);
    if (rc)
        return rc;
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(buf, h->end, &f);
    if (st != VP8_STATUS_OK)
        return ppx_err_set(
            err, status_code(st), PPX_STAGE_DECODE, "libwebp cannot read the %s header: %s",
            h->kind ? h->kind : "WebP (no VP8, VP8L or ANMF chunk)", status_text(st));
    uint32_t cw = (uint32_t)f.width, ch = (uint32_t)f.height;
    rc = ppx_limits_check(l, cw, ch, 4, 1, NULL, err);
    if (rc)
        return rc;
    h->bits = buf;
    h->bits_len = h->end;
    h->w = cw, h->h = ch;
    h->frames = 1;
    h->lossless = f.format == 2;
    h->channels = f.has_alpha ? 4 : 3;
    info->has_icc = 0;
    info->orientation = 1;
    if (h->vp8x) {
        WebPData d = {buf, h->end};
        h->dmux = WebPDemux(&d);
        if (!h->dmux)
            return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE,
                               "libwebpdemux rejects the WebP container (chunks out of order or "
                               "inside the wrong chunk, frames outside the canvas, ...)");
        WebPChunkIterator ci;
        if (WebPDemuxGetChunk(h->dmux, "ICCP", 1, &ci)) {
            info->has_icc = 1;
            WebPDemuxReleaseChunkIterator(&ci);
        }
        if (WebPDemuxGetChunk(h->dmux, "EXIF", 1, &ci)) {
            exif_facts(ci.chunk.bytes, ci.chunk.size, info);
            WebPDemuxReleaseChunkIterator(&ci);
        }
        h->frames = WebPDemuxGetI(h->dmux, WEBP_FF_FRAME_COUNT);
        if (!WebPDemuxGetFrame(h->dmux, 1, &h->it))
            return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE, "WebP file has no frame");
        h->have_it = 1;
    }
    if (f.has_animation && !h->have_it)
        return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE,
                           "WebP animation without a VP8X chunk the demuxer reads");
    if (f.has_animation) {
        /* The first frame: its own bitstream header says what it is. */
        const WebPIterator *it = &h->it;
        WebPBitstreamFeatures ff;
        st = WebPGetFeatures(it->fragment.bytes, it->fragment.size, &ff);
        if (st != VP8_STATUS_OK)
            return ppx_err_set(err, status_code(st), PPX_STAGE_DECODE,
                               "libwebp cannot read the header of frame 1: %s", status_text(st));
        /* The demuxer checked the frame against the canvas; the frame's own
         * bitstream must agree with its ANMF header too, or it would be
         * decoded past its place. */
        if (ff.width != it->width || ff.height != it->height || it->x_offset < 0 ||
            it->y_offset < 0 || (uint32_t)it->x_offset + (uint32_t)ff.width > cw ||
            (uint32_t)it->y_offset + (uint32_t)ff.height > ch)
            return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE,
                               "WebP frame 1 of %dx%d (bitstream %dx%d) at %d,%d does not fit "
                               "the %ux%u canvas",
                               it->width, it->height, ff.width, ff.height, it->x_offset,
                               it->y_offset, cw, ch);
        h->bits = it->fragment.bytes;
        h->bits_len = it->fragment.size;
        h->x = (uint32_t)it->x_offset, h->y = (uint32_t)it->y_offset;
        h->w = (uint32_t)ff.width, h->h = (uint32_t)ff.height;
        h->blend = it->blend_method == WEBP_MUX_BLEND;
        h->lossless = ff.format == 2;
        /* Without the VP8X alpha flag the file has no alpha, as webpinfo,
         * ImageMagick and Pillow read it: RGB, black around a frame smaller
         * than the canvas, a frame's own alpha dropped (Pillow decodes RGBA
         * and keeps RGB). With the flag, alpha when frame 1 has it or
         * leaves the canvas transparent: the flag speaks for every frame
         * (WebPAnimEncoder gives later frames transparent pixels to reuse
         * earlier ones), and an opaque first frame stays RGB, where Pillow
         * gives RGBA of alpha 255, so that `-f jpeg` takes it. */
        int covers = h->w == cw && h->h == ch;
        h->channels = (h->flags & VP8X_ALPHA_FLAG) && (ff.has_alpha || !covers) ? 4 : 3;
    }
    info->format = PPX_FMT_WEBP;
    info->width = cw;
    info->height = ch;
    info->channels = (unsigned)h->channels;
    info->bits = 8;
    info->cs = h->lossless ? PPX_CS_RGB : PPX_CS_YCBCR;
    info->has_alpha = h->channels == 4;
    info->alpha_associated = 0;
    info->compression = h->lossless ? "vp8l" : "vp8";
    info->pages = (int)h->frames;
    info->animated = f.has_animation != 0;
    info->lossless = h->lossless;
    info->scale_denom = 1;
    return 0;
}

int ppx__webp_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err)
{
    webp_hdr h;
    int rc = read_header(buf, len, l, &h, info, err);
    hdr_close(&h);
    return rc;
}

/* Pixels that blending leaves fully transparent are (0, 0, 0, 0) on the
 * canvas, whatever colour the frame stored under them. */
static void clear_transparent(ppx_image *img, const webp_hdr *h)
{
    for (uint32_t y = h->y; y < h->y + h->h; y++) {
        uint8_t *p = ppx_image_row(img, y) + (size_t)h->x * 4;
        for (uint32_t x = 0; x < h->w; x++, p += 4)
            if (p[3] == 0)
                memset(p, 0, 4);
    }
}

static int decode_body(const uint8_t *buf, size_t len, const ppx_decode_opts *o, webp_hdr *h,
                       ppx_image *img, ppx_info *info, ppx_err *err)
{
    const ppx_limits *l = o->limits;
    int rc = read_header(buf, len, l, h, info, err);
    if (rc)
        return rc;
    uint32_t cw = info->width, ch = info->height;
    unsigned nch = (unsigned)h->channels;
    int covers = h->w == cw && h->h == ch;

    /* libwebp's scaler averages each channel on its own, not premultiplied:
     * with alpha, the colour of transparent pixels would bleed into visible
     * ones (the resize op premultiplies to avoid exactly that), so only
     * opaque images that fill the canvas shrink on load. */
    unsigned denom = 1;
    uint32_t min_w = o->min_width, min_h = o->min_height;
    if (o->size_hint)
        o->size_hint(o->size_hint_arg, info, &min_w, &min_h);
    if (nch == 3 && covers)
        denom = ppx__shrink_denom(cw, ch, min_w, min_h);
    uint32_t ow = (uint32_t)(((uint64_t)cw + denom - 1) / denom);
    uint32_t oh = (uint32_t)(((uint64_t)ch + denom - 1) / denom);

    rc = ppx_image_alloc(img, ow, oh, nch, PPX_U8, l, err);
    if (rc) {
        if (err)
            err->stage = PPX_STAGE_DECODE;
        return rc;
    }
    if (!covers) /* the canvas around the first frame: (transparent) black */
        memset(img->data, 0, img->stride * img->height);

    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg))
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_DECODE,
                           "libwebp's decoder ABI differs from the headers prepix was built with");
    /* One core per worker: libwebp's own thread would only compete. */
    cfg.options.use_threads = 0;
    if (denom > 1) {
        cfg.options.use_scaling = 1;
        cfg.options.scaled_width = (int)ow;
        cfg.options.scaled_height = (int)oh;
    }
    /* Straight (unassociated) alpha, as every prepix decoder gives it;
     * MODE_rgbA would premultiply. libwebp writes into our rows: the frame's
     * rectangle of the canvas, stride of the canvas. */
    cfg.output.colorspace = nch == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = ppx_image_row(img, h->y) + (size_t)h->x * nch;
    cfg.output.u.RGBA.stride = (int)img->stride;
    cfg.output.u.RGBA.size =
        img->stride * ((denom > 1 ? oh : h->h) - 1) + (size_t)(denom > 1 ? ow : h->w) * nch;
    VP8StatusCode st = WebPDecode(h->bits, h->bits_len, &cfg);
    WebPFreeDecBuffer(&cfg.output); /* nothing to free with external memory; stated */
    if (st != VP8_STATUS_OK) {
        const char *what = h->lossless                       ? "VP8L (lossless)"
                           : nch == 4 && info->animated == 0 ? "VP8 (lossy) or ALPH (alpha)"
                                                             : "VP8 (lossy)";
        return ppx_err_set(err, status_code(st), PPX_STAGE_DECODE,
                           "libwebp cannot decode the %s data of %s: %s", what,
                           info->animated ? "frame 1" : "the image", status_text(st));
    }
    if (info->animated && h->blend && nch == 4)
        clear_transparent(img, h);
    img->orientation = info->orientation;
    img->source_cs = info->cs;
    img->alpha_associated = 0;
    info->scale_denom = denom;
    return 0;
}

int ppx__webp_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err)
{
    webp_hdr h;
    int rc = decode_body(buf, len, o, &h, img, info, err);
    hdr_close(&h);
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

static int on_write(const uint8_t *data, size_t n, const WebPPicture *pic)
{
    return ppx_buf_append(pic->custom_ptr, data, n) == 0;
}

/* Any of our 8-bit layouts into libwebp's ARGB words (gray as R = G = B). */
static void fill_argb(const ppx_image *img, WebPPicture *pic)
{
    unsigned ch = img->channels;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *s = ppx_image_row(img, y);
        uint32_t *d = pic->argb + (size_t)y * (size_t)pic->argb_stride;
        for (uint32_t x = 0; x < img->width; x++, s += ch) {
            uint32_t r = s[0], g = ch >= 3 ? s[1] : r, b = ch >= 3 ? s[2] : r;
            uint32_t a = ch == 2 ? s[1] : ch == 4 ? s[3] : 255;
            d[x] = a << 24 | r << 16 | g << 8 | b;
        }
    }
}

static int encode_error(const WebPPicture *pic, ppx_err *err)
{
    switch (pic->error_code) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BAD_WRITE:
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE,
                           "out of memory encoding a %dx%d WebP image", pic->width, pic->height);
    default:
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_ENCODE,
                           "libwebp cannot encode a %dx%d image (error %d)", pic->width,
                           pic->height, (int)pic->error_code);
    }
}

int ppx__webp_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err)
{
    if (img->type == PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "WebP holds 8-bit samples only; add `to-8bit` to the pipeline");
    if (img->type != PPX_U8)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "WebP cannot hold float samples; write them with -f npy");
    if (img->channels < 1 || img->channels > 4)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "bad channel count %u",
                           img->channels);
    if (img->width == 0 || img->height == 0 || !img->data)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "empty image (%ux%u)", img->width,
                           img->height);
    if (img->width > WEBP_MAX_SIDE || img->height > WEBP_MAX_SIDE)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "WebP cannot hold a %ux%u image (at most %u pixels a side)", img->width,
                           img->height, WEBP_MAX_SIDE);
    if (!o->webp_lossless && (o->quality < 1 || o->quality > 100))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "WebP quality %d is not in 1..100",
                           o->quality);
    WebPConfig cfg;
    WebPPicture pic;
    if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic))
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_ENCODE,
                           "libwebp's encoder ABI differs from the headers prepix was built with");
    /* libwebp's defaults, stated: method 4, one thread (deterministic
     * output, and a worker has one core). Lossless is `cwebp -lossless
     * -exact`: effort 75, and the colour under transparent pixels kept, so
     * that every sample round-trips. */
    cfg.method = 4;
    cfg.thread_level = 0;
    if (o->webp_lossless) {
        cfg.lossless = 1;
        cfg.quality = 75;
        cfg.exact = 1;
    } else {
        cfg.quality = (float)o->quality;
    }
    if (!WebPValidateConfig(&cfg))
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_ENCODE, "libwebp refuses our settings");
    pic.width = (int)img->width;
    pic.height = (int)img->height;
    pic.use_argb = 1;
    pic.writer = on_write;
    pic.custom_ptr = out;
    int rc = 0;
    if (!WebPPictureAlloc(&pic)) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE,
                         "out of memory for a %ux%u WebP picture", img->width, img->height);
        goto out;
    }
    fill_argb(img, &pic);
    out->len = 0;
    if (!WebPEncode(&cfg, &pic)) {
        rc = encode_error(&pic, err);
        out->len = 0;
    }
out:
    WebPPictureFree(&pic);
    return rc;
}
