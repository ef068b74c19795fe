/* PNG decoding and encoding with libpng 1.6, from and to memory.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours writes the caller's ppx_err and longjmps back to the setjmp of the
 * function that drives libpng. All state that must survive the longjmp lives
 * in a png_ctx reached through a pointer, so no local of a function that
 * calls setjmp is read after the jump. */
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec/codec_impl.h"

/* Largest ancillary chunk libpng may buffer (iCCP, text, unknown chunks).
 * Pixel data (IDAT) is streamed and does not count. libpng's own default is
 * 8 MB; 32 MiB leaves room for big ICC profiles and still bounds a hostile
 * chunk length. */
#define PNG_CHUNK_MALLOC_MAX (32u << 20)
/* Ancillary chunks (sPLT, unknown) kept before libpng stops storing them. */
#define PNG_CHUNK_CACHE_MAX 256u

typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *buf; /* decode: the file */
    size_t len, pos;
    ppx_buf *out; /* encode: the sink */
    ppx_err *err;
    int stage;
    int code;    /* set before png_error when we know the cause */
    int msg_set; /* err already holds the message of this failure */
    unsigned warnings, max_warnings;
    char last_warning[128];
    png_bytep *rows;
} png_ctx;

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Which ppx code a libpng error message stands for, when no callback of ours
 * chose one before. libpng has no error codes, only texts; the few that map
 * to something other than corrupt data are listed here. */
static int classify(const png_ctx *c, const char *msg)
{
    if (c->stage == PPX_STAGE_ENCODE)
        return PPX_EINTERNAL;
    if (strstr(msg, "Not enough image data"))
        return PPX_ETRUNC; /* the zlib stream of IDAT ends before the last row */
    if (strstr(msg, "Invalid IHDR data") &&
        (strstr(c->last_warning, "exceeds user limit") || strstr(c->last_warning, "too large")))
        return PPX_ELIMIT;
    if (strstr(msg, "chunk data is too large") || strstr(msg, "out of memory") ||
        strstr(msg, "Insufficient memory"))
        return PPX_ELIMIT;
    return PPX_ECORRUPT;
}

static void PNGCBAPI on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    if (c->code == 0)
        c->code = classify(c, msg);
    if (!c->msg_set) {
        c->msg_set = 1;
        /* "Invalid IHDR data" alone says little; libpng warned the reason just before. */
        if (strstr(msg, "Invalid IHDR data") && c->last_warning[0])
            ppx_err_set(c->err, c->code, c->stage, "libpng: %s (%s)", msg, c->last_warning);
        else
            ppx_err_set(c->err, c->code, c->stage, "libpng: %s", msg);
    }
    png_longjmp(png, 1);
}

static void PNGCBAPI on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    c->warnings++;
    snprintf(c->last_warning, sizeof c->last_warning, "%s", msg);
    if (c->warnings > c->max_warnings) {
        c->code = PPX_ECORRUPT;
        c->msg_set = 1;
        ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "libpng: more than %u warnings, the last: %s",
                    c->max_warnings, msg);
        png_error(png, "too many warnings");
    }
}

static void PNGCBAPI on_read(png_structp png, png_bytep data, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) {
        c->code = PPX_ETRUNC;
        c->msg_set = 1;
        ppx_err_set(c->err, PPX_ETRUNC, c->stage, "Premature end of PNG file after %zu bytes",
                    c->len);
        png_error(png, "premature end of file");
    }
    memcpy(data, c->buf + c->pos, n);
    c->pos += n;
}

static void PNGCBAPI on_write(png_structp png, png_bytep data, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (ppx_buf_append(c->out, data, n)) {
        c->code = PPX_ENOMEM;
        c->msg_set = 1;
        ppx_err_set(c->err, PPX_ENOMEM, c->stage, "out of memory for a PNG of %zu bytes",
                    c->out->len + n);
        png_error(png, "out of memory");
    }
}

static void PNGCBAPI on_flush(png_structp png)
{
    (void)png;
}

static void ctx_init(png_ctx *c, int stage, ppx_err *err, const ppx_limits *l)
{
    memset(c, 0, sizeof *c);
    c->stage = stage;
    c->err = err;
    c->max_warnings = l ? l->max_warnings : 1000;
}

/* Creates the read structs with our handlers and limits. */
static int read_open(png_ctx *c, const uint8_t *buf, size_t len, const ppx_limits *l)
{
    c->buf = buf;
    c->len = len;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (c->png)
        c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info)
        return ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot create the libpng reader");
    png_set_read_fn(c->png, c, on_read);
    png_set_user_limits(c->png, l->max_width, l->max_height);
    png_set_chunk_malloc_max(c->png, l->max_alloc < PNG_CHUNK_MALLOC_MAX
                                         ? (png_alloc_size_t)l->max_alloc
                                         : PNG_CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(c->png, PNG_CHUNK_CACHE_MAX);
    /* Text and time chunks carry nothing we use; skipping them spares
     * inflating compressed text (a zTXt can expand a thousandfold). Their
     * CRC is still checked. */
    static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0tIME\0sPLT"; /* 5 names of 5 bytes */
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof skip / 5));
    return 0;
}

static void read_close(png_ctx *c)
{
    if (c->png)
        png_destroy_read_struct(&c->png, c->info ? &c->info : NULL, NULL);
    free(c->rows);
    c->rows = NULL;
}

static void fill_info(png_ctx *c, ppx_info *info)
{
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    info->format = PPX_FMT_PNG;
    info->width = w;
    info->height = h;
    info->channels = png_get_channels(c->png, c->info);
    info->bits = (unsigned)depth;
    info->cs = ctype == PNG_COLOR_TYPE_PALETTE  ? PPX_CS_PALETTE
               : (ctype & PNG_COLOR_MASK_COLOR) ? PPX_CS_RGB
                                                : PPX_CS_GRAY;
    info->progressive = interlace != PNG_INTERLACE_NONE;
    info->has_alpha =
        (ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(c->png, c->info, PNG_INFO_tRNS);
    info->has_icc = png_get_valid(c->png, c->info, PNG_INFO_iCCP) != 0;
    info->compression = "deflate";
    info->pages = 1;
}

/* Reads up to and including IHDR and the chunks before IDAT; checks limits. */
static int read_header(png_ctx *c, const ppx_limits *l, ppx_info *info)
{
    if (setjmp(png_jmpbuf(c->png)))
        return c->code;
    png_read_info(c->png, c->info);
    fill_info(c, info);
    /* libpng checked width and height; the pixel count is ours. */
    return ppx_limits_check(l, info->width, info->height, 1, 1, NULL, c->err);
}

static int decode_body(png_ctx *c, const ppx_limits *l, ppx_image *img, ppx_info *info,
                       ppx_palette *pal)
{
    if (setjmp(png_jmpbuf(c->png)))
        return c->code;
    png_read_info(c->png, c->info);
    fill_info(c, info);

    png_uint_32 w = info->width, h = info->height;
    int ctype = png_get_color_type(c->png, c->info);
    int depth = png_get_bit_depth(c->png, c->info);
    if (pal) {
        /* A label map: the stored values are the data (class ids). */
        pal->n = pal->n_alpha = 0;
        if (ctype == PNG_COLOR_TYPE_PALETTE) {
            png_colorp plte;
            int n = 0;
            if (png_get_PLTE(c->png, c->info, &plte, &n) && n > 0 && n <= 256) {
                pal->n = (unsigned)n;
                for (int i = 0; i < n; i++) {
                    pal->rgb[i][0] = plte[i].red;
                    pal->rgb[i][1] = plte[i].green;
                    pal->rgb[i][2] = plte[i].blue;
                }
            }
            png_bytep trans = NULL;
            int nt = 0;
            if (png_get_tRNS(c->png, c->info, &trans, &nt, NULL) && trans && nt > 0 && nt <= 256) {
                pal->n_alpha = (unsigned)nt;
                memcpy(pal->alpha, trans, (size_t)nt);
            }
        }
        if (depth < 8)
            png_set_packing(c->png); /* one byte a sample, values unscaled */
    } else {
        if (ctype == PNG_COLOR_TYPE_PALETTE)
            png_set_palette_to_rgb(c->png);
        if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
            png_set_expand_gray_1_2_4_to_8(c->png); /* scales: 1-bit x255, 2-bit x85, 4-bit x17 */
        if (png_get_valid(c->png, c->info, PNG_INFO_tRNS))
            png_set_tRNS_to_alpha(c->png);
    }
    if (depth == 16 && host_is_little_endian())
        png_set_swap(c->png); /* PNG stores big-endian; we keep native u16 */
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);

    unsigned ch = png_get_channels(c->png, c->info);
    int odepth = png_get_bit_depth(c->png, c->info);
    ppx_sample type = odepth == 16 ? PPX_U16 : PPX_U8;
    if (ch < 1 || ch > 4 || (odepth != 8 && odepth != 16))
        return ppx_err_set(c->err, PPX_EINTERNAL, c->stage,
                           "libpng produced %u channels of %d bits", ch, odepth);
    size_t bytes;
    int rc = ppx_limits_check(l, w, h, ch, (unsigned)ppx_sample_size(type), &bytes, c->err);
    if (rc)
        return rc;
    if (png_get_rowbytes(c->png, c->info) != (size_t)w * ch * ppx_sample_size(type))
        return ppx_err_set(c->err, PPX_EINTERNAL, c->stage, "unexpected PNG row size %zu",
                           (size_t)png_get_rowbytes(c->png, c->info));
    rc = ppx_image_alloc(img, w, h, ch, type, l, c->err);
    if (rc) {
        c->err->stage = c->stage;
        return rc;
    }
    c->rows = malloc((size_t)h * sizeof *c->rows);
    if (!c->rows)
        return ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate %u row pointers", h);
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = ppx_image_row(img, y);
    /* Decodes straight into the image rows; Adam7 passes fill them in place. */
    png_read_image(c->png, c->rows);
    /* Reads the chunks after IDAT through IEND: a file cut after the pixel
     * data fails here with ETRUNC (strict policy), as does a CRC error. */
    png_read_end(c->png, c->info);
    img->source_cs = info->cs;
    img->orientation = 1;
    return 0;
}

int ppx__png_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                     ppx_err *err)
{
    png_ctx c;
    ctx_init(&c, PPX_STAGE_DECODE, err, l);
    int rc = read_open(&c, buf, len, l);
    if (rc == 0)
        rc = read_header(&c, l, info);
    read_close(&c);
    return rc;
}

int ppx__png_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                    ppx_info *info, ppx_err *err)
{
    /* Label maps take the fast path when they can (png_label.c); libpng
     * decodes everything else and everything the fast path declines. */
    if (o->palette && ppx__png_label_fast(buf, len, o->limits, img, info, o->palette))
        return 0;
    return ppx__png_decode_libpng(buf, len, o, img, info, err);
}

int ppx__png_decode_libpng(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                           ppx_info *info, ppx_err *err)
{
    const ppx_limits *l = o->limits;
    png_ctx c;
    ctx_init(&c, PPX_STAGE_DECODE, err, l);
    int rc = read_open(&c, buf, len, l);
    if (rc == 0)
        rc = decode_body(&c, l, img, info, o->palette);
    read_close(&c);
    return rc;
}

static int encode_body(png_ctx *c, const ppx_image *img, int level, const ppx_palette *pal, int rle)
{
    static const int ctypes[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                  PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (setjmp(png_jmpbuf(c->png)))
        return c->code;
    int depth = img->type == PPX_U16 ? 16 : 8;
    int as_palette = pal && pal->n > 0 && img->channels == 1 && img->type == PPX_U8;
    png_set_IHDR(c->png, c->info, img->width, img->height, depth,
                 as_palette ? PNG_COLOR_TYPE_PALETTE : ctypes[img->channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (as_palette) {
        /* Padding may write an index the palette lacks (fill=255 with a
         * short palette): the palette grows with black entries up to it, so
         * that the file stays valid. */
        unsigned n = pal->n;
        for (uint32_t y = 0; y < img->height && n < 256; y++) {
            const uint8_t *r = ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++)
                if (r[x] >= n)
                    n = r[x] + 1u;
        }
        png_color plte[256] = {{0, 0, 0}};
        for (unsigned i = 0; i < pal->n; i++)
            plte[i] = (png_color){pal->rgb[i][0], pal->rgb[i][1], pal->rgb[i][2]};
        png_set_PLTE(c->png, c->info, plte, (int)n);
        if (pal->n_alpha)
            png_set_tRNS(c->png, c->info, (png_bytep)pal->alpha, (int)pal->n_alpha, NULL);
    }
    png_set_compression_level(c->png, level);
    if (rle)
        png_set_compression_strategy(c->png, Z_RLE);
    /* No tIME, text or other chunk that would change from run to run. */
    png_write_info(c->png, c->info);
    if (depth == 16 && host_is_little_endian())
        png_set_swap(c->png);
    /* libpng copies each row before transforming it, so the const image is
     * not written to. */
    for (uint32_t y = 0; y < img->height; y++)
        c->rows[y] = (png_bytep)ppx_image_row(img, y);
    png_write_image(c->png, c->rows);
    png_write_end(c->png, NULL);
    return 0;
}

int ppx__png_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err)
{
    if (img->type != PPX_U8 && img->type != PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "PNG stores 8- or 16-bit integer samples, not %s samples",
                           ppx_sample_name(img->type));
    if (img->channels < 1 || img->channels > 4)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "PNG cannot hold %u channels",
                           img->channels);
    if (img->width == 0 || img->height == 0 || img->width > PNG_UINT_31_MAX ||
        img->height > PNG_UINT_31_MAX)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "PNG cannot hold a %ux%u image",
                           img->width, img->height);
    int level = o ? o->png_level : 6;
    if (level < 0 || level > 9)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE,
                           "PNG compression level %d is not in 0..9", level);
    png_ctx c;
    ctx_init(&c, PPX_STAGE_ENCODE, err, NULL);
    c.out = out;
    int rc = 0;
    c.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (c.png)
        c.info = png_create_info_struct(c.png);
    c.rows = malloc((size_t)img->height * sizeof *c.rows);
    if (!c.png || !c.info || !c.rows) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE, "cannot create the libpng writer");
        goto out;
    }
    png_set_write_fn(c.png, &c, on_write, on_flush);
    rc = encode_body(&c, img, level, o ? o->palette : NULL, o ? o->png_rle : 0);
out:
    if (c.png)
        png_destroy_write_struct(&c.png, c.info ? &c.info : NULL);
    free(c.rows);
    return rc;
}
