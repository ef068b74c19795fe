/* DC-only decoding of progressive JPEG at 1/8 (src/codec/jpeg_acskip.c).
 *
 * walk_*: the scan walk on crafted streams, byte for byte: what it hands
 * out, what it leaves out, what it refuses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

PPX_TEST_MAIN(TEST(walk_keeps_dc_and_refinements), TEST(walk_stuffing_and_restarts),
              TEST(walk_truncated), TEST(walk_markers_inside_data))
