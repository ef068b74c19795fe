/* DC-only decoding of progressive JPEG at 1/8 (src/codec/jpeg_acskip.c and
 * its use in jpeg.c).
 *
 * walk_*: the scan walk on crafted streams, byte for byte: what it hands
 * out, what it leaves out, what it refuses.
 * dc_only_*: the fast path against the whole decode (what prepix did
 * before) at 1/8, on progressive files written by libjpeg in the test
 * (sizes, subsamplings, restart intervals, scan scripts with DC and AC
 * successive approximation), pixels byte for byte; where it must not apply;
 * damaged and truncated files, which must fail exactly as before.
 * corpus_*: every progressive JPEG of the shared corpus (label corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "check.h"
#include "codec/jpeg_acskip.h"
#include "prepix/codec.h"

/* ---- crafted streams for the walk ---------------------------------------- */

static void put(ppx_buf *b, const char *s, size_t n)
{
    MUST(ppx_buf_append(b, s, n));
}

#define PUT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* An SOS segment of one component. */
static void sos(ppx_buf *b, int id, int ss, int se, int ah, int al)
{
    char s[10] = {'\xFF', '\xDA', 0, 8, 1, (char)id, 0, (char)ss, (char)se, (char)(ah << 4 | al)};
    put(b, s, sizeof s);
}

/* A segment with a payload of n bytes of x. */
static void segment(ppx_buf *b, int code, size_t n, char x)
{
    char h[4] = {'\xFF', (char)code, (char)((n + 2) >> 8), (char)(n + 2)};
    put(b, h, 4);
    for (size_t i = 0; i < n; i++)
        put(b, &x, 1);
}

/* Runs a walk over in[0..len) from pos with component 1 (and `also`, if
 * not 0) left out. out gets in[0..pos) and every piece handed out; returns
 * what the walk ended with: PPX_ACSKIP_END or its refusal. Checks that
 * pieces stay inside the buffer, follow each other without a gap, and that
 * the walk ends within a bounded number of steps. */
static int run_walk(const uint8_t *in, size_t len, size_t pos, int also, ppx_buf *out,
                    ppx__acskip *w)
{
    out->len = 0;
    MUST(ppx_buf_append(out, in, pos));
    ppx__acskip_init(w, in, len, pos);
    ppx__acskip_leave_out(w, 1);
    if (also)
        ppx__acskip_leave_out(w, also);
    size_t at = pos;
    for (size_t steps = 0; steps <= 4 * len + 8; steps++) {
        size_t a = 0, b = 0;
        int k = ppx__acskip_next(w, &a, &b);
        if (k < 0 || k == PPX_ACSKIP_END)
            return k;
        if (a != at || b < a || b > len) {
            fprintf(stderr, "piece [%zu, %zu) after %zu of %zu\n", a, b, at, len);
            return -1000;
        }
        at = b;
        if (k == PPX_ACSKIP_BYTES || k == PPX_ACSKIP_RST)
            MUST(ppx_buf_append(out, in + a, b - a));
    }
    fprintf(stderr, "walk does not end\n");
    return -1001;
}

static int same_bytes(const ppx_buf *a, const ppx_buf *b)
{
    if (a->len == b->len && memcmp(a->data, b->data, a->len) == 0)
        return 1;
    fprintf(stderr, "walk gave %zu bytes, expected %zu\n", a->len, b->len);
    for (size_t i = 0; i < a->len && i < b->len; i++)
        if (a->data[i] != b->data[i]) {
            fprintf(stderr, "first difference at byte %zu: %02x, expected %02x\n", i, a->data[i],
                    b->data[i]);
            break;
        }
    return 0;
}

/* The start of a stream: SOI, a table, and the SOS of a DC scan of
 * components 1..3 (where jpeg_read_header stops). */
static size_t head(ppx_buf *b)
{
    b->len = 0;
    PUT(b, "\xFF\xD8");
    segment(b, 0xDB, 65, 1);
    PUT(b, "\xFF\xDA\x00\x0C\x03\x01\x00\x02\x11\x03\x11\x00\x00\x01");
    return b->len;
}

/* DC scans (first and refinement, Ah > 0) are handed out whole, stuffed
 * bytes and restart markers included; AC scans of component 1 only by
 * their SOS and restart markers; the AC scan of component 2 (not left out)
 * whole; tables between scans as they are. */
static int walk_keeps_dc_and_refinements(void)
{
    ppx_buf in, want, out;
    ppx_buf_init(&in);
    ppx_buf_init(&want);
    ppx_buf_init(&out);
    size_t pos = head(&in);
    PUT(&in, "\x12\xFF\x00\x34\xFF\xD0\x56"); /* DC data: stuffed 0xFF, RST0 */
    segment(&in, 0xC4, 20, 7);
    sos(&in, 1, 1, 5, 0, 2);
    size_t ac1 = in.len;
    PUT(&in, "\xAA\xFF\x00\xBB");
    size_t ac1_end = in.len;
    sos(&in, 2, 1, 63, 0, 1);
    PUT(&in, "\xCC\xDD");
    PUT(&in, "\xFF\xDA\x00\x0C\x03\x01\x00\x02\x00\x03\x00\x00\x00\x10"); /* DC refinement */
    PUT(&in, "\x77\x88\xFF\x00");
    sos(&in, 1, 1, 63, 1, 0); /* AC refinement of component 1 */
    size_t ac2 = in.len;
    PUT(&in, "\x99\x98\x97");
    size_t ac2_end = in.len;
    PUT(&in, "\xFF\xD9");

    MUST(ppx_buf_append(&want, in.data, ac1));
    MUST(ppx_buf_append(&want, in.data + ac1_end, ac2 - ac1_end));
    MUST(ppx_buf_append(&want, in.data + ac2_end, in.len - ac2_end));
    ppx__acskip w;
    CHECK_EQ_INT(run_walk(in.data, in.len, pos, 0, &out, &w), PPX_ACSKIP_END);
    CHECK(same_bytes(&out, &want));
    CHECK_EQ_INT(w.scans, 5);
    CHECK_EQ_INT(w.ac_scans, 2);
    CHECK_EQ_INT(w.left_out, (ac1_end - ac1) + (ac2_end - ac2));
    /* Component 2 left out too: its AC data goes. */
    CHECK_EQ_INT(run_walk(in.data, in.len, pos, 2, &out, &w), PPX_ACSKIP_END);
    CHECK_EQ_INT(w.ac_scans, 3);
    CHECK_EQ_INT(out.len, want.len - 2);
    ppx_buf_destroy(&in);
    ppx_buf_destroy(&want);
    ppx_buf_destroy(&out);
    return 0;
}

/* Inside AC data: 0xFF00 is a data byte, 0xFF fill bytes before a 0x00 or
 * a marker belong to it; restart markers (with their fill bytes) are
 * handed out, in their order, and the data between them left out. */
static int walk_stuffing_and_restarts(void)
{
    ppx_buf in, want, out;
    ppx_buf_init(&in);
    ppx_buf_init(&want);
    ppx_buf_init(&out);
    size_t pos = head(&in);
    PUT(&in, "\x01\x02");
    segment(&in, 0xDD, 2, 0); /* DRI */
    sos(&in, 1, 1, 63, 0, 0);
    MUST(ppx_buf_append(&want, in.data, in.len));
    PUT(&in, "\xFF\x00\xFF\xFF\x00\x11"); /* stuffed bytes, one after fill */
    PUT(&in, "\xFF\xD0");
    PUT(&want, "\xFF\xD0");
    PUT(&in, "\x22\xFF\x00");
    PUT(&in, "\xFF\xFF\xFF\xD1"); /* RST1 after fill bytes */
    PUT(&want, "\xFF\xFF\xFF\xD1");
    PUT(&in, "\xFF\xD2"); /* an empty interval */
    PUT(&want, "\xFF\xD2");
    PUT(&in, "\x33\x44\x55");
    PUT(&in, "\xFF\xFF\xD9"); /* EOI after fill */
    PUT(&want, "\xFF\xFF\xD9");
    ppx__acskip w;
    CHECK_EQ_INT(run_walk(in.data, in.len, pos, 0, &out, &w), PPX_ACSKIP_END);
    CHECK(same_bytes(&out, &want));
    CHECK_EQ_INT(w.left_out, 6 + 3 + 0 + 3);
    ppx_buf_destroy(&in);
    ppx_buf_destroy(&want);
    ppx_buf_destroy(&out);
    return 0;
}

/* The file cut at every length after the first SOS: the walk refuses (the
 * caller then decodes the whole file, which reports the truncation), never
 * ends as if the file were whole, and never hands out a byte past the cut
 * (each cut is its own allocation, so the asan preset sees any read past
 * it). */
static int walk_truncated(void)
{
    ppx_buf in, out;
    ppx_buf_init(&in);
    ppx_buf_init(&out);
    size_t pos = head(&in);
    PUT(&in, "\x12\xFF\x00\x34");
    segment(&in, 0xC4, 20, 7);
    sos(&in, 1, 1, 5, 0, 2);
    PUT(&in, "\xAA\xFF\x00\xFF\xD0\xBB\xFF");
    PUT(&in, "\xFF\xD9");
    for (size_t cut = pos; cut < in.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        CHECK(p != NULL);
        memcpy(p, in.data, cut);
        ppx__acskip w;
        int rc = run_walk(p, cut, pos, 0, &out, &w);
        free(p);
        if (rc != PPX_EUNSUPPORTED) {
            fprintf(stderr, "cut at %zu of %zu: walk ended with %d\n", cut, in.len, rc);
            return 1;
        }
    }
    ppx_buf_destroy(&in);
    ppx_buf_destroy(&out);
    return 0;
}

/* Builds head, a DC scan, an AC scan of component 1 whose data is 0x10
 * 0x20 then `inside`, then `rest`; returns the walk's result. */
static int walk_with(const char *inside, size_t n_inside, const char *rest, size_t n_rest,
                     ppx__acskip *w)
{
    ppx_buf in, out;
    ppx_buf_init(&in);
    ppx_buf_init(&out);
    size_t pos = head(&in);
    PUT(&in, "\x12\x34");
    sos(&in, 1, 1, 63, 0, 0);
    PUT(&in, "\x10\x20");
    put(&in, inside, n_inside);
    put(&in, rest, n_rest);
    int rc = run_walk(in.data, in.len, pos, 0, &out, w);
    if (rc < 0)
        printf("refused at byte %zu: %s\n", w->pos, w->why ? w->why : "?");
    ppx_buf_destroy(&in);
    ppx_buf_destroy(&out);
    return rc;
}

#define WALK(inside, rest, w) walk_with(inside, sizeof(inside) - 1, rest, sizeof(rest) - 1, w)

/* A marker inside AC data ends it, as it ends libjpeg's reading: then what
 * follows must be a well-formed stream, or the walk refuses. An EOI that
 * cuts an AC scan short, with more scans or a second EOI after it, is
 * refused; data after a final EOI that starts with SOI (a second image of
 * an MPF file) or holds no marker is not. */
static int walk_markers_inside_data(void)
{
    ppx__acskip w;
    /* APP1 or COM where a scan's data ends: not a sane writer's. */
    CHECK_EQ_INT(WALK("\xFF\xE1\x00\x04\x00\x00", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\xFE\x00\x04\x00\x00", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    /* SOF, SOI, TEM, a reserved code. */
    CHECK_EQ_INT(WALK("\xFF\xC0\x00\x04\x00\x00", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\xD8", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\x01", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\x55", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    /* A DHT whose length leads to bytes that are not a marker, or past the
     * end. */
    CHECK_EQ_INT(WALK("\xFF\xC4\x00\x03\x00", "\x30\xFF\xD9", &w), PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\xC4\x00\x05\x00", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    /* A DHT that chains to the next marker is a DHT: taken. */
    CHECK_EQ_INT(WALK("\xFF\xC4\x00\x04\x00\x00", "\xFF\xD9", &w), PPX_ACSKIP_END);
    /* EOI inside the AC data, the rest of the file after it. */
    CHECK_EQ_INT(WALK("\xFF\xD9", "\xFF\xDA\x00\x08\x01\x01\x00\x01\x3F\x10\x55\xFF\xD9", &w),
                 PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("\xFF\xD9", "\xFF\xD9", &w), PPX_EUNSUPPORTED);
    /* After the final EOI: an MPF image, or data with no marker. */
    CHECK_EQ_INT(WALK("", "\xFF\xD9\xFF\xD8\xFF\xDA\xFF\xD9", &w), PPX_ACSKIP_END);
    CHECK_EQ_INT(WALK("", "\xFF\xD9\x00\x01\xFF\x00\xFF", &w), PPX_ACSKIP_END);
    /* Bytes between segments. */
    CHECK_EQ_INT(WALK("", "\xFF\xC4\x00\x02\x00\xFF\xD9", &w), PPX_EUNSUPPORTED);
    /* An SOS whose length does not match its component count, and one
     * that runs past the end. */
    CHECK_EQ_INT(WALK("", "\xFF\xDA\x00\x09\x01\x01\x00\x01\x3F\x00\x00\xFF\xD9", &w),
                 PPX_EUNSUPPORTED);
    CHECK_EQ_INT(WALK("", "\xFF\xDA\x00\x08\x01\x01\x00", &w), PPX_EUNSUPPORTED);
    /* A restart marker is no end: the walk goes on to the EOI. */
    CHECK_EQ_INT(WALK("\xFF\xD0\x01\xFF\xD1", "\xFF\xD9", &w), PPX_ACSKIP_END);
    CHECK_EQ_INT(w.left_out, 2 + 1);
    CHECK_EQ_INT(w.rsts, 2);
    return 0;
}

/* ---- progressive files written by libjpeg -------------------------------- */

typedef struct {
    unsigned w, h;
    int gray;
    int hs, vs;                   /* luma sampling factors; chroma 1x1 */
    int restart_mcus;             /* restart_interval */
    int restart_rows;             /* restart_in_rows */
    const jpeg_scan_info *script; /* NULL: libjpeg's (Pillow's progressive=True) */
    int nscans;
    int arith;
    int quality;
} gen;

/* Texture with edges, gradients and noise, so every band has coefficients. */
static uint8_t sample(unsigned x, unsigned y, unsigned c)
{
    uint32_t v = x * 2654435761u ^ y * 2246822519u ^ c * 3266489917u;
    v ^= v >> 15;
    unsigned noise = v % 40;
    unsigned edge = ((x / 13 + y / 7) % 3) * 50;
    return (uint8_t)((x * (c + 1) + y * (3 - c)) % 120 + edge / 2 + noise);
}

static void write_jpeg(const gen *g, ppx_buf *out)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    int comps = g->gray ? 1 : 3;
    c.image_width = g->w;
    c.image_height = g->h;
    c.input_components = comps;
    c.in_color_space = g->gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, g->quality ? g->quality : 85, TRUE);
    if (!g->gray) {
        c.comp_info[0].h_samp_factor = g->hs;
        c.comp_info[0].v_samp_factor = g->vs;
    }
    c.restart_interval = (unsigned)g->restart_mcus;
    c.restart_in_rows = g->restart_rows;
    c.arith_code = g->arith ? TRUE : FALSE;
    c.optimize_coding = g->arith ? FALSE : TRUE;
    if (g->script) {
        c.scan_info = g->script;
        c.num_scans = g->nscans;
    } else {
        jpeg_simple_progression(&c);
    }
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)g->w * (size_t)comps);
    while (c.next_scanline < g->h) {
        for (unsigned x = 0; x < g->w; x++)
            for (int k = 0; k < comps; k++)
                row[(size_t)x * comps + k] = sample(x, c.next_scanline, (unsigned)k);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    free(row);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    out->len = 0;
    MUST(ppx_buf_append(out, mem, size));
    free(mem);
}

/* Decodes at 1/8 (a minimum of 1x1 picks the smallest scale). */
static int decode8(const ppx_buf *b, ppx__jpeg_acskip_mode mode, const ppx_limits *l,
                   ppx_image *img, ppx_err *e)
{
    ppx_limits def;
    ppx_limits_default(&def);
    ppx_decode_opts o = {.limits = l ? l : &def, .min_width = 1, .min_height = 1};
    ppx_err_clear(e);
    ppx_info info;
    int rc = ppx__jpeg_decode_mode(b->data, b->len, &o, mode, img, &info, e);
    if (rc == 0 && info.scale_denom != 8) {
        fprintf(stderr, "decoded at 1/%u\n", info.scale_denom);
        return -1000;
    }
    return rc;
}

static int same_pixels(const ppx_image *a, const ppx_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 0;
    for (uint32_t y = 0; y < a->height; y++)
        if (memcmp(ppx_image_row(a, y), ppx_image_row(b, y), (size_t)a->width * a->channels))
            return 0;
    return 1;
}

/* The fast path must apply to b and give exactly the pixels of the whole
 * decode; the default (AUTO) must too. */
static int fast_equals_whole(const ppx_buf *b, const char *what)
{
    ppx_image whole, fast, dflt;
    ppx_image_init(&whole);
    ppx_image_init(&fast);
    ppx_image_init(&dflt);
    ppx_err e;
    int rc = decode8(b, PPX_JPEG_ACSKIP_NEVER, NULL, &whole, &e);
    if (rc)
        fprintf(stderr, "%s: whole: %s\n", what, e.msg);
    CHECK_EQ_INT(rc, 0);
    rc = decode8(b, PPX_JPEG_ACSKIP_ONLY, NULL, &fast, &e);
    if (rc)
        fprintf(stderr, "%s: fast: %s: %s\n", what, ppx_err_name(rc), e.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(decode8(b, PPX_JPEG_ACSKIP_AUTO, NULL, &dflt, &e), 0);
    if (!same_pixels(&whole, &fast) || !same_pixels(&whole, &dflt)) {
        fprintf(stderr, "%s: pixels differ\n", what);
        return 1;
    }
    printf("%-44s %zu bytes, %ux%u at 1/8: same pixels\n", what, b->len, fast.width, fast.height);
    ppx_image_destroy(&whole);
    ppx_image_destroy(&fast);
    ppx_image_destroy(&dflt);
    return 0;
}

/* The fast path must not apply; the default gives the whole decode's pixels. */
static int fast_not_applied(const ppx_buf *b, const ppx_limits *l, const char *what)
{
    ppx_image whole, dflt;
    ppx_image_init(&whole);
    ppx_image_init(&dflt);
    ppx_err e;
    int rc = decode8(b, PPX_JPEG_ACSKIP_ONLY, l, &dflt, &e);
    printf("%s: %s: %s\n", what, ppx_err_name(rc), e.msg);
    CHECK_EQ_INT(rc, PPX_EUNSUPPORTED);
    CHECK(strstr(e.msg, "DC-only decoding") != NULL);
    CHECK_EQ_INT(decode8(b, PPX_JPEG_ACSKIP_NEVER, l, &whole, &e), 0);
    CHECK_EQ_INT(decode8(b, PPX_JPEG_ACSKIP_AUTO, l, &dflt, &e), 0);
    CHECK(same_pixels(&whole, &dflt));
    ppx_image_destroy(&whole);
    ppx_image_destroy(&dflt);
    return 0;
}

/* Scan scripts (component indexes, Ss, Se, Ah, Al). */
static const jpeg_scan_info separate_dc[] = {
    /* DC of each component in its own scan, successive approximation on
     * both DC and AC (as go's separate.dc.progression test file). */
    {1, {0}, 0, 0, 0, 1},  {1, {1}, 0, 0, 0, 1},  {1, {2}, 0, 0, 0, 1},  {1, {0}, 1, 5, 0, 2},
    {1, {2}, 1, 63, 0, 1}, {1, {1}, 1, 63, 0, 1}, {1, {0}, 6, 63, 0, 2}, {1, {0}, 1, 63, 2, 1},
    {1, {0}, 0, 0, 1, 0},  {1, {1}, 0, 0, 1, 0},  {1, {2}, 0, 0, 1, 0},  {1, {2}, 1, 63, 1, 0},
    {1, {1}, 1, 63, 1, 0}, {1, {0}, 1, 63, 1, 0},
};
static const jpeg_scan_info bands[] = {
    /* Spectral selection only, narrow bands, DC refined twice. */
    {3, {0, 1, 2}, 0, 0, 0, 2}, {1, {0}, 1, 2, 0, 0},   {1, {0}, 3, 9, 0, 0},
    {1, {1}, 1, 9, 0, 0},       {1, {2}, 1, 9, 0, 0},   {3, {0, 1, 2}, 0, 0, 2, 1},
    {1, {0}, 10, 63, 0, 0},     {1, {1}, 10, 63, 0, 0}, {1, {2}, 10, 63, 0, 0},
    {3, {0, 1, 2}, 0, 0, 1, 0},
};
static const jpeg_scan_info gray_steps[] = {
    {1, {0}, 0, 0, 0, 3}, {1, {0}, 1, 1, 0, 0},  {1, {0}, 0, 0, 3, 2}, {1, {0}, 2, 63, 0, 2},
    {1, {0}, 0, 0, 2, 1}, {1, {0}, 2, 63, 2, 1}, {1, {0}, 0, 0, 1, 0}, {1, {0}, 2, 63, 1, 0},
};
/* Incomplete: the last refinements never come, so libjpeg smooths. */
static const jpeg_scan_info incomplete[] = {
    {3, {0, 1, 2}, 0, 0, 0, 1}, {1, {0}, 1, 63, 0, 1},      {1, {1}, 1, 63, 0, 1},
    {1, {2}, 1, 63, 0, 1},      {3, {0, 1, 2}, 0, 0, 1, 0},
};
/* Chroma without AC scans: libjpeg smooths its DC. */
static const jpeg_scan_info no_chroma_ac[] = {
    {3, {0, 1, 2}, 0, 0, 0, 0},
    {1, {0}, 1, 63, 0, 0},
};
/* Chroma AC only from coefficient 10 on. */
static const jpeg_scan_info chroma_high_only[] = {
    {3, {0, 1, 2}, 0, 0, 0, 0},
    {1, {0}, 1, 63, 0, 0},
    {1, {1}, 10, 63, 0, 0},
    {1, {2}, 10, 63, 0, 0},
};

#define SCRIPT(s) (s), (int)(sizeof(s) / sizeof((s)[0]))

/* Sizes (odd ones, 1x1, partial MCUs at 1/8), subsamplings (4:4:4, 4:2:2,
 * 4:2:0 whose chroma libjpeg scales by 1/4 at 1/8, 4:4:0, 4:1:1, 4:1:0,
 * gray), restart intervals (every MCU, a few MCUs, rows), libjpeg's own
 * progression and scripts with DC refinement scans (Ah > 0). */
static int dc_only_equals_whole(void)
{
    static const struct {
        unsigned w, h;
    } sizes[] = {{1, 1}, {7, 9}, {17, 13}, {64, 64}, {333, 197}, {1024, 700}};
    static const struct {
        int gray, hs, vs;
        const char *name;
    } subs[] = {{0, 1, 1, "4:4:4"}, {0, 2, 1, "4:2:2"}, {0, 2, 2, "4:2:0"}, {0, 1, 2, "4:4:0"},
                {0, 4, 1, "4:1:1"}, {0, 4, 2, "4:1:0"}, {1, 1, 1, "gray"}};
    static const struct {
        int mcus, rows;
    } restarts[] = {{0, 0}, {1, 0}, {7, 0}, {0, 1}};
    ppx_buf b;
    ppx_buf_init(&b);
    int files = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ui = 0; ui < sizeof subs / sizeof subs[0]; ui++)
            for (size_t ri = 0; ri < sizeof restarts / sizeof restarts[0]; ri++) {
                if (sizes[si].w >= 1024 && ri != 1 && ri != 0)
                    continue; /* the big ones: with and without restarts only */
                gen g = {sizes[si].w,
                         sizes[si].h,
                         subs[ui].gray,
                         subs[ui].hs,
                         subs[ui].vs,
                         restarts[ri].mcus,
                         restarts[ri].rows,
                         NULL,
                         0,
                         0,
                         0};
                char what[128];
                snprintf(what, sizeof what, "%ux%u %s restart %d/%d", g.w, g.h, subs[ui].name,
                         g.restart_mcus, g.restart_rows);
                write_jpeg(&g, &b);
                CHECK_EQ_INT(fast_equals_whole(&b, what), 0);
                files++;
            }
    static const struct {
        const jpeg_scan_info *s;
        int n, gray;
        const char *name;
    } scripts[] = {{SCRIPT(separate_dc), 0, "separate DC, AC and DC refinement"},
                   {SCRIPT(bands), 0, "narrow bands, DC refined twice"},
                   {SCRIPT(gray_steps), 1, "gray, DC refined 3 times"}};
    for (size_t k = 0; k < sizeof scripts / sizeof scripts[0]; k++)
        for (size_t ui = 0; ui < (scripts[k].gray ? 1u : 3u); ui++)
            for (int rst = 0; rst <= 3; rst += 3) {
                gen g = {301, 203,          scripts[k].gray, subs[ui].hs, subs[ui].vs, rst,
                         0,   scripts[k].s, scripts[k].n,    0,           90};
                char what[128];
                snprintf(what, sizeof what, "%s %s restart %d", scripts[k].name,
                         scripts[k].gray ? "" : subs[ui].name, rst);
                write_jpeg(&g, &b);
                CHECK_EQ_INT(fast_equals_whole(&b, what), 0);
                files++;
            }
    printf("%d files\n", files);
    ppx_buf_destroy(&b);
    return 0;
}

/* Where the fast path would not give the same pixels, or there is nothing
 * to skip, it is not taken: baseline, scales above 1/8, arithmetic coding,
 * progressions after which libjpeg smooths (incomplete, a component with no
 * AC data for coefficients 1..9). The default then equals the whole decode. */
static int dc_only_not_applied(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    gen g = {300, 200, 0, 2, 2, 0, 0, SCRIPT(incomplete), 0, 0};
    write_jpeg(&g, &b);
    CHECK_EQ_INT(fast_not_applied(&b, NULL, "incomplete progression"), 0);
    gen g2 = {300, 200, 0, 2, 1, 0, 0, SCRIPT(no_chroma_ac), 0, 0};
    write_jpeg(&g2, &b);
    CHECK_EQ_INT(fast_not_applied(&b, NULL, "chroma without AC scans"), 0);
    gen g3 = {300, 200, 0, 1, 1, 0, 0, SCRIPT(chroma_high_only), 0, 0};
    write_jpeg(&g3, &b);
    CHECK_EQ_INT(fast_not_applied(&b, NULL, "chroma AC from coefficient 10"), 0);
    gen g4 = {300, 200, 0, 2, 2, 0, 0, NULL, 0, 1, 0};
    write_jpeg(&g4, &b);
    CHECK_EQ_INT(fast_not_applied(&b, NULL, "arithmetic progressive"), 0);

    /* Baseline: no AC scans to skip. */
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr jerr;
        c.err = jpeg_std_error(&jerr);
        jpeg_create_compress(&c);
        unsigned char *mem = NULL;
        unsigned long size = 0;
        jpeg_mem_dest(&c, &mem, &size);
        c.image_width = 64;
        c.image_height = 64;
        c.input_components = 1;
        c.in_color_space = JCS_GRAYSCALE;
        jpeg_set_defaults(&c);
        jpeg_start_compress(&c, TRUE);
        uint8_t row[64];
        for (unsigned x = 0; x < 64; x++)
            row[x] = (uint8_t)(x * 3);
        while (c.next_scanline < 64) {
            JSAMPROW r = row;
            jpeg_write_scanlines(&c, &r, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        b.len = 0;
        MUST(ppx_buf_append(&b, mem, size));
        free(mem);
    }
    CHECK_EQ_INT(fast_not_applied(&b, NULL, "baseline"), 0);

    /* Progressive at 1/4: AC coefficients are read. */
    gen g5 = {300, 200, 0, 2, 2, 0, 0, NULL, 0, 0, 0};
    write_jpeg(&g5, &b);
    ppx_limits def;
    ppx_limits_default(&def);
    ppx_decode_opts o = {.limits = &def, .min_width = 75, .min_height = 50};
    ppx_info info;
    CHECK_EQ_INT(ppx__jpeg_decode_mode(b.data, b.len, &o, PPX_JPEG_ACSKIP_ONLY, &img, &info, &e),
                 PPX_EUNSUPPORTED);
    CHECK_EQ_INT(ppx__jpeg_decode_mode(b.data, b.len, &o, PPX_JPEG_ACSKIP_AUTO, &img, &info, &e),
                 0);
    CHECK_EQ_INT(info.scale_denom, 4);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* The entropy decoder meets a marker at once in every restart interval of
 * a left-out AC scan and warns: those warnings are the plan and do not
 * count against max_warnings (a file with restart markers every MCU has
 * thousands). */
static int dc_only_restart_warnings_not_counted(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    gen g = {512, 512, 0, 2, 1, 1, 0, NULL, 0, 0, 0};
    write_jpeg(&g, &b);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_warnings = 0;
    ppx_image whole, fast;
    ppx_image_init(&whole);
    ppx_image_init(&fast);
    ppx_err e;
    CHECK_EQ_INT(decode8(&b, PPX_JPEG_ACSKIP_NEVER, &l, &whole, &e), 0);
    int rc = decode8(&b, PPX_JPEG_ACSKIP_ONLY, &l, &fast, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK(same_pixels(&whole, &fast));
    ppx_image_destroy(&whole);
    ppx_image_destroy(&fast);
    ppx_buf_destroy(&b);
    return 0;
}

/* Offsets [a, b) of the entropy-coded data the walk leaves out of b (the
 * first SOS found by a plain segment walk). Returns the count. */
static size_t left_out_ranges(const ppx_buf *b, size_t (*r)[2], size_t max)
{
    size_t i = 2;
    while (i + 4 <= b->len && !(b->data[i] == 0xFF && b->data[i + 1] == 0xDA))
        i += 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
    i += 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
    ppx__acskip w;
    ppx__acskip_init(&w, b->data, b->len, i);
    for (int id = 0; id < 256; id++)
        ppx__acskip_leave_out(&w, id); /* every component: a superset */
    size_t n = 0, s, e;
    for (int k; (k = ppx__acskip_next(&w, &s, &e)) > 0 && k != PPX_ACSKIP_END;)
        if (k == PPX_ACSKIP_LEFT_OUT && n < max) {
            r[n][0] = s;
            r[n][1] = e;
            n++;
        }
    return n;
}

/* What byte pos of a JPEG is part of: the marker code of the segment it
 * lies in (0xDA for an SOS segment or the scan data after it), -1 if none;
 * *data set when it is entropy-coded data; *seg_end: the end of the
 * segment (not of the data). */
static int part_of(const ppx_buf *b, size_t pos, int *data, size_t *seg_end)
{
    size_t i = 2;
    *data = 0;
    *seg_end = 0;
    while (i + 4 <= b->len && b->data[i] == 0xFF) {
        int m = b->data[i + 1];
        size_t end = i + 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
        if (m == 0xDA) /* the scan's data runs to the next non-RST marker */
            while (end + 1 < b->len && !(b->data[end] == 0xFF && b->data[end + 1] != 0 &&
                                         (b->data[end + 1] < 0xD0 || b->data[end + 1] > 0xD7)))
                end++;
        if (pos < end) {
            *seg_end = i + 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
            *data = m == 0xDA && pos >= *seg_end;
            return pos >= i ? m : -1;
        }
        i = end;
    }
    return -1;
}

/* Every byte of a file damaged in turn (set to 0x00, to 0xFF, bits
 * flipped) and the file cut at every length. For each: where the whole
 * decode succeeds, the default gives its pixels; where it fails, the
 * default fails with the same code and message, or, only for damage to what
 * nothing but left-out AC scans use (their entropy-coded data, their SOS
 * segment, a Huffman table), succeeds with exactly the undamaged file's
 * pixels. */
static int sweep(const gen *g, const char *what)
{
    ppx_buf b, d;
    ppx_buf_init(&b);
    ppx_buf_init(&d);
    write_jpeg(g, &b);
    ppx_image clean, whole, dflt;
    ppx_image_init(&clean);
    ppx_image_init(&whole);
    ppx_image_init(&dflt);
    ppx_err e1, e2;
    CHECK_EQ_INT(decode8(&b, PPX_JPEG_ACSKIP_ONLY, NULL, &clean, &e1), 0);
    size_t ranges[64][2];
    size_t nr = left_out_ranges(&b, ranges, 64);
    CHECK(nr > 0);
    int cases = 0, both_ok = 0, both_fail = 0, in_data = 0, in_sos = 0, in_dht = 0;
    int data_cases = 0, data_unseen = 0; /* damage in left-out data; unseen by either */
    for (size_t pos = 0; pos <= b.len; pos++)
        for (int v = 0; v < 4; v++) {
            d.len = 0;
            if (v == 3) { /* cut */
                if (pos == b.len)
                    continue;
                MUST(ppx_buf_append(&d, b.data, pos));
            } else {
                if (pos == b.len)
                    continue;
                MUST(ppx_buf_append(&d, b.data, b.len));
                d.data[pos] = v == 0 ? 0x00 : v == 1 ? 0xFF : (uint8_t)(d.data[pos] ^ 0x24);
                if (d.data[pos] == b.data[pos])
                    continue;
            }
            cases++;
            int r1 = decode8(&d, PPX_JPEG_ACSKIP_NEVER, NULL, &whole, &e1);
            int r2 = decode8(&d, PPX_JPEG_ACSKIP_AUTO, NULL, &dflt, &e2);
            int in_left_out = 0;
            for (size_t k = 0; k < nr && v != 3; k++)
                in_left_out |= pos >= ranges[k][0] && pos < ranges[k][1];
            data_cases += in_left_out;
            data_unseen += in_left_out && r1 == 0;
            if (r1 == 0) {
                if (r2 != 0 || !same_pixels(&whole, &dflt)) {
                    fprintf(stderr, "%s: byte %zu (%d): whole decode ok, default %s %s\n", what,
                            pos, v, ppx_err_name(r2), e2.msg);
                    return 1;
                }
                both_ok++;
            } else if (r2 != 0) {
                if (r1 != r2 || strcmp(e1.msg, e2.msg) != 0 || e1.stage != e2.stage) {
                    fprintf(stderr, "%s: byte %zu (%d): whole %s \"%s\", default %s \"%s\"\n", what,
                            pos, v, ppx_err_name(r1), e1.msg, ppx_err_name(r2), e2.msg);
                    return 1;
                }
                both_fail++;
            } else {
                int inside = 0, header = 0, data;
                size_t seg_end;
                int part = part_of(&b, pos, &data, &seg_end);
                for (size_t k = 0; k < nr; k++) {
                    inside |= pos >= ranges[k][0] && pos < ranges[k][1];
                    header |= part == 0xDA && !data && seg_end == ranges[k][0];
                }
                if (v == 3 || !(inside || header || part == 0xC4) || !same_pixels(&clean, &dflt)) {
                    fprintf(stderr,
                            "%s: byte %zu (%d, in %s of marker 0x%02x): whole decode fails (%s), "
                            "default decodes %s\n",
                            what, pos, v, data ? "the data" : "the segment", part, e1.msg,
                            !(inside || header || part == 0xC4) ? "outside left-out scans and DHT"
                                                                : "other pixels");
                    return 1;
                }
                in_data += inside;
                in_sos += header;
                in_dht += !inside && !header;
            }
        }
    printf("%s: %zu bytes, %d damaged or cut files: %d decode both ways (same pixels), %d fail "
           "both ways (same code and message), %d + %d + %d fail only in the whole decode, "
           "damaged in the data or SOS segment of a left-out AC scan or in a Huffman table (the "
           "default gives the undamaged file's pixels)\n",
           what, b.len, cases, both_ok, both_fail, in_data, in_sos, in_dht);
    printf("of the %d files damaged inside left-out AC data, the whole decode already decodes %d "
           "without noticing\n",
           data_cases, data_unseen);
    ppx_image_destroy(&clean);
    ppx_image_destroy(&whole);
    ppx_image_destroy(&dflt);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&d);
    return 0;
}

static int dc_only_damage_sweep(void)
{
    gen g = {48, 40, 0, 2, 1, 0, 0, NULL, 0, 0, 80};
    return sweep(&g, "48x40 4:2:2");
}

static int dc_only_damage_sweep_restart(void)
{
    gen g = {40, 32, 0, 2, 2, 2, 0, SCRIPT(separate_dc), 0, 80};
    return sweep(&g, "40x32 4:2:0, restart every 2 MCUs, separate DC");
}

/* ---- the corpus ---------------------------------------------------------- */

static int read_file(const char *path, ppx_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    b->len = 0;
    uint8_t tmp[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (ppx_buf_append(b, tmp, n))
            rc = -1;
    fclose(f);
    return rc;
}

/* The first SOF of a JPEG: its marker code, 0 if none before SOS. Stray
 * bytes between segments are skipped, as libjpeg skips them. */
static int sof_of(const ppx_buf *b)
{
    if (b->len < 4 || b->data[0] != 0xFF || b->data[1] != 0xD8)
        return 0;
    size_t i = 2;
    while (i + 4 <= b->len) {
        int m = b->data[i + 1];
        if (b->data[i] != 0xFF || m == 0xFF || m == 0) {
            i++;
            continue;
        }
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return m;
        if (m == 0xDA)
            return 0;
        i += 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
    }
    return 0;
}

/* Every progressive (SOF2) JPEG of the corpus, damaged ones included, at
 * 1/8: the default and the whole decode agree (same pixels, or the same
 * code and message); and each one the MANIFEST says decodes takes the fast
 * path. */
static int corpus_progressive(void)
{
    REQUIRE_CORPUS(root);
    char path[8192 + 4096];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", root);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image whole, fast, dflt;
    ppx_image_init(&whole);
    ppx_image_init(&fast);
    ppx_image_init(&dflt);
    char line[8192];
    int files = 0, fast_files = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *expected = strrchr(tab + 1, '\t');
        int decodes = expected && strcmp(expected + 1, "decode OK") == 0;
        snprintf(path, sizeof path, "%s/%s", root, line);
        if (read_file(path, &b) || sof_of(&b) != 0xC2)
            continue;
        files++;
        ppx_err e1, e2, e3;
        int r1 = decode8(&b, PPX_JPEG_ACSKIP_NEVER, NULL, &whole, &e1);
        int r2 = decode8(&b, PPX_JPEG_ACSKIP_AUTO, NULL, &dflt, &e2);
        int r3 = decode8(&b, PPX_JPEG_ACSKIP_ONLY, NULL, &fast, &e3);
        printf("%s: whole %s, default %s, fast path %s%s%s\n", line, ppx_err_name(r1),
               ppx_err_name(r2), ppx_err_name(r3), r3 ? ": " : "", r3 ? e3.msg : "");
        CHECK_EQ_INT(r1, r2);
        if (r1 == 0) {
            CHECK(same_pixels(&whole, &dflt));
        } else {
            CHECK_STR(e1.msg, e2.msg);
        }
        if (decodes) {
            CHECK_EQ_INT(r3, 0);
            CHECK(same_pixels(&whole, &fast));
            fast_files++;
        }
    }
    fclose(f);
    printf("%d progressive files, %d decodable ones through the fast path with the whole "
           "decode's pixels\n",
           files, fast_files);
    CHECK(files > 0);
    ppx_image_destroy(&whole);
    ppx_image_destroy(&fast);
    ppx_image_destroy(&dflt);
    ppx_buf_destroy(&b);
    return 0;
}

PPX_TEST_MAIN(TEST(walk_keeps_dc_and_refinements), TEST(walk_stuffing_and_restarts),
              TEST(walk_truncated), TEST(walk_markers_inside_data), TEST(dc_only_equals_whole),
              TEST(dc_only_not_applied), TEST(dc_only_restart_warnings_not_counted),
              TEST(dc_only_damage_sweep), TEST(dc_only_damage_sweep_restart),
              TEST(corpus_progressive))
