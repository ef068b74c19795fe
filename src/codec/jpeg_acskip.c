/* The scan walk of DC-only decoding (jpeg_acskip.h). No libjpeg here: the
 * walk only reads bytes, so that the unit tests can run it on crafted
 * streams. It finds markers the way libjpeg does (jdhuff.c's bit reader and
 * jdmarker.c's next_marker): an 0xFF, any number of 0xFF fill bytes, then a
 * code; code 0 makes the pair a stuffed 0xFF data byte. */
#include <string.h>

#include "codec/jpeg_acskip.h"

#define M_RST0 0xd0
#define M_RST7 0xd7
#define M_SOI 0xd8
#define M_EOI 0xd9
#define M_SOS 0xda
#define M_DQT 0xdb
#define M_DRI 0xdd
#define M_DHT 0xc4

enum {
    ST_KEEP,      /* pos: entropy-coded data that is handed out */
    ST_AC,        /* pos: entropy-coded data of an AC scan that is left out */
    ST_AC_MARKER, /* pos: the marker that ends a run of AC data */
    ST_SEGMENT,   /* pos: a marker segment between scans */
    ST_END        /* EOI handed out */
};

static int is_rst(int code)
{
    return code >= M_RST0 && code <= M_RST7;
}

/* The first marker at or after i: returns the offset of its first 0xFF and
 * sets *code, or returns len if the data runs to the end. With skip_rst,
 * restart markers count as data. */
static size_t find_marker(const uint8_t *b, size_t len, size_t i, int skip_rst, int *code)
{
    while (i < len) {
        const uint8_t *ff = memchr(b + i, 0xFF, len - i);
        if (!ff)
            return len;
        size_t p = (size_t)(ff - b), j = p + 1;
        while (j < len && b[j] == 0xFF)
            j++;
        if (j >= len)
            return len;
        if (b[j] != 0 && !(skip_rst && is_rst(b[j]))) {
            *code = b[j];
            return p;
        }
        i = j + 1;
    }
    return len;
}

/* Offset of the code byte of the marker whose first 0xFF is at p (the walk
 * only calls it where find_marker found one). */
static size_t code_at(const uint8_t *b, size_t len, size_t p)
{
    size_t j = p + 1;
    while (j < len && b[j] == 0xFF)
        j++;
    return j;
}

static int refuse(ppx__acskip *w, const char *why)
{
    w->why = why;
    return PPX_EUNSUPPORTED;
}

/* After the EOI that ends the walk: refused if an SOS or another EOI comes
 * before any SOI. A writer's data after EOI (a second image of an MPF file
 * starts with SOI) passes; an EOI written over an AC scan, with the rest of
 * the file after it, does not. */
static int check_after_eoi(ppx__acskip *w, size_t i)
{
    int code;
    for (;;) {
        size_t p = find_marker(w->buf, w->len, i, 0, &code);
        if (p == w->len || code == M_SOI)
            return 0;
        if (code == M_SOS || code == M_EOI)
            return refuse(w, "an SOS or a second EOI after EOI");
        i = code_at(w->buf, w->len, p) + 1;
    }
}

/* A marker segment between scans, at w->pos. */
static int segment(ppx__acskip *w, size_t *start, size_t *end)
{
    const uint8_t *b = w->buf;
    size_t len = w->len, p = w->pos;
    if (p >= len)
        return refuse(w, "the file ends between scans, before EOI");
    if (b[p] != 0xFF)
        return refuse(w, "bytes that are not a marker between scans");
    size_t j = code_at(b, len, p);
    if (j >= len)
        return refuse(w, "the file ends inside a marker");
    int code = b[j];
    if (code == M_EOI) {
        int rc = check_after_eoi(w, j + 1);
        if (rc)
            return rc;
        *start = p;
        *end = j + 1;
        w->pos = j + 1;
        w->state = ST_END;
        return PPX_ACSKIP_BYTES;
    }
    if (code != M_SOS && code != M_DHT && code != M_DQT && code != M_DRI)
        return refuse(w, "a marker other than DHT, DQT, DRI, SOS or EOI between scans");
    if (len - j < 3)
        return refuse(w, "the file ends inside a segment length");
    size_t seg = (size_t)b[j + 1] << 8 | b[j + 2];
    if (seg < 2 || len - j - 1 < seg)
        return refuse(w, "a segment that runs past the end of the file");
    if (code == M_SOS) {
        /* Ls, Ns, Ns selector pairs, Ss, Se, Ah/Al: libjpeg refuses any
         * other length, so the walk does too. */
        unsigned ns = seg >= 3 ? b[j + 3] : 0;
        if (ns == 0 || seg != 2 * ns + 6)
            return refuse(w, "an SOS segment whose length does not match its components");
        int id = b[j + 4];
        w->ss = b[j + 4 + 2 * ns];
        w->id = id;
        w->scans++;
        /* An AC scan holds one component (libjpeg refuses others: they are
         * handed out for it to say so). */
        int skip = w->ss > 0 && ns == 1 && (w->leave_out[id / 32] >> (id % 32) & 1);
        w->ac_scans += skip;
        w->rsts = 0;
        w->state = skip ? ST_AC : ST_KEEP;
    } else {
        w->state = ST_SEGMENT;
    }
    *start = p;
    *end = j + 1 + seg;
    w->pos = *end;
    return PPX_ACSKIP_BYTES;
}

void ppx__acskip_init(ppx__acskip *w, const uint8_t *buf, size_t len, size_t pos)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->len = len;
    w->pos = pos;
    w->scans = 1;
    w->state = ST_KEEP;
}

void ppx__acskip_leave_out(ppx__acskip *w, int id)
{
    unsigned u = (unsigned)id & 0xFF;
    w->leave_out[u / 32] |= 1u << (u % 32);
}

int ppx__acskip_next(ppx__acskip *w, size_t *start, size_t *end)
{
    int code;
    size_t m;
    switch (w->state) {
    case ST_KEEP:
        m = find_marker(w->buf, w->len, w->pos, 1, &code);
        if (m == w->len)
            return refuse(w, "a scan that runs to the end of the file");
        *start = w->pos;
        *end = m;
        w->pos = m;
        w->state = ST_SEGMENT;
        return PPX_ACSKIP_BYTES;
    case ST_AC:
        m = find_marker(w->buf, w->len, w->pos, 0, &code);
        if (m == w->len)
            return refuse(w, "an AC scan that runs to the end of the file");
        *start = w->pos;
        *end = m;
        w->left_out += m - w->pos;
        w->pos = m;
        w->state = ST_AC_MARKER;
        return PPX_ACSKIP_LEFT_OUT;
    case ST_AC_MARKER:
        m = code_at(w->buf, w->len, w->pos);
        if (is_rst(w->buf[m])) {
            *start = w->pos;
            *end = m + 1;
            w->pos = m + 1;
            w->rsts++;
            w->state = ST_AC;
            return PPX_ACSKIP_RST;
        }
        *start = *end = w->pos;
        w->state = ST_SEGMENT;
        return PPX_ACSKIP_AC_END;
    case ST_SEGMENT:
        return segment(w, start, end);
    default:
        *start = *end = w->pos;
        return PPX_ACSKIP_END;
    }
}
