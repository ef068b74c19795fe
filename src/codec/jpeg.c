/* JPEG codec: decoding from and encoding to memory with libjpeg-turbo's
 * libjpeg API.
 *
 * Failure policy (docs/codecs.md has the table): the input is untrusted, so
 * every libjpeg error and every warning that means the pixels would be wrong
 * ends the decode with a specific code instead of handing on a grey-filled
 * image. libjpeg reports problems through two callbacks of our error manager:
 * error_exit (fatal) and emit_message (warnings); both longjmp back into the
 * public function, which destroys the decompressor and returns. All the
 * decoder's own memory comes from libjpeg's pools, so destroying it after a
 * longjmp frees everything. No state is global: callbacks find their context
 * through cinfo->err (the error manager is the first member of jpeg_ctx). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t */
#include <string.h>

#include <jpeglib.h>
/* After jpeglib.h: jconfig.h decides which message codes jerror.h defines. */
#include <jerror.h>

#include "codec/codec_impl.h"
#include "codec/exif.h"
#include "codec/jpeg_acskip.h"

/* APP1 segments are saved whole (a segment holds at most 65533 bytes), so an
 * IFD0 that a writer placed late in its EXIF block is still found. What
 * libjpeg saves is bounded by the segment lengths, hence by the file size. */
#define EXIF_SAVE_BYTES 0xFFFF
/* Of an APP2 segment only the signature is needed: ICC profiles are not
 * applied, only recorded (has_icc). */
#define ICC_SIG "ICC_PROFILE"
#define ICC_SIG_BYTES 12 /* including the NUL */
/* Rows handed to libjpeg per call. One call returns at most one iMCU row of
 * output (4 * 8 rows at full scale), so 32 lets libjpeg do all it can per call
 * without a pointer array per image. */
#define ROW_BATCH 32
/* Marker codes (jpegint.h keeps them private). */
#define M_SOF0 0xc0
#define M_SOF3 0xc3
#define M_SOF5 0xc5
#define M_SOF7 0xc7
#define M_SOF11 0xcb
#define M_SOF13 0xcd
#define M_SOF15 0xcf
#define M_JPG 0xc8   /* reserved for JPEG extensions */
#define M_DHP 0xde   /* hierarchical: define hierarchical progression */
#define M_EXP 0xdf   /* hierarchical: expand reference components */
#define M_SOF55 0xf7 /* JPEG-LS (ITU T.87), a JPGn marker to libjpeg */
#define M_LSE 0xf8   /* JPEG-LS parameters */
#define M_SOI 0xd8
#define M_SOS 0xda
#define M_TEM 0x01
/* The largest side libjpeg accepts (JPEG_MAX_DIMENSION). */
#define JPEG_MAX_SIDE 65500u
/* First guess for the encoder's output buffer; it grows by doubling. */
#define ENCODE_GUESS_MAX (16u << 20)

typedef struct {
    struct jpeg_error_mgr pub; /* first member: callbacks get it as cinfo->err */
    jmp_buf jump;
    const ppx_limits *limits;
    size_t len;        /* input bytes, for messages */
    unsigned warnings; /* benign warnings seen so far */
    int scanning;      /* 1 while pixels are read: messages then name the row */
    int code;          /* PPX_E* chosen by the callback that longjmped */
    char msg[PPX_ERR_MSG_MAX];
    /* The scan budget, as the progress monitor counts it. */
    int last_scan;       /* input_scan_number already charged */
    uint64_t block_work; /* blocks of the scans started so far */
    int emptied_scan;    /* DC-only decoding: the AC scan whose data libjpeg is not given */
} jpeg_ctx;

/* The source of DC-only decoding: the file in pieces, as ppx__acskip_next
 * hands them out. */
typedef struct {
    struct jpeg_source_mgr pub; /* first member: callbacks get it as cinfo->src */
    ppx__acskip walk;
    uint32_t synced; /* the last AC scan found to be the one libjpeg is reading */
} acskip_src;

typedef struct {
    struct jpeg_decompress_struct d;
    jpeg_ctx c;
    struct jpeg_progress_mgr progress;
    acskip_src skip;
    int skipping; /* the AC scans' data is left out (DC-only decoding at 1/8) */
} decoder;

typedef struct {
    struct jpeg_destination_mgr pub; /* first member: callbacks get it as cinfo->dest */
    ppx_buf *out;
} buf_dest;

static jpeg_ctx *ctx_of(j_common_ptr cinfo)
{
    return (jpeg_ctx *)cinfo->err;
}

/* Records code and message in the context and jumps back to the public
 * function. Called only from libjpeg callbacks and from code that runs
 * between setjmp and the decompressor's destruction. */
static void fail(j_common_ptr cinfo, int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

static void fail(j_common_ptr cinfo, int code, const char *fmt, ...)
{
    jpeg_ctx *c = ctx_of(cinfo);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    if (c->scanning && cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        size_t n = strlen(c->msg);
        snprintf(c->msg + n, sizeof c->msg - n, " (at row %u of %u)", d->output_scanline,
                 d->output_height);
    }
    c->code = code;
    longjmp(c->jump, 1);
}

static int is_rst_marker(int marker)
{
    return marker >= JPEG_RST0 && marker <= JPEG_RST0 + 7;
}

/* libjpeg's fatal errors. The few codes that mean "valid file, feature we do
 * not decode" or "over a limit" get their own code and wording; everything
 * else is damage in the file, named with libjpeg's own text. */
static void on_error_exit(j_common_ptr cinfo)
{
    char text[JMSG_LENGTH_MAX];
    struct jpeg_error_mgr *e = cinfo->err;
    (*e->format_message)(cinfo, text);
    int p0 = e->msg_parm.i[0];
    switch (e->msg_code) {
    case JERR_BAD_PRECISION:
        /* 12 and 16 bits are legal JPEG (extended, lossless) that the 8-bit
         * library cannot decode; any other precision is a broken header. */
        if (p0 == 12 || p0 == 16)
            fail(cinfo, PPX_EUNSUPPORTED, "%d-bit JPEG is not supported (%s)", p0, text);
        break;
    case JERR_SOF_UNSUPPORTED:
        if (p0 == M_SOF3 || p0 == M_SOF11)
            fail(cinfo, PPX_EUNSUPPORTED, "lossless JPEG (SOF%d) is not supported (%s)",
                 p0 - M_SOF0, text);
        if ((p0 >= M_SOF5 && p0 <= M_SOF7) || (p0 >= M_SOF13 && p0 <= M_SOF15))
            fail(cinfo, PPX_EUNSUPPORTED, "hierarchical JPEG (SOF%d) is not supported (%s)",
                 p0 - M_SOF0, text);
        if (p0 == M_JPG)
            fail(cinfo, PPX_EUNSUPPORTED,
                 "reserved JPEG extension marker (JPG, 0xc8) is not supported (%s)", text);
        fail(cinfo, PPX_EUNSUPPORTED, "%s", text);
    case JERR_UNKNOWN_MARKER:
        /* Markers libjpeg does not know but that belong to other JPEG
         * processes: a valid file of a kind we do not decode, not damage.
         * A hierarchical file starts with DHP, before any SOF. */
        if (p0 == M_DHP || p0 == M_EXP)
            fail(cinfo, PPX_EUNSUPPORTED, "hierarchical JPEG (%s marker) is not supported (%s)",
                 p0 == M_DHP ? "DHP" : "EXP", text);
        if (p0 == M_SOF55 || p0 == M_LSE)
            fail(cinfo, PPX_EUNSUPPORTED, "JPEG-LS (%s) is not supported (%s)",
                 p0 == M_SOF55 ? "SOF55" : "LSE marker", text);
        break;
    case JERR_ARITH_NOTIMPL:
    case JERR_NOT_COMPILED:
        fail(cinfo, PPX_EUNSUPPORTED, "%s", text);
    case JERR_NO_BACKING_STORE:
        /* libjpeg wants more than max_memory_to_use for the whole-image
         * coefficient buffer (progressive or multi-scan files). */
        fail(cinfo, PPX_ELIMIT, "JPEG needs more decoder memory than the limit of %ld bytes (%s)",
             cinfo->mem->max_memory_to_use, text);
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
        fail(cinfo, PPX_ELIMIT, "%s", text);
    case JERR_OUT_OF_MEMORY:
        fail(cinfo, PPX_ENOMEM, "%s", text);
    case JERR_NO_SOI:
        fail(cinfo, PPX_EFORMAT, "%s", text);
    default:
        break;
    }
    /* The encoder only sees pixels we checked: an error there is our bug. */
    fail(cinfo, cinfo->is_decompressor ? PPX_ECORRUPT : PPX_EINTERNAL, "%s", text);
}

/* libjpeg's warnings (level -1; higher levels are trace messages). libjpeg
 * would go on after each one, filling what it cannot decode with grey; we stop
 * at the first warning that means wrong pixels, and count the benign ones
 * (stray bytes between segments, unknown JFIF revision or Adobe transform),
 * failing when a file floods us with them. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;
    jpeg_ctx *c = ctx_of(cinfo);
    struct jpeg_error_mgr *e = cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*e->format_message)(cinfo, text);
    /* DC-only decoding gives libjpeg the markers of an AC scan but none of
     * its data, so in each restart interval the entropy decoder meets a
     * marker at once and says so, then fills its bit buffer with zeros, and
     * at each restart counts the whole bytes of that buffer as discarded,
     * which next_marker reports as extraneous data after the scan (the
     * source makes sure it does so within the scan: acskip_fill). Both are
     * the plan, not damage. */
    if ((e->msg_code == JWRN_HIT_MARKER || e->msg_code == JWRN_EXTRANEOUS_DATA) &&
        c->emptied_scan > 0 && ((j_decompress_ptr)cinfo)->input_scan_number == c->emptied_scan)
        return;
    e->num_warnings++;
    switch (e->msg_code) {
    case JWRN_JPEG_EOF:
        /* The memory source ran dry: the file is cut short. */
        fail(cinfo, PPX_ETRUNC, "Premature end of JPEG file after %zu bytes", c->len);
    case JWRN_EXTRANEOUS_DATA:
        /* Between segments this is a harmless quirk of some writers, but
         * inside a scan (before a restart marker) it means the entropy decoder
         * lost sync and the interval it decoded is garbage. */
        if (is_rst_marker(e->msg_parm.i[1]))
            fail(cinfo, PPX_ECORRUPT, "%s", text);
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
        fail(cinfo, PPX_ECORRUPT, "%s", text);
    default:
        break;
    }
    if (++c->warnings > c->limits->max_warnings)
        fail(cinfo, PPX_ECORRUPT, "more than %u JPEG warnings (the last: %s)",
             c->limits->max_warnings, text);
}

/* libjpeg's default prints to stderr; workers must stay quiet. */
static void on_output_message(j_common_ptr cinfo) {}

/* ---- the scan budget ---------------------------------------------------- */

/* A progressive (or multi-scan) JPEG is decoded scan by scan into a
 * whole-image coefficient buffer, and each scan costs a visit to every 8x8
 * block of the components it holds, however few bytes it has: an AC scan
 * of 250 bytes (end-of-band runs of 32767 blocks) makes libjpeg visit all
 * 4 million blocks of a 16384 x 16384 gray image. 2647 such scans, 1.6 MB
 * of file, took a worker past its timeout. So the work is bounded, not only
 * the count of scans: the blocks of every scan, summed, may not exceed
 * 3/4 x max_pixels. That is 48 passes over one full-size component of an
 * image at the pixel limit; libjpeg's own progression of a 4:4:4 colour photo
 * at the limit needs 14, of a 4:2:0 one 8. The scans are counted from the
 * markers before jpeg_start_decompress (no coefficient buffer allocated, no
 * scan decoded: refused in milliseconds), and again by the progress monitor
 * as libjpeg starts each scan, in case the two ever disagree. */
#define SCAN_BUDGET_NUM 3
#define SCAN_BUDGET_DEN 4

static uint64_t scan_budget(const ppx_limits *l)
{
    return l->max_pixels / SCAN_BUDGET_DEN * SCAN_BUDGET_NUM;
}

/* Blocks a scan visits in component ci: the component's blocks, rounded up
 * to whole MCUs as libjpeg's coefficient buffer is (jdcoefct.c). */
static uint64_t component_blocks(const jpeg_component_info *ci)
{
    uint64_t w = ci->width_in_blocks, h = ci->height_in_blocks;
    uint64_t hs = ci->h_samp_factor > 0 ? (uint64_t)ci->h_samp_factor : 1;
    uint64_t vs = ci->v_samp_factor > 0 ? (uint64_t)ci->v_samp_factor : 1;
    return (w + hs - 1) / hs * hs * ((h + vs - 1) / vs * vs);
}

/* Index of the component whose id is `id` (an SOS selector), -1 if none:
 * libjpeg itself refuses such a scan. */
static int index_of_id(j_decompress_ptr d, int id)
{
    for (int i = 0; i < d->num_components; i++)
        if (d->comp_info[i].component_id == id)
            return i;
    return -1;
}

/* Bytes of libjpeg's whole-image coefficient buffer: one 64-coefficient
 * block of JCOEFs for every block of every component. */
static uint64_t coefficient_bytes(j_decompress_ptr d)
{
    uint64_t blocks = 0;
    for (int i = 0; i < d->num_components; i++)
        blocks += component_blocks(&d->comp_info[i]);
    return blocks * DCTSIZE2 * sizeof(JCOEF);
}

/* What the scans of a file hold, from their SOS segments. */
typedef struct {
    uint32_t scans;  /* SOS segments, the first one included */
    uint64_t blocks; /* blocks the scans visit, summed */
    uint32_t low_ac; /* bit i: component i is in an AC scan whose band starts at 1..9 */
} scan_survey;

/* Counts the scans of the file and the blocks they visit by walking its
 * markers from where jpeg_read_header stopped (just after the first SOS),
 * the way libjpeg finds them: entropy-coded data up to the next marker that
 * is not a stuffed 0xFF00 or a restart marker, then segments by their
 * lengths, up to EOI or the end of the data. One pass over the bytes, no
 * allocation. */
static void count_scans(j_decompress_ptr d, const uint8_t *buf, size_t len, scan_survey *sv)
{
    uint32_t n = 1, low_ac = 0;
    uint64_t work = 0;
    for (int i = 0; i < d->comps_in_scan; i++)
        work += component_blocks(d->cur_comp_info[i]);
    size_t i = (size_t)(d->src->next_input_byte - buf);
    while (i < len) {
        const uint8_t *ff = memchr(buf + i, 0xFF, len - i);
        if (!ff)
            break;
        size_t j = (size_t)(ff - buf) + 1;
        while (j < len && buf[j] == 0xFF) /* fill bytes */
            j++;
        if (j >= len)
            break;
        int m = buf[j];
        if (m == 0x00 || is_rst_marker(m) || m == M_TEM || m == M_SOI) {
            i = j + 1; /* a stuffed 0xFF, or a marker without a length */
            continue;
        }
        if (m == JPEG_EOI || len - j < 3)
            break;
        size_t seg = (size_t)buf[j + 1] << 8 | buf[j + 2];
        if (m == M_SOS && seg >= 3 && len - j - 1 >= seg) {
            /* Ls, Ns, then Ns pairs (component selector, tables), Ss. */
            unsigned ns = buf[j + 3];
            unsigned ss = seg == 2 * ns + 6 ? buf[j + 4 + 2 * ns] : 0;
            n++;
            for (size_t k = 0; k < ns && 4 + 2 * k <= seg; k++) {
                int ci = index_of_id(d, buf[j + 4 + 2 * k]);
                if (ci < 0)
                    continue;
                work += component_blocks(&d->comp_info[ci]);
                if (ss >= 1 && ss <= 9)
                    low_ac |= 1u << ci;
            }
        }
        i = j + 1 + seg;
    }
    sv->scans = n;
    sv->blocks = work;
    sv->low_ac = low_ac;
}

/* Checks, from the header and before anything large is allocated, the
 * coefficient buffer of a buffered (progressive or multi-scan) file against
 * max_alloc, and the scans against the budget and the count limit. Runs
 * after setjmp. Writes what the scans hold to *sv. */
static void check_scans(j_decompress_ptr d, const uint8_t *buf, size_t len, const ppx_limits *l,
                        scan_survey *sv)
{
    if (d->progressive_mode || d->comps_in_scan < d->num_components) {
        uint64_t coef = coefficient_bytes(d);
        if (coef > l->max_alloc)
            fail((j_common_ptr)d, PPX_ELIMIT,
                 "JPEG needs %llu bytes of decoder memory for its coefficients (a %ux%u "
                 "progressive or multi-scan image), over the limit of %llu bytes",
                 (unsigned long long)coef, d->image_width, d->image_height,
                 (unsigned long long)l->max_alloc);
    }
    count_scans(d, buf, len, sv);
    uint32_t scans = sv->scans;
    uint64_t work = sv->blocks;
    if (work > scan_budget(l))
        fail((j_common_ptr)d, PPX_ELIMIT,
             "JPEG has %u scans over a %ux%u image that visit %llu blocks in all, over the "
             "budget of %llu (3/4 of the pixel limit)",
             scans, d->image_width, d->image_height, (unsigned long long)work,
             (unsigned long long)scan_budget(l));
    if (scans > l->max_jpeg_scans)
        fail((j_common_ptr)d, PPX_ELIMIT, "JPEG has %u scans, over the limit of %u scans", scans,
             l->max_jpeg_scans);
}

/* Called by libjpeg before each step of jpeg_start_decompress, which reads
 * every scan of a buffered file, and of each output pass. A new
 * input_scan_number means a scan has just started: it is charged before any
 * of it is decoded. */
static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_ctx *c = ctx_of(cinfo);
    if (d->input_scan_number <= c->last_scan)
        return;
    c->last_scan = d->input_scan_number;
    if ((uint32_t)d->input_scan_number > c->limits->max_jpeg_scans)
        fail(cinfo, PPX_ELIMIT, "JPEG scan %d is over the limit of %u scans", d->input_scan_number,
             c->limits->max_jpeg_scans);
    for (int i = 0; i < d->comps_in_scan; i++)
        c->block_work += component_blocks(d->cur_comp_info[i]);
    if (c->block_work > scan_budget(c->limits))
        fail(cinfo, PPX_ELIMIT,
             "JPEG scan %d brings the blocks visited to %llu, over the budget of %llu (3/4 "
             "of the pixel limit)",
             d->input_scan_number, (unsigned long long)c->block_work,
             (unsigned long long)scan_budget(c->limits));
}

static void ctx_init(jpeg_ctx *c, const ppx_limits *l, size_t len)
{
    memset(c, 0, sizeof *c);
    jpeg_std_error(&c->pub);
    c->pub.error_exit = on_error_exit;
    c->pub.emit_message = on_emit_message;
    c->pub.output_message = on_output_message;
    c->limits = l;
    c->len = len;
}

static int ctx_report(const jpeg_ctx *c, int stage, ppx_err *err)
{
    return ppx_err_set(err, c->code, stage, "%s", c->msg);
}

static ppx_colorspace map_cs(J_COLOR_SPACE cs)
{
    switch (cs) {
    case JCS_GRAYSCALE:
        return PPX_CS_GRAY;
    case JCS_RGB:
        return PPX_CS_RGB;
    case JCS_YCbCr:
        return PPX_CS_YCBCR;
    case JCS_CMYK:
        return PPX_CS_CMYK;
    case JCS_YCCK:
        return PPX_CS_YCCK;
    default:
        return PPX_CS_UNKNOWN;
    }
}

/* Orientation from the first EXIF APP1 segment, and whether an ICC profile is
 * present. A malformed EXIF block is metadata we cannot read, not damage to
 * the pixels: the orientation stays 1. */
static void marker_facts(j_decompress_ptr d, ppx_info *info)
{
    int exif_done = 0;
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && !exif_done) {
            int o;
            int rc = ppx__exif_orientation(m->data, m->data_length, &o);
            if (rc == 0)
                info->orientation = o;
            /* Only the first EXIF block counts (XMP also lives in APP1). */
            exif_done = rc != PPX_EFORMAT;
        } else if (m->marker == JPEG_APP0 + 2 && m->data_length >= ICC_SIG_BYTES &&
                   memcmp(m->data, ICC_SIG, ICC_SIG_BYTES) == 0) {
            info->has_icc = 1;
        }
    }
}

/* Creates the decompressor over buf and reads the header (everything up to
 * the first scan). Runs after setjmp: libjpeg errors longjmp out of it. */
static void read_header(decoder *dec, const uint8_t *buf, size_t len, ppx_info *info)
{
    j_decompress_ptr d = &dec->d;
    jpeg_create_decompress(d);
    /* Bounds the whole-image coefficient buffer of progressive files; libjpeg
     * fails with JERR_NO_BACKING_STORE rather than go over. */
    uint64_t cap = dec->c.limits->max_alloc;
    d->mem->max_memory_to_use = cap > (uint64_t)LONG_MAX ? LONG_MAX : (long)cap;
    jpeg_mem_src(d, buf, (unsigned long)len);
    jpeg_save_markers(d, JPEG_APP0 + 1, EXIF_SAVE_BYTES);
    jpeg_save_markers(d, JPEG_APP0 + 2, ICC_SIG_BYTES);
    jpeg_read_header(d, TRUE);

    info->format = PPX_FMT_JPEG;
    info->width = d->image_width;
    info->height = d->image_height;
    info->channels = (unsigned)d->num_components;
    info->bits = (unsigned)d->data_precision;
    info->cs = map_cs(d->jpeg_color_space);
    info->progressive = d->progressive_mode ? 1 : 0;
    info->arithmetic = d->arith_code ? 1 : 0;
    info->compression = d->arith_code ? "arithmetic" : "huffman";
    info->pages = 1;
    info->scale_denom = 1;
    info->orientation = 1;
    marker_facts(d, info);
}

static void decoder_init(decoder *dec, const ppx_limits *l, size_t len)
{
    /* Zeroed so that jpeg_destroy_decompress is safe even if creation fails. */
    memset(dec, 0, sizeof *dec);
    ctx_init(&dec->c, l, len);
    dec->d.err = &dec->c.pub;
    dec->progress.progress_monitor = on_progress;
}

int ppx__jpeg_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err)
{
    decoder dec;
    decoder_init(&dec, l, len);
    int rc = 0;
    if (setjmp(dec.c.jump))
        rc = ctx_report(&dec.c, PPX_STAGE_DECODE, err);
    else
        read_header(&dec, buf, len, info);
    jpeg_destroy_decompress(&dec.d);
    return rc;
}

/* x * y / 255, rounded to nearest, exact for all 8-bit x and y. */
static inline uint8_t mul255(unsigned x, unsigned y)
{
    unsigned t = x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

/* CMYK to RGB: R = (1 - C)(1 - K) on the 0..1 scale. Adobe (Photoshop) files
 * store the values inverted (255 = no ink), and libjpeg hands YCCK over in the
 * same convention, so for them R = C * K / 255, as djpeg computes it. */
static void cmyk_row_to_rgb(const uint8_t *s, uint8_t *rgb, uint32_t w, int adobe_inverted)
{
    unsigned flip = adobe_inverted ? 0 : 255;
    for (uint32_t x = 0; x < w; x++, s += 4, rgb += 3) {
        unsigned k = s[3] ^ flip;
        rgb[0] = mul255(s[0] ^ flip, k);
        rgb[1] = mul255(s[1] ^ flip, k);
        rgb[2] = mul255(s[2] ^ flip, k);
    }
}

static void read_rows(j_decompress_ptr d, ppx_image *img)
{
    JSAMPROW rows[ROW_BATCH];
    while (d->output_scanline < d->output_height) {
        JDIMENSION y = d->output_scanline, n = d->output_height - y;
        if (n > ROW_BATCH)
            n = ROW_BATCH;
        for (JDIMENSION i = 0; i < n; i++)
            rows[i] = ppx_image_row(img, y + i);
        /* 0 rows only happens with a suspending source; ours never suspends. */
        if (jpeg_read_scanlines(d, rows, n) == 0)
            fail((j_common_ptr)d, PPX_EINTERNAL, "libjpeg returned no rows");
    }
}

static void read_cmyk_rows(j_decompress_ptr d, ppx_image *img)
{
    /* From libjpeg's image pool: freed with the decompressor, even on error. */
    JSAMPARRAY tmp = (*d->mem->alloc_sarray)((j_common_ptr)d, JPOOL_IMAGE, d->output_width * 4, 1);
    int inverted = d->saw_Adobe_marker;
    while (d->output_scanline < d->output_height) {
        JDIMENSION y = d->output_scanline;
        if (jpeg_read_scanlines(d, tmp, 1) != 1)
            fail((j_common_ptr)d, PPX_EINTERNAL, "libjpeg returned no rows");
        cmyk_row_to_rgb(tmp[0], ppx_image_row(img, y), d->output_width, inverted);
    }
}

/* ---- DC-only decoding at 1/8 ------------------------------------------- */

/* At 1/8 libjpeg's IDCT reads only the DC coefficient of each block of a
 * component it scales by 1/8 (jpeg_idct_1x1), yet a progressive file makes
 * it Huffman-decode every AC scan into the coefficient buffer first: on the
 * corpus' large progressive photos that is most of the decode. So libjpeg
 * is given every marker segment and every scan whole, except the AC scans
 * of those components: of them only the SOS segment and restart markers
 * (jpeg_acskip.c picks the bytes). libjpeg still reads and checks every
 * SOS and table, records each scan's band in coef_bits and checks restart
 * markers as it always did; only AC coefficients that no IDCT reads stay 0.
 *
 * Not every component is scaled by 1/8 at scale 1/8: libjpeg-turbo scales
 * the chroma of a 4:2:0 (or 4:1:0) file by 1/4 in the IDCT rather than
 * upsample it (jdmaster.c), and jpeg_idct_2x2 reads AC coefficients. The
 * AC scans of such components are decoded as before (DCT_scaled_size).
 *
 * One more thing reads coefficients: block smoothing (on by default for
 * progressive files), which estimates the low AC coefficients (and, where
 * a component has none of 1..9, the DC) while coefficients 1..9 are not
 * all complete (jdcoefct.c smoothing_ok). It is turned off here, and the
 * fast path is kept only where every coefficient of every component is
 * complete (coef_bits 0) after the last scan, as every complete progression
 * ends: then a whole decode does not smooth either. Off, not left to
 * libjpeg: it picks what it smooths by how far the data of the last scan
 * reached (last_good_iMCU_row), and here that data reached nowhere.
 *
 * Damage: where the fast path fails for any reason, the whole file is
 * decoded again and that result stands, so a damaged file fails with the
 * code and message it always had. What the fast path cannot see is damage
 * to what only left-out scans use (their data, with the markers in place;
 * their Huffman tables): the whole decode may report it (bad Huffman code,
 * a marker hit early), the fast path gives the pixels of the undamaged file
 * (docs/codecs.md, "DC-only decoding at 1/8"). */

/* Whether libjpeg scales the blocks of c by 1/8 (jpeg_idct_1x1: DC only). */
static int scaled_by_8(const jpeg_component_info *c)
{
#if JPEG_LIB_VERSION >= 70
    return c->DCT_h_scaled_size == 1 && c->DCT_v_scaled_size == 1;
#else
    return c->DCT_scaled_size == 1;
#endif
}

static void acskip_init_source(j_decompress_ptr d)
{
    (void)d;
}

static void acskip_term_source(j_decompress_ptr d)
{
    (void)d;
}

/* A TEM marker, which libjpeg skips as a marker without parameters. */
static const JOCTET tem_marker[2] = {0xFF, 0x01};

/* Hands libjpeg the next piece of the walk. libjpeg asks for more at the
 * first byte of each AC scan's data, right after it has read that scan's
 * SOS: that is checked (its own count of scans and Ss against the walk's),
 * so the walk and libjpeg never drift apart.
 *
 * Where a left-out scan that had restart markers ends, libjpeg gets a TEM
 * marker before the real one. Its entropy decoder stops at the TEM; after
 * the scan the marker reader skips it and calls next_marker, which reports
 * the bytes counted as discarded at each restart (see on_emit_message)
 * while libjpeg is still in that scan. Without it, a scan that ends right
 * at the next SOS carries the count into the next scan, whose first
 * restart would report it as extraneous bytes before a restart marker. A
 * restart that libjpeg wants where the file has none meets the TEM and
 * fails (JWRN_MUST_RESYNC), as it fails on the real marker. */
static boolean acskip_fill(j_decompress_ptr d)
{
    acskip_src *s = (acskip_src *)d->src;
    for (;;) {
        size_t a, b;
        int k = ppx__acskip_next(&s->walk, &a, &b);
        if (k < 0)
            fail((j_common_ptr)d, PPX_EUNSUPPORTED, "DC-only decoding stops at byte %zu: %s",
                 s->walk.pos, s->walk.why);
        if (k == PPX_ACSKIP_END)
            fail((j_common_ptr)d, PPX_EUNSUPPORTED, "DC-only decoding: read past EOI");
        if (k == PPX_ACSKIP_LEFT_OUT) {
            if (s->walk.scans != s->synced) {
                if (d->unread_marker != 0 || d->input_scan_number != (int)s->walk.scans ||
                    d->Ss != s->walk.ss || d->comps_in_scan != 1 ||
                    d->cur_comp_info[0]->component_id != s->walk.id)
                    fail((j_common_ptr)d, PPX_EUNSUPPORTED,
                         "DC-only decoding: AC scan %u of the walk is not the scan libjpeg reads",
                         s->walk.scans);
                s->synced = s->walk.scans;
                ctx_of((j_common_ptr)d)->emptied_scan = (int)s->walk.scans;
            }
            continue;
        }
        if (k == PPX_ACSKIP_AC_END) {
            if (s->walk.rsts == 0)
                continue;
            s->pub.next_input_byte = tem_marker;
            s->pub.bytes_in_buffer = sizeof tem_marker;
            return TRUE;
        }
        if (k == PPX_ACSKIP_RST && d->restart_interval == 0)
            fail((j_common_ptr)d, PPX_EUNSUPPORTED,
                 "DC-only decoding: a restart marker in an AC scan without a restart interval");
        if (b > a) {
            s->pub.next_input_byte = s->walk.buf + a;
            s->pub.bytes_in_buffer = b - a;
            return TRUE;
        }
    }
}

static void acskip_skip(j_decompress_ptr d, long n)
{
    struct jpeg_source_mgr *src = d->src;
    if (n <= 0)
        return;
    while ((unsigned long)n > src->bytes_in_buffer) {
        n -= (long)src->bytes_in_buffer;
        acskip_fill(d);
    }
    src->next_input_byte += n;
    src->bytes_in_buffer -= (size_t)n;
}

/* Whether DC-only decoding may apply (see above): a progressive Huffman
 * file at 1/8 whose every component is in an AC scan of a band starting at
 * 1..9 (else its coefficients 1..9 cannot end complete; checked for good
 * by acskip_check_bands); and the memory source still reads buf (it does,
 * unless the header ran out of data, which has failed already). */
static int acskip_applies(j_decompress_ptr d, const uint8_t *buf, size_t len, unsigned denom,
                          const scan_survey *sv)
{
    size_t left = d->src->bytes_in_buffer;
    return denom == 8 && d->progressive_mode && !d->arith_code &&
           sv->low_ac == (1u << d->num_components) - 1 && left <= len &&
           d->src->next_input_byte == buf + (len - left);
}

/* Puts the walk in place of the memory source, from where jpeg_read_header
 * stopped: the first byte of the first scan's data. */
static void acskip_start(decoder *dec, const uint8_t *buf, size_t len)
{
    j_decompress_ptr d = &dec->d;
    acskip_src *s = &dec->skip;
    ppx__acskip_init(&s->walk, buf, len, len - d->src->bytes_in_buffer);
    for (int ci = 0; ci < d->num_components; ci++)
        if (scaled_by_8(&d->comp_info[ci]))
            ppx__acskip_leave_out(&s->walk, d->comp_info[ci].component_id);
    s->synced = 0;
    s->pub.init_source = acskip_init_source;
    s->pub.fill_input_buffer = acskip_fill;
    s->pub.skip_input_data = acskip_skip;
    s->pub.resync_to_restart = jpeg_resync_to_restart;
    s->pub.term_source = acskip_term_source;
    s->pub.next_input_byte = buf + s->walk.pos;
    s->pub.bytes_in_buffer = 0;
    d->src = &s->pub;
    d->do_block_smoothing = FALSE;
    dec->skipping = 1;
}

/* After jpeg_start_decompress has read all scans, by the bands libjpeg
 * itself recorded (a whole decode records the same: it reads the same
 * SOS segments): every coefficient of every component is complete. Then a
 * whole decode does not smooth (coefficients 1..9 complete). And no scan
 * was lost: were a marker after a left-out scan damaged, its data would run
 * on over the next scan, which a whole decode would notice and the fast
 * path would not; but a lost scan either breaks the progression, which
 * libjpeg refuses, or leaves some coefficient incomplete. (Only a scan that
 * sends a complete band again, which no encoder writes, could go missing
 * unseen.) */
static void acskip_check_bands(j_decompress_ptr d)
{
    for (int ci = 0; ci < d->num_components; ci++)
        for (int k = 0; k < DCTSIZE2; k++)
            if (d->coef_bits[ci][k] != 0)
                fail((j_common_ptr)d, PPX_EUNSUPPORTED,
                     "DC-only decoding: coefficient %d of component %d is not complete (%d)", k, ci,
                     d->coef_bits[ci][k]);
}

/* Everything between setjmp and jpeg_destroy_decompress. Holds no resources
 * of its own (libjpeg's pools and img are freed by their owners), so it may
 * return early. */
static int decode_body(decoder *dec, const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                       ppx__jpeg_acskip_mode mode, ppx_image *img, ppx_info *info, ppx_err *err)
{
    j_decompress_ptr d = &dec->d;
    const ppx_limits *l = dec->c.limits;
    ppx_info scratch;
    if (!info)
        info = &scratch;
    read_header(dec, buf, len, info);

    unsigned channels;
    J_COLOR_SPACE out_cs;
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE:
        channels = 1;
        out_cs = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        channels = 3;
        out_cs = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        /* libjpeg's own CMYK->RGB is not offered; we ask for CMYK (YCCK is
         * converted to it by libjpeg) and convert with integer arithmetic. */
        channels = 3;
        out_cs = JCS_CMYK;
        break;
    default:
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE,
                           "JPEG with %d components in an unknown colour space is not supported",
                           d->num_components);
    }
    /* Full-size header dimensions, before libjpeg allocates anything big. */
    int rc = ppx_limits_check(l, d->image_width, d->image_height, channels, 1, NULL, err);
    if (rc)
        return rc;
    scan_survey sv;
    check_scans(d, buf, len, l, &sv);

    uint32_t min_w = o->min_width, min_h = o->min_height;
    if (o->size_hint)
        o->size_hint(o->size_hint_arg, info, &min_w, &min_h);
    unsigned denom = ppx__shrink_denom(d->image_width, d->image_height, min_w, min_h);
    d->out_color_space = out_cs;
    d->scale_num = 1;
    d->scale_denom = denom;
    /* libjpeg's defaults, stated: they make our pixels equal djpeg's. */
    d->dct_method = JDCT_ISLOW;
    d->do_fancy_upsampling = TRUE;
    jpeg_calc_output_dimensions(d);
    if (mode != PPX_JPEG_ACSKIP_NEVER && acskip_applies(d, buf, len, denom, &sv))
        acskip_start(dec, buf, len);
    else if (mode == PPX_JPEG_ACSKIP_ONLY)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE,
                           "DC-only decoding does not apply (scale 1/%u, %s, %s, components "
                           "in AC scans of coefficients 1..9: 0x%x)",
                           denom, d->progressive_mode ? "progressive" : "sequential",
                           d->arith_code ? "arithmetic" : "huffman", sv.low_ac);

    rc = ppx_image_alloc(img, d->output_width, d->output_height, channels, PPX_U8, l, err);
    if (rc) {
        if (err)
            err->stage = PPX_STAGE_DECODE;
        return rc;
    }
    d->progress = &dec->progress;
    jpeg_start_decompress(d);
    if (dec->skipping)
        acskip_check_bands(d);
    if (d->output_width != img->width || d->output_height != img->height)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_DECODE,
                           "libjpeg output %ux%u differs from the planned %ux%u", d->output_width,
                           d->output_height, img->width, img->height);
    dec->c.scanning = 1;
    if (out_cs == JCS_CMYK)
        read_cmyk_rows(d, img);
    else
        read_rows(d, img);
    dec->c.scanning = 0;
    /* Reads up to EOI, so a file cut after the last scan is still reported. */
    jpeg_finish_decompress(d);

    img->orientation = info->orientation;
    img->source_cs = info->cs;
    info->scale_denom = denom;
    return 0;
}

static int decode_once(decoder *dec, const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                       ppx__jpeg_acskip_mode mode, ppx_image *img, ppx_info *info, ppx_err *err)
{
    decoder_init(dec, o->limits, len);
    int rc;
    if (setjmp(dec->c.jump))
        rc = ctx_report(&dec->c, PPX_STAGE_DECODE, err);
    else
        rc = decode_body(dec, buf, len, o, mode, img, info, err);
    jpeg_destroy_decompress(&dec->d);
    return rc;
}

int ppx__jpeg_decode_mode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                          ppx__jpeg_acskip_mode mode, ppx_image *img, ppx_info *info, ppx_err *err)
{
    decoder dec;
    if (mode != PPX_JPEG_ACSKIP_AUTO)
        return decode_once(&dec, buf, len, o, mode, img, info, err);
    /* The fast path's own failure is never the answer: the whole decode
     * decides, so a damaged file fails as it always did. */
    ppx_err first;
    ppx_err_clear(&first);
    int rc = decode_once(&dec, buf, len, o, mode, img, info, &first);
    if (rc && dec.skipping)
        return decode_once(&dec, buf, len, o, PPX_JPEG_ACSKIP_NEVER, img, info, err);
    if (rc && err)
        *err = first;
    return rc;
}

int ppx__jpeg_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err)
{
    return ppx__jpeg_decode_mode(buf, len, o, PPX_JPEG_ACSKIP_AUTO, img, info, err);
}

/* ---- encoding ---------------------------------------------------------- */

/* Makes room for at least `want` bytes and points libjpeg at the free part.
 * libjpeg writes straight into the ppx_buf: no second copy of the file. */
static void dest_reserve(j_compress_ptr cinfo, size_t want)
{
    buf_dest *dst = (buf_dest *)cinfo->dest;
    ppx_buf *b = dst->out;
    if (ppx_buf_reserve(b, want))
        fail((j_common_ptr)cinfo, PPX_ENOMEM, "cannot grow the JPEG output buffer to %zu bytes",
             want);
    dst->pub.next_output_byte = b->data + b->len;
    dst->pub.free_in_buffer = b->cap - b->len;
}

static void dest_init(j_compress_ptr cinfo)
{
    buf_dest *dst = (buf_dest *)cinfo->dest;
    /* A quarter of the raw size covers quality 90 photos; bigger files grow. */
    uint64_t guess =
        (uint64_t)cinfo->image_width * cinfo->image_height * (uint64_t)cinfo->input_components / 4 +
        4096;
    if (guess > ENCODE_GUESS_MAX)
        guess = ENCODE_GUESS_MAX;
    dst->out->len = 0;
    dest_reserve(cinfo, (size_t)guess);
}

/* libjpeg calls this when the whole buffer is full. */
static boolean dest_empty(j_compress_ptr cinfo)
{
    buf_dest *dst = (buf_dest *)cinfo->dest;
    ppx_buf *b = dst->out;
    b->len = b->cap;
    if (b->cap == SIZE_MAX)
        fail((j_common_ptr)cinfo, PPX_ENOMEM, "JPEG output buffer cannot grow");
    dest_reserve(cinfo, b->cap + 1); /* ppx_buf_reserve doubles */
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo)
{
    buf_dest *dst = (buf_dest *)cinfo->dest;
    dst->out->len = dst->out->cap - dst->pub.free_in_buffer;
}

static void encode_body(j_compress_ptr c, buf_dest *dst, const ppx_image *img, int quality)
{
    jpeg_create_compress(c);
    c->dest = &dst->pub;
    c->image_width = img->width;
    c->image_height = img->height;
    c->input_components = (int)img->channels;
    c->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    c->dct_method = JDCT_ISLOW;
    if (img->channels == 3) {
        /* 4:2:0, stated rather than inherited from the library's defaults. */
        c->comp_info[0].h_samp_factor = 2;
        c->comp_info[0].v_samp_factor = 2;
        for (int i = 1; i < 3; i++) {
            c->comp_info[i].h_samp_factor = 1;
            c->comp_info[i].v_samp_factor = 1;
        }
    }
    jpeg_start_compress(c, TRUE);
    JSAMPROW rows[ROW_BATCH];
    while (c->next_scanline < c->image_height) {
        JDIMENSION y = c->next_scanline, n = c->image_height - y;
        if (n > ROW_BATCH)
            n = ROW_BATCH;
        /* libjpeg's API takes non-const rows but only reads them. */
        for (JDIMENSION i = 0; i < n; i++)
            rows[i] = ppx_image_row(img, y + i);
        jpeg_write_scanlines(c, rows, n);
    }
    jpeg_finish_compress(c);
}

int ppx__jpeg_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err)
{
    if (img->type == PPX_U16)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "JPEG holds 8-bit samples only; add `to-8bit` to the pipeline");
    if (img->type != PPX_U8)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "JPEG cannot hold float samples; write them with -f npy");
    if (img->channels == 2 || img->channels == 4)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "JPEG cannot hold alpha; add `rgb` to the pipeline");
    if (img->channels != 1 && img->channels != 3)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "bad channel count %u",
                           img->channels);
    if (img->width == 0 || img->height == 0 || !img->data)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "empty image (%ux%u)", img->width,
                           img->height);
    if (img->width > JPEG_MAX_SIDE || img->height > JPEG_MAX_SIDE)
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "JPEG cannot hold a %ux%u image (at most %u pixels a side)", img->width,
                           img->height, JPEG_MAX_SIDE);
    if (o->quality < 1 || o->quality > 100)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE, "JPEG quality %d is not in 1..100",
                           o->quality);

    struct jpeg_compress_struct c;
    jpeg_ctx ctx;
    buf_dest dst;
    memset(&c, 0, sizeof c);
    ppx_limits def;
    ppx_limits_default(&def);
    ctx_init(&ctx, &def, 0);
    c.err = &ctx.pub;
    dst.pub.init_destination = dest_init;
    dst.pub.empty_output_buffer = dest_empty;
    dst.pub.term_destination = dest_term;
    dst.out = out;
    int rc = 0;
    if (setjmp(ctx.jump)) {
        rc = ctx_report(&ctx, PPX_STAGE_ENCODE, err);
        out->len = 0;
    } else {
        encode_body(&c, &dst, img, o->quality);
    }
    jpeg_destroy_compress(&c);
    return rc;
}
