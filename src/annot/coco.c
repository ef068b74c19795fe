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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/json.h"
#include "prepix/json_read.h"

typedef struct {
    int64_t id;
    size_t node;
    uint32_t width, height;
    size_t name_off; /* into names */
} coco_image;

typedef struct {
    size_t node;
    size_t image; /* index into images */
    int64_t category;
} coco_ann;

struct ppx_coco {
    ppx_buf text;
    ppx_jdoc doc;
    ppx_coco_limits lim;
    size_t root;
    coco_image *im;
    size_t n_im;
    coco_ann *an;
    size_t n_an;
    /* The annotations of image i, in file order: by_image[at[i] .. at[i + 1]). */
    size_t *at, *by_image;
    ppx_buf names;
};

void ppx_coco_default_limits(ppx_coco_limits *l)
{
    *l = (ppx_coco_limits){.max_bytes = 2ULL << 30,
                           .max_depth = 32,
                           .max_nodes = 1ULL << 27,
                           .max_numbers = 1ULL << 24,
                           .max_images = 1ULL << 26,
                           .max_annotations = 1ULL << 28,
                           .max_pixels = 1ULL << 28};
}

void ppx_coco_free(ppx_coco **pc)
{
    if (!pc || !*pc)
        return;
    ppx_coco *c = *pc;
    ppx_jdoc_destroy(&c->doc);
    ppx_buf_destroy(&c->text);
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

const char *ppx_coco_file_name(const ppx_coco *c, size_t i)
{
    return (const char *)c->names.data + c->im[i].name_off;
}

/* ---- checking the file ---------------------------------------------------- */

/* A place in the file for messages: "annotations[12].bbox". */
static int bad(ppx_err *err, int code, const char *arr, size_t i, const char *member,
               const char *what)
{
    return ppx_err_set(err, code, PPX_STAGE_INPUT, "%s[%zu]%s%s: %s", arr, i, member ? "." : "",
                       member ? member : "", what);
}

/* An integer held exactly by a double (|v| < 2^53). */
static int get_int(const ppx_jdoc *d, long node, int64_t *v)
{
    if (node < 0 || d->v[node].type != PPX_JV_NUM)
        return -1;
    double x = ppx_jdoc_num(d, (size_t)node);
    if (x != floor(x) || fabs(x) >= 9007199254740992.0)
        return -1;
    *v = (int64_t)x;
    return 0;
}

/* The values of members keys[0..n) of object node obj into vals (-1 for
 * one that is absent; the last, as ppx_jdoc_get, when one repeats), in one
 * pass over the members: an annotation's five look-ups one at a time were
 * five passes. n is at most 8. */
static void get_members(const ppx_jdoc *d, size_t obj, const char *const *keys, long *vals, int n)
{
    size_t len[8];
    n = n < 8 ? n : 8;
    for (int j = 0; j < n; j++)
        vals[j] = -1, len[j] = strlen(keys[j]);
    for (size_t k = obj + 1; k < d->v[obj].end; k = d->v[k + 1].end) {
        const ppx_jnode *kn = &d->v[k];
        const char *name = d->text + kn->start + 1;
        for (int j = 0; j < n; j++)
            if (kn->len == len[j] + 2 && memcmp(name, keys[j], len[j]) == 0) {
                vals[j] = (long)(k + 1);
                break;
            }
    }
}

/* The members of an annotation that checking and mapping look at. */
enum { M_BBOX, M_SEG, M_KP, M_AREA, M_IMAGE, M_CAT, M_COUNT };
static const char *const ann_members[M_COUNT] = {"bbox", "segmentation", "keypoints",
                                                 "area", "image_id",     "category_id"};

static int cmp_ids(const void *a, const void *b)
{
    int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
    return (x > y) - (x < y);
}

/* The image whose id is id, by binary search over (id, index) pairs. */
static long find_image(const int64_t *pairs, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pairs[2 * mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && pairs[2 * lo] == id ? (long)pairs[2 * lo + 1] : -1;
}

static int check_images(ppx_coco *c, long arr, int64_t **pairs, ppx_err *err)
{
    const ppx_jdoc *d = &c->doc;
    if (arr < 0 || (d->v[arr].type != PPX_JV_ARR))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "images: %s",
                           arr < 0 ? "missing" : "not an array of objects");
    size_t n = d->v[arr].n;
    if (n > c->lim.max_images)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                           "images: %zu images, over the limit of %llu", n,
                           (unsigned long long)c->lim.max_images);
    c->im = calloc(n ? n : 1, sizeof *c->im);
    *pairs = malloc((n ? n : 1) * 2 * sizeof **pairs);
    if (!c->im || !*pairs)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    size_t i = 0;
    for (size_t k = (size_t)arr + 1; k < d->v[arr].end; k = d->v[k].end, i++) {
        if (d->v[k].type != PPX_JV_OBJ)
            return bad(err, PPX_EINVAL, "images", i, NULL, "not an object");
        coco_image *im = &c->im[i];
        im->node = k;
        long fn = ppx_jdoc_get(d, k, "file_name");
        int64_t w, h;
        if (get_int(d, ppx_jdoc_get(d, k, "id"), &im->id))
            return bad(err, PPX_EINVAL, "images", i, "id", "missing or not an integer");
        if (fn < 0 || d->v[fn].type != PPX_JV_STR)
            return bad(err, PPX_EINVAL, "images", i, "file_name", "missing or not a string");
        if (get_int(d, ppx_jdoc_get(d, k, "width"), &w) ||
            get_int(d, ppx_jdoc_get(d, k, "height"), &h) || w < 1 || h < 1 || w > UINT32_MAX ||
            h > UINT32_MAX)
            return bad(err, PPX_EINVAL, "images", i, "width",
                       "width and height must be positive integers");
        im->width = (uint32_t)w;
        im->height = (uint32_t)h;
        im->name_off = c->names.len;
        if (ppx_jdoc_str(d, (size_t)fn, &c->names))
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        (*pairs)[2 * i] = im->id;
        (*pairs)[2 * i + 1] = (int64_t)i;
    }
    c->n_im = n;
    qsort(*pairs, n, 2 * sizeof **pairs, cmp_ids);
    for (size_t j = 1; j < n; j++)
        if ((*pairs)[2 * j] == (*pairs)[2 * j - 2])
            return bad(err, PPX_EINVAL, "images", (size_t)(*pairs)[2 * j + 1], "id",
                       "the same id as an earlier image");
    return 0;
}

/* Compressed or listed RLE counts of node into *counts. */
static int rle_counts(const ppx_jdoc *d, long node, uint32_t **counts, size_t *n, int *compressed)
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

static int check_rle(const ppx_coco *c, long seg, const coco_image *im, size_t i, ppx_err *err)
{
    const ppx_jdoc *d = &c->doc;
    long size = ppx_jdoc_get(d, (size_t)seg, "size");
    double hw[2];
    if (size < 0 || d->v[size].type != PPX_JV_NUMS || d->v[size].n != 2)
        return bad(err, PPX_EINVAL, "annotations", i, "segmentation.size", "not [height, width]");
    ppx_jdoc_nums(d, (size_t)size, hw);
    if (hw[0] != im->height || hw[1] != im->width)
        return bad(err, PPX_EINVAL, "annotations", i, "segmentation.size",
                   "not the image's [height, width]");
    if ((uint64_t)im->width * im->height > c->lim.max_pixels)
        return bad(err, PPX_ELIMIT, "annotations", i, "segmentation",
                   "a mask larger than the pixel limit");
    uint32_t *counts;
    size_t n;
    int compressed;
    int rc = rle_counts(d, ppx_jdoc_get(d, (size_t)seg, "counts"), &counts, &n, &compressed);
    if (rc == PPX_ENOMEM)
        return ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory");
    uint64_t sum = 0;
    for (size_t k = 0; k < n && !rc; k++)
        sum += counts[k];
    free(counts);
    if (rc)
        return bad(err, PPX_EINVAL, "annotations", i, "segmentation.counts",
                   "not a list of run lengths or a compressed RLE string");
    if (sum != (uint64_t)im->width * im->height)
        return bad(err, PPX_EINVAL, "annotations", i, "segmentation.counts",
                   "the runs do not cover height x width pixels");
    return 0;
}

/* Annotation i, whose members m holds (get_members with ann_members). */
static int check_annotation(const ppx_coco *c, const long *m, size_t i, const coco_image *im,
                            ppx_err *err)
{
    const ppx_jdoc *d = &c->doc;
    long b = m[M_BBOX];
    if (b >= 0) {
        double v[4];
        if (d->v[b].type != PPX_JV_NUMS || d->v[b].n != 4)
            return bad(err, PPX_EINVAL, "annotations", i, "bbox", "not [x, y, width, height]");
        ppx_jdoc_nums(d, (size_t)b, v);
        if (v[2] < 0 || v[3] < 0)
            return bad(err, PPX_EINVAL, "annotations", i, "bbox", "a negative width or height");
    }
    long seg = m[M_SEG];
    if (seg >= 0 && d->v[seg].type == PPX_JV_OBJ) {
        int rc = check_rle(c, seg, im, i, err);
        if (rc)
            return rc;
    } else if (seg >= 0) {
        if (d->v[seg].type != PPX_JV_ARR && d->v[seg].type != PPX_JV_NUMS)
            return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                       "neither a list of polygons nor an RLE object");
        if (d->v[seg].type == PPX_JV_NUMS)
            return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                       "a polygon must be inside a list: [[x1, y1, ...]]");
        for (size_t p = (size_t)seg + 1; p < d->v[seg].end; p = d->v[p].end)
            if (d->v[p].type != PPX_JV_NUMS || d->v[p].n % 2 || d->v[p].n < 6)
                return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                           "a polygon that is not 3 or more x, y pairs");
    }
    long kp = m[M_KP];
    if (kp >= 0) {
        const ppx_jnode *nd = &d->v[kp];
        if ((nd->type != PPX_JV_NUMS && !(nd->type == PPX_JV_ARR && nd->n == 0)) || nd->n % 3)
            return bad(err, PPX_EINVAL, "annotations", i, "keypoints",
                       "not a list of x, y, v triples");
        /* COCO's 17 keypoints fit on the stack: no allocation an annotation. */
        double small[64];
        double *v = nd->n <= 64 ? small : malloc(nd->n * sizeof *v);
        if (!v)
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        ppx_jdoc_nums(d, (size_t)kp, v);
        int ok = 1;
        for (uint32_t j = 2; j < nd->n; j += 3)
            ok &= v[j] == 0 || v[j] == 1 || v[j] == 2;
        if (v != small)
            free(v);
        if (!ok)
            return bad(err, PPX_EINVAL, "annotations", i, "keypoints",
                       "a visibility other than 0, 1 or 2");
    }
    long area = m[M_AREA];
    if (area >= 0 && (d->v[area].type != PPX_JV_NUM || ppx_jdoc_num(d, (size_t)area) < 0))
        return bad(err, PPX_EINVAL, "annotations", i, "area", "not a number >= 0");
    return 0;
}

static int check_annotations(ppx_coco *c, long arr, const int64_t *pairs, ppx_err *err)
{
    const ppx_jdoc *d = &c->doc;
    if (arr < 0)
        return 0;
    if (d->v[arr].type != PPX_JV_ARR)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                           "annotations: not an array of objects");
    size_t n = d->v[arr].n;
    if (n > c->lim.max_annotations)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                           "annotations: %zu annotations, over the limit of %llu", n,
                           (unsigned long long)c->lim.max_annotations);
    c->an = calloc(n ? n : 1, sizeof *c->an);
    if (!c->an)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    size_t i = 0;
    for (size_t k = (size_t)arr + 1; k < d->v[arr].end; k = d->v[k].end, i++) {
        if (d->v[k].type != PPX_JV_OBJ)
            return bad(err, PPX_EINVAL, "annotations", i, NULL, "not an object");
        int64_t image_id;
        long m[M_COUNT];
        get_members(d, k, ann_members, m, M_COUNT);
        if (get_int(d, m[M_IMAGE], &image_id))
            return bad(err, PPX_EINVAL, "annotations", i, "image_id", "missing or not an integer");
        long im = find_image(pairs, c->n_im, image_id);
        if (im < 0) {
            char what[96];
            snprintf(what, sizeof what, "%lld names no image of the file", (long long)image_id);
            return bad(err, PPX_EINVAL, "annotations", i, "image_id", what);
        }
        if (get_int(d, m[M_CAT], &c->an[i].category))
            return bad(err, PPX_EINVAL, "annotations", i, "category_id",
                       "missing or not an integer");
        c->an[i].node = k;
        c->an[i].image = (size_t)im;
        int rc = check_annotation(c, m, i, &c->im[im], err);
        if (rc)
            return rc;
    }
    c->n_an = n;
    return 0;
}

/* c->at and c->by_image: each image's annotations, by a counting sort. */
static int index_by_image(ppx_coco *c, ppx_err *err)
{
    c->at = calloc(c->n_im + 1, sizeof *c->at);
    c->by_image = malloc((c->n_an ? c->n_an : 1) * sizeof *c->by_image);
    if (!c->at || !c->by_image)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    for (size_t i = 0; i < c->n_an; i++)
        c->at[c->an[i].image + 1]++;
    for (size_t i = 0; i < c->n_im; i++)
        c->at[i + 1] += c->at[i];
    for (size_t i = 0; i < c->n_an; i++)
        c->by_image[c->at[c->an[i].image]++] = i;
    for (size_t i = c->n_im; i > 0; i--) /* each at[i] now ends image i: shift back */
        c->at[i] = c->at[i - 1];
    c->at[0] = 0;
    return 0;
}

int ppx_coco_parse(ppx_buf *text, const ppx_coco_limits *l, ppx_coco **out, ppx_err *err)
{
    ppx_coco *c = calloc(1, sizeof *c);
    int64_t *pairs = NULL;
    int rc;
    if (!c) {
        ppx_buf_destroy(text);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    }
    c->text = *text;
    ppx_buf_init(text);
    c->lim = *l;
    if ((rc = ppx_buf_reserve(&c->text, c->text.len + 1))) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        goto out;
    }
    c->text.data[c->text.len] = '\0';
    ppx_json_limits jl = {.max_bytes = l->max_bytes,
                          .max_depth = l->max_depth,
                          .max_nodes = l->max_nodes,
                          .max_number = l->max_numbers};
    rc = ppx_jdoc_parse(&c->doc, (const char *)c->text.data, c->text.len, &jl, err);
    if (rc)
        goto out;
    if (c->doc.v[0].type != PPX_JV_OBJ) {
        rc = ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                         "not a COCO file: the top level is not an object");
        goto out;
    }
    rc = check_images(c, ppx_jdoc_get(&c->doc, 0, "images"), &pairs, err);
    if (!rc)
        rc = check_annotations(c, ppx_jdoc_get(&c->doc, 0, "annotations"), pairs, err);
    if (!rc)
        rc = index_by_image(c, err);
    long cats = ppx_jdoc_get(&c->doc, 0, "categories");
    if (!rc && cats >= 0 && c->doc.v[cats].type != PPX_JV_ARR)
        rc = ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "categories: not an array");
out:
    free(pairs);
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
    double *poly; /* scratch for a clipped polygon */
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
static char *digits_back(char *p, uint64_t v)
{
    static const char d2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
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

/* A mapped number: 9 decimals, trailing zeros dropped (a billionth of a
 * pixel, well below any use of a coordinate), in integer arithmetic:
 * printf's exact decimal conversion was 60% of a run's time. Values of a
 * billion or more (an area) take %.17g. An integer (a keypoint's 0, a
 * clipped edge) is its digits: the same text as the general path, whose
 * v * 1e9 is exact for |v| < 1e9 (v * 5^9 < 2^53). */
static void put_dbl(writer *w, double v)
{
    char s[40];
    if (!(fabs(v) < 1e9)) {
        int n = snprintf(s, sizeof s, "%.17g", v + 0.0);
        put(w, s, (size_t)n);
        return;
    }
    char *p = s + sizeof s;
    int64_t iv = (int64_t)v;
    if ((double)iv == v) {
        p = digits_back(p, (uint64_t)(iv < 0 ? -iv : iv));
        if (iv < 0)
            *--p = '-';
        put(w, p, (size_t)(s + sizeof s - p));
        return;
    }
    int64_t q = llround(fabs(v) * 1e9);
    int64_t ip = q / 1000000000, fp = q % 1000000000;
    int digits = 9;
    while (fp && fp % 10 == 0)
        fp /= 10, digits--;
    if (fp) {
        char *e = p;
        p = digits_back(p, (uint64_t)fp);
        while (p > e - digits)
            *--p = '0';
        *--p = '.';
    }
    p = digits_back(p, (uint64_t)ip);
    if (v < 0 && q)
        *--p = '-';
    put(w, p, (size_t)(s + sizeof s - p));
}

static void put_u(writer *w, uint64_t v)
{
    char s[24];
    char *p = digits_back(s + sizeof s, v);
    put(w, p, (size_t)(s + sizeof s - p));
}

static void raw(writer *w, size_t node)
{
    const ppx_jnode *nd = &w->c->doc.v[node];
    put(w, w->c->doc.text + nd->start, nd->len);
}

/* The members of an object, written one at a time: each next_member
 * writes the comma before it, its key and the colon, and leaves its value
 * to the caller (the copy, or a mapped value). */
typedef struct {
    size_t k, end;
    int n;
} members;

static members members_of(const writer *w, size_t obj)
{
    return (members){obj + 1, w->c->doc.v[obj].end, 0};
}

/* 1 with *key the next member's key node (its value at *key + 1); 0 at
 * the end, or once the writer failed. */
static int next_member(writer *w, members *it, size_t *key)
{
    if (it->k >= it->end || w->rc)
        return 0;
    *key = it->k;
    if (it->n++)
        puts_(w, ",");
    raw(w, it->k);
    puts_(w, ":");
    it->k = w->c->doc.v[it->k + 1].end;
    return 1;
}

static double *nums(writer *w, size_t node, size_t *n)
{
    const ppx_jnode *nd = &w->c->doc.v[node];
    *n = nd->type == PPX_JV_NUMS ? nd->n : 0;
    if (*n > w->num_cap) {
        double *v = realloc(w->num, *n * sizeof *v);
        if (!v) {
            w->rc = PPX_ENOMEM;
            *n = 0;
            return w->num;
        }
        w->num = v;
        w->num_cap = *n;
    }
    ppx_jdoc_nums(&w->c->doc, node, w->num);
    return w->num;
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

/* Polygons mapped and clipped, written as a list; their area in *area. 0
 * when none is left. */
static int write_polygons(writer *w, size_t seg, const ppx_geom *g, double *area)
{
    const ppx_jdoc *d = &w->c->doc;
    int kept = 0;
    *area = 0;
    puts_(w, "[");
    for (size_t p = seg + 1; p < d->v[seg].end && !w->rc; p = d->v[p].end) {
        size_t n;
        double *v = nums(w, p, &n);
        size_t pts = n / 2;
        for (size_t k = 0; k < pts; k++) {
            double x, y;
            ppx_geom_apply(g, v[2 * k], v[2 * k + 1], &x, &y);
            v[2 * k] = x, v[2 * k + 1] = y;
        }
        size_t m = ppx_coco_clip_polygon(v, pts, g->w, g->h, &w->poly, &w->poly_cap);
        if (m == (size_t)-1) {
            w->rc = PPX_ENOMEM;
            break;
        }
        double a = m >= 3 ? shoelace(w->poly, m) : 0;
        if (!(a > 0))
            continue;
        *area += a;
        puts_(w, kept++ ? ",[" : "[");
        for (size_t k = 0; k < 2 * m; k++) {
            if (k)
                puts_(w, ",");
            put_dbl(w, w->poly[k]);
        }
        puts_(w, "]");
    }
    puts_(w, "]");
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

/* An RLE mask resampled as a label map and written; its pixel count in
 * *area. 0 when the mask is empty (or, with w->rc, on failure). */
static int write_rle(writer *w, size_t seg, const coco_image *im, const ppx_geom *g, double *area,
                     ppx_err *err)
{
    const ppx_jdoc *d = &w->c->doc;
    uint32_t *counts;
    size_t n;
    int compressed;
    if (rle_counts(d, ppx_jdoc_get(d, seg, "counts"), &counts, &n, &compressed)) {
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
    size_t need = (size_t)(W * H > ow * oh ? W * H : ow * oh);
    if (2 * need > w->mask_cap) {
        uint8_t *m = realloc(w->mask, need ? 2 * need : 1);
        if (!m) {
            free(counts);
            w->rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory");
            return 0;
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
    free(counts);
    uint64_t ones = resample_mask(src, W, H, g, dst);
    *area = (double)ones;
    /* Runs of the output, starting with zeros. */
    size_t m = 0;
    uint8_t cur = 0;
    uint32_t run = 0;
    for (size_t k = 0; k <= (size_t)(ow * oh) && !w->rc; k++) {
        if (k < ow * oh && dst[k] == cur) {
            run++;
            continue;
        }
        if (ppx_array_grow((void **)&w->cnt, &w->cnt_cap, m, sizeof *w->cnt, 64)) {
            w->rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory");
            return 0;
        }
        w->cnt[m++] = run;
        run = 1;
        cur ^= 1;
    }
    /* The members of the RLE object in their order, size and counts replaced. */
    puts_(w, "{");
    members it = members_of(w, seg);
    size_t k;
    while (next_member(w, &it, &k)) {
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
            raw(w, k + 1);
        }
    }
    puts_(w, "}");
    return ones > 0;
}

/* Keypoints mapped; those outside become (0, 0, 0). */
static void write_keypoints(writer *w, size_t kp, const ppx_geom *g)
{
    size_t n;
    double *v = nums(w, kp, &n);
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

/* One annotation mapped into w->o; 0 when it was dropped (nothing written). */
static int write_annotation(writer *w, const coco_ann *a, const ppx_coco_out *out, ppx_err *err)
{
    const ppx_jdoc *d = &w->c->doc;
    const coco_image *im = &w->c->im[a->image];
    const ppx_geom *g = &out->geom;
    size_t start = w->o->len, node = a->node;
    long m[M_COUNT];
    get_members(d, node, ann_members, m, M_COUNT);
    long bb = m[M_BBOX], seg = m[M_SEG], kp = m[M_KP];
    double box[4] = {0}, frac = 1, seg_area = -1, b[4];
    int keep = 1;
    if (bb >= 0) {
        size_t n;
        memcpy(b, nums(w, (size_t)bb, &n), sizeof b);
        keep = map_box(g, b, box, &frac);
    }
    /* The segmentation is written aside first: it decides whether the
     * annotation is kept, and its area. */
    ppx_buf *segbuf = &w->seg, *main_out = w->o;
    segbuf->len = 0;
    if (keep && seg >= 0) {
        w->o = segbuf;
        if (d->v[seg].type == PPX_JV_OBJ)
            keep = write_rle(w, (size_t)seg, im, g, &seg_area, err);
        else if (d->v[seg].n > 0)
            keep = write_polygons(w, (size_t)seg, g, &seg_area);
        else
            raw(w, (size_t)seg), seg_area = -1;
        w->o = main_out;
    }
    if (!keep || w->rc) {
        w->o->len = start;
        return 0;
    }
    puts_(w, "{");
    members it = members_of(w, node);
    size_t k;
    while (next_member(w, &it, &k)) {
        if (k + 1 == (size_t)bb) {
            puts_(w, "[");
            for (int j = 0; j < 4; j++) {
                if (j)
                    puts_(w, ",");
                put_dbl(w, box[j]);
            }
            puts_(w, "]");
        } else if (k + 1 == (size_t)seg) {
            put(w, segbuf->data, segbuf->len);
        } else if (k + 1 == (size_t)kp) {
            write_keypoints(w, (size_t)kp, g);
        } else if (k + 1 == (size_t)m[M_AREA]) {
            double old = ppx_jdoc_num(d, k + 1);
            put_dbl(w, seg_area >= 0 ? seg_area : old * ppx_geom_area_scale(g) * frac);
        } else if (ppx_jdoc_is_key(d, k, "num_keypoints") && kp >= 0) {
            /* Written after the keypoints when it comes first: a second pass
             * would cost more than counting here. */
            size_t n;
            double *v = nums(w, (size_t)kp, &n);
            uint64_t c = 0;
            for (size_t j = 0; j + 2 < n; j += 3) {
                double x, y;
                ppx_geom_apply(g, v[j], v[j + 1], &x, &y);
                c += v[j + 2] > 0 && x >= 0 && x <= g->w && y >= 0 && y <= g->h;
            }
            put_u(w, c);
        } else {
            raw(w, k + 1);
        }
    }
    puts_(w, "}");
    return w->rc ? 0 : 1;
}

static void write_image(writer *w, const coco_image *im, const ppx_coco_out *out)
{
    const ppx_jdoc *d = &w->c->doc;
    puts_(w, "{");
    members it = members_of(w, im->node);
    size_t k;
    while (next_member(w, &it, &k)) {
        if (ppx_jdoc_is_key(d, k, "file_name")) {
            puts_(w, "\"");
            if (!w->rc && ppx_json_escape(w->o, out->name, strlen(out->name)))
                w->rc = PPX_ENOMEM;
            puts_(w, "\"");
        } else if (ppx_jdoc_is_key(d, k, "width")) {
            put_u(w, out->geom.w);
        } else if (ppx_jdoc_is_key(d, k, "height")) {
            put_u(w, out->geom.h);
        } else {
            raw(w, k + 1);
        }
    }
    puts_(w, "}");
}

/* Counts a dropped annotation of category cat: a sorted array, found by
 * binary search (COCO has tens of categories, LVIS about a thousand). */
static int count_drop(ppx_coco_counts *ct, size_t *cap, int64_t cat)
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
        ct->by_category[lo].dropped++;
        return 0;
    }
    if (ppx_array_grow((void **)&ct->by_category, cap, ct->n_categories, sizeof *ct->by_category,
                       16))
        return PPX_ENOMEM;
    memmove(ct->by_category + lo + 1, ct->by_category + lo,
            (ct->n_categories - lo) * sizeof *ct->by_category);
    ct->by_category[lo] = (ppx_coco_dropped){cat, 1};
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
        if (count_drop(ct, drop_cap, a->category))
            w->rc = PPX_ENOMEM;
    }
}

/* The end of a write: the scratch freed, and on failure the counts'
 * allocation and an error for err. */
static int write_end(writer *w, ppx_coco_counts *ct, ppx_err *err)
{
    free(w->num);
    free(w->poly);
    free(w->mask);
    free(w->cnt);
    ppx_buf_destroy(&w->seg);
    if (!w->rc)
        return 0;
    free(ct->by_category);
    ct->by_category = NULL;
    ct->n_categories = 0;
    if (!err->code)
        ppx_err_set(err, w->rc, PPX_STAGE_WRITE, "out of memory writing COCO annotations");
    return w->rc;
}

int ppx_coco_write(const ppx_coco *c, const ppx_coco_out *outs, ppx_buf *json, ppx_coco_counts *ct,
                   ppx_err *err)
{
    memset(ct, 0, sizeof *ct);
    size_t drop_cap = 0;
    writer w = {.c = c, .o = json};
    const ppx_jdoc *d = &c->doc;
    ct->images = c->n_im;
    ct->annotations = c->n_an;
    for (size_t i = 0; i < c->n_im; i++) {
        ct->images_written += outs[i].state == PPX_COCO_OK;
        ct->images_failed += outs[i].state == PPX_COCO_FAILED;
        ct->images_absent += outs[i].state == PPX_COCO_ABSENT;
    }
    /* The output is about the input's size: reserved at once, not copied
     * at each doubling (8% of the time for 10^5 annotations). */
    if (ppx_buf_reserve(json, json->len + c->text.len + c->text.len / 4 + 64))
        w.rc = PPX_ENOMEM;
    else
        ppx_advise_huge(json->data + json->len, json->cap - json->len);
    long images = ppx_jdoc_get(d, 0, "images"), anns = ppx_jdoc_get(d, 0, "annotations");
    puts_(&w, "{");
    members it = members_of(&w, 0);
    size_t k;
    while (next_member(&w, &it, &k)) {
        size_t n = 0;
        if (k + 1 == (size_t)images) {
            puts_(&w, "[");
            for (size_t i = 0; i < c->n_im && !w.rc; i++)
                if (outs[i].state == PPX_COCO_OK) {
                    if (n++)
                        puts_(&w, ",");
                    write_image(&w, &c->im[i], &outs[i]);
                }
            puts_(&w, "]");
        } else if (k + 1 == (size_t)anns) {
            puts_(&w, "[");
            for (size_t i = 0; i < c->n_an && !w.rc; i++)
                write_one(&w, &c->an[i], &outs[c->an[i].image], &n, ct, &drop_cap, err);
            puts_(&w, "]");
        } else {
            raw(&w, k + 1);
        }
    }
    puts_(&w, "}\n");
    return write_end(&w, ct, err);
}

int ppx_coco_slice(const ppx_coco *c, size_t i, ppx_buf *out)
{
    const ppx_jnode *im = &c->doc.v[c->im[i].node];
    int rc = ppx_buf_append(out, "{\"images\":[", 11) ||
             ppx_buf_append(out, c->doc.text + im->start, im->len) ||
             ppx_buf_append(out, "],\"annotations\":[", 17);
    for (size_t j = c->at[i]; j < c->at[i + 1] && !rc; j++) {
        const ppx_jnode *a = &c->doc.v[c->an[c->by_image[j]].node];
        rc = (j > c->at[i] && ppx_buf_append(out, ",", 1)) ||
             ppx_buf_append(out, c->doc.text + a->start, a->len);
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
