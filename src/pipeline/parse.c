/* The pipeline language: parsing, canonical text, the list of ops.
 *
 *   SPEC := OP ( "|" OP )*      OP := NAME ( ARG | KEY=VALUE )*
 *
 * Tokens are separated by blanks (spaces, tabs, newlines); "#" starts a
 * comment that runs to the end of the line (handy in @FILE specs). The whole
 * spec is checked before anything runs; the first error names the op's
 * position, the bad token and what was expected. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_impl.h"
#include "prepix/buf.h"

#define MAX_SIDE 65535u
#define MAX_TOKENS 16
#define MAX_OPS 1000
#define BLANKS " \t\r\n\v\f"

/* ---- The ops and their key=value options, declared once ----
 *
 * Each key is one row of keydefs: its name, its default, the words it may
 * take, what `prepix ops` shows, how a bad value is explained and the setter
 * that reads it into the op. Each op is one row of opdefs that lists its
 * keys. The usage line of `prepix ops`, the keys an op accepts and every
 * message about them are made from these rows. */

typedef struct keydef keydef;

/* Reads v into op: 0, or -1 when v is bad, with *why set when the reason is
 * not the row's usual one (expect, or for a choice its words). */
typedef int (*key_setter)(const keydef *k, const char *v, ppx_op *op, const char **why);

struct keydef {
    const char *name;    /* before the "=" */
    const char *def;     /* the default, read by the setter into every op; NULL: none */
    const char *choices; /* "a|b|c": the words the value may be; NULL: not a choice */
    int show_choices;    /* the usage shows the choices, not the default */
    const char *noun;    /* in "bad NOUN ...": NULL for the name */
    const char *expect;  /* why a value is bad (a choice: made from its words) */
    key_setter set;
    size_t at;                      /* offset of the field in ppx_op */
    int (*from_name)(const char *); /* a choice's value from its word, or -1 */
    double lo, hi;                  /* numbers: bounds */
};

static int set_choice(const keydef *k, const char *v, ppx_op *op, const char **why);
static int set_number(const keydef *k, const char *v, ppx_op *op, const char **why);
static int set_range(const keydef *k, const char *v, ppx_op *op, const char **why);
static int set_color(const keydef *k, const char *v, ppx_op *op, const char **why);
static int set_values(const keydef *k, const char *v, ppx_op *op, const char **why);

static const keydef key_fit = {.name = "fit",
                               .choices = "shorter|longer|fill|contain|cover",
                               .show_choices = 1,
                               .set = set_choice,
                               .at = offsetof(ppx_op, fit),
                               .from_name = ppx_fit_from_name};
static const keydef key_filter = {.name = "filter",
                                  .def = "lanczos3",
                                  .choices = "nearest|bilinear|bicubic|lanczos3",
                                  .set = set_choice,
                                  .at = offsetof(ppx_op, filter),
                                  .from_name = ppx_filter_from_name};
static const keydef key_draft = {.name = "draft",
                                 .def = "safe",
                                 .choices = "safe|fast|off",
                                 .show_choices = 1,
                                 .set = set_choice,
                                 .at = offsetof(ppx_op, draft),
                                 .from_name = ppx_draft_from_name};
static const keydef key_scale = {.name = "scale",
                                 .def = "0.08,1",
                                 .expect = "expected a,b with 0 < a <= b",
                                 .set = set_range,
                                 .at = offsetof(ppx_op, scale),
                                 .hi = 1e6};
static const keydef key_ratio = {.name = "ratio",
                                 .def = "0.75,1.3333333333333333",
                                 .expect = "expected a,b with 0 < a <= b",
                                 .set = set_range,
                                 .at = offsetof(ppx_op, ratio),
                                 .hi = 1e6};
static const keydef key_color = {.name = "color",
                                 .def = "0,0,0",
                                 .expect = "expected V, R,G,B or R,G,B,A with values 0..255",
                                 .set = set_color};
static const keydef key_p = {.name = "p",
                             .def = "1",
                             .noun = "probability",
                             .expect = "expected 0 <= p <= 1",
                             .set = set_number,
                             .at = offsetof(ppx_op, p),
                             .lo = 0,
                             .hi = 1};
static const keydef key_mean = {.name = "mean",
                                .def = "0",
                                .expect = "expected 1 to 256 (one a band) comma-separated numbers",
                                .set = set_values,
                                .at = offsetof(ppx_op, mean)};
static const keydef key_std = {.name = "std",
                               .def = "1",
                               .expect = "expected 1 to 256 (one a band) comma-separated numbers",
                               .set = set_values,
                               .at = offsetof(ppx_op, std)};
static int scale_to_from_name(const char *w)
{
    return strcmp(w, "8") == 0 ? 8 : strcmp(w, "16") == 0 ? 16 : -1;
}
static const keydef key_to = {.name = "to",
                              .def = "8",
                              .choices = "8|16",
                              .set = set_choice,
                              .at = offsetof(ppx_op, to),
                              .from_name = scale_to_from_name};
static const keydef *const keydefs[] = {&key_fit,   &key_filter, &key_draft, &key_scale, &key_ratio,
                                        &key_color, &key_p,      &key_mean,  &key_std,   &key_to};
#define N_KEYDEFS (int)(sizeof keydefs / sizeof keydefs[0])
_Static_assert(sizeof(ppx_fit) == sizeof(int) && sizeof(ppx_filter) == sizeof(int),
               "choices are stored as int");

#define MAX_KEYS 8
typedef struct {
    const char *name;
    ppx_op_kind kind;
    const char *args;             /* positional arguments, for the usage; "" for none */
    const keydef *keys[MAX_KEYS]; /* its key=value options, in the usage's order */
    const char *help;             /* what it does, one line */
} opdef;

static const opdef opdefs[] = {
    {"autorotate",
     PPX_OP_AUTOROTATE,
     "",
     {NULL},
     "Apply the EXIF/TIFF orientation so that the pixels are upright (put it first)."},
    {"resize",
     PPX_OP_RESIZE,
     "S|WxH",
     {&key_fit, &key_filter, &key_draft},
     "Resample, antialiased. S: shorter side to S, aspect kept (torchvision); WxH: exact."},
    {"center-crop",
     PPX_OP_CENTER_CROP,
     "S|WxH",
     {NULL},
     "Crop the centre (torchvision CenterCrop); zeros where the image is smaller."},
    {"crop",
     PPX_OP_CROP,
     "X,Y,W,H",
     {NULL},
     "Crop the WxH box at (X,Y); parts outside the image are zeros."},
    {"random-crop",
     PPX_OP_RANDOM_CROP,
     "S|WxH",
     {&key_scale, &key_ratio, &key_filter},
     "torchvision RandomResizedCrop to WxH; random per (--seed, path of the file)."},
    {"pad",
     PPX_OP_PAD,
     "S|WxH",
     {&key_color},
     "Letterbox: the image centred on a WxH canvas of colour R,G,B[,A] or V (0..255)."},
    {"flip",
     PPX_OP_FLIP,
     "h|v",
     {&key_p},
     "Mirror left-right (h) or top-bottom (v), with probability p."},
    {"rotate", PPX_OP_ROTATE, "90|180|270", {NULL}, "Rotate clockwise."},
    {"grayscale",
     PPX_OP_GRAYSCALE,
     "",
     {NULL},
     "To gray (alpha kept): ITU-R BT.601 luma, as Pillow's convert(\"L\")."},
    {"rgb", PPX_OP_RGB, "", {NULL}, "To RGB: gray replicated, alpha dropped."},
    {"to-8bit", PPX_OP_TO_8BIT, "", {NULL}, "16-bit samples to 8-bit, rounded: (v + 128) / 257."},
    {"equalize",
     PPX_OP_EQUALIZE,
     "",
     {NULL},
     "Histogram equalisation of each colour channel (Pillow's ImageOps.equalize)."},
    {"normalize",
     PPX_OP_NORMALIZE,
     "",
     {&key_mean, &key_std},
     "(x / 255 - mean) / std as float32 per channel (rasters: (x - mean) / std per band); the "
     "last op; -f npy only."},
    {"bands",
     PPX_OP_BANDS,
     "B1,B2,B3",
     {NULL},
     "Select and order bands, 1-based (bands 4,3,2: a natural-colour composite); 1 or 3 bands "
     "make gray or RGB."},
    {"scale",
     PPX_OP_SCALE,
     "LO,HI",
     {&key_to},
     "Map values LO..HI linearly to 0..255 (to=16: 0..65535), rounded; outside and NaN clip."},
};
#define N_OPDEFS (int)(sizeof opdefs / sizeof opdefs[0])

/* The op's usage after its name: "S|WxH [fit=shorter|...] [filter=lanczos3]". */
static const char *op_usage(const opdef *d, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", d->args);
    for (int i = 0; i < MAX_KEYS && d->keys[i] && n < cap; i++) {
        const keydef *k = d->keys[i];
        n += (size_t)snprintf(buf + n, cap - n, "%s[%s=%s]", n ? " " : "", k->name,
                              k->show_choices || !k->def ? k->choices : k->def);
    }
    return buf;
}

/* Words "a|b|c" as "a, b or c" (after prefix) into buf. */
static const char *list_words(const char *prefix, const char *words, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", prefix);
    for (const char *w = words; *w && n < cap;) {
        size_t len = strcspn(w, "|");
        const char *sep = w == words ? "" : w[len] ? ", " : " or ";
        n += (size_t)snprintf(buf + n, cap - n, "%s%.*s", sep, (int)len, w);
        w += len + (w[len] == '|');
    }
    return buf;
}

/* The op's keys for messages: "fit=, filter= or draft="; NULL for none. */
static const char *op_keys(const opdef *d, char *buf, size_t cap)
{
    char words[128];
    size_t n = 0;
    words[0] = '\0';
    for (int i = 0; i < MAX_KEYS && d->keys[i] && n < sizeof words; i++)
        n += (size_t)snprintf(words + n, sizeof words - n, "%s%s=", i ? "|" : "", d->keys[i]->name);
    return n ? list_words("", words, buf, cap) : NULL;
}

/* A token as it may appear in a one-line message: cut, non-printing bytes
 * shown as '?'. */
static const char *quote(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 4 < cap; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) {
        memcpy(buf + (i > cap - 4 ? cap - 4 : i), "...", 4);
        return buf;
    }
    buf[i] = '\0';
    return buf;
}

__attribute__((format(printf, 4, 5))) static int bad(ppx_err *err, int pos, const char *name,
                                                     const char *fmt, ...)
{
    char msg[PPX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name)
        return ppx_err_set(err, PPX_ESPEC, PPX_STAGE_NONE, "op %d (\"%s\"): %s", pos, name, msg);
    return ppx_err_set(err, PPX_ESPEC, PPX_STAGE_NONE, "op %d: %s", pos, msg);
}

/* ---- Numbers ---- */

/* Decimal digits only, value in [lo, hi]. */
static int parse_uint(const char *s, size_t len, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (len == 0 || len > 10)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A finite decimal number (no hex, inf or nan): [0-9.eE+-] only. */
static int parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789.eE+-", s[i]))
            return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Comma-separated numbers: between 1 and max of them. */
static int parse_list(const char *s, double *vals, int max, int *n)
{
    int k = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (k == max || parse_double(s, len, &vals[k]))
            return -1;
        k++;
        if (!comma)
            break;
        s = comma + 1;
    }
    *n = k;
    return 0;
}

/* "W" (single) or "WxH", sides 1..65535. */
static int parse_size(const char *s, uint32_t *w, uint32_t *h, int *single)
{
    const char *x = strchr(s, 'x');
    if (!x) {
        if (parse_uint(s, strlen(s), 1, MAX_SIDE, w))
            return -1;
        *h = *w;
        *single = 1;
        return 0;
    }
    if (parse_uint(s, (size_t)(x - s), 1, MAX_SIDE, w) ||
        parse_uint(x + 1, strlen(x + 1), 1, MAX_SIDE, h))
        return -1;
    *single = 0;
    return 0;
}

/* ---- Key setters (see keydef) ---- */

static int set_choice(const keydef *k, const char *v, ppx_op *op, const char **why)
{
    (void)why;
    int f = k->from_name(v);
    if (f < 0)
        return -1;
    memcpy((char *)op + k->at, &f, sizeof f);
    return 0;
}

/* One number in [lo, hi]. */
static int set_number(const keydef *k, const char *v, ppx_op *op, const char **why)
{
    (void)why;
    double x;
    if (parse_double(v, strlen(v), &x) || x < k->lo || x > k->hi)
        return -1;
    memcpy((char *)op + k->at, &x, sizeof x);
    return 0;
}

/* "a,b" with 0 < a <= b <= hi. */
static int set_range(const keydef *k, const char *v, ppx_op *op, const char **why)
{
    (void)why;
    double vals[2];
    int n;
    if (parse_list(v, vals, 2, &n) || n != 2 || !(vals[0] > 0) || vals[0] > vals[1] ||
        vals[1] > k->hi)
        return -1;
    memcpy((char *)op + k->at, vals, sizeof vals);
    return 0;
}

/* V, R,G,B or R,G,B,A, whole numbers 0..255; alpha 255 unless given. */
static int set_color(const keydef *k, const char *v, ppx_op *op, const char **why)
{
    (void)k;
    (void)why;
    double vals[4];
    int n;
    if (parse_list(v, vals, 4, &n) || n == 2)
        return -1;
    for (int i = 0; i < n; i++)
        if (vals[i] < 0 || vals[i] > 255 || vals[i] != (int)vals[i])
            return -1;
    for (int i = 0; i < 3; i++)
        op->color[i] = (uint8_t)vals[n == 1 ? 0 : i];
    op->color[3] = n == 4 ? (uint8_t)vals[3] : 255;
    return 0;
}

/* mean= or std=: 1 to 256 numbers that fit a float (std not 0). Their count
 * goes into nvals until the op is complete: mean in bits 0-15, std in 16-31. */
static int set_values(const keydef *k, const char *v, ppx_op *op, const char **why)
{
    int is_std = k->at == offsetof(ppx_op, std);
    float *out = is_std ? op->std : op->mean;
    double vals[PPX_MAX_BANDS];
    int n;
    if (parse_list(v, vals, PPX_MAX_BANDS, &n))
        return -1;
    for (int i = 0; i < n; i++) {
        float fv = (float)vals[i];
        if (!isfinite(fv) || (is_std && fv == 0.0f)) {
            *why = is_std ? "std must not be 0" : "value out of range";
            return -1;
        }
        out[i] = fv;
    }
    unsigned shift = is_std ? 16 : 0;
    op->nvals = (op->nvals & ~(0xffffu << shift)) | (unsigned)n << shift;
    return 0;
}

/* ---- One op ---- */

static const opdef *find_op(const char *name)
{
    for (int i = 0; i < N_OPDEFS; i++)
        if (strcmp(opdefs[i].name, name) == 0)
            return &opdefs[i];
    return NULL;
}

/* Edit distance between a and b (b at most 15 bytes: op names), capped at
 * 9: how far a typo is from an op name. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 24 || lb > 15)
        return 9;
    int row[16];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 9 ? row[lb] : 9;
}

/* A key=value token of op d: checked against d's keys and read by its row.
 * *seen holds the bits (by place in d->keys) of the keys already given. */
static int parse_key(const opdef *d, int pos, const char *tok, ppx_op *op, unsigned *seen,
                     ppx_err *err)
{
    char q[48], list[256];
    const char *eq = strchr(tok, '=');
    size_t klen = (size_t)(eq - tok);
    int key = -1;
    for (int i = 0; i < MAX_KEYS && d->keys[i]; i++)
        if (strlen(d->keys[i]->name) == klen && strncmp(d->keys[i]->name, tok, klen) == 0)
            key = i;
    if (key < 0) {
        const char *keys = op_keys(d, list, sizeof list);
        if (!keys)
            return bad(err, pos, d->name, "unexpected argument \"%s\": %s takes %s",
                       quote(tok, q, sizeof q), d->name,
                       d->args[0] ? op_usage(d, list, sizeof list) : "no arguments");
        return bad(err, pos, d->name, "unknown argument \"%s\": expected %s",
                   quote(tok, q, sizeof q), keys);
    }
    const keydef *k = d->keys[key];
    if (*seen & (1u << key))
        return bad(err, pos, d->name, "%s= given twice", k->name);
    *seen |= 1u << key;
    const char *why = NULL;
    if (k->set(k, eq + 1, op, &why) == 0)
        return 0;
    if (!why)
        why = k->choices ? list_words("expected ", k->choices, list, sizeof list) : k->expect;
    return bad(err, pos, d->name, "bad %s \"%s\": %s", k->noun ? k->noun : k->name,
               quote(eq + 1, q, sizeof q), why);
}

/* The message for an op name that is none: the names, and the closest one
 * when it is at most 2 edits away. */
static int unknown_op(int pos, const char *name, ppx_err *err)
{
    char q[48], names[256] = "";
    for (int i = 0; i < N_OPDEFS; i++) {
        strcat(names, opdefs[i].name);
        strcat(names, i + 1 < N_OPDEFS ? ", " : "");
    }
    const char *near = NULL;
    int best = 3; /* suggest only close names: at most 2 edits */
    for (int i = 0; i < N_OPDEFS; i++) {
        int dist = distance(name, opdefs[i].name);
        if (dist < best) {
            best = dist;
            near = opdefs[i].name;
        }
    }
    if (near)
        return bad(err, pos, NULL, "unknown op \"%s\" (did you mean \"%s\"?): expected one of %s",
                   quote(name, q, sizeof q), near, names);
    return bad(err, pos, NULL, "unknown op \"%s\": expected one of %s", quote(name, q, sizeof q),
               names);
}

/* Every key's default, in every op (each reads only its own). */
static void op_defaults(ppx_op *op, ppx_op_kind kind)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->fit = (ppx_fit)-1; /* from the size's form, once it is known */
    for (int i = 0; i < N_KEYDEFS; i++) {
        const char *why = NULL;
        if (keydefs[i]->def && keydefs[i]->set(keydefs[i], keydefs[i]->def, op, &why))
            abort(); /* a default its own row refuses: caught by any test */
    }
}

/* The size of resize, center-crop, random-crop and pad; resize's fit. */
static int finish_sized(const opdef *d, int pos, const char *positional, ppx_op *op, ppx_err *err)
{
    char q[48];
    int single = 0;
    if (!positional)
        return bad(err, pos, d->name, "missing size: expected W or WxH");
    if (parse_size(positional, &op->w, &op->h, &single))
        return bad(err, pos, d->name, "bad size \"%s\": expected W or WxH (1..%u)",
                   quote(positional, q, sizeof q), MAX_SIDE);
    if (d->kind != PPX_OP_RESIZE)
        return 0;
    if (op->fit == (ppx_fit)-1)
        op->fit = single ? PPX_FIT_SHORTER : PPX_FIT_FILL;
    if (!single && (op->fit == PPX_FIT_SHORTER || op->fit == PPX_FIT_LONGER))
        return bad(err, pos, d->name, "fit=%s needs one size S, not \"%s\"", ppx_fit_name(op->fit),
                   quote(positional, q, sizeof q));
    op->single = op->fit == PPX_FIT_SHORTER || op->fit == PPX_FIT_LONGER;
    return 0;
}

/* crop's box X,Y,W,H. */
static int finish_crop(const opdef *d, int pos, const char *positional, ppx_op *op, ppx_err *err)
{
    char q[48];
    uint32_t v[4];
    int n = 0;
    if (!positional)
        return bad(err, pos, d->name, "missing box: expected X,Y,W,H");
    for (const char *s = positional; n < 4; n++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        uint32_t lo = n < 2 ? 0 : 1, hi = n < 2 ? 2147483647u : MAX_SIDE;
        if (parse_uint(s, len, lo, hi, &v[n]) || (n < 3) != (comma != NULL))
            break;
        s = comma ? comma + 1 : s + len;
    }
    if (n != 4)
        return bad(err, pos, d->name,
                   "bad box \"%s\": expected X,Y,W,H (whole numbers, W and H 1..%u)",
                   quote(positional, q, sizeof q), MAX_SIDE);
    op->x = v[0];
    op->y = v[1];
    op->w = v[2];
    op->h = v[3];
    return 0;
}

/* bands B1,B2,...: 1-based on the command line, 0-based in the op. */
static int finish_bands(const opdef *d, int pos, const char *positional, ppx_op *op, ppx_err *err)
{
    char q[48];
    if (!positional)
        return bad(err, pos, d->name, "missing bands: expected B1,B2,... (1-based)");
    unsigned n = 0;
    for (const char *s = positional;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        uint32_t v;
        if (n == PPX_OP_MAX_BANDS || parse_uint(s, len, 1, PPX_MAX_BANDS, &v))
            return bad(err, pos, d->name,
                       "bad bands \"%s\": expected 1 to %d comma-separated band numbers, "
                       "1-based, each 1..%d",
                       quote(positional, q, sizeof q), PPX_OP_MAX_BANDS, PPX_MAX_BANDS);
        op->bands[n++] = (uint16_t)(v - 1);
        if (!comma)
            break;
        s = comma + 1;
    }
    op->nbands = n;
    return 0;
}

/* scale LO,HI: finite, LO < HI. */
static int finish_scale(const opdef *d, int pos, const char *positional, ppx_op *op, ppx_err *err)
{
    char q[48];
    const char *comma = positional ? strchr(positional, ',') : NULL;
    if (!comma || parse_double(positional, (size_t)(comma - positional), &op->lo) ||
        parse_double(comma + 1, strlen(comma + 1), &op->hi) || !isfinite(op->lo) ||
        !isfinite(op->hi) || !(op->hi > op->lo))
        return bad(err, pos, d->name, "bad range \"%s\": expected LO,HI with LO < HI",
                   positional ? quote(positional, q, sizeof q) : "");
    return 0;
}

/* flip's direction and rotate's angle. */
static int finish_turn(const opdef *d, int pos, const char *positional, ppx_op *op, ppx_err *err)
{
    char q[48];
    if (d->kind == PPX_OP_FLIP) {
        if (!positional)
            return bad(err, pos, d->name, "missing direction: expected h or v");
        if (strcmp(positional, "h") != 0 && strcmp(positional, "v") != 0)
            return bad(err, pos, d->name, "bad direction \"%s\": expected h or v",
                       quote(positional, q, sizeof q));
        op->vertical = positional[0] == 'v';
        return 0;
    }
    if (!positional)
        return bad(err, pos, d->name, "missing angle: expected 90, 180 or 270");
    if (strcmp(positional, "90") == 0)
        op->degrees = 90;
    else if (strcmp(positional, "180") == 0)
        op->degrees = 180;
    else if (strcmp(positional, "270") == 0)
        op->degrees = 270;
    else
        return bad(err, pos, d->name, "bad angle \"%s\": expected 90, 180 or 270",
                   quote(positional, q, sizeof q));
    return 0;
}

/* normalize: one mean or std for all channels, or as many of each. */
static int finish_normalize(const opdef *d, int pos, ppx_op *op, ppx_err *err)
{
    unsigned nm = op->nvals & 0xffff, ns = op->nvals >> 16;
    if (nm != ns && nm != 1 && ns != 1)
        return bad(err, pos, d->name, "mean has %u values but std has %u", nm, ns);
    op->nvals = nm > ns ? nm : ns;
    for (unsigned i = 1; i < op->nvals; i++) {
        if (nm == 1)
            op->mean[i] = op->mean[0];
        if (ns == 1)
            op->std[i] = op->std[0];
    }
    return 0;
}

static int parse_op(int pos, char **tok, int ntok, ppx_op *op, ppx_err *err)
{
    char q[48], usage[256];
    const opdef *d = find_op(tok[0]);
    if (!d)
        return unknown_op(pos, tok[0], err);
    op_defaults(op, d->kind);
    const char *positional = NULL;
    unsigned seen = 0;
    int rc;
    for (int i = 1; i < ntok; i++) {
        if (strchr(tok[i], '=')) {
            if ((rc = parse_key(d, pos, tok[i], op, &seen, err)))
                return rc;
            continue;
        }
        if (!d->args[0] || positional)
            return bad(err, pos, d->name, "unexpected argument \"%s\": usage: %s %s",
                       quote(tok[i], q, sizeof q), d->name,
                       d->args[0] || d->keys[0] ? op_usage(d, usage, sizeof usage)
                                                : "(no arguments)");
        positional = tok[i];
    }
    switch (d->kind) {
    case PPX_OP_RESIZE:
    case PPX_OP_CENTER_CROP:
    case PPX_OP_RANDOM_CROP:
    case PPX_OP_PAD:
        return finish_sized(d, pos, positional, op, err);
    case PPX_OP_CROP:
        return finish_crop(d, pos, positional, op, err);
    case PPX_OP_FLIP:
    case PPX_OP_ROTATE:
        return finish_turn(d, pos, positional, op, err);
    case PPX_OP_NORMALIZE:
        return finish_normalize(d, pos, op, err);
    case PPX_OP_BANDS:
        return finish_bands(d, pos, positional, op, err);
    case PPX_OP_SCALE:
        return finish_scale(d, pos, positional, op, err);
    default:
        return 0;
    }
}

/* ---- Canonical text ---- */

/* Shortest decimal text that reads back as the same double. */
static void fmt_double(char *buf, size_t cap, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void fmt_float(char *buf, size_t cap, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

static int format_op(ppx_buf *b, const ppx_op *op)
{
    const char *name = "";
    for (int i = 0; i < N_OPDEFS; i++)
        if (opdefs[i].kind == op->kind)
            name = opdefs[i].name;
    char a[32], c[32];
    int rc = ppx_buf_printf(b, "%s", name);
    switch (op->kind) {
    case PPX_OP_RESIZE:
        if (op->single)
            rc = rc ? rc : ppx_buf_printf(b, " %u", op->w);
        else
            rc = rc ? rc : ppx_buf_printf(b, " %ux%u", op->w, op->h);
        rc = rc ? rc
                : ppx_buf_printf(b, " fit=%s filter=%s draft=%s", ppx_fit_name(op->fit),
                                 ppx_filter_name(op->filter), ppx_draft_name(op->draft));
        break;
    case PPX_OP_CENTER_CROP:
        rc = rc ? rc : ppx_buf_printf(b, " %ux%u", op->w, op->h);
        break;
    case PPX_OP_CROP:
        rc = rc ? rc : ppx_buf_printf(b, " %u,%u,%u,%u", op->x, op->y, op->w, op->h);
        break;
    case PPX_OP_RANDOM_CROP:
        rc = rc ? rc : ppx_buf_printf(b, " %ux%u", op->w, op->h);
        fmt_double(a, sizeof a, op->scale[0]);
        fmt_double(c, sizeof c, op->scale[1]);
        rc = rc ? rc : ppx_buf_printf(b, " scale=%s,%s", a, c);
        fmt_double(a, sizeof a, op->ratio[0]);
        fmt_double(c, sizeof c, op->ratio[1]);
        rc = rc ? rc : ppx_buf_printf(b, " ratio=%s,%s", a, c);
        rc = rc ? rc : ppx_buf_printf(b, " filter=%s", ppx_filter_name(op->filter));
        break;
    case PPX_OP_PAD:
        rc = rc ? rc
                : ppx_buf_printf(b, " %ux%u color=%u,%u,%u,%u", op->w, op->h, op->color[0],
                                 op->color[1], op->color[2], op->color[3]);
        break;
    case PPX_OP_FLIP:
        fmt_double(a, sizeof a, op->p);
        rc = rc ? rc : ppx_buf_printf(b, " %c p=%s", op->vertical ? 'v' : 'h', a);
        break;
    case PPX_OP_ROTATE:
        rc = rc ? rc : ppx_buf_printf(b, " %d", op->degrees);
        break;
    case PPX_OP_NORMALIZE:
        for (int k = 0; k < 2 && !rc; k++) {
            const float *v = k == 0 ? op->mean : op->std;
            rc = ppx_buf_printf(b, k == 0 ? " mean=" : " std=");
            for (unsigned i = 0; i < op->nvals && !rc; i++) {
                fmt_float(a, sizeof a, v[i]);
                rc = ppx_buf_printf(b, "%s%s", i ? "," : "", a);
            }
        }
        break;
    case PPX_OP_BANDS:
        for (unsigned i = 0; i < op->nbands && !rc; i++)
            rc = ppx_buf_printf(b, "%s%u", i ? "," : " ", op->bands[i] + 1u);
        break;
    case PPX_OP_SCALE:
        fmt_double(a, sizeof a, op->lo);
        fmt_double(c, sizeof c, op->hi);
        rc = rc ? rc : ppx_buf_printf(b, " %s,%s to=%d", a, c, op->to);
        break;
    default:
        break;
    }
    return rc;
}

static char *format_pipeline(const ppx_op *ops, int n)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (i)
            rc = ppx_buf_append(&b, " | ", 3);
        rc = rc ? rc : format_op(&b, &ops[i]);
    }
    rc = rc ? rc : ppx_buf_append(&b, "", 1);
    if (rc) {
        ppx_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* ---- The spec ---- */

int ppx_pipeline_parse(const char *spec, ppx_pipeline **out, ppx_err *err)
{
    int rc = 0;
    ppx_pipeline *pl = NULL;
    char *buf = strdup(spec ? spec : "");
    if (!buf)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_NONE, "out of memory");
    /* Comments end at the end of their line. */
    for (char *p = buf; (p = strchr(p, '#'));)
        while (*p && *p != '\n')
            *p++ = ' ';
    int pieces = 1;
    for (const char *p = buf; *p; p++)
        pieces += *p == '|';
    int blank = buf[strspn(buf, BLANKS)] == '\0';
    pl = calloc(1, sizeof *pl);
    if (!pl || pieces > MAX_OPS || !(pl->ops = calloc((size_t)pieces, sizeof *pl->ops))) {
        rc = pieces > MAX_OPS ? bad(err, MAX_OPS + 1, NULL, "too many ops (at most %d)", MAX_OPS)
                              : ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_NONE, "out of memory");
        goto out;
    }
    char *piece = buf;
    for (int pos = 1; !blank && pos <= pieces; pos++) {
        char *bar = strchr(piece, '|');
        if (bar)
            *bar = '\0';
        char *tok[MAX_TOKENS];
        int ntok = 0;
        char *save = NULL;
        for (char *t = strtok_r(piece, BLANKS, &save); t; t = strtok_r(NULL, BLANKS, &save)) {
            if (ntok == MAX_TOKENS) {
                rc = bad(err, pos, tok[0], "too many arguments (at most %d)", MAX_TOKENS - 1);
                goto out;
            }
            tok[ntok++] = t;
        }
        if (ntok == 0) {
            rc = bad(err, pos, NULL,
                     "empty op: expected an op name between two \"|\" (or "
                     "at the start or end of the spec)");
            goto out;
        }
        if ((rc = parse_op(pos, tok, ntok, &pl->ops[pl->n], err)))
            goto out;
        pl->n++;
        piece = bar ? bar + 1 : piece + strlen(piece);
    }
    for (int i = 0; i + 1 < pl->n; i++)
        if (pl->ops[i].kind == PPX_OP_NORMALIZE) {
            rc = bad(err, i + 1, "normalize",
                     "normalize must be the last op (its float output is not an image)");
            goto out;
        }
    pl->canonical = format_pipeline(pl->ops, pl->n);
    if (!pl->canonical) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_NONE, "out of memory");
        goto out;
    }
    *out = pl;
    pl = NULL;
out:
    ppx_pipeline_free(&pl);
    free(buf);
    return rc;
}

void ppx_pipeline_free(ppx_pipeline **pl)
{
    if (!pl || !*pl)
        return;
    free((*pl)->ops);
    free((*pl)->canonical);
    free(*pl);
    *pl = NULL;
}

const char *ppx_pipeline_canonical(const ppx_pipeline *pl)
{
    return pl && pl->canonical ? pl->canonical : "";
}

void ppx_pipeline_print_ops(FILE *f)
{
    fprintf(f, "Pipeline ops. A spec is ops separated by \"|\"; an op is its name, its\n"
               "arguments and key=value options, separated by blanks; sizes are S (= SxS,\n"
               "except for resize) or WxH; \"#\" starts a comment. Options show their\n"
               "defaults. Details: docs/pipeline.md. Example:\n\n"
               "    autorotate | resize 256 | random-crop 224 scale=0.08,1 | flip h p=0.5\n\n");
    for (int i = 0; i < N_OPDEFS; i++) {
        const opdef *d = &opdefs[i];
        char usage[256];
        op_usage(d, usage, sizeof usage);
        fprintf(f, "  %s%s%s\n      %s\n", d->name, usage[0] ? " " : "", usage, d->help);
    }
}
