/* Format detection and dispatch to the per-format codecs. */
#include <string.h>

#include "codec/codec_impl.h"

const char *ppx_format_name(ppx_format f)
{
    switch (f) {
    case PPX_FMT_JPEG:
        return "jpeg";
    case PPX_FMT_PNG:
        return "png";
    case PPX_FMT_TIFF:
        return "tiff";
    case PPX_FMT_WEBP:
        return "webp";
    default:
        return "unknown";
    }
}

const char *ppx_format_ext(ppx_format f)
{
    switch (f) {
    case PPX_FMT_JPEG:
        return "jpg";
    case PPX_FMT_PNG:
        return "png";
    case PPX_FMT_TIFF:
        return "tif";
    case PPX_FMT_WEBP:
        return "webp";
    default:
        return "bin";
    }
}

ppx_format ppx_codec_detect(const uint8_t *b, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /* SOI alone: a file that starts with it and has no marker after it is a
     * damaged or cut JPEG, which libjpeg names better than "not an image". */
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8)
        return PPX_FMT_JPEG;
    if (n >= 8 && memcmp(b, png_sig, 8) == 0)
        return PPX_FMT_PNG;
    /* Classic TIFF (42) and BigTIFF (43), both byte orders. */
    if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                   (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43))))
        return PPX_FMT_TIFF;
    /* WebP lives in a RIFF container; other RIFF forms (WAVE, AVI) are not images. */
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return PPX_FMT_WEBP;
    return PPX_FMT_UNKNOWN;
}

/* The message names no byte of the file: reports are shared, and a path can
 * be a link to a secret (the first bytes of /etc/shadow are "root"). */
static int unknown_format(size_t len, ppx_err *err)
{
    if (len == 0)
        return ppx_err_set(err, PPX_EEMPTY, PPX_STAGE_DECODE, "empty file (0 bytes)");
    return ppx_err_set(err, PPX_EFORMAT, PPX_STAGE_DECODE, "not a JPEG, PNG, TIFF or WebP file");
}

static void info_init(ppx_info *info)
{
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    info->pages = 1;
    info->scale_denom = 1;
    info->compression = "";
}

int ppx_codec_inspect(const uint8_t *buf, size_t len, const ppx_limits *limits, ppx_info *info,
                      ppx_err *err)
{
    ppx_limits lim;
    if (!limits) {
        ppx_limits_default(&lim);
        limits = &lim;
    }
    ppx_info tmp;
    info_init(&tmp);
    int rc;
    switch (ppx_codec_detect(buf, len)) {
    case PPX_FMT_JPEG:
        rc = ppx__jpeg_inspect(buf, len, limits, &tmp, err);
        break;
    case PPX_FMT_PNG:
        rc = ppx__png_inspect(buf, len, limits, &tmp, err);
        break;
    case PPX_FMT_TIFF:
        rc = ppx__tiff_inspect(buf, len, limits, &tmp, err);
        break;
    case PPX_FMT_WEBP:
        rc = ppx__webp_inspect(buf, len, limits, &tmp, err);
        break;
    default:
        return unknown_format(len, err);
    }
    if (rc == 0 && !tmp.sample)
        tmp.sample = tmp.bits == 16 && tmp.cs != PPX_CS_PALETTE ? PPX_U16 : PPX_U8;
    if (rc == 0)
        *info = tmp;
    return rc;
}

int ppx_codec_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *opts, ppx_image *img,
                     ppx_info *info, ppx_err *err)
{
    ppx_decode_opts def = {0};
    if (!opts)
        opts = &def;
    ppx_limits lim;
    if (!opts->limits) {
        ppx_limits_default(&lim);
        def = *opts;
        def.limits = &lim;
        opts = &def;
    }
    /* A page or a chip is read from a mapped file, never copied whole: the
     * file's size bounds no allocation, the window's does. */
    int part = opts->page > 0 || opts->win_w > 0;
    if (len > opts->limits->max_file_bytes && !part)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_DECODE,
                           "file of %zu bytes is over the limit of %llu", len,
                           (unsigned long long)opts->limits->max_file_bytes);
    ppx_format fmt = ppx_codec_detect(buf, len);
    if (part && fmt != PPX_FMT_TIFF && fmt != PPX_FMT_UNKNOWN)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE,
                           "pages and chips are read from TIFF files only, not %s",
                           ppx_format_name(fmt));
    ppx_info tmp;
    info_init(&tmp);
    int rc;
    switch (fmt) {
    case PPX_FMT_JPEG:
        rc = ppx__jpeg_decode(buf, len, opts, img, &tmp, err);
        break;
    case PPX_FMT_PNG:
        rc = ppx__png_decode(buf, len, opts, img, &tmp, err);
        break;
    case PPX_FMT_TIFF:
        rc = ppx__tiff_decode(buf, len, opts, img, &tmp, err);
        break;
    case PPX_FMT_WEBP:
        rc = ppx__webp_decode(buf, len, opts, img, &tmp, err);
        break;
    default:
        return unknown_format(len, err);
    }
    if (rc == 0 && !tmp.sample)
        tmp.sample = img->type;
    if (rc == 0 && info)
        *info = tmp;
    return rc;
}

void ppx_encode_opts_default(ppx_encode_opts *o, ppx_format f)
{
    /* Whole, so that a field added later has its zero default too. */
    *o = (ppx_encode_opts){
        .format = f, .quality = 90, .tiff_compression = PPX_TIFF_LZW, .png_level = 6};
}

/* JPEG, PNG and WebP hold photos. A raster (other sample types, plain
 * bands) reaches them only through an explicit conversion: never a silent
 * quantisation. */
static int check_photo(const ppx_image *img, ppx_format f, ppx_err *err)
{
    if (f != PPX_FMT_JPEG && f != PPX_FMT_PNG && f != PPX_FMT_WEBP)
        return 0;
    if (img->plain_bands || img->channels > 4)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "%s holds gray, RGB and alpha, not %u plain bands of %s: add `bands "
                           "B1,B2,B3` (and `scale LO,HI` for other than 8-bit samples) to the "
                           "pipeline, or write -f tiff",
                           ppx_format_name(f), img->channels, ppx_sample_name(img->type));
    if (img->type != PPX_U8 && img->type != PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "%s holds 8-bit (PNG: 16-bit) unsigned samples, not %s: add `scale "
                           "LO,HI` to the pipeline, or write -f tiff",
                           ppx_format_name(f), ppx_sample_name(img->type));
    return 0;
}

int ppx_codec_encode(const ppx_image *img, const ppx_encode_opts *opts, ppx_buf *out, ppx_err *err)
{
    out->len = 0;
    int rc = check_photo(img, opts->format, err);
    if (rc)
        return rc;
    switch (opts->format) {
    case PPX_FMT_JPEG:
        return ppx__jpeg_encode(img, opts, out, err);
    case PPX_FMT_PNG:
        return ppx__png_encode(img, opts, out, err);
    case PPX_FMT_TIFF:
        return ppx__tiff_encode(img, opts, out, err);
    case PPX_FMT_WEBP:
        return ppx__webp_encode(img, opts, out, err);
    default:
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "no encoder for format %d",
                           (int)opts->format);
    }
}

unsigned ppx__shrink_denom(uint32_t w, uint32_t h, uint32_t min_w, uint32_t min_h)
{
    static const unsigned denoms[] = {8, 4, 2};
    if (min_w == 0 && min_h == 0)
        return 1;
    for (size_t i = 0; i < sizeof denoms / sizeof denoms[0]; i++) {
        uint64_t d = denoms[i];
        if ((w + d - 1) / d >= min_w && (h + d - 1) / d >= min_h)
            return denoms[i];
    }
    return 1;
}
