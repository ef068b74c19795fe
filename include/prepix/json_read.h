/* A JSON reader for untrusted files with limits (size, nesting depth,
 * values), keeping every value's place in the text so that a writer can copy
 * what it does not change byte for byte, in its order.
 *
 * The text is parsed whole into a flat array of nodes in document order: a
 * container is followed by its children (an object's as key, value, key,
 * value ...), and each node knows where its subtree ends. An array whose
 * elements are all numbers is one node (PPX_JV_NUMS) holding their count:
 * the polygons and RLE counts of an annotation file are most of its values,
 * and a node each would cost 20 bytes per number. Strict RFC 8259: NaN,
 * Infinity, comments, trailing commas, leading zeros and bad escapes are
 * refused, and a number that overflows a double (1e999) too. Errors name the
 * line and column. Pure computation; safe anywhere. */
#ifndef PREPIX_JSON_READ_H
#define PREPIX_JSON_READ_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"

typedef enum {
    PPX_JV_NULL = 0,
    PPX_JV_FALSE,
    PPX_JV_TRUE,
    PPX_JV_NUM,
    PPX_JV_STR,
    PPX_JV_ARR,
    PPX_JV_OBJ,
    PPX_JV_NUMS, /* an array of numbers only (not empty) */
} ppx_jv_type;

typedef struct {
    uint32_t start, len; /* the value's bytes in the text (a string's with its quotes) */
    uint32_t end;        /* index of the first node after this one's subtree */
    uint32_t n;          /* ARR: elements; OBJ: members; NUMS: numbers */
    uint8_t type;        /* ppx_jv_type */
} ppx_jnode;

typedef struct {
    uint64_t max_bytes;  /* the text's size (at most 2^32 - 2) */
    uint32_t max_depth;  /* containers inside containers */
    uint64_t max_nodes;  /* values (a number array counts as one) */
    uint64_t max_number; /* numbers in one array of numbers */
} ppx_json_limits;

typedef struct {
    const char *text; /* the caller's, NUL-terminated at text[len] */
    size_t len;
    ppx_jnode *v;
    size_t n, cap;
} ppx_jdoc;

/* Parses text[0..len) (text[len] must be '\0') into *d, whose nodes refer
 * to text (which must outlive d). 0, or PPX_ECORRUPT (malformed: err says
 * where and why), PPX_ELIMIT (a limit: which one, and where), PPX_ENOMEM;
 * err's stage is INPUT. d is empty after a failure. */
PPX_MUST_USE int ppx_jdoc_parse(ppx_jdoc *d, const char *text, size_t len,
                                const ppx_json_limits *lim, ppx_err *err);
void ppx_jdoc_destroy(ppx_jdoc *d);

/* The value of member key of object node obj (the last, as Python's json
 * keeps it, when the key repeats), or -1. */
long ppx_jdoc_get(const ppx_jdoc *d, size_t obj, const char *key);
/* The children of a container: the first at obj + 1, the next at
 * d->v[i].end (an object's key is followed by its value at key + 1). */

/* A number node's value (finite: the parser refused others). */
double ppx_jdoc_num(const ppx_jdoc *d, size_t i);
/* The numbers of a NUMS node (or an empty ARR) into out[0..n), n = the
 * node's count (out must hold it). */
void ppx_jdoc_nums(const ppx_jdoc *d, size_t i, double *out);
/* A string node's bytes, unescaped, appended to out with a NUL (a \u escape
 * of a lone surrogate \udc80..\udcff becomes that byte, undoing the
 * surrogateescape of prepix's JSON writer). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_jdoc_str(const ppx_jdoc *d, size_t i, ppx_buf *out);
/* 1 when node i is the string key (no escapes compared: keys of COCO are
 * plain). */
int ppx_jdoc_is_key(const ppx_jdoc *d, size_t i, const char *key);
/* Line and column (1-based) of byte offset off in the text. */
void ppx_jdoc_where(const ppx_jdoc *d, size_t off, unsigned long *line, unsigned long *col);
/* The number at p (a number of a checked text) converted as ppx_jdoc_num
 * converts it (correctly rounded); its end in *end. */
double ppx_json_num(const char *p, const char **end);
/* The end of a plain number at p (an optional '-', digits without a
 * leading zero, an optional fraction; no exponent, under 300 bytes: finite
 * by its grammar), or NULL for anything else (ppx_jcur_number then checks
 * it, or says why it is not a number). Inline: most of an annotation file
 * is such numbers. */
static inline const char *ppx_json_plain(const char *p)
{
    const char *q = p + (*p == '-');
    if (*q == '0')
        q++;
    else if ((unsigned)(*q - '1') < 9)
        while ((unsigned)(*++q - '0') < 10)
            ;
    else
        return NULL;
    if (*q == '.') {
        if ((unsigned)(*++q - '0') >= 10)
            return NULL;
        while ((unsigned)(*++q - '0') < 10)
            ;
    }
    return *q == 'e' || *q == 'E' || q - p > 300 ? NULL : q;
}

/* ppx_json_num, inline for a number of at most 15 digits and no exponent:
 * m / 10^f with both exact, one rounding (the value ppx_json_num gives). */
static inline double ppx_json_num_fast(const char *p, const char **end)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *q = p + (*p == '-'), *s = q, *fs = NULL;
    uint64_t m = 0;
    while ((unsigned)(*q - '0') < 10)
        m = m * 10 + (unsigned)(*q++ - '0');
    if (*q == '.')
        for (fs = ++q; (unsigned)(*q - '0') < 10;)
            m = m * 10 + (unsigned)(*q++ - '0');
    long f = fs ? (long)(q - fs) : 0, digits = (long)(q - s) - (fs != NULL);
    if (*q == 'e' || *q == 'E' || digits > 15)
        return ppx_json_num(p, end);
    *end = q;
    double v = (double)m / p10[f];
    return *p == '-' ? -v : v;
}

/* The string s[0..len) (a string value's bytes with its quotes, checked by
 * the grammar) unescaped as ppx_jdoc_str does, appended to out with a NUL.
 * 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_json_unescape(const char *s, size_t len, ppx_buf *out);

/* ---- a cursor, for readers that keep no node per value --------------------
 *
 * The same grammar, limits and messages as ppx_jdoc_parse, one token at a
 * time: a reader that knows the shape it expects (the COCO reader) takes
 * what it needs as it goes and keeps no node per value. Every value it
 * takes is counted against max_nodes as the parser counts it (an array of
 * numbers only as one). */
typedef struct {
    const char *text, *p, *end; /* text[end - text] must be '\0' */
    const ppx_json_limits *lim;
    uint64_t values;
    ppx_err *err;
} ppx_jcur;

void ppx_jcur_init(ppx_jcur *c, const char *text, size_t len, const ppx_json_limits *lim,
                   ppx_err *err);
/* err set to code, "line L column C: what" for the byte at at; returns code. */
int ppx_jcur_fail(const ppx_jcur *c, int code, const char *at, const char *what);
/* One more value at at: PPX_ELIMIT past max_nodes. */
PPX_MUST_USE static inline int ppx_jcur_count(ppx_jcur *c, const char *at)
{
    if (c->values >= c->lim->max_nodes)
        return ppx_jcur_fail(c, PPX_ELIMIT, at, "more values than the limit");
    c->values++;
    return 0;
}
/* The string at c->p (its '"'), checked; c->p after it. Not counted. */
PPX_MUST_USE int ppx_jcur_string_slow(ppx_jcur *c);
PPX_MUST_USE static inline int ppx_jcur_string(ppx_jcur *c)
{
    /* Plain bytes the quick way: a string of COCO is a name or a key. */
    const char *q = c->p + 1;
    while ((unsigned char)*q >= 0x20 && *q != '"' && *q != '\\')
        q++;
    if (*q == '"' && q < c->end) {
        c->p = q + 1;
        return 0;
    }
    return ppx_jcur_string_slow(c);
}
/* The number at c->p, checked and converted into *v (correctly rounded;
 * one that overflows a double is refused); c->p after it. Not counted.
 * With v NULL, only checked (faster). */
PPX_MUST_USE int ppx_jcur_number(ppx_jcur *c, double *v);
/* Any value at c->p checked and counted, nested depth deep (the parser's
 * depth: the top level is 0); c->p after it. *nums (may be NULL): 1 when
 * it was a number. */
PPX_MUST_USE int ppx_jcur_skip(ppx_jcur *c, uint32_t depth, int *num);

static inline void ppx_jcur_ws(ppx_jcur *c)
{
    while (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')
        c->p++;
}

/* A member's key at c->p, checked and counted, then its ':'; c->p at the
 * member's value (blanks skipped). *k, *n: the key's bytes inside the
 * quotes. */
PPX_MUST_USE static inline int ppx_jcur_key(ppx_jcur *c, const char **k, size_t *n)
{
    const char *ks = c->p;
    int rc;
    *k = ks + 1; /* set on every path: callers read them only on success */
    *n = 0;
    if (*ks != '"')
        return ppx_jcur_fail(c, PPX_ECORRUPT, ks, "expected a member name in quotes");
    if ((rc = ppx_jcur_count(c, ks)) || (rc = ppx_jcur_string(c)))
        return rc;
    *k = ks + 1;
    *n = (size_t)(c->p - ks) - 2;
    ppx_jcur_ws(c);
    if (*c->p != ':')
        return ppx_jcur_fail(c, PPX_ECORRUPT, c->p, "expected ':' after a member name");
    c->p++;
    ppx_jcur_ws(c);
    return 0;
}

#endif
