/* Pages and chips: keys, and the samples of one file; see prepix/subimage.h. */
#include "prepix/subimage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prepix/codec.h"

void ppx_sub_opts_init(ppx_sub_opts *o)
{
    memset(o, 0, sizeof *o);
    o->page_last = UINT32_MAX;
    o->max_pages = PPX_SUB_MAX_PAGES;
    o->max_chips = PPX_SUB_MAX_CHIPS;
}

int ppx_sample_encode(ppx_sample t, double v, int exact, uint8_t out[4])
{
    if (ppx_sample_is_float(t)) {
        float f = (float)v;
        if (exact && (double)f != v)
            return -1;
        memcpy(out, &f, 4);
        return 0;
    }
    size_t bits = 8 * ppx_sample_size(t);
    double lo = ppx_sample_is_signed(t) ? -ldexp(1, (int)bits - 1) : 0;
    double hi = ppx_sample_is_signed(t) ? ldexp(1, (int)bits - 1) - 1 : ldexp(1, (int)bits) - 1;
    if (exact && (v != floor(v) || v < lo || v > hi))
        return -1;
    double r = v != v ? 0 : floor(v + 0.5);
    r = r < lo ? lo : r > hi ? hi : r;
    int64_t i = (int64_t)r;
    switch (ppx_sample_size(t)) {
    case 1: {
        uint8_t u = (uint8_t)i;
        memcpy(out, &u, 1);
        break;
    }
    case 2: {
        uint16_t u = (uint16_t)i;
        memcpy(out, &u, 2);
        break;
    }
    default: {
        uint32_t u = (uint32_t)i;
        memcpy(out, &u, 4);
        break;
    }
    }
    return 0;
}

static int parse_u32(const char *s, const char **end, uint32_t *v)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *e;
    unsigned long long x = strtoull(s, &e, 10);
    if (x > UINT32_MAX)
        return -1;
    *v = (uint32_t)x;
    *end = e;
    return 0;
}

int ppx_sub_parse_pages(ppx_sub_opts *o, const char *s)
{
    o->pages = 1;
    if (strcmp(s, "all") == 0) {
        o->page_first = 0;
        o->page_last = UINT32_MAX;
        return 0;
    }
    const char *e;
    uint32_t a, b;
    if (parse_u32(s, &e, &a))
        return PPX_EUSAGE;
    b = a;
    if (*e == '-' && parse_u32(e + 1, &e, &b))
        return PPX_EUSAGE;
    if (*e || b < a)
        return PPX_EUSAGE;
    o->page_first = a;
    o->page_last = b;
    return 0;
}

/* "A" or "AxB" (each 1..2^31) into *a, *b; "A" gives b = a. */
static int parse_pair(const char *s, char sep, uint32_t *a, uint32_t *b)
{
    const char *e;
    if (parse_u32(s, &e, a))
        return -1;
    *b = *a;
    if (*e == sep && parse_u32(e + 1, &e, b))
        return -1;
    return *e || *a == 0 || *b == 0 || *a > (1u << 31) || *b > (1u << 31) ? -1 : 0;
}

int ppx_sub_parse_option(ppx_sub_opts *o, const char *name, const char *arg, char *why, size_t cap)
{
    const char *e;
    uint32_t v;
    if (strcmp(name, "pages") == 0) {
        if (ppx_sub_parse_pages(o, arg) == 0)
            return 0;
        snprintf(why, cap, "--pages %s: expected all, N or A-B (pages from 0)", arg);
    } else if (strcmp(name, "chips") == 0) {
        if (parse_pair(arg, 'x', &o->chip_w, &o->chip_h) == 0)
            return 0;
        snprintf(why, cap, "--chips %s: expected WxH or S (a square), in pixels", arg);
    } else if (strcmp(name, "chip-stride") == 0) {
        if (parse_pair(arg, ',', &o->stride_x, &o->stride_y) == 0)
            return 0;
        snprintf(why, cap, "--chip-stride %s: expected S or SX,SY, in pixels", arg);
    } else if (strcmp(name, "chip-edge") == 0) {
        if (strcmp(arg, "drop") == 0 || strcmp(arg, "pad") == 0 || strcmp(arg, "shift") == 0) {
            o->edge = arg[0] == 'd' ? PPX_EDGE_DROP : arg[0] == 'p' ? PPX_EDGE_PAD : PPX_EDGE_SHIFT;
            return 0;
        }
        snprintf(why, cap, "--chip-edge %s: expected drop, pad or shift", arg);
    } else if (strcmp(name, "nodata") == 0) {
        char *end;
        double d = strtod(arg, &end);
        if (*arg && !*end && d == d) {
            o->has_nodata = 1;
            o->nodata = d;
            return 0;
        }
        snprintf(why, cap, "--nodata %s: expected a number", arg);
    } else if (strcmp(name, "max-pages") == 0 || strcmp(name, "max-chips") == 0) {
        if (parse_u32(arg, &e, &v) == 0 && !*e && v > 0) {
            *(name[4] == 'p' ? &o->max_pages : &o->max_chips) = v;
            return 0;
        }
        snprintf(why, cap, "--%s %s: expected a number from 1 to %u", name, arg, UINT32_MAX);
    } else {
        return 1;
    }
    return PPX_EUSAGE;
}

int ppx_sub_finish(ppx_sub_opts *o, char *why, size_t cap)
{
    if (!o->chip_w && (o->stride_x || o->edge != PPX_EDGE_DROP || o->has_nodata)) {
        snprintf(why, cap, "--chip-stride, --chip-edge and --nodata need --chips WxH");
        return PPX_EUSAGE;
    }
    /* A configuration zeroed rather than initialised gets the defaults. */
    if (!o->max_pages)
        o->max_pages = PPX_SUB_MAX_PAGES;
    if (!o->max_chips)
        o->max_chips = PPX_SUB_MAX_CHIPS;
    if (o->pages == 0)
        o->page_last = UINT32_MAX;
    if (o->chip_w && !o->stride_x) {
        o->stride_x = o->chip_w;
        o->stride_y = o->chip_h;
    }
    return 0;
}

static int has_tiff_ext(const char *key, size_t len)
{
    return (len > 4 && strncasecmp(key + len - 4, ".tif", 4) == 0) ||
           (len > 5 && strncasecmp(key + len - 5, ".tiff", 5) == 0);
}

/* A run of digits ending at key[end) (exclusive), without leading zeros
 * (so that each number has one spelling and each sample one key): its
 * start, or (size_t)-1. */
static size_t digits_before(const char *key, size_t end, uint32_t *v)
{
    size_t i = end;
    while (i > 0 && key[i - 1] >= '0' && key[i - 1] <= '9')
        i--;
    if (i == end || end - i > 10 || (key[i] == '0' && end - i > 1))
        return (size_t)-1;
    unsigned long long x = 0;
    for (size_t j = i; j < end; j++)
        x = x * 10 + (unsigned)(key[j] - '0');
    if (x > UINT32_MAX)
        return (size_t)-1;
    *v = (uint32_t)x;
    return i;
}

int ppx_subkey_parse(const char *key, ppx_subkey *k)
{
    ppx_subkey t;
    memset(&t, 0, sizeof t);
    size_t end = strlen(key), i;
    /* @X,Y at the end */
    uint32_t x, y;
    if ((i = digits_before(key, end, &y)) != (size_t)-1 && i > 0 && key[i - 1] == ',') {
        size_t j = digits_before(key, i - 1, &x);
        if (j != (size_t)-1 && j > 0 && key[j - 1] == '@') {
            t.has_chip = 1;
            t.x = x;
            t.y = y;
            end = j - 1;
        }
    }
    /* #pN before it */
    uint32_t p;
    if ((i = digits_before(key, end, &p)) != (size_t)-1 && i > 1 && key[i - 1] == 'p' &&
        key[i - 2] == '#') {
        t.has_page = 1;
        t.page = p;
        end = i - 2;
    }
    if ((!t.has_chip && !t.has_page) || !has_tiff_ext(key, end))
        return 0;
    t.file_len = end;
    *k = t;
    return 1;
}

int ppx_subkey_format(char *out, size_t cap, const char *file, size_t file_len,
                      const ppx_sub_opts *o, uint32_t page, uint32_t x, uint32_t y)
{
    int n = snprintf(out, cap, "%.*s", (int)file_len, file);
    if (n >= 0 && (size_t)n < cap && o->pages)
        n += snprintf(out + n, cap - (size_t)n, "#p%u", page);
    if (n >= 0 && (size_t)n < cap && o->chip_w)
        n += snprintf(out + n, cap - (size_t)n, "@%u,%u", x, y);
    if (n < 0 || (size_t)n >= cap)
        return PPX_ENAMETOOLONG;
    return 0;
}

/* Chip corners along one side of `len` pixels: how many, and the k-th. */
static uint64_t axis_count(uint32_t len, uint32_t chip, uint32_t stride, ppx_chip_edge edge)
{
    if (edge == PPX_EDGE_PAD)
        return len ? ((uint64_t)len - 1) / stride + 1 : 0;
    if (edge == PPX_EDGE_SHIFT && len <= chip)
        return len ? 1 : 0; /* nothing to shift into: one chip at 0, padded */
    if (len < chip)
        return 0;
    uint64_t n = ((uint64_t)len - chip) / stride + 1;
    /* shift: one more chip, moved back inside, when the grid leaves a strip */
    if (edge == PPX_EDGE_SHIFT && (n - 1) * stride + chip < len)
        n++;
    return n;
}

static uint32_t axis_at(uint64_t k, uint64_t n, uint32_t len, uint32_t chip, uint32_t stride,
                        ppx_chip_edge edge)
{
    if (edge == PPX_EDGE_SHIFT && len > chip && k == n - 1)
        return len - chip;
    return (uint32_t)(k * stride);
}

typedef struct {
    const ppx_sub_opts *o;
    ppx_sub_fn fn;
    void *arg;
    int counting;
    uint64_t total;
} expand_state;

static int on_page(void *arg, uint32_t page, uint32_t w, uint32_t h, ppx_err *err)
{
    expand_state *st = arg;
    const ppx_sub_opts *o = st->o;
    if (!o->chip_w) {
        st->total++;
        return st->counting ? 0 : st->fn(st->arg, page, 0, 0, err);
    }
    uint64_t nx = axis_count(w, o->chip_w, o->stride_x, o->edge);
    uint64_t ny = axis_count(h, o->chip_h, o->stride_y, o->edge);
    if (st->counting) {
        /* Each factor is below 2^32: the product cannot wrap. */
        st->total += nx * ny;
        if (st->total > o->max_chips)
            return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                               "%ux%u chips with stride %u,%u make over %u chips from this file "
                               "(page %u is %ux%u), the limit a file (--max-chips)",
                               o->chip_w, o->chip_h, o->stride_x, o->stride_y, o->max_chips, page,
                               w, h);
        return 0;
    }
    for (uint64_t j = 0; j < ny; j++)
        for (uint64_t i = 0; i < nx; i++) {
            int rc = st->fn(st->arg, page, axis_at(i, nx, w, o->chip_w, o->stride_x, o->edge),
                            axis_at(j, ny, h, o->chip_h, o->stride_y, o->edge), err);
            if (rc)
                return rc;
        }
    return 0;
}

int ppx_sub_expand(const uint8_t *buf, size_t len, const ppx_limits *limits, const ppx_sub_opts *o,
                   ppx_sub_fn fn, void *arg, ppx_err *err)
{
    uint32_t first = o->pages ? o->page_first : 0, last = o->pages ? o->page_last : 0;
    /* Counted first, so that a file over a limit adds no sample at all. */
    expand_state st = {o, fn, arg, 1, 0};
    int rc = ppx_codec_tiff_pages(buf, len, limits, first, last, o->max_pages, on_page, &st, err);
    if (rc)
        return rc;
    if (st.total == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                           "no %ux%u chip fits in it with --chip-edge drop (its pages are smaller)",
                           o->chip_w, o->chip_h);
    st.counting = 0;
    return ppx_codec_tiff_pages(buf, len, limits, first, last, o->max_pages, on_page, &st, err);
}
