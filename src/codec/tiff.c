/* TIFF decoding and encoding with libtiff 4.5, from and to memory.
 *
 * libtiff talks to us through client procs over a memory buffer and through
 * per-handle error and warning handlers (TIFFOpenOptions) whose context is a
 * tiff_ctx: no global handler, no global state. We decode one directory
 * (the first, or the page asked for), whole or a window of it (a chip),
 * reading only the strips or tiles the window touches. Everything a hostile header controls
 * (dimensions, strip and tile geometry, where the strips lie) is checked before the pixel buffers
 * are allocated; sample conversion lives in tiff_pixels.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "codec/codec_impl.h"
#include "codec/tiff_geo.h"
#include "codec/tiff_pixels.h"
#include "prepix/subimage.h"

/* Directories counted for info->pages before we stop walking the chain
 * (info->pages_capped then says "at least"). Far above real files (the
 * largest microscopy stacks have some 10^5 pages), and a bound on the walk:
 * 2^20 steps of a few ns, even when a hostile chain jumps around a large
 * file. */
#define TIFF_MAX_PAGES (1u << 20)
/* A strip or tile may be larger than the image (a 256x256 tile over a
 * 100x100 image) but a buffer for one is refused when it is larger than both
 * this and twice the raw size of the whole image. */
#define TIFF_UNIT_SLACK ((uint64_t)16 << 20)
/* Encoder: bytes of one strip (rows per strip follows from the row size). */
#define TIFF_STRIP_BYTES 65536u

typedef struct {
    /* Input (decode): the file. */
    const uint8_t *src;
    uint64_t len;
    /* Output (encode): the file being written. */
    ppx_buf *out;
    int nomem;
    uint64_t pos;      /* current offset for both */
    unsigned hdr_size; /* 8, or 16 for BigTIFF: no strip may start inside */
    uint64_t max_alloc;

    ppx_err *err;
    int stage;
    char lib_msg[300]; /* libtiff's first error since lib_reset(), and its code */
    int lib_code;
    unsigned warnings, max_warnings;
    char last_warning[200];
    /* The first warning not on the harmless list ("module: text (strip n)"):
     * it fails the decode once the header checks have passed. */
    char damage[300];
    const char *unit_what; /* "strip" or "tile" while one is decoded, else NULL */
    uint64_t unit_bytes;   /* encoded bytes of the strips and tiles decoded */
    uint32_t unit;
    uint64_t narrowed; /* float64 samples whose value float32 cannot hold */
} tiff_ctx;

/* Everything we use from the first directory. */
typedef struct {
    uint32_t w, h;
    uint16_t bps, spp, photometric, planar, sampleformat, compression, orientation, inkset;
    int tiled;
    uint32_t tw, th; /* tile size; for strips: image width and rows per strip */
    int has_icc;
    int extras_declared;
    int plain_bands; /* raw samples whose bands have no colour meaning */
    /* Decoding plan. */
    const char *unsupported; /* why we cannot decode it, or NULL */
    char why[160];
    int jpeg_rgb;      /* JPEG-compressed YCbCr: libjpeg converts to RGB */
    int rgba_fallback; /* other YCbCr: TIFFRGBAImage decodes it */
    int alpha_assoc;
    ppx_colorspace cs;
    ppx__tiff_px px;
} tiff_hdr;

/* The part of a page a decode writes: [x, x + w) x [y, y + h) of the page
 * (clipped to it), at (ox, oy) of the output image. The whole page, or a
 * chip's window. */
typedef struct {
    uint32_t x, y, w, h;
    uint32_t ox, oy;
    int whole;
} tiff_win;

/* ---- messages -------------------------------------------------------- */

/* Which ppx code a libtiff error text stands for. libtiff has no error
 * codes; the texts below are stable across 4.x. Anything else in a decode
 * is corrupt data. */
static int classify(const tiff_ctx *c, const char *msg)
{
    if (c->stage == PPX_STAGE_ENCODE)
        return c->nomem ? PPX_ENOMEM : PPX_EINTERNAL;
    if (strstr(msg, "limit defined in open options"))
        return PPX_ELIMIT;
    if (strstr(msg, "Out of memory") || strstr(msg, "Cannot allocate") ||
        strstr(msg, "Failed to allocate"))
        return PPX_ENOMEM;
    if (strstr(msg, "Read error") || strstr(msg, "Cannot read") || strstr(msg, "Can not read") ||
        strstr(msg, "Seek error") || strstr(msg, "Premature EOF"))
        return PPX_ETRUNC;
    if (strstr(msg, "not implemented") || strstr(msg, "not configured") ||
        strstr(msg, "not supported") || strstr(msg, "Sorry"))
        return PPX_EUNSUPPORTED;
    return PPX_ECORRUPT;
}

/* fmt and ap come from libtiff, which checks them against each other. */
static int on_error(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int on_warning(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int on_error(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    tiff_ctx *c = ud;
    if (c->lib_msg[0])
        return 1; /* the first message is the specific one; later ones repeat it */
    /* "module: message", both cut to fit. */
    int k = module && *module ? snprintf(c->lib_msg, sizeof c->lib_msg, "%.80s: ", module) : 0;
    if (k < 0)
        k = 0;
    vsnprintf(c->lib_msg + k, sizeof c->lib_msg - (size_t)k, fmt, ap);
    c->lib_code = classify(c, c->lib_msg + k);
    return 1; /* handled: libtiff must not call the global handler */
}

/* Tags that only describe the image: libtiff ignoring one of them ("tag
 * ignored") leaves every pixel as it is. */
static const char *const metadata_tags[] = {
    "DocumentName",   "ImageDescription", "Make",        "Model",
    "PageName",       "Software",         "DateTime",    "Artist",
    "HostComputer",   "Copyright",        "XResolution", "YResolution",
    "ResolutionUnit", "XPosition",        "YPosition",   "PageNumber",
};

/* libtiff's warnings that say nothing about the pixels (libtiff 4.5 texts;
 * tests/unit/test_codec_tiff.c has one harmless_* test per entry). Every
 * other warning, whether from a codec (PackBits "Discarding N bytes to
 * avoid buffer overrun", libjpeg's "Corrupt JPEG data" inside a JPEG strip,
 * LZW's missing EOI) or from the directory (a guessed StripByteCounts, an
 * ignored Predictor), means pixels lost, invented or misread, and fails the
 * decode: libtiff would go on and hand back garbage rows. */
static int harmless_warning(const char *text)
{
    static const char *const prefixes[] = {
        /* Private tags: decoding never reads them. */
        "Unknown field with tag ",
        /* libtiff sorts the entries itself. */
        "Invalid TIFF directory; tags are not sorted in ascending order",
        /* Text tags: a NUL inside or none at the end cuts or ends the text. */
        "ASCII value for tag \"",
        /* Extra samples without an ExtraSamples tag: read_directory's own
         * rule decides what they are (a lone one is alpha). */
        "Sum of Photometric type-related color channels and ExtraSamples",
        /* Tiles that are not multiples of 16: libtiff reads them exactly. */
        "Nonstandard tile width ",
        "Nonstandard tile length ",
        /* Said for every old-style JPEG file, damaged or not. */
        "Deprecated and troublesome old-style JPEG compression mode",
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(text, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    /* 'Incorrect count for "XResolution"; tag ignored' and its kin: harmless
     * for metadata only (an ignored Predictor or ColorMap changes pixels). */
    const char *q = strchr(text, '"'), *end = q ? strchr(q + 1, '"') : NULL;
    size_t tl = strlen(text), suffix = strlen("; tag ignored");
    if (!end || tl < suffix || strcmp(text + tl - suffix, "; tag ignored") != 0 ||
        strncmp(text, "IO error", 8) == 0) /* data past the end: a cut file */
        return 0;
    for (size_t i = 0; i < sizeof metadata_tags / sizeof metadata_tags[0]; i++)
        if ((size_t)(end - q - 1) == strlen(metadata_tags[i]) &&
            strncmp(q + 1, metadata_tags[i], (size_t)(end - q - 1)) == 0)
            return 1;
    return 0;
}

static int on_warning(TIFF *tif, void *ud, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    tiff_ctx *c = ud;
    c->warnings++;
    vsnprintf(c->last_warning, sizeof c->last_warning, fmt, ap);
    if (c->damage[0] || harmless_warning(c->last_warning))
        return 1;
    int k =
        snprintf(c->damage, sizeof c->damage, "%.80s: %s", module ? module : "", c->last_warning);
    if (c->unit_what && k > 0 && (size_t)k < sizeof c->damage)
        snprintf(c->damage + k, sizeof c->damage - (size_t)k, " (%s %u)", c->unit_what, c->unit);
    return 1;
}

static void lib_reset(tiff_ctx *c)
{
    c->lib_msg[0] = '\0';
    c->lib_code = 0;
}

/* A libtiff call failed: report libtiff's own message, or ours if it gave none. */
static int lib_fail(tiff_ctx *c, int code, const char *what)
{
    if (c->lib_msg[0])
        return ppx_err_set(c->err, c->lib_code, c->stage, "libtiff: %s", c->lib_msg);
    return ppx_err_set(c->err, code, c->stage, "libtiff: %s", what);
}

/* Refuses a file that floods us with warnings (libvips' rule for libjpeg). */
static int check_warnings(tiff_ctx *c)
{
    if (c->warnings <= c->max_warnings)
        return 0;
    return ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                       "libtiff: more than %u warnings, the last: %s", c->max_warnings,
                       c->last_warning);
}

/* Refuses pixels after a warning that is not known to be harmless. Called
 * by the decode only, after the header checks, so that a cut or oversized
 * file still gets its specific code (ETRUNC, ELIMIT); inspect reports the
 * header facts of such files. */
static int check_damage(tiff_ctx *c)
{
    if (!c->damage[0])
        return check_warnings(c);
    return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "libtiff: %s", c->damage);
}

/* ---- client procs over memory ------------------------------------------ */

static tmsize_t proc_read(thandle_t h, void *buf, tmsize_t n)
{
    tiff_ctx *c = h;
    const uint8_t *base = c->src ? c->src : c->out ? c->out->data : NULL;
    uint64_t len = c->src ? c->len : c->out ? c->out->len : 0;
    if (!base || n <= 0 || c->pos >= len)
        return 0;
    uint64_t k = len - c->pos;
    if ((uint64_t)n < k)
        k = (uint64_t)n;
    memcpy(buf, base + c->pos, (size_t)k);
    c->pos += k;
    return (tmsize_t)k;
}

static tmsize_t proc_write(thandle_t h, void *buf, tmsize_t n)
{
    tiff_ctx *c = h;
    if (!c->out || n < 0)
        return -1;
    size_t end;
    if (c->pos > SIZE_MAX || ppx_add_size((size_t)c->pos, (size_t)n, &end) ||
        ppx_buf_reserve(c->out, end)) {
        c->nomem = 1;
        return -1;
    }
    /* libtiff may seek past the end before writing: fill the gap. */
    if (c->pos > c->out->len)
        memset(c->out->data + c->out->len, 0, (size_t)c->pos - c->out->len);
    memcpy(c->out->data + c->pos, buf, (size_t)n);
    if (end > c->out->len)
        c->out->len = end;
    c->pos = end;
    return n;
}

static toff_t proc_size(thandle_t h)
{
    tiff_ctx *c = h;
    return c->src ? c->len : c->out ? c->out->len : 0;
}

static toff_t proc_seek(thandle_t h, toff_t off, int whence)
{
    tiff_ctx *c = h;
    uint64_t base = whence == SEEK_CUR ? c->pos : whence == SEEK_END ? proc_size(h) : 0;
    /* toff_t is unsigned: SEEK_CUR back by k arrives as 2^64 - k and wraps. */
    uint64_t to = base + off;
    if (to > (uint64_t)INT64_MAX)
        return (toff_t)-1;
    c->pos = to;
    return to;
}

static int proc_close(thandle_t h)
{
    (void)h;
    return 0;
}

/* Mapping the input lets libtiff read strips in place, without a copy.
 * libtiff never writes to a mapping (it maps files read-only). */
static int proc_map(thandle_t h, void **base, toff_t *size)
{
    tiff_ctx *c = h;
    if (!c->src)
        return 0;
    *base = (void *)(uintptr_t)c->src;
    *size = c->len;
    return 1;
}

static void proc_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static TIFF *open_client(tiff_ctx *c, const char *mode, const ppx_limits *l)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return NULL;
    if (l) {
        uint64_t max = l->max_alloc;
        if (max > (uint64_t)INT64_MAX)
            max = (uint64_t)INT64_MAX;
        TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)max);
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, c);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, c);
    TIFF *tif = TIFFClientOpenExt("image", mode, (thandle_t)c, proc_read, proc_write, proc_seek,
                                  proc_close, proc_size, proc_map, proc_unmap, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

/* ---- the header, before libtiff --------------------------------------- */

static uint64_t get_uint(const uint8_t *p, unsigned n, int le)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[le ? i : n - 1 - i] << (8 * i);
    return v;
}

typedef struct {
    int le, big;
    unsigned hdr_size; /* 8, or 16 for BigTIFF */
    uint64_t first_ifd;
} raw_header;

/* Bytes of one value of TIFF field type `type`, 0 for types we do not know
 * (libtiff skips those entries). */
static unsigned type_size(uint64_t type)
{
    switch (type) {
    case TIFF_BYTE:
    case TIFF_ASCII:
    case TIFF_SBYTE:
    case TIFF_UNDEFINED:
        return 1;
    case TIFF_SHORT:
    case TIFF_SSHORT:
        return 2;
    case TIFF_LONG:
    case TIFF_SLONG:
    case TIFF_FLOAT:
    case TIFF_IFD:
        return 4;
    case TIFF_RATIONAL:
    case TIFF_SRATIONAL:
    case TIFF_DOUBLE:
    case TIFF_LONG8:
    case TIFF_SLONG8:
    case TIFF_IFD8:
        return 8;
    default:
        return 0;
    }
}

/* Checks that the values the n entries at e keep outside the IFD lie inside
 * the file. A file cut after its IFD (libtiff writes the arrays of
 * BitsPerSample, StripOffsets, StripByteCounts... after it) loses them, and
 * libtiff then says "IO error during reading of ...", or ignores a tag, or
 * misses a required one: all of it is a cut file (ETRUNC). A count too large
 * for any file (2^32 - 1 characters of DocumentName) is not a cut but a bad
 * tag, left to libtiff (it ignores it). */
static int check_values(tiff_ctx *c, const raw_header *rh, const uint8_t *e, uint64_t n)
{
    const unsigned entry_size = rh->big ? 20 : 12, field = rh->big ? 8 : 4;
    for (uint64_t i = 0; i < n; i++, e += entry_size) {
        unsigned tag = (unsigned)get_uint(e, 2, rh->le),
                 size = type_size(get_uint(e + 2, 2, rh->le));
        uint64_t count = get_uint(e + 4, field, rh->le);
        if (size == 0 || count > c->len / size || count * size <= field)
            continue; /* unknown type, implausible size, or held in the entry */
        uint64_t bytes = count * size, at = get_uint(e + 4 + field, field, rh->le);
        if (at > c->len || bytes > c->len - at)
            return ppx_err_set(c->err, PPX_ETRUNC, c->stage,
                               "the value of tag %u (%llu bytes at offset %llu) lies past the end "
                               "of the file (%llu bytes)",
                               tag, (unsigned long long)bytes, (unsigned long long)at,
                               (unsigned long long)c->len);
    }
    return 0;
}

/* Reads the file header and checks that the first IFD lies inside the file,
 * so that the commonest damage (a file cut before its IFD, which tiffcp and
 * many writers put at the end) gets a specific code: ETRUNC. */
static int check_header(tiff_ctx *c, raw_header *rh)
{
    const uint8_t *b = c->src;
    uint64_t len = c->len;
    if (len < 8)
        return ppx_err_set(c->err, PPX_ETRUNC, c->stage, "TIFF header cut short (%llu bytes)",
                           (unsigned long long)len);
    rh->le = b[0] == 'I';
    rh->big = get_uint(b + 2, 2, rh->le) == 43;
    rh->hdr_size = rh->big ? 16 : 8;
    c->hdr_size = rh->hdr_size;
    if (len < rh->hdr_size)
        return ppx_err_set(c->err, PPX_ETRUNC, c->stage, "BigTIFF header cut short (%llu bytes)",
                           (unsigned long long)len);
    if (rh->big && (get_uint(b + 4, 2, rh->le) != 8 || get_uint(b + 6, 2, rh->le) != 0))
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "bad BigTIFF header");
    rh->first_ifd = rh->big ? get_uint(b + 8, 8, rh->le) : get_uint(b + 4, 4, rh->le);
    unsigned count_size = rh->big ? 8 : 2, entry_size = rh->big ? 20 : 12;
    uint64_t off = rh->first_ifd;
    if (off < rh->hdr_size)
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                           "first IFD offset %llu points inside the header",
                           (unsigned long long)off);
    if (off > len || len - off < count_size)
        return ppx_err_set(c->err, PPX_ETRUNC, c->stage,
                           "first IFD at offset %llu is beyond the end of the file (%llu bytes)",
                           (unsigned long long)off, (unsigned long long)len);
    uint64_t n = get_uint(b + off, count_size, rh->le);
    if (n == 0)
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "first IFD has no entries");
    if (n > (len - off - count_size) / entry_size)
        return ppx_err_set(c->err, PPX_ETRUNC, c->stage,
                           "first IFD (%llu entries at offset %llu) runs past the end of the "
                           "file (%llu bytes)",
                           (unsigned long long)n, (unsigned long long)off, (unsigned long long)len);
    const uint8_t *e = b + off + count_size;
    if (len - (off + count_size + n * entry_size) < (rh->big ? 8u : 4u))
        return ppx_err_set(c->err, PPX_ETRUNC, c->stage,
                           "first IFD (at offset %llu) is cut before its next-IFD pointer "
                           "(file of %llu bytes)",
                           (unsigned long long)off, (unsigned long long)len);
    return check_values(c, rh, e, n);
}

/* Offset of the IFD after the one at off, or 0 at the end of the chain or
 * where the next IFD could not be read: outside the file, without entries,
 * or with entries or its own next pointer past the end. */
static uint64_t next_ifd(const tiff_ctx *c, const raw_header *rh, uint64_t off)
{
    unsigned count_size = rh->big ? 8 : 2, entry_size = rh->big ? 20 : 12;
    unsigned ptr_size = rh->big ? 8 : 4;
    /* off is an IFD already found whole: its pointer lies inside the file. */
    uint64_t entries = get_uint(c->src + off, count_size, rh->le);
    uint64_t next = get_uint(c->src + off + count_size + entries * entry_size, ptr_size, rh->le);
    if (next < rh->hdr_size || next > c->len || c->len - next < count_size + ptr_size)
        return 0;
    uint64_t n = get_uint(c->src + next, count_size, rh->le);
    if (n == 0 || n > (c->len - next - count_size - ptr_size) / entry_size)
        return 0;
    return next;
}

/* Directories in the main chain (SubIFDs are not pages), starting from the
 * first IFD, which check_header found whole. At most TIFF_MAX_PAGES are
 * counted; *capped says whether the chain went on. A chain that loops back
 * is cut where the loop is seen (Brent's checkpoints at powers of two). */
static int count_pages(const tiff_ctx *c, const raw_header *rh, int *capped)
{
    unsigned n = 1, power = 1, lam = 0;
    uint64_t saved = rh->first_ifd, cur = rh->first_ifd;
    *capped = 0;
    for (;;) {
        cur = next_ifd(c, rh, cur);
        if (cur == 0 || cur == saved)
            break;
        if (n == TIFF_MAX_PAGES) {
            *capped = 1;
            break;
        }
        n++;
        if (++lam == power) {
            saved = cur;
            power *= 2;
            lam = 0;
        }
    }
    return (int)n;
}

/* ---- the first directory ------------------------------------------------ */

static const char *compression_name(unsigned comp)
{
    switch (comp) {
    case COMPRESSION_NONE:
        return "none";
    case COMPRESSION_CCITTRLE:
        return "ccitt-rle";
    case COMPRESSION_CCITTFAX3:
        return "ccitt-g3";
    case COMPRESSION_CCITTFAX4:
        return "ccitt-g4";
    case COMPRESSION_LZW:
        return "lzw";
    case COMPRESSION_OJPEG:
        return "old-jpeg";
    case COMPRESSION_JPEG:
        return "jpeg";
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE:
        return "deflate";
    case COMPRESSION_PACKBITS:
        return "packbits";
    case COMPRESSION_JBIG:
        return "jbig";
    case COMPRESSION_LZMA:
        return "lzma";
    case COMPRESSION_ZSTD:
        return "zstd";
    case COMPRESSION_WEBP:
        return "webp";
    case COMPRESSION_LERC:
        return "lerc";
    case COMPRESSION_JXL:
        return "jpeg-xl";
    default:
        return "unknown";
    }
}

static const char *photometric_name(unsigned p)
{
    switch (p) {
    case PHOTOMETRIC_MASK:
        return "transparency mask";
    case PHOTOMETRIC_CIELAB:
    case PHOTOMETRIC_ICCLAB:
    case PHOTOMETRIC_ITULAB:
        return "CIE L*a*b*";
    case PHOTOMETRIC_LOGL:
    case PHOTOMETRIC_LOGLUV:
        return "LogLuv";
    case PHOTOMETRIC_CFA:
        return "colour filter array";
    case PHOTOMETRIC_SEPARATED:
        return "separated (non-CMYK inks)";
    default:
        return "unknown";
    }
}

static void set_unsupported(tiff_hdr *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_unsupported(tiff_hdr *h, const char *fmt, ...)
{
    if (h->unsupported)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->why, sizeof h->why, fmt, ap);
    va_end(ap);
    h->unsupported = h->why;
}

/* Reads the tags of the current directory and works out how to decode it.
 * Features we cannot decode are noted in h->unsupported, not failed: inspect
 * still reports the facts. */
/* The directory's tags, as libtiff gives them (defaults filled in). */
static void read_tags(TIFF *tif, tiff_hdr *h)
{
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &h->w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h->h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &h->bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &h->spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &h->planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &h->sampleformat);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &h->compression);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &h->orientation);
    TIFFGetFieldDefaulted(tif, TIFFTAG_INKSET, &h->inkset);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &h->photometric))
        h->photometric = PHOTOMETRIC_MINISBLACK; /* libtiff guessed none: the TIFF default */
    if (h->orientation < 1 || h->orientation > 8)
        h->orientation = 1;
    h->tiled = TIFFIsTiled(tif);
    if (h->tiled) {
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &h->tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &h->th);
    } else {
        h->tw = h->w;
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &h->th);
        if (h->th > h->h)
            h->th = h->h;
    }
    uint32_t icc_len = 0;
    void *icc = NULL;
    h->has_icc = TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc_len > 0;
}

/* What cannot be decoded, whatever the colour: sample format and depth,
 * compression. */
static void check_samples(tiff_hdr *h, unsigned sf, int photo_depth)
{
    if (sf == SAMPLEFORMAT_COMPLEXINT || sf == SAMPLEFORMAT_COMPLEXIEEEFP)
        set_unsupported(h, "complex samples are not supported");
    else if (sf == SAMPLEFORMAT_IEEEFP && h->bps != 16 && h->bps != 32 && h->bps != 64)
        set_unsupported(h, "%u-bit float samples are not supported (16, 32 or 64)", h->bps);
    else if ((sf == SAMPLEFORMAT_INT || sf == SAMPLEFORMAT_UINT) && (h->bps < 1 || h->bps > 32))
        set_unsupported(h, "%u-bit integer samples are not supported (1 to 32)", h->bps);
    else if (sf != SAMPLEFORMAT_UINT && sf != SAMPLEFORMAT_INT && sf != SAMPLEFORMAT_IEEEFP)
        set_unsupported(h, "SampleFormat %u is not supported", h->sampleformat);
    if (h->spp == 0)
        set_unsupported(h, "no samples per pixel");
    if (h->compression != COMPRESSION_NONE && !TIFFIsCODECConfigured(h->compression))
        set_unsupported(h, "compression scheme %u (%s) is not available in this libtiff",
                        h->compression, compression_name(h->compression));
    if (h->compression == COMPRESSION_JPEG && (h->bps != 8 || !photo_depth))
        set_unsupported(h, "%u-bit JPEG-compressed TIFF is not supported", h->bps);
}

/* Colour from the photometric interpretation: the pixel reader's kind and
 * colour channels. */
static void read_colour(tiff_hdr *h)
{
    ppx__tiff_px *px = &h->px;
    px->bps = h->bps;
    px->spp = h->spp;
    px->separate = h->planar == PLANARCONFIG_SEPARATE;
    px->alpha = -1;
    switch (h->photometric) {
    case PHOTOMETRIC_MINISBLACK:
        px->kind = PPX__TIFF_GRAY;
        px->ncolor = 1;
        h->cs = PPX_CS_GRAY;
        break;
    case PHOTOMETRIC_MINISWHITE:
        px->kind = PPX__TIFF_GRAY_INV;
        px->ncolor = 1;
        h->cs = PPX_CS_MINISWHITE;
        break;
    case PHOTOMETRIC_RGB:
        px->kind = PPX__TIFF_RGB;
        px->ncolor = 3;
        h->cs = PPX_CS_RGB;
        break;
    case PHOTOMETRIC_PALETTE:
        px->kind = PPX__TIFF_PALETTE;
        px->ncolor = 1;
        h->cs = PPX_CS_PALETTE;
        break;
    case PHOTOMETRIC_SEPARATED:
        px->kind = PPX__TIFF_CMYK;
        px->ncolor = 4;
        h->cs = PPX_CS_CMYK;
        if (h->inkset != INKSET_CMYK)
            set_unsupported(h, "separated image with InkSet %u (not CMYK) is not supported",
                            h->inkset);
        break;
    case PHOTOMETRIC_YCBCR:
        px->kind = PPX__TIFF_RGB;
        px->ncolor = 3;
        h->cs = PPX_CS_YCBCR;
        if (h->compression == COMPRESSION_JPEG && !px->separate)
            h->jpeg_rgb = 1;
        else if (h->bps == 8)
            h->rgba_fallback = 1;
        else
            set_unsupported(h, "%u-bit YCbCr is not supported", h->bps);
        break;
    default:
        set_unsupported(h, "photometric interpretation %u (%s) is not supported", h->photometric,
                        photometric_name(h->photometric));
        px->ncolor = 1;
        break;
    }
    if (h->spp < px->ncolor) {
        set_unsupported(h, "%u samples per pixel are too few for photometric interpretation %u",
                        h->spp, h->photometric);
        px->ncolor = h->spp ? h->spp : 1;
    }
}

/* Extra samples: alpha, kept as bands, or dropped; and the output's type. */
static void read_extras(tiff_hdr *h, uint16_t nextra, const uint16_t *extra, unsigned sf,
                        int photo_depth)
{
    ppx__tiff_px *px = &h->px;
    /* Alpha: the first extra sample declared as alpha. A lone undeclared
     * extra sample is taken as straight alpha (old writers of RGBA omit
     * ExtraSamples; Pillow reads them so); extras declared unspecified
     * (ExtraSamples 0) are dropped, as libtiff and Pillow do. */
    unsigned nextra_px = h->spp - px->ncolor;
    if (h->extras_declared) {
        for (unsigned i = 0; i < nextra && i < nextra_px; i++) {
            if (extra[i] == EXTRASAMPLE_ASSOCALPHA || extra[i] == EXTRASAMPLE_UNASSALPHA) {
                px->alpha = (int)(px->ncolor + i);
                h->alpha_assoc = extra[i] == EXTRASAMPLE_ASSOCALPHA;
                break;
            }
        }
    } else if (nextra_px == 1) {
        px->alpha = (int)px->ncolor;
    }
    /* Raster data (samples that are not a photo's: signed, float, odd
     * depths, extra bands) keeps every sample of the file as a band with
     * its value. It stays a colour image when it is exactly gray or RGB
     * (with straight alpha last); otherwise its bands are plain. */
    unsigned kept = px->ncolor + (px->alpha >= 0);
    int extra_bands = h->spp > kept;
    if ((!photo_depth || extra_bands) && !h->unsupported) {
        if (h->photometric == PHOTOMETRIC_MINISBLACK || h->photometric == PHOTOMETRIC_RGB) {
            px->raw = 1;
            px->sformat = sf;
            px->out_ch = h->spp;
            px->out_type = ppx__tiff_px_raw_type(sf, h->bps);
            h->plain_bands = extra_bands || h->spp > 4 ||
                             (px->alpha >= 0 && (h->alpha_assoc || px->alpha != (int)px->ncolor));
            return;
        }
        if (!photo_depth)
            set_unsupported(h,
                            "%u-bit %s samples are supported for gray, RGB and plain bands, not "
                            "photometric interpretation %u",
                            h->bps,
                            sf == SAMPLEFORMAT_IEEEFP ? "float"
                            : sf == SAMPLEFORMAT_INT  ? "signed"
                                                      : "unsigned",
                            h->photometric);
    }
    unsigned base_ch = (px->kind == PPX__TIFF_GRAY || px->kind == PPX__TIFF_GRAY_INV) ? 1 : 3;
    px->out_ch = base_ch + (px->alpha >= 0);
    px->out_type = (h->bps == 16 && px->kind != PPX__TIFF_PALETTE) ? PPX_U16 : PPX_U8;
    if (h->rgba_fallback) {
        /* TIFFRGBAImage's YCbCr routines ignore extra samples: RGB only. */
        px->out_type = PPX_U8;
        px->out_ch = 3;
    }
}

static void read_directory(TIFF *tif, tiff_hdr *h)
{
    memset(h, 0, sizeof *h);
    read_tags(tif, h);
    uint16_t nextra = 0;
    uint16_t *extra = NULL;
    h->extras_declared = TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (!h->extras_declared)
        nextra = 0;

    /* Sample format and depth. Undefined (4) is read as unsigned, as the
     * TIFF 6.0 supplement says. */
    unsigned sf = h->sampleformat == SAMPLEFORMAT_VOID ? SAMPLEFORMAT_UINT : h->sampleformat;
    const int photo_depth = sf == SAMPLEFORMAT_UINT && (h->bps == 1 || h->bps == 2 || h->bps == 4 ||
                                                        h->bps == 8 || h->bps == 16);
    check_samples(h, sf, photo_depth);
    read_colour(h);
    read_extras(h, nextra, extra, sf, photo_depth);
}

static void fill_info(const tiff_hdr *h, ppx_info *info)
{
    info->format = PPX_FMT_TIFF;
    info->width = h->w;
    info->height = h->h;
    info->channels = h->spp;
    info->bits = h->bps;
    info->cs = h->cs;
    info->orientation = h->orientation;
    info->tiled = h->tiled;
    info->has_alpha = h->px.alpha >= 0;
    info->alpha_associated = h->px.alpha >= 0 && h->alpha_assoc;
    info->has_icc = h->has_icc;
    info->compression = compression_name(h->compression);
    info->sample = h->px.out_type;
    info->plain_bands = h->plain_bands;
}

/* Opens the buffer and reads directory `page` (0: the first); fills the
 * facts. */
static int open_read(tiff_ctx *c, const ppx_limits *l, raw_header *rh, TIFF **out, tiff_hdr *h,
                     ppx_info *info, uint32_t page)
{
    int rc = check_header(c, rh);
    if (rc)
        return rc;
    lib_reset(c);
    TIFF *tif = open_client(c, "r", l);
    if (!tif)
        return lib_fail(c, PPX_ECORRUPT, "cannot read the first directory");
    *out = tif;
    if ((rc = check_warnings(c)))
        return rc;
    int capped = 0, pages = count_pages(c, rh, &capped);
    if (page > 0) {
        /* count_pages walked the chain with loops cut: a page it found is
         * reached by libtiff's own walk in as many steps. */
        if (page >= (uint32_t)pages)
            return ppx_err_set(c->err, PPX_EINVAL, c->stage,
                               "page %u asked for, the file has %d page%s%s", page, pages,
                               pages == 1 ? "" : "s", capped ? " or more" : "");
        lib_reset(c);
        if (!TIFFSetDirectory(tif, (tdir_t)page))
            return lib_fail(c, PPX_ECORRUPT, "cannot read the directory of the page");
        if ((rc = check_warnings(c)))
            return rc;
    }
    read_directory(tif, h);
    fill_info(h, info);
    info->pages = pages;
    info->pages_capped = capped;
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

/* Checks the strip or tile geometry and where every strip or tile lies, so
 * that a header that lies is refused before any pixel buffer exists.
 * Writes the size of one strip or tile (of one plane) to *unit. */
static int check_layout(tiff_ctx *c, TIFF *tif, const tiff_hdr *h, int check_counts, int whole,
                        uint64_t *unit)
{
    const ppx__tiff_px *px = &h->px;
    if (h->tw == 0 || h->th == 0)
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "%s of zero size",
                           h->tiled ? "tiles" : "strips");
    lib_reset(c);
    uint64_t line = TIFFScanlineSize64(tif);
    uint64_t bytes = h->tiled ? TIFFTileSize64(tif) : TIFFStripSize64(tif);
    if (line == 0 || bytes == 0)
        return lib_fail(c, PPX_ECORRUPT, "cannot compute the strip or tile size");
    /* Whole image, raw, all planes: bounded by the limits (ELIMIT). */
    uint64_t planes = px->separate ? h->spp : 1;
    uint64_t raw = line * h->h; /* may wrap: checked just below */
    /* A window never holds the raw page: only its strips or tiles are read. */
    if (raw / h->h != line || raw > UINT64_MAX / planes || (whole && raw * planes > c->max_alloc))
        return ppx_err_set(c->err, PPX_ELIMIT, c->stage,
                           "raw samples of a %ux%u image with %u samples of %u bits exceed "
                           "the memory limit",
                           h->w, h->h, h->spp, h->bps);
    if (bytes > TIFF_UNIT_SLACK && bytes / 2 > raw * planes)
        return ppx_err_set(c->err, PPX_ELIMIT, c->stage,
                           "a %s of %ux%u (%llu bytes) is far larger than the %ux%u image",
                           h->tiled ? "tile" : "strip", h->tw, h->th, (unsigned long long)bytes,
                           h->w, h->h);
    if (bytes > c->max_alloc)
        return ppx_err_set(c->err, PPX_ELIMIT, c->stage,
                           "a %s of %llu bytes exceeds the memory limit",
                           h->tiled ? "tile" : "strip", (unsigned long long)bytes);

    uint64_t across = h->tiled ? ((uint64_t)h->w + h->tw - 1) / h->tw : 1;
    uint64_t down = ((uint64_t)h->h + h->th - 1) / h->th;
    uint64_t per_plane = across * down;
    uint32_t have = h->tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
    if ((uint64_t)have < per_plane * planes)
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "%u %s, %llu expected", have,
                           h->tiled ? "tiles" : "strips", (unsigned long long)(per_plane * planes));
    for (uint64_t p = 0; p < planes; p++) {
        if (px->separate && !ppx__tiff_px_plane_used(px, (unsigned)p))
            continue;
        for (uint64_t i = 0; i < per_plane; i++) {
            uint32_t s = (uint32_t)(p * per_plane + i);
            int e1 = 0, e2 = 0;
            uint64_t off = TIFFGetStrileOffsetWithErr(tif, s, &e1);
            uint64_t cnt = TIFFGetStrileByteCountWithErr(tif, s, &e2);
            if (e1 || e2)
                return lib_fail(c, PPX_ECORRUPT, "cannot read the strip offsets");
            const char *what = h->tiled ? "tile" : "strip";
            if (cnt == 0)
                return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "%s %u has no data", what, s);
            if (off < c->hdr_size)
                return ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                                   "%s %u starts at offset %llu, inside the TIFF header", what, s,
                                   (unsigned long long)off);
            if (off > c->len || cnt > c->len - off)
                return ppx_err_set(c->err, PPX_ETRUNC, c->stage,
                                   "%s %u (%llu bytes at offset %llu) lies past the end of the "
                                   "file (%llu bytes)",
                                   what, s, (unsigned long long)cnt, (unsigned long long)off,
                                   (unsigned long long)c->len);
            if (h->compression == COMPRESSION_NONE && check_counts) {
                /* Uncompressed data must hold every row it claims (the last
                 * strip may be shorter; tiles are always whole). */
                uint64_t need = bytes;
                if (!h->tiled && i == per_plane - 1)
                    need = line * (h->h - (uint64_t)i * h->th);
                if (cnt < need)
                    return ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                                       "uncompressed %s %u holds %llu bytes, %llu expected", what,
                                       s, (unsigned long long)cnt, (unsigned long long)need);
            }
        }
    }
    *unit = bytes;
    return 0;
}

/* Converts the n pixels from pixel `first` of one source row (row_px
 * pixels) into dst. A first pixel that starts inside a byte (sub-byte
 * samples, a window's left edge) converts the row from its start into tmp
 * (contiguous samples only; prepare_win refuses the rest). */
static uint64_t convert_part(const ppx__tiff_px *px, unsigned plane, const uint8_t *row,
                             uint32_t first, uint32_t n, uint8_t *tmp, size_t pixel, uint8_t *dst)
{
    uint64_t bits = (uint64_t)first * px->bps * (px->separate ? 1 : px->spp);
    if (bits % 8 == 0)
        return ppx__tiff_px_row(px, plane, row + bits / 8, n, dst);
    uint64_t narrowed = ppx__tiff_px_row(px, plane, row, first + n, tmp);
    memcpy(dst, tmp + (size_t)first * pixel, (size_t)n * pixel);
    return narrowed;
}

/* Scratch for convert_part: one converted row of row_px pixels, needed only
 * when a window's edge can fall inside a byte. */
static int win_tmp(tiff_ctx *c, const tiff_hdr *h, const tiff_win *win, uint32_t row_px,
                   size_t pixel, uint8_t **tmp)
{
    *tmp = NULL;
    if (win->whole || h->px.bps >= 8)
        return 0;
    if (h->px.separate)
        return ppx_err_set(c->err, PPX_EUNSUPPORTED, c->stage,
                           "a window of a %u-bit image in separate planes is not supported",
                           h->px.bps);
    if (!(*tmp = malloc((size_t)row_px * pixel)))
        return ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate a row");
    return 0;
}

static int read_strips(tiff_ctx *c, TIFF *tif, const tiff_hdr *h, uint64_t unit, ppx_image *img,
                       const tiff_win *win)
{
    const ppx__tiff_px *px = &h->px;
    const uint64_t line = TIFFScanlineSize64(tif);
    const unsigned planes = px->separate ? h->spp : 1;
    const uint32_t per_plane = (uint32_t)(((uint64_t)h->h + h->th - 1) / h->th);
    const size_t pixel = (size_t)img->channels * ppx_sample_size(img->type);
    /* Fast path: rows already in the output layout are decoded straight
     * into the image, with no scratch and no copy. */
    const int direct = win->whole && ppx__tiff_px_is_copy(px) && line == img->stride;
    uint8_t *scratch = NULL, *tmp = NULL;
    int rc = win_tmp(c, h, win, h->w, pixel, &tmp);
    if (rc)
        goto out;
    if (!direct && !(scratch = malloc((size_t)unit))) {
        rc = ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate a strip of %llu bytes",
                         (unsigned long long)unit);
        goto out;
    }
    /* Only the strips that hold a row of the window. */
    const uint32_t s0 = win->y / h->th, s1 = (uint32_t)(((uint64_t)win->y + win->h - 1) / h->th);
    for (unsigned p = 0; p < planes; p++) {
        if (px->separate && !ppx__tiff_px_plane_used(px, p))
            continue;
        for (uint32_t i = s0; i <= s1 && i < per_plane; i++) {
            uint32_t strip = p * per_plane + i, y0 = i * h->th;
            uint32_t rows = h->h - y0 < h->th ? h->h - y0 : h->th;
            tmsize_t want = (tmsize_t)(line * rows);
            uint8_t *dst = direct ? ppx_image_row(img, y0) : scratch;
            lib_reset(c);
            c->unit_what = "strip";
            c->unit = strip;
            tmsize_t got = TIFFReadEncodedStrip(tif, strip, dst, want);
            c->unit_bytes += TIFFGetStrileByteCount(tif, strip);
            if (got != want) {
                if (got < 0)
                    rc = lib_fail(c, PPX_ECORRUPT, "cannot decode a strip");
                else
                    rc = ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                                     "strip %u decoded to %lld bytes, %lld expected", strip,
                                     (long long)got, (long long)want);
                goto out;
            }
            if ((rc = check_damage(c)))
                goto out;
            if (direct)
                continue;
            uint32_t r0 = win->y > y0 ? win->y - y0 : 0;
            uint32_t r1 = win->y + win->h - y0 < rows ? win->y + win->h - y0 : rows;
            for (uint32_t r = r0; r < r1; r++)
                c->narrowed +=
                    convert_part(px, p, scratch + r * line, win->x, win->w, tmp, pixel,
                                 ppx_image_row(img, win->oy + y0 + r - win->y) + win->ox * pixel);
        }
    }
out:
    free(scratch);
    free(tmp);
    return rc;
}

static int read_tiles(tiff_ctx *c, TIFF *tif, const tiff_hdr *h, uint64_t unit, ppx_image *img,
                      const tiff_win *win)
{
    const ppx__tiff_px *px = &h->px;
    const uint64_t trow = TIFFTileRowSize64(tif);
    const unsigned planes = px->separate ? h->spp : 1;
    const size_t pixel = (size_t)img->channels * ppx_sample_size(img->type);
    uint8_t *tmp = NULL;
    int rc = win_tmp(c, h, win, h->tw, pixel, &tmp);
    uint8_t *scratch = rc ? NULL : malloc((size_t)unit);
    if (rc)
        goto out;
    if (!scratch) {
        rc = ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate a tile of %llu bytes",
                         (unsigned long long)unit);
        goto out;
    }
    if (trow == 0 || trow * h->th > unit) {
        rc = ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "inconsistent tile geometry");
        goto out;
    }
    /* Only the tiles that hold a pixel of the window; 64-bit positions, so
     * that a hostile tile size cannot make the loops wrap. */
    const uint64_t wx1 = (uint64_t)win->x + win->w, wy1 = (uint64_t)win->y + win->h;
    for (unsigned p = 0; p < planes; p++) {
        if (px->separate && !ppx__tiff_px_plane_used(px, p))
            continue;
        for (uint64_t ty = (uint64_t)win->y / h->th * h->th; ty < wy1; ty += h->th) {
            uint64_t r0 = win->y > ty ? win->y - ty : 0;
            uint64_t r1 = wy1 - ty < h->th ? wy1 - ty : h->th;
            for (uint64_t tx = (uint64_t)win->x / h->tw * h->tw; tx < wx1; tx += h->tw) {
                uint64_t c0 = win->x > tx ? win->x - tx : 0;
                uint64_t c1 = wx1 - tx < h->tw ? wx1 - tx : h->tw;
                uint32_t tile = TIFFComputeTile(tif, (uint32_t)tx, (uint32_t)ty, 0, (uint16_t)p);
                lib_reset(c);
                c->unit_what = "tile";
                c->unit = tile;
                tmsize_t got = TIFFReadEncodedTile(tif, tile, scratch, (tmsize_t)unit);
                c->unit_bytes += TIFFGetStrileByteCount(tif, tile);
                if (got != (tmsize_t)unit) {
                    if (got < 0)
                        rc = lib_fail(c, PPX_ECORRUPT, "cannot decode a tile");
                    else
                        rc = ppx_err_set(c->err, PPX_ECORRUPT, c->stage,
                                         "tile %u decoded to %lld bytes, %llu expected", tile,
                                         (long long)got, (unsigned long long)unit);
                    goto out;
                }
                if ((rc = check_damage(c)))
                    goto out;
                for (uint64_t r = r0; r < r1; r++)
                    c->narrowed += convert_part(
                        px, p, scratch + r * trow, (uint32_t)c0, (uint32_t)(c1 - c0), tmp, pixel,
                        ppx_image_row(img, (uint32_t)(win->oy + ty + r - win->y)) +
                            (size_t)(win->ox + tx + c0 - win->x) * pixel);
            }
        }
    }
out:
    free(scratch);
    free(tmp);
    return rc;
}

/* YCbCr other than JPEG's (subsampled raw YCbCr, old-style JPEG): libtiff's
 * RGBA interface decodes it into a 32-bit raster, which is the image buffer
 * allocated as RGBA and then packed in place to RGB. */
static int read_rgba(tiff_ctx *c, TIFF *tif, const tiff_hdr *h, ppx_image *img, const ppx_limits *l)
{
    char emsg[1024] = "";
    int rc = ppx_image_alloc(img, h->w, h->h, 4, PPX_U8, l, c->err);
    if (rc) {
        c->err->stage = c->stage;
        return rc;
    }
    lib_reset(c);
    if (!TIFFRGBAImageOK(tif, emsg))
        return ppx_err_set(c->err, PPX_EUNSUPPORTED, c->stage, "libtiff: %s", emsg);
    TIFFRGBAImage ri;
    if (!TIFFRGBAImageBegin(&ri, tif, 1, emsg))
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "libtiff: %s", emsg);
    /* Rows as stored, top first: orientation is reported, not applied. */
    ri.req_orientation = ORIENTATION_TOPLEFT;
    ri.orientation = ORIENTATION_TOPLEFT;
    int ok = TIFFRGBAImageGet(&ri, (uint32_t *)(void *)img->data, h->w, h->h);
    TIFFRGBAImageEnd(&ri);
    if (!ok)
        return lib_fail(c, PPX_ECORRUPT, "cannot decode the YCbCr image");
    if ((rc = check_damage(c)))
        return rc;
    const size_t n = (size_t)h->w * h->h;
    uint8_t *d = img->data;
    /* RGBA to RGB, forward in place: pixel i is read before any byte at or
     * after 4i is written (3i + 2 < 4i + 4). */
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, img->data + 4 * i, 4);
        d[3 * i] = (uint8_t)TIFFGetR(v);
        d[3 * i + 1] = (uint8_t)TIFFGetG(v);
        d[3 * i + 2] = (uint8_t)TIFFGetB(v);
    }
    img->channels = 3;
    img->stride = (size_t)h->w * 3;
    return 0;
}

static int make_palette(tiff_ctx *c, TIFF *tif, const tiff_hdr *h, uint8_t **lut)
{
    uint16_t *r = NULL, *g = NULL, *b = NULL;
    if (!TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b) || !r || !g || !b)
        return ppx_err_set(c->err, PPX_ECORRUPT, c->stage, "palette image without a colormap");
    *lut = malloc((size_t)3 << h->bps);
    if (!*lut)
        return ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate a palette");
    ppx__tiff_px_palette(r, g, b, h->bps, *lut);
    return 0;
}

static void ctx_init(tiff_ctx *c, const uint8_t *buf, size_t len, ppx_err *err, int stage,
                     const ppx_limits *l)
{
    memset(c, 0, sizeof *c);
    c->src = buf;
    c->len = len;
    c->err = err;
    c->stage = stage;
    c->max_warnings = l ? l->max_warnings : UINT32_MAX;
    c->max_alloc = l ? l->max_alloc : UINT64_MAX;
}

int ppx__tiff_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err)
{
    tiff_ctx c;
    ctx_init(&c, buf, len, err, PPX_STAGE_DECODE, l);
    raw_header rh;
    TIFF *tif = NULL;
    tiff_hdr h;
    int rc = open_read(&c, l, &rh, &tif, &h, info, 0);
    if (rc == 0)
        rc = ppx_limits_check(l, h.w, h.h, 1, 1, NULL, err);
    if (tif)
        TIFFClose(tif);
    return rc;
}

/* The window of o in the page (the whole page when o asks for none), and
 * the output size in *out_w, *out_h. */
static int plan_window(tiff_ctx *c, const tiff_hdr *h, const ppx_decode_opts *o, tiff_win *win,
                       uint32_t *out_w, uint32_t *out_h)
{
    memset(win, 0, sizeof *win);
    if (o->win_w == 0) {
        *win = (tiff_win){0, 0, h->w, h->h, 0, 0, 1};
        *out_w = h->w;
        *out_h = h->h;
        return 0;
    }
    if (o->win_h == 0 || o->win_x >= h->w || o->win_y >= h->h)
        return ppx_err_set(c->err, PPX_EINVAL, c->stage,
                           "window %ux%u at %u,%u lies outside the %ux%u page", o->win_w, o->win_h,
                           o->win_x, o->win_y, h->w, h->h);
    if (h->rgba_fallback)
        return ppx_err_set(c->err, PPX_EUNSUPPORTED, c->stage,
                           "a window of subsampled YCbCr TIFF is not supported");
    win->x = o->win_x;
    win->y = o->win_y;
    win->w = h->w - o->win_x < o->win_w ? h->w - o->win_x : o->win_w;
    win->h = h->h - o->win_y < o->win_h ? h->h - o->win_y : o->win_h;
    win->whole = win->x == 0 && win->y == 0 && win->w == h->w && win->h == h->h &&
                 o->win_w == h->w && o->win_h == h->h;
    *out_w = o->win_w;
    *out_h = o->win_h;
    return 0;
}

/* Fills img with v (rounded, clamped to the sample type): the part of a
 * window past the page's edge. */
static void fill_image(ppx_image *img, double v)
{
    uint8_t one[4];
    size_t ss = ppx_sample_size(img->type), n = (size_t)img->width * img->channels;
    if (ppx_sample_encode(img->type, v, 0, one))
        memset(one, 0, sizeof one);
    for (uint32_t y = 0; y < img->height; y++) {
        uint8_t *row = ppx_image_row(img, y);
        for (size_t i = 0; i < n; i++)
            memcpy(row + i * ss, one, ss);
    }
}

int ppx__tiff_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err)
{
    const ppx_limits *l = o->limits;
    tiff_ctx c;
    ctx_init(&c, buf, len, err, PPX_STAGE_DECODE, l);
    raw_header rh;
    TIFF *tif = NULL;
    tiff_hdr h;
    tiff_win win;
    uint8_t *lut = NULL;
    uint64_t unit = 0;
    uint32_t out_w = 0, out_h = 0;
    int rc = open_read(&c, l, &rh, &tif, &h, info, o->page);
    if (rc)
        goto out;
    if (o->geo)
        ppx__tiff_geo_read(tif, o->geo);
    if ((rc = plan_window(&c, &h, o, &win, &out_w, &out_h)))
        goto out;
    /* Dimensions first: nothing below allocates before this passes. */
    if ((rc = ppx_limits_check(l, out_w, out_h, h.px.out_ch,
                               (unsigned)ppx_sample_size(h.px.out_type), NULL, err)))
        goto out;
    if (h.unsupported) {
        rc = ppx_err_set(err, PPX_EUNSUPPORTED, c.stage, "%s", h.unsupported);
        goto out;
    }
    if (h.px.raw && h.spp > PPX_MAX_BANDS) {
        rc = ppx_err_set(err, PPX_ELIMIT, c.stage, "%u bands, over the limit of %u", h.spp,
                         PPX_MAX_BANDS);
        goto out;
    }
    if (h.jpeg_rgb && !TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) {
        rc = lib_fail(&c, PPX_ECORRUPT, "cannot set the JPEG colour mode");
        goto out;
    }
    if ((rc = check_layout(&c, tif, &h, !h.rgba_fallback, win.whole, &unit)))
        goto out;
    /* A directory warning that is not harmless (a guessed strip size, an
     * ignored Predictor) fails here, before any pixel is decoded. */
    if ((rc = check_damage(&c)))
        goto out;
    if (h.rgba_fallback) {
        if ((rc = read_rgba(&c, tif, &h, img, l)))
            goto out;
    } else {
        if (h.px.kind == PPX__TIFF_PALETTE && (rc = make_palette(&c, tif, &h, &lut)))
            goto out;
        h.px.lut = lut;
        if ((rc = ppx_image_alloc(img, out_w, out_h, h.px.out_ch, h.px.out_type, l, err))) {
            err->stage = c.stage;
            goto out;
        }
        if (win.w < out_w || win.h < out_h)
            fill_image(img, o->fill);
        rc = h.tiled ? read_tiles(&c, tif, &h, unit, img, &win)
                     : read_strips(&c, tif, &h, unit, img, &win);
        if (rc)
            goto out;
    }
    if (h.px.alpha >= 0 && h.alpha_assoc && !h.rgba_fallback && !h.px.raw)
        ppx__tiff_px_unpremultiply(img);
    info->unit_bytes = c.unit_bytes;
    img->plain_bands = h.plain_bands;
    info->narrowed = c.narrowed;
    img->orientation = h.orientation;
    img->alpha_associated = info->alpha_associated && !h.rgba_fallback;
    img->source_cs = h.cs;
out:
    if (tif)
        TIFFClose(tif);
    free(lut);
    return rc;
}

/* Directory sizes, one page after the other: libtiff's walk from the page
 * `first`, which count_pages has shown to be in the chain. */
int ppx_codec_tiff_pages(const uint8_t *buf, size_t len, const ppx_limits *limits, uint32_t first,
                         uint32_t last, uint32_t max_pages, ppx_page_fn fn, void *arg, ppx_err *err)
{
    ppx_limits def;
    if (!limits) {
        ppx_limits_default(&def);
        limits = &def;
    }
    if (ppx_codec_detect(buf, len) != PPX_FMT_TIFF)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE, "not a TIFF file");
    tiff_ctx c;
    ctx_init(&c, buf, len, err, PPX_STAGE_DECODE, limits);
    raw_header rh;
    TIFF *tif = NULL;
    tiff_hdr h;
    ppx_info info;
    memset(&info, 0, sizeof info);
    int rc = open_read(&c, limits, &rh, &tif, &h, &info, first);
    if (rc)
        goto out;
    uint32_t pages = (uint32_t)info.pages;
    if (last >= pages)
        last = pages - 1;
    if (last - first + 1 > max_pages) {
        rc = ppx_err_set(
            err, PPX_ELIMIT, c.stage, "%u pages%s (pages %u-%u), over the limit of %u pages a file",
            last - first + 1, info.pages_capped ? " or more" : "", first, last, max_pages);
        goto out;
    }
    for (uint32_t p = first;; p++) {
        if ((rc = fn(arg, p, h.w, h.h, err)) != 0 || p == last)
            break;
        lib_reset(&c);
        if (!TIFFReadDirectory(tif)) {
            rc = lib_fail(&c, PPX_ECORRUPT, "cannot read the directory of a page");
            break;
        }
        if ((rc = check_warnings(&c)))
            break;
        read_directory(tif, &h);
    }
out:
    if (tif)
        TIFFClose(tif);
    return rc;
}

/* ---- encoding ------------------------------------------------------------ */

static int encode_body(tiff_ctx *c, TIFF *tif, const ppx_image *img, uint16_t comp,
                       const ppx_geotiff *geo)
{
    const unsigned ch = img->channels;
    const size_t bs = ppx_sample_size(img->type);
    const size_t row = (size_t)img->width * ch * bs;
    uint32_t rps = row >= TIFF_STRIP_BYTES ? 1 : (uint32_t)(TIFF_STRIP_BYTES / row);
    if (rps > img->height)
        rps = img->height;
    const int color = ppx_image_is_color(img);
    const uint16_t sf = ppx_sample_is_float(img->type)    ? SAMPLEFORMAT_IEEEFP
                        : ppx_sample_is_signed(img->type) ? SAMPLEFORMAT_INT
                                                          : SAMPLEFORMAT_UINT;
    int ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, img->width) &&
             TIFFSetField(tif, TIFFTAG_IMAGELENGTH, img->height) &&
             TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * bs)) &&
             TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, ch) &&
             TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, sf) &&
             TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                          color && ch >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK) &&
             TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
             TIFFSetField(tif, TIFFTAG_COMPRESSION, comp) &&
             TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
    if (ok && comp != COMPRESSION_NONE)
        ok = TIFFSetField(tif, TIFFTAG_PREDICTOR,
                          sf == SAMPLEFORMAT_IEEEFP ? PREDICTOR_FLOATINGPOINT
                                                    : PREDICTOR_HORIZONTAL);
    if (ok && color && (ch == 2 || ch == 4)) {
        uint16_t es = EXTRASAMPLE_UNASSALPHA;
        ok = TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &es);
    } else if (ok && !color) {
        /* Plain bands: every sample after the first is an unspecified
         * extra sample, which readers keep as a band. */
        uint16_t es[PPX_MAX_BANDS] = {0};
        if (ch > 1)
            ok = TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)(ch - 1), es);
    }
    /* Pixels stay as stored when no autorotate ran: keep their meaning. */
    if (ok && img->orientation > 1 && img->orientation <= 8)
        ok = TIFFSetField(tif, TIFFTAG_ORIENTATION, (uint16_t)img->orientation);
    if (ok)
        ok = ppx__tiff_geo_write(tif, geo);
    if (!ok)
        return lib_fail(c, PPX_EINTERNAL, "cannot set the TIFF tags");
    /* Strips go through a copy: libtiff may byte-swap or predict in the
     * buffer it is given, and the image is const. */
    uint8_t *scratch = malloc(row * rps);
    if (!scratch)
        return ppx_err_set(c->err, PPX_ENOMEM, c->stage, "cannot allocate a strip");
    int rc = 0;
    for (uint32_t y = 0, s = 0; y < img->height; y += rps, s++) {
        uint32_t rows = img->height - y < rps ? img->height - y : rps;
        for (uint32_t r = 0; r < rows; r++)
            memcpy(scratch + r * row, ppx_image_row(img, y + r), row);
        if (TIFFWriteEncodedStrip(tif, s, scratch, (tmsize_t)(row * rows)) < 0) {
            rc = lib_fail(c, c->nomem ? PPX_ENOMEM : PPX_EINTERNAL, "cannot write a strip");
            break;
        }
    }
    free(scratch);
    if (rc == 0 && !TIFFFlush(tif))
        rc = lib_fail(c, c->nomem ? PPX_ENOMEM : PPX_EINTERNAL, "cannot write the directory");
    return rc;
}

int ppx__tiff_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err)
{
    if (img->channels < 1 || img->channels > PPX_MAX_BANDS || img->width == 0 || img->height == 0 ||
        strcmp(ppx_sample_name(img->type), "unknown") == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE,
                           "cannot write a %ux%u image with %u channels", img->width, img->height,
                           img->channels);
    uint16_t comp;
    switch (o ? o->tiff_compression : PPX_TIFF_LZW) {
    case PPX_TIFF_LZW:
        comp = COMPRESSION_LZW;
        break;
    case PPX_TIFF_DEFLATE:
        comp = COMPRESSION_ADOBE_DEFLATE;
        break;
    case PPX_TIFF_NONE:
        comp = COMPRESSION_NONE;
        break;
    default:
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "unknown TIFF compression %d",
                           (int)o->tiff_compression);
    }
    tiff_ctx c;
    ctx_init(&c, NULL, 0, err, PPX_STAGE_ENCODE, NULL);
    c.out = out;
    out->len = 0;
    lib_reset(&c);
    /* "l": little-endian whatever the host, so that output bytes do not
     * depend on the machine. */
    TIFF *tif = open_client(&c, "wl", NULL);
    if (!tif)
        return lib_fail(&c, PPX_EINTERNAL, "cannot start a TIFF file");
    int rc = encode_body(&c, tif, img, comp, o ? o->geo : NULL);
    TIFFClose(tif);
    if (rc)
        out->len = 0;
    return rc;
}
