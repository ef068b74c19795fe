/* COCO annotations through the geometry record (prepix/coco.h).
 *
 * Mapping rules (docs/pipeline.md says the same for users):
 * - Coordinates are COCO's: continuous, pixel corners on the integers, so
 *   the geometry record (same convention) maps them as it stands.
 * - bbox: its four corners mapped, their bounding box clipped to the output
 *   [0, W] x [0, H]. An annotation whose clipped box is empty (zero width or
 *   height) lies outside and is dropped, counted per category.
 * - Polygons: each vertex mapped, the polygon clipped to the output by
 *   Sutherland-Hodgman; one left with fewer than 3 vertices or no area is
 *   removed, and an annotation whose polygons are all removed is dropped.
 * - RLE (iscrowd): decoded to its mask, which is resampled as a label map
 *   (each output pixel takes the input pixel under its centre's inverse
 *   image, 0 outside; a centre within 1e-7 px of an edge takes the pixel
 *   right of or below it) and encoded again, as a list of counts or, when it
 *   came as one, pycocotools' compressed string; `size` becomes [H, W]. An
 *   empty mask drops the annotation.
 * - keypoints: labelled ones (v > 0) mapped; one that lands outside the
 *   output becomes (0, 0, 0), and num_keypoints counts those left. Left and
 *   right are not swapped by flips (COCO's flip pairs are not in the file).
 * - area: the clipped polygons' area, the mask's pixel count, or without a
 *   segmentation the old area times |det| times the fraction of the mapped
 *   box that is left after clipping.
 * Every other member, and every member of the file outside images and
 * annotations, is copied as it was written. */
#include "prepix/coco.h"

#include <endian.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annot/coco_impl.h"
#include "prepix/json.h"

void ppx_coco_default_limits(ppx_coco_limits *l)
{
    *l = (ppx_coco_limits){.max_bytes = 2ULL << 30,
                           .max_depth = 32,
                           .max_nodes = 1ULL << 27,
                           .max_numbers = 1ULL << 24,
                           .max_images = 1ULL << 26,
                           .max_annotations = 1ULL << 28,
                           .max_pixels = 1ULL << 28,
                           .threads = 1};
}

void ppx_coco_free(ppx_coco **pc)
{
    if (!pc || !*pc)
        return;
    ppx_coco *c = *pc;
    ppx_buf_destroy(&c->text);
    free(c->root);
    ppx_buf_destroy(&c->names);
    free(c->im);
    free(c->an);
    free(c->at);
    free(c->by_image);
    free(c);
    *pc = NULL;
}

size_t ppx_coco_n_images(const ppx_coco *c)
{
    return c->n_im;
}

size_t ppx_coco_n_annotations(const ppx_coco *c)
{
    return c->n_an;
}

const char *ppx_coco_file_name(const ppx_coco *c, size_t i)
{
    return (const char *)c->names.data + c->im[i].name_off;
}

int ppx__coco_rle_counts(const ppx_jdoc *d, long node, uint32_t **counts, size_t *n,
                         int *compressed)
{
    *counts = NULL;
    *n = 0;
    *compressed = 0;
    if (node < 0)
        return PPX_EINVAL;
    const ppx_jnode *nd = &d->v[node];
    if (nd->type == PPX_JV_STR) {
        ppx_buf s;
        ppx_buf_init(&s);
        int rc = ppx_jdoc_str(d, (size_t)node, &s);
        if (!rc)
            rc = ppx_coco_rle_decode_string((const char *)s.data, s.len - 1, counts, n);
        ppx_buf_destroy(&s);
        *compressed = 1;
        return rc;
    }
    if (nd->type == PPX_JV_ARR && nd->n == 0)
        return 0;
    if (nd->type != PPX_JV_NUMS)
        return PPX_EINVAL;
    double *v = malloc(nd->n * sizeof *v);
    *counts = malloc(nd->n * sizeof **counts);
    if (!v || !*counts) {
        free(v);
        free(*counts);
        *counts = NULL;
        return PPX_ENOMEM;
    }
    ppx_jdoc_nums(d, (size_t)node, v);
    for (uint32_t k = 0; k < nd->n; k++) {
        if (!(v[k] >= 0 && v[k] <= UINT32_MAX && v[k] == floor(v[k]))) {
            free(v);
            free(*counts);
            *counts = NULL;
            return PPX_EINVAL;
        }
        (*counts)[k] = (uint32_t)v[k];
    }
    *n = nd->n;
    free(v);
    return 0;
}

int ppx_coco_parse(ppx_buf *text, const ppx_coco_limits *l, ppx_coco **out, ppx_err *err)
{
    ppx_coco *c = calloc(1, sizeof *c);
    int rc;
    if (!c) {
        ppx_buf_destroy(text);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    }
    c->text = *text;
    ppx_buf_init(text);
    c->lim = *l;
    if (ppx_buf_reserve(&c->text, c->text.len + 1)) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        goto out;
    }
    c->text.data[c->text.len] = '\0';
    rc = ppx__coco_read(c, err);
out:
    if (rc) {
        ppx_coco_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- RLE -------------------------------------------------------------------- */

int ppx_coco_rle_decode_string(const char *s, size_t len, uint32_t **counts, size_t *n)
{
    size_t m = 0, cap = 0;
    uint32_t *v = NULL;
    size_t p = 0;
    while (p < len) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len || k >= 7) /* 7 groups hold 35 bits: more than a count needs */
                goto corrupt;
            int ch = (unsigned char)s[p] - 48;
            if (ch < 0 || ch > 63)
                goto corrupt;
            x |= (int64_t)(ch & 0x1f) << (5 * k);
            more = ch & 0x20;
            p++;
            k++;
            if (!more && (ch & 0x10))
                x |= (int64_t)-1 * ((int64_t)1 << (5 * k)); /* sign-extend */
        }
        if (m > 2)
            x += v[m - 2];
        if (x < 0 || x > UINT32_MAX)
            goto corrupt;
        if (ppx_array_grow((void **)&v, &cap, m, sizeof *v, 64)) {
            free(v);
            return PPX_ENOMEM;
        }
        v[m++] = (uint32_t)x;
    }
    *counts = v;
    *n = m;
    return 0;
corrupt:
    free(v);
    return PPX_ECORRUPT;
}

int ppx_coco_rle_encode_string(const uint32_t *counts, size_t n, ppx_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        int64_t x = counts[i];
        if (i > 2)
            x -= counts[i - 2];
        int more = 1;
        while (more) {
            int64_t ch = x & 0x1f;
            x >>= 5; /* arithmetic: x is signed, as in pycocotools */
            more = (ch & 0x10) ? x != -1 : x != 0;
            if (more)
                ch |= 0x20;
            char b = (char)(ch + 48);
            if (ppx_buf_append(out, &b, 1))
                return PPX_ENOMEM;
        }
    }
    return 0;
}

/* ---- geometry ------------------------------------------------------------------ */

/* One edge of the clip: keep the side where a x + b y + c >= 0. */
static size_t clip_edge(const double *in, size_t n, double a, double b, double c, double *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = in + 2 * i, *q = in + 2 * ((i + 1) % n);
        double dp = a * p[0] + b * p[1] + c, dq = a * q[0] + b * q[1] + c;
        if (dp >= 0) {
            out[2 * m] = p[0];
            out[2 * m + 1] = p[1];
            m++;
        }
        if ((dp >= 0) != (dq >= 0)) {
            double t = dp / (dp - dq);
            out[2 * m] = p[0] + t * (q[0] - p[0]);
            out[2 * m + 1] = p[1] + t * (q[1] - p[1]);
            /* On the edge exactly, not a rounding away from it. */
            if (a != 0)
                out[2 * m] = -c / a;
            else
                out[2 * m + 1] = -c / b;
            m++;
        }
    }
    return m;
}

/* Makes room for n points (2n doubles) in *v. */
static int room(double **v, size_t *cap, size_t n)
{
    if (2 * n <= *cap)
        return 0;
    double *q = n <= SIZE_MAX / 16 ? realloc(*v, 2 * n * sizeof *q) : NULL;
    if (!q)
        return PPX_ENOMEM;
    *v = q;
    *cap = 2 * n;
    return 0;
}

size_t ppx_coco_clip_polygon(const double *xy, size_t n, double w, double h, double **out,
                             size_t *cap)
{
    /* One edge keeps each vertex inside and adds one where the polygon
     * leaves the half-plane: at most 2n points for n (a concave polygon
     * crosses an edge many times, so no fixed bound over n holds). */
    double *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0;
    if (room(&a, &ca, 2 * n + 2)) {
        free(a);
        return (size_t)-1;
    }
    memcpy(a, xy, 2 * n * sizeof *a);
    static const double edges[4][3] = {{1, 0, 0}, {-1, 0, 1}, {0, 1, 0}, {0, -1, 1}};
    for (int k = 0; k < 4 && n; k++) {
        double *dst;
        size_t *dcap;
        if (k == 3)
            dst = *out, dcap = cap;
        else
            dst = k % 2 ? a : b, dcap = k % 2 ? &ca : &cb;
        double **pd = k == 3 ? out : k % 2 ? &a : &b;
        if (room(pd, dcap, 2 * n + 2)) {
            free(a);
            free(b);
            return (size_t)-1;
        }
        dst = *pd;
        const double *src = k % 2 ? b : a;
        double c = edges[k][2] * (k < 2 ? w : h);
        n = clip_edge(src, n, edges[k][0], edges[k][1], c, dst);
    }
    free(a);
    free(b);
    return n;
}

static double shoelace(const double *xy, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = (i + 1) % n;
        s += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
    }
    return fabs(s) / 2;
}

/* ---- writing -------------------------------------------------------------------- */

typedef struct {
    const ppx_coco *c;
    ppx_buf *o;
    int rc;
    double *num; /* scratch for numbers */
    size_t num_cap;
    double *kp; /* scratch for an annotation's keypoints */
    size_t kp_cap;
    const char *end[M_AREA]; /* where an annotation's bbox, segmentation, keypoints end */
    double *poly;            /* scratch for a clipped polygon */
    size_t poly_cap;
    uint8_t *mask; /* scratch for RLE masks */
    size_t mask_cap;
    uint32_t *cnt;
    size_t cnt_cap;
    ppx_buf seg; /* an annotation's mapped segmentation, written aside */
} writer;

/* Appends n bytes: a copy when they fit (the output is reserved at once,
 * so nearly always), else through ppx_buf_append. A call of ppx_buf_append
 * and memcpy a comma was a fifth of the writer's time. */
static inline void put(writer *w, const void *p, size_t n)
{
    ppx_buf *o = w->o;
    if (n <= o->cap - o->len && o->data) {
        memcpy(o->data + o->len, p, n);
        o->len += n;
    } else if (!w->rc && ppx_buf_append(o, p, n)) {
        w->rc = PPX_ENOMEM;
    }
}

static inline void puts_(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* The decimal digits of v ending at p (written backwards); their start. */
static const char d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233"
                            "34353637383940414243444546474849505152535455565758596061626364656667"
                            "6869707172737475767778798081828384858687888990919293949596979899";

static char *digits_back(char *p, uint64_t v)
{
    while (v >= 100) {
        p -= 2;
        memcpy(p, d2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, d2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* Room for n more bytes of output: where they go, or NULL (w->rc set)
 * when memory ran out. */
static char *out_room(writer *w, size_t n)
{
    ppx_buf *o = w->o;
    if (w->rc)
        return NULL;
    if ((n > o->cap - o->len || !o->data) && ppx_buf_reserve(o, o->len + n)) {
        w->rc = PPX_ENOMEM;
        return NULL;
    }
    return (char *)o->data + o->len;
}

/* The digits of v at p, forwards (into the output: digits made on the
 * stack and copied after were stalled by the copy's wide loads); their
 * end. Up to 4 bytes are written (at least one past the digits end). Most
 * are under 1000 (coordinates): those in one word and with no branch on
 * their length (such branches were mispredicted a third of the time). */
static char *digits_fwd(char *p, uint64_t v)
{
    if (v < 1000) {
        uint32_t n = 1 + (v >= 10) + (v >= 100), a = (uint32_t)v / 100, b = (uint32_t)v / 10 % 10,
                 c = (uint32_t)v % 10;
        uint32_t word = (0x303030u | a | b << 8 | c << 16) >> (8 * (3 - n));
        word = htole32(word);
        memcpy(p, &word, 4);
        return p + n;
    }
    int n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    digits_back(p + n, v);
    return p + n;
}

/* The 9 digits of f (< 10^9, leading zeros kept) at p, each pair from its
 * own division: one chain of divisions by 100 was a chain of dependent
 * multiplications. */
static void nine_digits(char *p, uint32_t f)
{
    uint32_t a = f / 10000000, b = f / 100000 % 100, c = f / 1000 % 100, e = f / 10 % 100;
    memcpy(p, d2 + 2 * a, 2);
    memcpy(p + 2, d2 + 2 * b, 2);
    memcpy(p + 4, d2 + 2 * c, 2);
    memcpy(p + 6, d2 + 2 * e, 2);
    p[8] = (char)('0' + f % 10);
}

/* A mapped number: 9 decimals, trailing zeros dropped (a billionth of a
 * pixel, well below any use of a coordinate), in integer arithmetic:
 * printf's exact decimal conversion was 60% of a run's time. Values of a
 * billion or more (an area) take %.17g. An integer (a keypoint's 0, a
 * clipped edge) is its digits: the same text as the general path, whose
 * v * 1e9 is exact for |v| < 1e9 (v * 5^9 < 2^53). Written in place. */
static void put_dbl(writer *w, double v)
{
    char *d = out_room(w, 40), *start = d;
    if (!d)
        return;
    if (!(fabs(v) < 1e9)) {
        w->o->len += (size_t)snprintf(d, 40, "%.17g", v + 0.0);
        return;
    }
    int64_t iv = (int64_t)v;
    if ((double)iv == v) {
        if (iv < 0)
            *d++ = '-';
        d = digits_fwd(d, (uint64_t)(iv < 0 ? -iv : iv));
        w->o->len += (size_t)(d - start);
        return;
    }
    /* llround's value, inline (a libm call a number): x - trunc(x) is
     * exact below 2^52, and above it x is an integer. */
    double x = fabs(v) * 1e9;
    int64_t q = (int64_t)x;
    q += x - (double)q >= 0.5;
    uint64_t ip = (uint64_t)q / 1000000000, fp = (uint64_t)q % 1000000000;
    if (v < 0 && q)
        *d++ = '-';
    d = digits_fwd(d, ip);
    if (fp) {
        /* The zeros that end the 9 digits dropped: the last 8 read as one
         * word, whose high bytes are the last digits (little-endian). */
        *d++ = '.';
        nine_digits(d, (uint32_t)fp);
        uint64_t last8;
        memcpy(&last8, d + 1, 8);
        last8 = le64toh(last8) ^ 0x3030303030303030ULL;
        d += 9 - (last8 ? (unsigned)__builtin_clzll(last8) / 8 : 8);
    }
    w->o->len += (size_t)(d - start);
}

static void put_u(writer *w, uint64_t v)
{
    char *d = out_room(w, 24);
    if (d)
        w->o->len += (size_t)(digits_fwd(d, v) - d);
}

/* The members of an object of the checked text, written one at a time:
 * each next_member writes the comma before it, its key and the colon, and
 * gives where its value starts; the caller writes the value (the copy, or
 * a mapped value) and sets it->p to its end. */
typedef struct {
    const char *p;
    int n;
} members;

static members members_of(const char *obj)
{
    return (members){obj + 1, 0};
}

/* 1 with the next member's key (*key, *n: its bytes inside the quotes) and
 * value (*val); 0 at the end, or once the writer failed. */
static int next_member(writer *w, members *it, const char **key, size_t *n, const char **val)
{
    const char *p = coco_ws(it->p);
    if (*p == ',')
        p = coco_ws(p + 1);
    if (*p != '"' || w->rc)
        return 0;
    const char *e = coco_skip(p);
    if (it->n++)
        puts_(w, ",");
    put(w, p, (size_t)(e - p));
    puts_(w, ":");
    *key = p + 1;
    *n = (size_t)(e - p) - 2;
    *val = coco_ws(coco_ws(e) + 1);
    return 1;
}

/* The value at v copied as it was written; its end. */
static const char *raw(writer *w, const char *v)
{
    const char *e = coco_skip(v);
    put(w, v, (size_t)(e - v));
    return e;
}

/* The numbers of the checked array at p ('[') converted into *v (grown
 * as needed), their count in *n; the array's end. */
static const char *nums(writer *w, const char *p, double **v, size_t *cap, size_t *n)
{
    *n = 0;
    p = coco_ws(p + 1);
    while (*p != ']') {
        if (*n >= *cap && ppx_array_grow((void **)v, cap, *n, sizeof **v, 64)) {
            w->rc = PPX_ENOMEM;
            *n = 0;
            return coco_skip(p);
        }
        (*v)[(*n)++] = ppx_json_num_fast(p, &p);
        p = coco_ws(p);
        if (*p == ',')
            p = coco_ws(p + 1);
    }
    return p + 1;
}

/* The mapped and clipped bbox; 0 when nothing of it is left. *frac: the
 * part of the mapped box that is left. */
static int map_box(const ppx_geom *g, const double b[4], double out[4], double *frac)
{
    double xs[4] = {b[0], b[0] + b[2], b[0], b[0] + b[2]};
    double ys[4] = {b[1], b[1], b[1] + b[3], b[1] + b[3]};
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int k = 0; k < 4; k++) {
        double x, y;
        ppx_geom_apply(g, xs[k], ys[k], &x, &y);
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
    }
    double full = (x1 - x0) * (y1 - y0);
    x0 = fmax(x0, 0), y0 = fmax(y0, 0), x1 = fmin(x1, g->w), y1 = fmin(y1, g->h);
    if (!(x1 > x0) || !(y1 > y0))
        return 0;
    out[0] = x0, out[1] = y0, out[2] = x1 - x0, out[3] = y1 - y0;
    *frac = full > 0 ? out[2] * out[3] / full : 1;
    return 1;
}

/* The polygons at p ('[') mapped and clipped, written as a list; their area
 * in *area, the list's end in *end. 0 when none is left. */
static int write_polygons(writer *w, const char *p, const ppx_geom *g, double *area,
                          const char **end)
{
    int kept = 0;
    *area = 0;
    puts_(w, "[");
    for (p = coco_ws(p + 1); *p == '[' && !w->rc;) {
        size_t n;
        p = coco_ws(nums(w, p, &w->num, &w->num_cap, &n));
        if (*p == ',')
            p = coco_ws(p + 1);
        double *v = w->num, gw = g->w, gh = g->h;
        size_t pts = n / 2, m = pts;
        int inside = 1;
        for (size_t k = 0; k < pts; k++) {
            double x, y;
            ppx_geom_apply(g, v[2 * k], v[2 * k + 1], &x, &y);
            v[2 * k] = x, v[2 * k + 1] = y;
            inside &= x >= 0 && x <= gw && y >= 0 && y <= gh;
        }
        /* A polygon inside the output is its own clip (each edge keeps
         * every vertex and cuts none): most of those kept. */
        if (!inside) {
            m = ppx_coco_clip_polygon(v, pts, gw, gh, &w->poly, &w->poly_cap);
            if (m == (size_t)-1) {
                w->rc = PPX_ENOMEM;
                break;
            }
            v = w->poly;
        }
        double a = m >= 3 ? shoelace(v, m) : 0;
        if (!(a > 0))
            continue;
        *area += a;
        puts_(w, kept++ ? ",[" : "[");
        for (size_t k = 0; k < 2 * m; k++) {
            if (k)
                puts_(w, ",");
            put_dbl(w, v[k]);
        }
        puts_(w, "]");
    }
    puts_(w, "]");
    *end = *p == ']' ? p + 1 : coco_skip(p);
    return kept;
}

/* The source pixel (as a floor) under the output centre (cx, cy) of
 * inverse map row r: a centre that lands on a pixel edge (a scale of 2,
 * say) takes the pixel to its right or below, whatever the rounding of the
 * inverse: the 1e-7 decides ties the same way in any exact-enough
 * implementation. */
static double src_at(const double *r, double cx, double cy)
{
    return floor(r[0] * cx + r[1] * cy + r[2] + 1e-7);
}

/* Axis-aligned maps (no rotation but by 90 degrees, the maps of every
 * pipeline): each source coordinate depends on one output coordinate, so
 * the source offset of output pixel (x, y) is xpart[x] + ypart[y] (-1:
 * outside), each computed once. The values are those of src_at: a term
 * that is 0 adds a zero, which changes no sum. 0, or 1 when g is not so
 * (or there is no memory for the tables). */
static int resample_aligned(const uint8_t *src, uint64_t W, uint64_t H, const double inv[6],
                            uint64_t ow, uint64_t oh, uint8_t *dst, uint64_t *ones)
{
    int swap = inv[0] == 0 && inv[4] == 0;
    if (!swap && !(inv[1] == 0 && inv[3] == 0))
        return 1;
    int64_t *xpart = malloc((ow + oh) * sizeof *xpart), *ypart = xpart + ow;
    if (!xpart)
        return 1;
    for (uint64_t x = 0; x < ow; x++) { /* the source column (or row, with swap) */
        double v = src_at(swap ? inv + 3 : inv, x + 0.5, 0.5);
        uint64_t lim = swap ? H : W;
        xpart[x] = v >= 0 && v < (double)lim ? (int64_t)v * (swap ? 1 : (int64_t)H) : -1;
    }
    for (uint64_t y = 0; y < oh; y++) {
        double v = src_at(swap ? inv : inv + 3, 0.5, y + 0.5);
        uint64_t lim = swap ? W : H;
        ypart[y] = v >= 0 && v < (double)lim ? (int64_t)v * (swap ? (int64_t)H : 1) : -1;
    }
    uint64_t n = 0;
    for (uint64_t x = 0; x < ow; x++) {
        uint8_t *col = dst + x * oh;
        if (xpart[x] < 0) {
            memset(col, 0, (size_t)oh);
            continue;
        }
        const uint8_t *base = src + xpart[x];
        for (uint64_t y = 0; y < oh; y++) {
            uint8_t v = ypart[y] >= 0 ? base[ypart[y]] : 0;
            col[y] = v;
            n += v;
        }
    }
    free(xpart);
    *ones = n;
    return 0;
}

/* The column-major W x H mask src resampled nearest through g's inverse into
 * dst (g->w x g->h, column-major, as COCO's RLE); its count of ones. */
static uint64_t resample_mask(const uint8_t *src, uint64_t W, uint64_t H, const ppx_geom *g,
                              uint8_t *dst)
{
    uint64_t ow = g->w, oh = g->h;
    double inv[6];
    uint64_t ones = 0;
    if (ppx_geom_inverse(g, inv)) {
        memset(dst, 0, (size_t)(ow * oh));
        return 0;
    }
    if (!resample_aligned(src, W, H, inv, ow, oh, dst, &ones))
        return ones;
    for (uint64_t x = 0; x < ow; x++)
        for (uint64_t y = 0; y < oh; y++) {
            double sx = src_at(inv, x + 0.5, y + 0.5), sy = src_at(inv + 3, x + 0.5, y + 0.5);
            uint8_t v = sx >= 0 && sy >= 0 && sx < (double)W && sy < (double)H
                            ? src[(size_t)sx * H + (size_t)sy]
                            : 0;
            dst[x * oh + y] = v; /* column-major, as COCO's RLE */
            ones += v;
        }
    return ones;
}

/* The members of the RLE object d (node 0) in their order, size and counts
 * replaced by the output's: m runs in w->cnt. */
static void rle_members(writer *w, const ppx_jdoc *d, int compressed, size_t m, uint64_t oh,
                        uint64_t ow)
{
    puts_(w, "{");
    for (size_t k = 1, i = 0; k < d->v[0].end && !w->rc; k = d->v[k + 1].end, i++) {
        if (i)
            puts_(w, ",");
        put(w, d->text + d->v[k].start, d->v[k].len);
        puts_(w, ":");
        if (ppx_jdoc_is_key(d, k, "size")) {
            puts_(w, "[");
            put_u(w, oh);
            puts_(w, ",");
            put_u(w, ow);
            puts_(w, "]");
        } else if (ppx_jdoc_is_key(d, k, "counts")) {
            if (compressed) {
                ppx_buf s;
                ppx_buf_init(&s);
                if (ppx_coco_rle_encode_string(w->cnt, m, &s) || ppx_buf_append(w->o, "\"", 1) ||
                    ppx_json_escape(w->o, (const char *)s.data, s.len) ||
                    ppx_buf_append(w->o, "\"", 1))
                    w->rc = PPX_ENOMEM;
                ppx_buf_destroy(&s);
            } else {
                puts_(w, "[");
                for (size_t j = 0; j < m; j++) {
                    if (j)
                        puts_(w, ",");
                    put_u(w, w->cnt[j]);
                }
                puts_(w, "]");
            }
        } else {
            put(w, d->text + d->v[k + 1].start, d->v[k + 1].len);
        }
    }
    puts_(w, "}");
}

/* The output mask's runs, made a segment at a time (rle_emit): values
 * alternating from zeros (a first run of none when the mask starts with a
 * one), as a scan of its pixels in column-major order makes them. */
typedef struct {
    size_t m; /* runs pushed into w->cnt */
    uint8_t cur;
    uint64_t run, ones;
} runs;

static void rle_push(writer *w, runs *r)
{
    if (w->rc)
        return;
    if (ppx_array_grow((void **)&w->cnt, &w->cnt_cap, r->m, sizeof *w->cnt, 64))
        w->rc = PPX_ENOMEM;
    else
        w->cnt[r->m++] = (uint32_t)r->run;
}

static void rle_emit(writer *w, runs *r, uint8_t v, uint64_t len)
{
    if (!len)
        return;
    r->ones += v ? len : 0;
    if (v == r->cur) {
        r->run += len;
        return;
    }
    rle_push(w, r);
    r->cur = v;
    r->run = len;
}

/* The run of the input mask (bounds b[0..n]) holding pixel offset off:
 * the last k with b[k] <= off. */
static size_t run_at(const uint64_t *b, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Output column x, whose pixels are input offsets col + row[y] for y in
 * [y0, y1) and 0 outside: one segment for each input run it crosses (row
 * is monotone, so the rows in one run are consecutive), each found by
 * binary search. */
static void rle_column(writer *w, runs *r, const uint64_t *b, size_t n, int64_t col,
                       const int64_t *row, uint64_t y0, uint64_t y1, uint64_t oh)
{
    if (col < 0) {
        rle_emit(w, r, 0, oh);
        return;
    }
    rle_emit(w, r, 0, y0);
    for (uint64_t y = y0; y < y1;) {
        size_t k = run_at(b, n, (uint64_t)(col + row[y]));
        uint64_t lo = b[k], hi = b[k + 1], a = y + 1, z = y1;
        while (a < z) {
            uint64_t mid = a + (z - a) / 2, o = (uint64_t)(col + row[mid]);
            if (o >= lo && o < hi)
                a = mid + 1;
            else
                z = mid;
        }
        rle_emit(w, r, (uint8_t)(k & 1), a - y);
        y = a;
    }
    rle_emit(w, r, 0, oh - y1);
}

/* The output's runs straight from the input's counts, for the maps of
 * pipelines without a 90-degree turn (each output column samples one
 * input column at a monotone sequence of rows), with neither mask made:
 * the runs and the sampling (src_at) of resample_mask, at a cost per run
 * instead of per pixel. A mask's pixels were a third of writing 10^6
 * annotations with one mask in a hundred. 1 when g is not such a map. */
static int rle_runs_aligned(writer *w, const uint32_t *counts, size_t n, uint64_t W, uint64_t H,
                            const ppx_geom *g, runs *r)
{
    double inv[6];
    uint64_t ow = g->w, oh = g->h, y0 = 0, y1;
    if (ppx_geom_inverse(g, inv) || inv[1] != 0 || inv[3] != 0)
        return 1;
    int64_t *col = malloc((ow + oh + 1) * sizeof *col), *row = col + ow;
    uint64_t *b = malloc((n + 1) * sizeof *b);
    if (!col || !b) {
        free(col);
        free(b);
        w->rc = PPX_ENOMEM;
        return 0;
    }
    for (uint64_t x = 0; x < ow; x++) {
        double v = src_at(inv, x + 0.5, 0.5);
        col[x] = v >= 0 && v < (double)W ? (int64_t)v * (int64_t)H : -1;
    }
    for (uint64_t y = 0; y < oh; y++) {
        double v = src_at(inv + 3, 0.5, y + 0.5);
        row[y] = v >= 0 && v < (double)H ? (int64_t)v : -1;
    }
    b[0] = 0;
    for (size_t k = 0; k < n; k++)
        b[k + 1] = b[k] + counts[k];
    /* The rows inside the input: one interval, row being monotone. */
    while (y0 < oh && row[y0] < 0)
        y0++;
    for (y1 = y0; y1 < oh && row[y1] >= 0;)
        y1++;
    for (uint64_t x = 0; x < ow && !w->rc; x++)
        rle_column(w, r, b, n, col[x], row, y0, y1, oh);
    free(col);
    free(b);
    return 0;
}

/* The same runs from the masks' pixels: the input decoded, resampled
 * (resample_mask), scanned. For maps with a 90-degree turn. */
static void rle_runs_pixels(writer *w, const uint32_t *counts, size_t n, uint64_t W, uint64_t H,
                            const ppx_geom *g, runs *r)
{
    uint64_t oh = g->h, ow = g->w;
    size_t need = (size_t)(W * H > ow * oh ? W * H : ow * oh);
    if (2 * need > w->mask_cap) {
        uint8_t *m = realloc(w->mask, need ? 2 * need : 1);
        if (!m) {
            w->rc = PPX_ENOMEM;
            return;
        }
        w->mask = m;
        w->mask_cap = 2 * need;
    }
    uint8_t *src = w->mask, *dst = w->mask + need;
    size_t pos = 0;
    for (size_t k = 0; k < n; k++) { /* checked at load: the runs cover W x H */
        memset(src + pos, (int)(k & 1), counts[k]);
        pos += counts[k];
    }
    resample_mask(src, W, H, g, dst);
    for (size_t k = 0; k < (size_t)(ow * oh); k++)
        rle_emit(w, r, dst[k], 1);
}

/* The RLE object d (node 0) resampled as a label map and written; its
 * pixel count in *area. 0 when the mask is empty (or, with w->rc, on
 * failure). */
static int rle_mapped(writer *w, const ppx_jdoc *d, const coco_image *im, const ppx_geom *g,
                      double *area, ppx_err *err)
{
    uint32_t *counts;
    size_t n;
    int compressed;
    if (ppx__coco_rle_counts(d, ppx_jdoc_get(d, 0, "counts"), &counts, &n, &compressed)) {
        w->rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory");
        return 0;
    }
    uint64_t H = im->height, W = im->width, oh = g->h, ow = g->w;
    if (ow * oh > w->c->lim.max_pixels) {
        free(counts);
        w->rc = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_WRITE,
                            "an RLE mask of %llux%llu pixels, over the pixel limit",
                            (unsigned long long)ow, (unsigned long long)oh);
        return 0;
    }
    runs r = {0};
    if (rle_runs_aligned(w, counts, n, W, H, g, &r))
        rle_runs_pixels(w, counts, n, W, H, g, &r);
    free(counts);
    rle_push(w, &r);
    if (w->rc)
        return 0;
    *area = (double)r.ones;
    rle_members(w, d, compressed, r.m, oh, ow);
    return r.ones > 0;
}

/* Annotation a's RLE mask mapped (rle_mapped). */
static int write_rle(writer *w, const coco_ann *a, const coco_image *im, const ppx_geom *g,
                     double *area, ppx_err *err)
{
    ppx_jdoc d;
    if (ppx__coco_rle_doc(w->c, a, &d, err)) {
        w->rc = PPX_ENOMEM;
        return 0;
    }
    int keep = rle_mapped(w, &d, im, g, area, err);
    ppx_jdoc_destroy(&d);
    return keep;
}

/* Keypoints v[0..n) mapped; those outside become (0, 0, 0). */
static void write_keypoints(writer *w, const double *v, size_t n, const ppx_geom *g)
{
    puts_(w, "[");
    for (size_t k = 0; k + 2 < n; k += 3) {
        double x = v[k], y = v[k + 1], vis = v[k + 2];
        if (vis > 0) {
            ppx_geom_apply(g, v[k], v[k + 1], &x, &y);
            if (!(x >= 0 && x <= g->w && y >= 0 && y <= g->h))
                x = y = vis = 0;
        }
        if (k)
            puts_(w, ",");
        if (vis > 0) {
            put_dbl(w, x);
            puts_(w, ",");
            put_dbl(w, y);
            puts_(w, vis == 1 ? ",1" : ",2");
        } else if (v[k + 2] == 0) {
            /* Unlabelled as written: kept as written (x = y = 0 by COCO's rule). */
            put_dbl(w, v[k]);
            puts_(w, ",");
            put_dbl(w, v[k + 1]);
            puts_(w, ",0");
        } else {
            puts_(w, "0,0,0");
        }
    }
    puts_(w, "]");
}

/* The keypoints v[0..n) left inside the output. */
static uint64_t keypoints_left(const double *v, size_t n, const ppx_geom *g)
{
    uint64_t c = 0;
    for (size_t j = 0; j + 2 < n; j += 3) {
        double x, y;
        ppx_geom_apply(g, v[j], v[j + 1], &x, &y);
        c += v[j + 2] > 0 && x >= 0 && x <= g->w && y >= 0 && y <= g->h;
    }
    return c;
}

/* The segmentation of a, mapped into w->seg (aside: it decides whether
 * the annotation is kept, and its area, -1 when it has none). 0 when
 * nothing of it is left. */
static int write_seg(writer *w, const coco_ann *a, const ppx_geom *g, double *seg_area,
                     ppx_err *err)
{
    ppx_buf *main_out = w->o;
    const char *v = (const char *)w->c->text.data + a->at[M_SEG];
    int keep = 1;
    w->seg.len = 0;
    w->o = &w->seg;
    if (a->seg_kind == SEG_RLE) {
        keep = write_rle(w, a, &w->c->im[a->image], g, seg_area, err);
        w->end[M_SEG] = coco_skip(v);
    } else if (a->seg_kind == SEG_POLY) {
        keep = write_polygons(w, v, g, seg_area, &w->end[M_SEG]);
    } else {
        w->end[M_SEG] = raw(w, v);
    }
    w->o = main_out;
    return keep;
}

/* Annotation a's members, its mapped values in place of theirs: box, the
 * segmentation in w->seg, keypoints kp[0..nkp), the area seg_area (-1:
 * none, the old area scaled and times frac, the part of the box left). */
static void ann_members(writer *w, const coco_ann *a, const ppx_geom *g, const double box[4],
                        const double *kp, size_t nkp, double seg_area, double frac)
{
    const char *t = (const char *)w->c->text.data, *k, *v;
    size_t kn;
    members it = members_of(t + a->start);
    while (next_member(w, &it, &k, &kn, &v)) {
        uint32_t off = (uint32_t)(v - t);
        if (off == a->at[M_BBOX]) {
            puts_(w, "[");
            for (int j = 0; j < 4; j++) {
                if (j)
                    puts_(w, ",");
                put_dbl(w, box[j]);
            }
            puts_(w, "]");
            it.p = w->end[M_BBOX];
        } else if (off == a->at[M_SEG]) {
            put(w, w->seg.data, w->seg.len);
            it.p = w->end[M_SEG];
        } else if (off == a->at[M_KP]) {
            write_keypoints(w, kp, nkp, g);
            it.p = w->end[M_KP];
        } else if (off == a->at[M_AREA]) {
            double old = ppx_json_num(v, &it.p);
            put_dbl(w, seg_area >= 0 ? seg_area : old * ppx_geom_area_scale(g) * frac);
        } else if (a->at[M_KP] && kn == 13 && memcmp(k, "num_keypoints", 13) == 0) {
            /* Written after the keypoints when it comes first: a second pass
             * would cost more than counting here. */
            put_u(w, keypoints_left(kp, nkp, g));
            it.p = coco_skip(v);
        } else {
            it.p = raw(w, v);
        }
    }
}

/* One annotation mapped into w->o; 0 when it was dropped (nothing written). */
static int write_annotation(writer *w, const coco_ann *a, const ppx_coco_out *out, ppx_err *err)
{
    const char *t = (const char *)w->c->text.data;
    const ppx_geom *g = &out->geom;
    size_t start = w->o->len, nkp = 0;
    double box[4] = {0}, frac = 1, seg_area = -1;
    int keep = 1;
    if (a->at[M_BBOX]) {
        size_t n;
        w->end[M_BBOX] = nums(w, t + a->at[M_BBOX], &w->num, &w->num_cap, &n);
        keep = !w->rc && map_box(g, w->num, box, &frac);
    }
    if (keep && a->at[M_SEG])
        keep = write_seg(w, a, g, &seg_area, err);
    if (keep && a->at[M_KP])
        w->end[M_KP] = nums(w, t + a->at[M_KP], &w->kp, &w->kp_cap, &nkp);
    if (!keep || w->rc) {
        w->o->len = start;
        return 0;
    }
    puts_(w, "{");
    ann_members(w, a, g, box, w->kp, nkp, seg_area, frac);
    puts_(w, "}");
    return w->rc ? 0 : 1;
}

static void write_image(writer *w, const coco_image *im, const ppx_coco_out *out)
{
    const char *t = (const char *)w->c->text.data, *k, *v;
    size_t n;
    puts_(w, "{");
    members it = members_of(t + im->start);
    while (next_member(w, &it, &k, &n, &v)) {
        it.p = coco_skip(v);
        if (n == 9 && memcmp(k, "file_name", 9) == 0) {
            puts_(w, "\"");
            if (!w->rc && ppx_json_escape(w->o, out->name, strlen(out->name)))
                w->rc = PPX_ENOMEM;
            puts_(w, "\"");
        } else if (n == 5 && memcmp(k, "width", 5) == 0) {
            put_u(w, out->geom.w);
        } else if (n == 6 && memcmp(k, "height", 6) == 0) {
            put_u(w, out->geom.h);
        } else {
            put(w, v, (size_t)(it.p - v));
        }
    }
    puts_(w, "}");
}

/* Counts d dropped annotations of category cat: a sorted array, found by
 * binary search (COCO has tens of categories, LVIS about a thousand). */
static int count_drop(ppx_coco_counts *ct, size_t *cap, int64_t cat, uint64_t d)
{
    size_t lo = 0, hi = ct->n_categories;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ct->by_category[mid].category < cat)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ct->n_categories && ct->by_category[lo].category == cat) {
        ct->by_category[lo].dropped += d;
        return 0;
    }
    if (ppx_array_grow((void **)&ct->by_category, cap, ct->n_categories, sizeof *ct->by_category,
                       16))
        return PPX_ENOMEM;
    memmove(ct->by_category + lo + 1, ct->by_category + lo,
            (ct->n_categories - lo) * sizeof *ct->by_category);
    ct->by_category[lo] = (ppx_coco_dropped){cat, d};
    ct->n_categories++;
    return 0;
}

/* Annotation a of the file, mapped through o (its image's fate) into w->o
 * after a comma when *n were written before it; counted into ct. */
static void write_one(writer *w, const coco_ann *a, const ppx_coco_out *o, size_t *n,
                      ppx_coco_counts *ct, size_t *drop_cap, ppx_err *err)
{
    if (o->state != PPX_COCO_OK) {
        ct->annotations_removed++;
        return;
    }
    size_t before = w->o->len;
    if (*n)
        puts_(w, ",");
    if (write_annotation(w, a, o, err)) {
        (*n)++;
        ct->annotations_written++;
    } else if (!w->rc) {
        w->o->len = before; /* the comma too */
        ct->annotations_outside++;
        if (count_drop(ct, drop_cap, a->category, 1))
            w->rc = PPX_ENOMEM;
    }
}

/* The writer's scratch freed. */
static void writer_free(writer *w)
{
    free(w->num);
    free(w->kp);
    free(w->poly);
    free(w->mask);
    free(w->cnt);
    ppx_buf_destroy(&w->seg);
}

/* The end of a write: the scratch freed, and on failure the counts'
 * allocation and an error for err. */
static int write_end(writer *w, ppx_coco_counts *ct, ppx_err *err)
{
    writer_free(w);
    if (!w->rc)
        return 0;
    free(ct->by_category);
    ct->by_category = NULL;
    ct->n_categories = 0;
    if (!err->code)
        ppx_err_set(err, w->rc, PPX_STAGE_WRITE, "out of memory writing COCO annotations");
    return w->rc;
}

/* ---- the whole file, its annotations mapped by several threads ------------ */

/* The annotations are mapped a block at a time (about
 * ppx__coco_block_bytes of their text), each block into a buffer of its
 * own that goes to the sink once the blocks before it went: the output
 * never lies whole in memory, its buffers are used again (fresh memory
 * costs as much as the mapping: coco_impl.h), and the sink writes while
 * the threads map. */
size_t ppx__coco_block_bytes = 1u << 20;

typedef struct pipeline pipeline;

/* One mapping thread: its writer's scratch and its counts. */
typedef struct {
    pipeline *p;
    writer w;
    ppx_coco_counts ct;
    size_t drop_cap;
    ppx_err err;
    pthread_t thread;
    int started;
} mapper;

struct pipeline {
    const ppx_coco *c;
    const ppx_coco_out *outs;
    size_t *first; /* block b: annotations [first[b], first[b + 1]) */
    size_t n_blocks;
    ppx_buf *slot; /* block b is mapped into slot[b % n_slots] */
    size_t *ready; /* per slot: 1 + the block mapped there */
    size_t n_slots;
    pthread_mutex_t m;
    pthread_cond_t cv;
    size_t next;    /* the next block to map */
    size_t flushed; /* blocks given to the sink */
    size_t failed;  /* the first block whose mapping failed (n_blocks: none) */
    int fail_rc;
    ppx_err fail_err;
    int stop; /* the sink failed, or the end */
};

/* Block b mapped into o by m: each kept annotation after a comma. */
static void map_block(mapper *mp, size_t b, ppx_buf *o)
{
    const pipeline *p = mp->p;
    const ppx_coco *c = p->c;
    size_t from = p->first[b], to = p->first[b + 1], n = 1;
    size_t bytes = c->an[to - 1].start + c->an[to - 1].len - c->an[from].start;
    o->len = 0;
    mp->w.o = o;
    if (ppx_buf_reserve(o, bytes + bytes / 4 + 64))
        mp->w.rc = PPX_ENOMEM;
    for (size_t i = from; i < to && !mp->w.rc; i++)
        write_one(&mp->w, &c->an[i], &p->outs[c->an[i].image], &n, &mp->ct, &mp->drop_cap,
                  &mp->err);
}

static void *mapper_main(void *arg)
{
    mapper *mp = arg;
    pipeline *p = mp->p;
    pthread_mutex_lock(&p->m);
    while (!p->stop && p->next < p->n_blocks && p->next < p->failed) {
        size_t b = p->next++;
        while (!p->stop && b >= p->flushed + p->n_slots)
            pthread_cond_wait(&p->cv, &p->m);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->m);
        map_block(mp, b, &p->slot[b % p->n_slots]);
        pthread_mutex_lock(&p->m);
        if (mp->w.rc && b < p->failed) {
            p->failed = b;
            p->fail_rc = mp->w.rc;
            p->fail_err = mp->err;
        }
        p->ready[b % p->n_slots] = b + 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->m);
    return NULL;
}

/* Whether annotation i starts the block after the one that annotation
 * block_first starts. */
static int starts_block(const ppx_coco *c, size_t block_first, size_t i)
{
    return c->an[i].start - c->an[block_first].start >= ppx__coco_block_bytes;
}

/* The blocks: about ppx__coco_block_bytes of text each (one annotation
 * at least). 0 or PPX_ENOMEM. */
static int make_blocks(pipeline *p)
{
    const ppx_coco *c = p->c;
    size_t n = c->n_an > 0;
    for (size_t i = 1, f = 0; i < c->n_an; i++)
        if (starts_block(c, f, i))
            n++, f = i;
    p->first = malloc((n + 1) * sizeof *p->first);
    if (!p->first)
        return PPX_ENOMEM;
    p->first[0] = 0;
    for (size_t i = 1, b = 0; i < c->n_an; i++)
        if (starts_block(c, p->first[b], i))
            p->first[++b] = i;
    p->n_blocks = n;
    p->first[n] = c->n_an;
    return 0;
}

/* The mapped annotations, in order, to sink (each kept one after a comma
 * but the first); the counts added into ct. With threads > 1 the calling
 * thread gives the blocks to the sink while the threads map them. */
static int write_annotations(const ppx_coco *c, const ppx_coco_out *outs, const ppx_coco_sink *sink,
                             ppx_coco_counts *ct, size_t *drop_cap, ppx_err *err)
{
    pipeline p = {.c = c, .outs = outs};
    size_t n_threads = c->lim.threads > 1 ? c->lim.threads : 1;
    int rc = make_blocks(&p);
    if (!rc && n_threads > p.n_blocks)
        n_threads = p.n_blocks ? p.n_blocks : 1;
    p.n_slots = n_threads > 1 ? 2 * n_threads : 1;
    p.failed = p.n_blocks;
    p.slot = calloc(p.n_slots, sizeof *p.slot);
    p.ready = calloc(p.n_slots, sizeof *p.ready);
    mapper *mp = calloc(n_threads, sizeof *mp);
    if (rc || !p.slot || !p.ready || !mp) {
        free(p.first);
        free(p.slot);
        free(p.ready);
        free(mp);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE,
                           "out of memory writing COCO annotations");
    }
    pthread_mutex_init(&p.m, NULL);
    pthread_cond_init(&p.cv, NULL);
    for (size_t k = 0; k < n_threads; k++) {
        mp[k].p = &p;
        mp[k].w.c = c;
        ppx_err_clear(&mp[k].err);
    }
    for (size_t k = 0; k < n_threads && n_threads > 1; k++)
        mp[k].started = pthread_create(&mp[k].thread, NULL, mapper_main, &mp[k]) == 0;
    int first = 1;
    pthread_mutex_lock(&p.m);
    for (size_t b = 0; b < p.n_blocks && !rc; b++) {
        ppx_buf *o = &p.slot[b % p.n_slots];
        if (n_threads == 1) {
            pthread_mutex_unlock(&p.m);
            map_block(&mp[0], b, o);
            pthread_mutex_lock(&p.m);
            if (mp[0].w.rc)
                p.failed = b, p.fail_rc = mp[0].w.rc, p.fail_err = mp[0].err;
            p.ready[b % p.n_slots] = b + 1;
        }
        /* As one thread would: the blocks before the first that failed are
         * written, then that one's failure is the write's. */
        while (p.ready[b % p.n_slots] != b + 1 && p.failed > b)
            pthread_cond_wait(&p.cv, &p.m);
        if (p.failed <= b)
            break;
        pthread_mutex_unlock(&p.m);
        if (o->len > (size_t)first) {
            rc = sink->put(sink->ctx, o->data + first, o->len - (size_t)first, err);
            first = 0;
        }
        pthread_mutex_lock(&p.m);
        p.flushed = b + 1;
        pthread_cond_broadcast(&p.cv);
    }
    p.stop = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.m);
    for (size_t k = 0; k < n_threads; k++)
        if (mp[k].started)
            pthread_join(mp[k].thread, NULL);
    /* The threads are gone: the first block that failed is the one the
     * file's order meets first (every block before it was mapped whole). */
    if (!rc && p.failed < p.n_blocks) {
        rc = p.fail_rc;
        *err = p.fail_err;
    }
    for (size_t k = 0; k < n_threads; k++) {
        const ppx_coco_counts *q = &mp[k].ct;
        ct->annotations_written += q->annotations_written;
        ct->annotations_outside += q->annotations_outside;
        ct->annotations_removed += q->annotations_removed;
        for (size_t i = 0; i < q->n_categories && !rc; i++)
            rc = count_drop(ct, drop_cap, q->by_category[i].category, q->by_category[i].dropped);
        free(q->by_category);
        writer_free(&mp[k].w);
    }
    for (size_t k = 0; k < p.n_slots; k++)
        ppx_buf_destroy(&p.slot[k]);
    pthread_mutex_destroy(&p.m);
    pthread_cond_destroy(&p.cv);
    free(p.first);
    free(p.slot);
    free(p.ready);
    free(mp);
    if (rc && !err->code)
        ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory writing COCO annotations");
    return rc;
}

/* Writes w's buffer to sink and empties it (unless w failed). */
static void flush(writer *w, const ppx_coco_sink *sink, ppx_err *err)
{
    if (!w->rc && w->o->len)
        w->rc = sink->put(sink->ctx, w->o->data, w->o->len, err);
    w->o->len = 0;
}

int ppx_coco_write_to(const ppx_coco *c, const ppx_coco_out *outs, const ppx_coco_sink *sink,
                      ppx_coco_counts *ct, ppx_err *err)
{
    memset(ct, 0, sizeof *ct);
    size_t drop_cap = 0;
    ppx_buf out;
    ppx_buf_init(&out);
    writer w = {.c = c, .o = &out};
    ct->images = c->n_im;
    ct->annotations = c->n_an;
    for (size_t i = 0; i < c->n_im; i++) {
        ct->images_written += outs[i].state == PPX_COCO_OK;
        ct->images_failed += outs[i].state == PPX_COCO_FAILED;
        ct->images_absent += outs[i].state == PPX_COCO_ABSENT;
    }
    puts_(&w, "{");
    for (size_t r = 0; r < c->n_root && !w.rc; r++) {
        const coco_member *k = &c->root[r];
        size_t n = 0;
        if (r)
            puts_(&w, ",");
        put(&w, c->text.data + k->key, k->key_len);
        puts_(&w, ":");
        if ((long)r == c->root_images) {
            puts_(&w, "[");
            for (size_t i = 0; i < c->n_im && !w.rc; i++)
                if (outs[i].state == PPX_COCO_OK) {
                    if (n++)
                        puts_(&w, ",");
                    write_image(&w, &c->im[i], &outs[i]);
                }
            puts_(&w, "]");
        } else if ((long)r == c->root_anns) {
            puts_(&w, "[");
            flush(&w, sink, err);
            if (!w.rc)
                w.rc = write_annotations(c, outs, sink, ct, &drop_cap, err);
            puts_(&w, "]");
        } else {
            put(&w, c->text.data + k->val, k->len);
        }
    }
    puts_(&w, "}\n");
    flush(&w, sink, err);
    ppx_buf_destroy(&out);
    return write_end(&w, ct, err);
}

static int put_buf(void *ctx, const void *data, size_t len, ppx_err *err)
{
    if (ppx_buf_append(ctx, data, len))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE,
                           "out of memory writing COCO annotations");
    return 0;
}

int ppx_coco_write(const ppx_coco *c, const ppx_coco_out *outs, ppx_buf *json, ppx_coco_counts *ct,
                   ppx_err *err)
{
    ppx_coco_sink sink = {put_buf, json};
    return ppx_coco_write_to(c, outs, &sink, ct, err);
}

int ppx_coco_slice(const ppx_coco *c, size_t i, ppx_buf *out)
{
    const coco_image *im = &c->im[i];
    int rc = ppx_buf_append(out, "{\"images\":[", 11) ||
             ppx_buf_append(out, c->text.data + im->start, im->len) ||
             ppx_buf_append(out, "],\"annotations\":[", 17);
    for (size_t j = c->at[i]; j < c->at[i + 1] && !rc; j++) {
        const coco_ann *a = &c->an[c->by_image[j]];
        rc = (j > c->at[i] && ppx_buf_append(out, ",", 1)) ||
             ppx_buf_append(out, c->text.data + a->start, a->len);
    }
    return rc || ppx_buf_append(out, "]}", 2) ? PPX_ENOMEM : 0;
}

int ppx_coco_write_sample(const ppx_coco *c, size_t i, const ppx_coco_out *out, ppx_buf *json,
                          ppx_err *err)
{
    ppx_coco_counts ct;
    memset(&ct, 0, sizeof ct);
    size_t drop_cap = 0, n = 0;
    writer w = {.c = c, .o = json};
    if (out->state == PPX_COCO_OK) {
        puts_(&w, "{\"image\":");
        write_image(&w, &c->im[i], out);
        puts_(&w, ",\"annotations\":[");
        for (size_t j = c->at[i]; j < c->at[i + 1] && !w.rc; j++)
            write_one(&w, &c->an[c->by_image[j]], out, &n, &ct, &drop_cap, err);
        puts_(&w, "]}");
    }
    int rc = write_end(&w, &ct, err);
    free(ct.by_category);
    return rc;
}
