/* A JSON reader for untrusted files with limits (prepix/json_read.h). */
#include "prepix/json_read.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ppx_jdoc *d;
    const ppx_json_limits *lim;
    const char *p, *end;
    ppx_err *err;
} parser;

void ppx_jdoc_where(const ppx_jdoc *d, size_t off, unsigned long *line, unsigned long *col)
{
    unsigned long l = 1, c = 1;
    for (size_t i = 0; i < off && i < d->len; i++) {
        if (d->text[i] == '\n')
            l++, c = 1;
        else
            c++;
    }
    *line = l;
    *col = c;
}

static int fail(parser *ps, int code, const char *at, const char *what)
{
    unsigned long line, col;
    ppx_jdoc_where(ps->d, (size_t)(at - ps->d->text), &line, &col);
    return ppx_err_set(ps->err, code, PPX_STAGE_INPUT, "line %lu column %lu: %s", line, col, what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int add_node(parser *ps, ppx_jv_type t, const char *start, size_t *idx)
{
    ppx_jdoc *d = ps->d;
    if (d->n >= ps->lim->max_nodes)
        return fail(ps, PPX_ELIMIT, start, "more values than the limit");
    if (d->n >= d->cap && ppx_array_grow((void **)&d->v, &d->cap, d->n, sizeof *d->v, 1024))
        return ppx_err_set(ps->err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory reading JSON");
    d->v[d->n] = (ppx_jnode){.start = (uint32_t)(start - d->text), .type = (uint8_t)t};
    *idx = d->n++;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number the grammar accepted, at p, into *v; the end in *end. Numbers of
 * at most 15 significant digits and a decimal exponent within 22 (those of
 * annotation files) are m * 10^e or m / 10^-e with m and 10^|e| exact
 * doubles: one IEEE operation, so correctly rounded, the value strtod
 * gives (Clinger's fast path), at a tenth of its cost. Others go to strtod. */
static double to_double(const char *p, const char **end)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *q = p;
    int neg = *q == '-';
    q += neg;
    uint64_t m = 0;
    int digits = 0, e = 0;
    while (*q >= '0' && *q <= '9') {
        if (m || *q != '0')
            digits++;
        m = m * 10 + (uint64_t)(*q++ - '0');
        if (digits > 15)
            goto slow;
    }
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') {
            if (m || *q != '0')
                digits++;
            m = m * 10 + (uint64_t)(*q++ - '0');
            e--;
            if (digits > 15)
                goto slow;
        }
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        int es = 1, x = 0;
        if (*q == '+' || *q == '-')
            es = *q++ == '-' ? -1 : 1;
        while (*q >= '0' && *q <= '9') {
            if (x > 1000)
                goto slow;
            x = x * 10 + (*q++ - '0');
        }
        e += es * x;
    }
    if (e < -22 || e > 22)
        goto slow;
    *end = q;
    double v = e < 0 ? (double)m / p10[-e] : (double)m * p10[e];
    return neg ? -v : v;
slow:;
    char *ep;
    double r = strtod(p, &ep);
    *end = ep;
    return r;
}

/* RFC 8259's number grammar, then strtod (the C locale's '.'), which stops
 * where the grammar did. A value that overflows is refused: COCO has no use
 * for infinities and the writer could not write one back. */
static int number(parser *ps)
{
    const char *s = ps->p, *q = s;
    if (q < ps->end && *q == '-')
        q++;
    if (q < ps->end && *q == '0')
        q++;
    else if (q < ps->end && is_digit(*q))
        while (q < ps->end && is_digit(*q))
            q++;
    else
        return fail(ps, PPX_ECORRUPT, s, "expected a value (NaN and Infinity are not JSON)");
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || !is_digit(*q))
            return fail(ps, PPX_ECORRUPT, q, "expected a digit after '.'");
        while (q < ps->end && is_digit(*q))
            q++;
    }
    int exp = q < ps->end && (*q == 'e' || *q == 'E');
    if (exp) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || !is_digit(*q))
            return fail(ps, PPX_ECORRUPT, q, "expected a digit in the exponent");
        while (q < ps->end && is_digit(*q))
            q++;
    }
    /* Without an exponent, fewer than 309 digits are finite: converted
     * only when read (a third of reading's time was this conversion). */
    const char *e;
    if ((exp || q - s > 300) && !isfinite(to_double(s, &e)))
        return fail(ps, PPX_ECORRUPT, s, "a number too large for a double");
    ps->p = q;
    return 0;
}

static int hex4(const char *q)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static int string(parser *ps)
{
    const char *q = ps->p + 1;
    for (;;) {
        if (q >= ps->end)
            return fail(ps, PPX_ECORRUPT, ps->p, "a string that never ends");
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, PPX_ECORRUPT, q, "a control character inside a string");
        if (c == '\\') {
            q++;
            if (q >= ps->end)
                return fail(ps, PPX_ECORRUPT, q, "a string that never ends");
            if (*q == 'u') {
                if (ps->end - q < 5 || hex4(q + 1) < 0)
                    return fail(ps, PPX_ECORRUPT, q, "a \\u escape without 4 hex digits");
                q += 4;
            } else if (!strchr("\"\\/bfnrt", *q)) {
                return fail(ps, PPX_ECORRUPT, q, "an unknown escape in a string");
            }
        }
        q++;
    }
    ps->p = q + 1;
    return 0;
}

static int value(parser *ps, uint32_t depth);

static int container(parser *ps, uint32_t depth, int obj)
{
    size_t idx;
    const char *start = ps->p;
    if (depth >= ps->lim->max_depth)
        return fail(ps, PPX_ELIMIT, start, "nested deeper than the limit");
    int rc = add_node(ps, obj ? PPX_JV_OBJ : PPX_JV_ARR, start, &idx);
    if (rc)
        return rc;
    ps->p++;
    uint32_t count = 0;
    int all_nums = 1;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
        ps->p++;
    } else {
        for (;;) {
            skip_ws(ps);
            if (obj) {
                size_t k;
                if (ps->p >= ps->end || *ps->p != '"')
                    return fail(ps, PPX_ECORRUPT, ps->p, "expected a member name in quotes");
                const char *ks = ps->p;
                if ((rc = add_node(ps, PPX_JV_STR, ks, &k)) || (rc = string(ps)))
                    return rc;
                ps->d->v[k].len = (uint32_t)(ps->p - ks);
                ps->d->v[k].end = (uint32_t)(k + 1);
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return fail(ps, PPX_ECORRUPT, ps->p, "expected ':' after a member name");
                ps->p++;
                skip_ws(ps);
            }
            size_t child = ps->d->n;
            if ((rc = value(ps, depth + 1)))
                return rc;
            all_nums &= ps->d->v[child].type == PPX_JV_NUM;
            if (count == UINT32_MAX)
                return fail(ps, PPX_ELIMIT, start, "more elements than the limit");
            count++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
                ps->p++;
                break;
            }
            return fail(ps, PPX_ECORRUPT, ps->p,
                        obj ? "expected ',' or '}' in an object"
                            : "expected ',' or ']' in an array");
        }
    }
    ppx_jnode *nd = &ps->d->v[idx];
    nd->len = (uint32_t)(ps->p - start);
    nd->n = count;
    if (!obj && count && all_nums) {
        if (count > ps->lim->max_number)
            return fail(ps, PPX_ELIMIT, start, "an array of more numbers than the limit");
        nd->type = PPX_JV_NUMS;
        ps->d->n = idx + 1;
    }
    nd->end = (uint32_t)ps->d->n;
    return 0;
}

static int literal(parser *ps, const char *word, ppx_jv_type t)
{
    size_t n = strlen(word), idx;
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, PPX_ECORRUPT, ps->p, "expected a value (NaN and Infinity are not JSON)");
    int rc = add_node(ps, t, ps->p, &idx);
    if (rc)
        return rc;
    ps->d->v[idx].len = (uint32_t)n;
    ps->d->v[idx].end = (uint32_t)(idx + 1);
    ps->p += n;
    return 0;
}

static int value(parser *ps, uint32_t depth)
{
    if (ps->p >= ps->end)
        return fail(ps, PPX_ECORRUPT, ps->p, "the text ends where a value should be");
    char c = *ps->p;
    size_t idx;
    int rc;
    const char *s = ps->p;
    switch (c) {
    case '{':
    case '[':
        return container(ps, depth, c == '{');
    case '"':
        if ((rc = add_node(ps, PPX_JV_STR, s, &idx)) || (rc = string(ps)))
            return rc;
        break;
    case 't':
        return literal(ps, "true", PPX_JV_TRUE);
    case 'f':
        return literal(ps, "false", PPX_JV_FALSE);
    case 'n':
        return literal(ps, "null", PPX_JV_NULL);
    default:
        if ((rc = add_node(ps, PPX_JV_NUM, s, &idx)) || (rc = number(ps)))
            return rc;
        break;
    }
    ps->d->v[idx].len = (uint32_t)(ps->p - s);
    ps->d->v[idx].end = (uint32_t)(idx + 1);
    return 0;
}

int ppx_jdoc_parse(ppx_jdoc *d, const char *text, size_t len, const ppx_json_limits *lim,
                   ppx_err *err)
{
    memset(d, 0, sizeof *d);
    d->text = text;
    d->len = len;
    parser ps = {d, lim, text, text + len, err};
    int rc;
    if (len > lim->max_bytes || len > UINT32_MAX - 2)
        rc = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT, "%zu bytes, over the limit of %llu", len,
                         (unsigned long long)lim->max_bytes);
    else if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        rc = fail(&ps, PPX_ECORRUPT, text, "a byte-order mark: JSON text starts without one");
    else {
        skip_ws(&ps);
        rc = value(&ps, 0);
        skip_ws(&ps);
        if (!rc && ps.p != ps.end)
            rc = fail(&ps, PPX_ECORRUPT, ps.p, "more text after the JSON value");
    }
    if (rc) {
        ppx_jdoc_destroy(d);
        d->text = text;
    }
    return rc;
}

void ppx_jdoc_destroy(ppx_jdoc *d)
{
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

int ppx_jdoc_is_key(const ppx_jdoc *d, size_t i, const char *key)
{
    const ppx_jnode *k = &d->v[i];
    size_t n = strlen(key);
    return k->type == PPX_JV_STR && k->len == n + 2 && memcmp(d->text + k->start + 1, key, n) == 0;
}

long ppx_jdoc_get(const ppx_jdoc *d, size_t obj, const char *key)
{
    if (obj >= d->n || d->v[obj].type != PPX_JV_OBJ)
        return -1;
    long found = -1;
    for (size_t k = obj + 1; k < d->v[obj].end; k = d->v[k + 1].end)
        if (ppx_jdoc_is_key(d, k, key))
            found = (long)(k + 1);
    return found;
}

double ppx_json_num(const char *p, const char **end)
{
    return to_double(p, end);
}

double ppx_jdoc_num(const ppx_jdoc *d, size_t i)
{
    const char *e;
    return to_double(d->text + d->v[i].start, &e);
}

void ppx_jdoc_nums(const ppx_jdoc *d, size_t i, double *out)
{
    const ppx_jnode *nd = &d->v[i];
    if (nd->type != PPX_JV_NUMS)
        return;
    const char *p = d->text + nd->start + 1;
    for (uint32_t k = 0; k < nd->n; k++) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
            p++;
        const char *e;
        out[k] = to_double(p, &e);
        p = e;
    }
}

static void put_utf8(ppx_buf *b, unsigned cp, int *rc)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (uint8_t)(0xc0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        u[0] = (uint8_t)(0xe0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)),
        u[2] = (uint8_t)(0x80 | (cp & 63)), n = 3;
    else
        u[0] = (uint8_t)(0xf0 | cp >> 18), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 63)),
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)), u[3] = (uint8_t)(0x80 | (cp & 63)), n = 4;
    *rc = *rc || ppx_buf_append(b, u, n);
}

int ppx_jdoc_str(const ppx_jdoc *d, size_t i, ppx_buf *out)
{
    const ppx_jnode *nd = &d->v[i];
    return ppx_json_unescape(d->text + nd->start, nd->len, out);
}

int ppx_json_unescape(const char *s, size_t len, ppx_buf *out)
{
    const char *p = s + 1, *end = s + len - 1;
    int rc = 0;
    while (p < end && !rc) {
        if (*p != '\\') {
            const char *q = p;
            while (q < end && *q != '\\')
                q++;
            rc = ppx_buf_append(out, p, (size_t)(q - p));
            p = q;
            continue;
        }
        p++;
        char c = *p++;
        if (c != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            rc = ppx_buf_append(out, &to[strchr(from, c) - from], 1);
            continue;
        }
        unsigned cp = (unsigned)hex4(p);
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            int lo = hex4(p + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
                p += 6;
            }
        }
        if (cp >= 0xdc80 && cp <= 0xdcff) { /* surrogateescape: the raw byte */
            uint8_t byte = (uint8_t)(cp - 0xdc00);
            rc = ppx_buf_append(out, &byte, 1);
        } else {
            put_utf8(out, cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp, &rc);
        }
    }
    return rc || ppx_buf_append(out, "", 1) ? PPX_ENOMEM : 0;
}

/* ---- the cursor ------------------------------------------------------------ */

void ppx_jcur_init(ppx_jcur *c, const char *text, size_t len, const ppx_json_limits *lim,
                   ppx_err *err)
{
    *c = (ppx_jcur){.text = text, .p = text, .end = text + len, .lim = lim, .err = err};
}

/* The cursor's string and number are the parser's own (string(), number()),
 * its numbers converted as the writer converts them (ppx_json_num_fast, then
 * to_double): one grammar, one conversion, whichever reader reads. */
static parser cursor_parser(const ppx_jcur *c, ppx_jdoc *d)
{
    *d = (ppx_jdoc){.text = c->text, .len = (size_t)(c->end - c->text)};
    return (parser){d, c->lim, c->p, c->end, c->err};
}

int ppx_jcur_fail(const ppx_jcur *c, int code, const char *at, const char *what)
{
    ppx_jdoc d;
    parser ps = cursor_parser(c, &d);
    return fail(&ps, code, at, what);
}

int ppx_jcur_string_slow(ppx_jcur *c)
{
    ppx_jdoc d;
    parser ps = cursor_parser(c, &d);
    int rc = string(&ps);
    c->p = ps.p;
    return rc;
}

int ppx_jcur_number(ppx_jcur *c, double *v)
{
    ppx_jdoc d;
    parser ps = cursor_parser(c, &d);
    int rc = number(&ps);
    if (rc)
        return rc;
    if (v) {
        const char *e;
        *v = ppx_json_num_fast(c->p, &e);
    }
    c->p = ps.p;
    return 0;
}

static int skip_container(ppx_jcur *c, uint32_t depth, int obj)
{
    const char *start = c->p;
    if (depth >= c->lim->max_depth)
        return ppx_jcur_fail(c, PPX_ELIMIT, start, "nested deeper than the limit");
    int rc = ppx_jcur_count(c, start);
    if (rc)
        return rc;
    uint64_t before = c->values;
    uint32_t count = 0;
    int all_nums = 1;
    c->p++;
    ppx_jcur_ws(c);
    if (*c->p == (obj ? '}' : ']')) {
        c->p++;
        return 0;
    }
    for (;;) {
        ppx_jcur_ws(c);
        const char *k;
        size_t kn;
        if (obj && (rc = ppx_jcur_key(c, &k, &kn)))
            return rc;
        int num;
        if ((rc = ppx_jcur_skip(c, depth + 1, &num)))
            return rc;
        all_nums &= num;
        if (count == UINT32_MAX)
            return ppx_jcur_fail(c, PPX_ELIMIT, start, "more elements than the limit");
        count++;
        ppx_jcur_ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == (obj ? '}' : ']'))
            break;
        return ppx_jcur_fail(c, PPX_ECORRUPT, c->p,
                             obj ? "expected ',' or '}' in an object"
                                 : "expected ',' or ']' in an array");
    }
    c->p++;
    if (!obj && all_nums) {
        if (count > c->lim->max_number)
            return ppx_jcur_fail(c, PPX_ELIMIT, start, "an array of more numbers than the limit");
        c->values = before;
    }
    return 0;
}

int ppx_jcur_skip(ppx_jcur *c, uint32_t depth, int *num)
{
    const char *s = c->p;
    int dummy, rc;
    num = num ? num : &dummy;
    *num = 0;
    if (s >= c->end)
        return ppx_jcur_fail(c, PPX_ECORRUPT, s, "the text ends where a value should be");
    if (*s == '{' || *s == '[')
        return skip_container(c, depth, *s == '{');
    if ((rc = ppx_jcur_count(c, s)))
        return rc;
    if (*s == '"')
        return ppx_jcur_string(c);
    static const char *const words[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (*s == words[i][0]) {
            size_t n = strlen(words[i]);
            if ((size_t)(c->end - s) < n || memcmp(s, words[i], n) != 0)
                break;
            c->p += n;
            return 0;
        }
    if (*s == 't' || *s == 'f' || *s == 'n')
        return ppx_jcur_fail(c, PPX_ECORRUPT, s,
                             "expected a value (NaN and Infinity are not JSON)");
    double v;
    *num = 1;
    return ppx_jcur_number(c, &v);
}
