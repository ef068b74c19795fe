/* The COCO reader: one pass over the text into the tables of coco_impl.h,
 * with the generic reader's grammar, limits and messages (its cursor,
 * prepix/json_read.h) and no node per value.
 *
 * Why not the generic reader: for 10^6 annotations (510 MB) it made about
 * 20 million nodes (400 MB, grown by doubling, each page faulted and
 * zeroed), and the checker and the writer then walked the nodes; reading
 * was half of --coco's cost at rank 0 (docs/benchmarks.md, "Fourth pass").
 * Here the numbers that checking needs (a box's size, keypoints'
 * visibilities, ids, areas) are converted as they are read, and the rest
 * is only checked: polygons, most of the values, are the grammar alone.
 *
 * Checks that need the whole file (image ids unique, an annotation's
 * image found, an RLE mask's size against its image's) run after the pass;
 * those of one image or annotation at its closing brace. A member that
 * repeats counts as its last, as Python's json keeps it. */
#include "annot/coco_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/buf.h"

typedef struct {
    ppx_coco *c;
    ppx_jcur j;
    ppx_json_limits jl;
    ppx_err *err;
} reader;

static int nomem(reader *r)
{
    return ppx_err_set(r->err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
}

/* A place in the file for messages: "annotations[12].bbox". */
static int bad(ppx_err *err, int code, const char *arr, size_t i, const char *member,
               const char *what)
{
    return ppx_err_set(err, code, PPX_STAGE_INPUT, "%s[%zu]%s%s: %s", arr, i, member ? "." : "",
                       member ? member : "", what);
}

static int is_num_start(char ch)
{
    return ch == '-' || (ch >= '0' && ch <= '9');
}

/* The end of an element of an array (or of a member of an object): 1 after
 * a ',' (another follows), 0 after the closing bracket, or an error. */
static inline int next_elem(reader *r, char close, int *rc)
{
    ppx_jcur *j = &r->j;
    ppx_jcur_ws(j);
    if (*j->p == ',') {
        j->p++;
        ppx_jcur_ws(j);
        return 1;
    }
    if (*j->p == close) {
        j->p++;
        return 0;
    }
    *rc = ppx_jcur_fail(j, PPX_ECORRUPT, j->p,
                        close == '}' ? "expected ',' or '}' in an object"
                                     : "expected ',' or ']' in an array");
    return 0;
}

/* A container opens at j->p: depth checked, counted, j->p after its
 * bracket and blanks. 1 when it is empty (and closed), 0, or an error. */
static int open_container(reader *r, uint32_t depth, int *rc)
{
    ppx_jcur *j = &r->j;
    char close = *j->p == '{' ? '}' : ']';
    if (depth >= j->lim->max_depth)
        *rc = ppx_jcur_fail(j, PPX_ELIMIT, j->p, "nested deeper than the limit");
    else
        *rc = ppx_jcur_count(j, j->p);
    if (*rc)
        return 0;
    j->p++;
    ppx_jcur_ws(j);
    if (*j->p != close)
        return 0;
    j->p++;
    return 1;
}

/* What scan_nums found of an array. */
typedef struct {
    uint32_t n; /* elements */
    int only;   /* every element a number (an empty array too) */
    int vis_ok; /* every third number 0, 1 or 2 */
} nums_seen;

/* The array at j->p ('['): each element checked; numbers converted when
 * keep is not NULL (the first cap kept there, every third checked as a
 * keypoint's visibility), else only their grammar checked. An array of
 * numbers only counts as one value, as the generic reader counts it. */
static int scan_nums(reader *r, uint32_t depth, double *keep, size_t cap, nums_seen *s)
{
    ppx_jcur *j = &r->j;
    const char *start = j->p;
    uint64_t before = j->values + 1;
    uint32_t n = 0, nums = 0;
    int rc;
    *s = (nums_seen){0, 1, 1};
    if (open_container(r, depth, &rc) || rc)
        return rc;
    do {
        const char *e = ppx_json_plain(j->p);
        if (e && !keep) {
            j->p = e; /* a polygon's coordinate: its grammar is all it needs */
            nums++;
        } else if (is_num_start(*j->p)) {
            double v = 0;
            if (e) {
                /* The grammar's end, not the digits': "09" is 0, then a 9. */
                const char *end;
                v = ppx_json_num_fast(j->p, &end);
                j->p = e;
            } else if ((rc = ppx_jcur_number(j, keep ? &v : NULL)))
                return rc;
            if (keep && n < cap)
                keep[n] = v;
            if (keep && n % 3 == 2 && v != 0 && v != 1 && v != 2)
                s->vis_ok = 0;
            nums++;
        } else {
            s->only = 0;
            if ((rc = ppx_jcur_skip(j, depth + 1, NULL)))
                return rc;
        }
        n++;
    } while (next_elem(r, ']', &rc));
    if (rc)
        return rc;
    s->n = n;
    if (s->only) {
        if (n > j->lim->max_number)
            return ppx_jcur_fail(j, PPX_ELIMIT, start, "an array of more numbers than the limit");
        j->values = before; /* an array of numbers counts one */
    } else if (j->values + nums > j->lim->max_nodes) {
        return ppx_jcur_fail(j, PPX_ELIMIT, start, "more values than the limit");
    } else {
        j->values += nums;
    }
    return 0;
}

/* What an annotation's scan saw of its members (the last of each). */
typedef struct {
    char type[M_COUNT]; /* the first byte of the value: '[', '{', '"', '0' (a number) ... */
    nums_seen box, kp;
    double b[4];       /* the box */
    int shape;         /* segmentation: 0 polygons, 1 numbers only, 2 a bad polygon */
    uint32_t polygons; /* their count */
    double v[M_COUNT]; /* area, image_id, category_id when numbers */
} ann_seen;

/* A list of polygons at j->p ('['). */
static int scan_polys(reader *r, uint32_t depth, ann_seen *s)
{
    ppx_jcur *j = &r->j;
    int rc, nums = 1, good = 1;
    uint32_t n = 0;
    s->shape = 0;
    s->polygons = 0;
    if (open_container(r, depth, &rc) || rc)
        return rc;
    do {
        if (*j->p == '[') {
            nums_seen p;
            if ((rc = scan_nums(r, depth + 1, NULL, 0, &p)))
                return rc;
            good &= p.only && p.n >= 6 && p.n % 2 == 0;
            nums = 0;
            n++;
        } else {
            int num;
            if ((rc = ppx_jcur_skip(j, depth + 1, &num)))
                return rc;
            nums &= num;
            good = 0;
        }
    } while (next_elem(r, ']', &rc));
    if (rc)
        return rc;
    s->polygons = n;
    s->shape = nums ? 1 : good ? 0 : 2;
    return 0;
}

static int ann_kind(const char *k, size_t n)
{
    switch (n) {
    case 4:
        return memcmp(k, "bbox", 4) == 0 ? M_BBOX : memcmp(k, "area", 4) == 0 ? M_AREA : -1;
    case 8:
        return memcmp(k, "image_id", 8) == 0 ? M_IMAGE : -1;
    case 9:
        return memcmp(k, "keypoints", 9) == 0 ? M_KP : -1;
    case 11:
        return memcmp(k, "category_id", 11) == 0 ? M_CAT : -1;
    case 12:
        return memcmp(k, "segmentation", 12) == 0 ? M_SEG : -1;
    default:
        return -1;
    }
}

/* The value of member kind of an annotation, at j->p. */
static int scan_ann_value(reader *r, uint32_t depth, int kind, coco_ann *a, ann_seen *s)
{
    ppx_jcur *j = &r->j;
    char first = *j->p;
    int rc;
    if (kind < 0)
        return ppx_jcur_skip(j, depth, NULL);
    s->type[kind] = is_num_start(first) ? '0' : first;
    if (kind < M_IMAGE)
        a->at[kind] = (uint32_t)(j->p - j->text);
    if (first == '[' && kind == M_BBOX)
        return scan_nums(r, depth, s->b, 4, &s->box);
    if (first == '[' && kind == M_KP)
        return scan_nums(r, depth, s->b, 0, &s->kp);
    if (first == '[' && kind == M_SEG)
        return scan_polys(r, depth, s);
    if (is_num_start(first) && (kind == M_AREA || kind == M_IMAGE || kind == M_CAT)) {
        if ((rc = ppx_jcur_count(j, j->p)))
            return rc;
        return ppx_jcur_number(j, &s->v[kind]);
    }
    return ppx_jcur_skip(j, depth, NULL);
}

/* An integer held exactly by a double (|v| < 2^53). */
static int int_of(char type, double x, int64_t *v)
{
    if (type != '0' || x != floor(x) || fabs(x) >= 9007199254740992.0)
        return -1;
    *v = (int64_t)x;
    return 0;
}

/* The checks of annotation i that need nothing but itself. */
static int check_ann(reader *r, size_t i, coco_ann *a, const ann_seen *s)
{
    ppx_err *err = r->err;
    if (int_of(s->type[M_IMAGE], s->v[M_IMAGE], &a->image))
        return bad(err, PPX_EINVAL, "annotations", i, "image_id", "missing or not an integer");
    if (int_of(s->type[M_CAT], s->v[M_CAT], &a->category))
        return bad(err, PPX_EINVAL, "annotations", i, "category_id", "missing or not an integer");
    if (a->at[M_BBOX]) {
        if (s->type[M_BBOX] != '[' || !s->box.only || s->box.n != 4)
            return bad(err, PPX_EINVAL, "annotations", i, "bbox", "not [x, y, width, height]");
        if (s->b[2] < 0 || s->b[3] < 0)
            return bad(err, PPX_EINVAL, "annotations", i, "bbox", "a negative width or height");
    }
    if (a->at[M_SEG]) {
        a->seg_kind = s->type[M_SEG] == '{' ? SEG_RLE : s->polygons ? SEG_POLY : SEG_EMPTY;
        if (s->type[M_SEG] != '[' && s->type[M_SEG] != '{')
            return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                       "neither a list of polygons nor an RLE object");
        if (s->type[M_SEG] == '[' && s->shape == 1)
            return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                       "a polygon must be inside a list: [[x1, y1, ...]]");
        if (s->type[M_SEG] == '[' && s->shape == 2)
            return bad(err, PPX_EINVAL, "annotations", i, "segmentation",
                       "a polygon that is not 3 or more x, y pairs");
    }
    if (a->at[M_KP]) {
        if (s->type[M_KP] != '[' || !s->kp.only || s->kp.n % 3)
            return bad(err, PPX_EINVAL, "annotations", i, "keypoints",
                       "not a list of x, y, v triples");
        if (!s->kp.vis_ok)
            return bad(err, PPX_EINVAL, "annotations", i, "keypoints",
                       "a visibility other than 0, 1 or 2");
    }
    if (a->at[M_AREA] && (s->type[M_AREA] != '0' || s->v[M_AREA] < 0))
        return bad(err, PPX_EINVAL, "annotations", i, "area", "not a number >= 0");
    return 0;
}

/* Room for n annotations in c->an (doubling), backed by huge pages where
 * the kernel gives them: a million annotations are 48 MB, and a fault per
 * 4 KB page cost as much as reading them. 0 or PPX_ENOMEM. */
static int anns_room(ppx_coco *c, size_t n)
{
    if (n <= c->an_cap)
        return 0;
    size_t cap = c->an_cap ? 2 * c->an_cap : 1 << 10;
    if (cap < n)
        cap = n;
    coco_ann *an = cap <= SIZE_MAX / sizeof *an ? realloc(c->an, cap * sizeof *an) : NULL;
    if (!an)
        return PPX_ENOMEM;
    ppx_advise_huge(an, cap * sizeof *an);
    c->an = an;
    c->an_cap = cap;
    return 0;
}

/* The room reserved for the annotations of n bytes of text: COCO's
 * average about 500 bytes (instances_train2017.json: 448 MB, 860,001),
 * and the part of a guess of half that which is not used is never touched
 * (no page behind it). Growing by doubling instead copied the table again
 * and again (a fifth of the reader's time with two threads). */
static size_t anns_guess(size_t bytes)
{
    return bytes / 256 + 1;
}

/* Annotation i, an object at j->p. */
static int scan_annotation(reader *r, size_t i, uint32_t depth)
{
    ppx_jcur *j = &r->j;
    ppx_coco *c = r->c;
    const char *start = j->p;
    if (anns_room(c, i + 1))
        return nomem(r);
    coco_ann *a = &c->an[i];
    *a = (coco_ann){.start = (uint32_t)(start - j->text)};
    ann_seen s;
    memset(&s, 0, sizeof s);
    int rc;
    if (!open_container(r, depth, &rc) && !rc)
        do {
            const char *k;
            size_t n;
            if ((rc = ppx_jcur_key(&r->j, &k, &n)) ||
                (rc = scan_ann_value(r, depth + 1, ann_kind(k, n), a, &s)))
                return rc;
        } while (next_elem(r, '}', &rc));
    if (rc)
        return rc;
    a->len = (uint32_t)(j->p - start);
    return check_ann(r, i, a, &s);
}

/* The checks of image i (im), whose members' values are those of kinds
 * id, file_name, width, height in type and v (fn: where file_name's value
 * starts). */
static int check_image(reader *r, size_t i, coco_image *im, const char *type, const double *v,
                       const char *fn)
{
    int64_t w, h;
    if (int_of(type[0], v[0], &im->id))
        return bad(r->err, PPX_EINVAL, "images", i, "id", "missing or not an integer");
    if (type[1] != '"')
        return bad(r->err, PPX_EINVAL, "images", i, "file_name", "missing or not a string");
    if (int_of(type[2], v[2], &w) || int_of(type[3], v[3], &h) || w < 1 || h < 1 ||
        w > UINT32_MAX || h > UINT32_MAX)
        return bad(r->err, PPX_EINVAL, "images", i, "width",
                   "width and height must be positive integers");
    im->width = (uint32_t)w;
    im->height = (uint32_t)h;
    im->name_off = r->c->names.len;
    if (ppx_json_unescape(fn, (size_t)(coco_skip(fn) - fn), &r->c->names))
        return nomem(r);
    return 0;
}

static int image_kind(const char *k, size_t n)
{
    static const char *const keys[4] = {"id", "file_name", "width", "height"};
    for (int i = 0; i < 4; i++)
        if (n == strlen(keys[i]) && memcmp(k, keys[i], n) == 0)
            return i;
    return -1;
}

/* Image i, an object at j->p. */
static int scan_image(reader *r, size_t i, uint32_t depth)
{
    ppx_jcur *j = &r->j;
    ppx_coco *c = r->c;
    const char *start = j->p, *fn = NULL;
    if (ppx_array_grow((void **)&c->im, &c->im_cap, i, sizeof *c->im, 1 << 10))
        return nomem(r);
    coco_image *im = &c->im[i];
    *im = (coco_image){.start = (uint32_t)(start - j->text)};
    char type[4] = {0};
    double v[4] = {0};
    int rc;
    if (!open_container(r, depth, &rc) && !rc)
        do {
            const char *k;
            size_t n;
            if ((rc = ppx_jcur_key(&r->j, &k, &n)))
                return rc;
            int kind = image_kind(k, n);
            char first = *j->p;
            if (kind >= 0)
                type[kind] = is_num_start(first) ? '0' : first;
            if (kind == 1)
                fn = j->p;
            if (kind >= 0 && kind != 1 && is_num_start(first)) {
                if ((rc = ppx_jcur_count(j, j->p)) || (rc = ppx_jcur_number(j, &v[kind])))
                    return rc;
            } else if ((rc = ppx_jcur_skip(j, depth + 1, NULL))) {
                return rc;
            }
        } while (next_elem(r, '}', &rc));
    if (rc)
        return rc;
    im->len = (uint32_t)(j->p - start);
    return check_image(r, i, im, type, v, fn);
}

/* Element i of the images or annotations list (what) is not an object, at
 * j->p. As the generic reader said it: a list of numbers only is not a
 * list of objects; another names the element. */
static int not_objects(reader *r, const char *what, size_t i, uint32_t depth)
{
    ppx_jcur *j = &r->j;
    int all = i == 0 && is_num_start(*j->p), rc = 0, num;
    while (all) {
        if ((rc = ppx_jcur_skip(j, depth, &num)))
            return rc;
        all = num;
        if (!next_elem(r, ']', &rc))
            break;
    }
    if (rc)
        return rc;
    if (all)
        return ppx_err_set(r->err, PPX_EINVAL, PPX_STAGE_INPUT, "%s: not an array of objects",
                           what);
    return bad(r->err, PPX_EINVAL, what, i, NULL, "not an object");
}

/* Runs fn on each of the n items (size bytes each, at items): the first in
 * this thread, the others each in a thread of its own (or here, when one
 * cannot start), all ended when this returns. */
static void run_each(void *(*fn)(void *), void *items, size_t n, size_t size)
{
    pthread_t *t = n > 1 ? calloc(n, sizeof *t) : NULL;
    char *started = n > 1 ? calloc(n, 1) : NULL;
    for (size_t k = 1; k < n && t && started; k++)
        started[k] = pthread_create(&t[k], NULL, fn, (char *)items + k * size) == 0;
    for (size_t k = 0; k < n; k++)
        if (started && started[k])
            pthread_join(t[k], NULL);
        else
            fn((char *)items + k * size);
    free(t);
    free(started);
}

/* ---- the annotations read by several threads --------------------------------
 *
 * The list is cut into parts of about the same bytes; each part but the
 * first starts at a guess, the first '{' after "}," past its cut, and a
 * thread reads annotations from there (into tables of its own, its values
 * counted from 0) until the next annotation starts at or past the next
 * part's guess, or the list ends. Guesses cannot be trusted (the bytes may
 * lie inside a string or a nested value), so the parts are taken in order
 * only while each ended exactly where the next began; at the first part
 * that did not, that failed (its message would carry the wrong index), or
 * that would pass a limit, one thread reads the rest of the list as it
 * always did. The tables, errors and messages are those of one thread. */

/* Each part holds at least this much of the list's text: below it, a
 * thread's start and the guess cost more than they save. */
size_t ppx__coco_part_min = 4u << 20;

typedef struct {
    ppx_coco shell; /* its own tables (an, an_cap; the rest unused) */
    reader r;       /* r.c: shell, or for the first part the file's own tables */
    size_t n;       /* annotations read */
    ppx_err err;
    const char *start, *stop; /* where it starts; NULL: it stops at the list's end alone */
    const char *end;          /* where it ended: the next annotation, or after ']' */
    int closed;               /* it ended at the list's ']' */
    int rc;                   /* it failed (or met a non-object) */
    uint32_t depth;
} part;

/* The first annotation's start after p: '{' after '}' ',' (blanks
 * between), then a member's '"'; NULL when there is none before end. */
static const char *guess_start(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p != '}')
            continue;
        const char *q = coco_ws(p + 1);
        if (*q != ',')
            continue;
        q = coco_ws(q + 1);
        if (*q == '{' && *coco_ws(q + 1) == '"')
            return q;
    }
    return NULL;
}

static void *read_part(void *arg)
{
    part *pt = arg;
    reader *r = &pt->r;
    ppx_jcur *j = &r->j;
    size_t i = 0;
    int rc = 0;
    j->p = pt->start;
    do {
        if (*j->p != '{' || i >= r->c->lim.max_annotations) {
            rc = PPX_EINVAL;
            break;
        }
        if ((rc = scan_annotation(r, i, pt->depth)))
            break;
        i++;
        if (!next_elem(r, ']', &rc)) {
            pt->closed = !rc;
            break;
        }
    } while (!pt->stop || j->p < pt->stop);
    pt->n = i;
    pt->end = j->p;
    pt->rc = rc;
    return NULL;
}

/* The parts' annotations appended to r's in order, as far as they chain;
 * *done when the list ended; j->p where one thread reads on (the start of
 * an annotation) otherwise. i: annotations so far. */
static int take_parts(reader *r, part *parts, size_t n, size_t *i, int *done)
{
    ppx_jcur *j = &r->j;
    ppx_coco *c = r->c;
    for (size_t k = 0; k < n && !*done; k++) {
        part *pt = &parts[k];
        if (pt->start != j->p || pt->rc || *i + pt->n > c->lim.max_annotations ||
            j->values + pt->r.j.values > j->lim->max_nodes)
            break;
        if (pt->r.c != c) { /* the first part read into c itself */
            if (anns_room(c, *i + pt->n))
                return nomem(r);
            memcpy(c->an + *i, pt->shell.an, pt->n * sizeof *c->an);
        }
        *i += pt->n;
        j->values += pt->r.j.values;
        j->p = pt->end;
        *done = pt->closed;
    }
    return 0;
}

/* The annotations list from j->p (its first element, depth deep), read
 * by up to c->lim.threads threads: what read_list's loop would read. *i:
 * the annotations read; *done: the list ended (else one thread reads on
 * from j->p). */
static int read_parallel(reader *r, uint32_t depth, size_t *i, int *done)
{
    ppx_jcur *j = &r->j;
    const char *from = j->p;
    size_t bytes = (size_t)(j->end - from), n = r->c->lim.threads;
    if (n > bytes / ppx__coco_part_min)
        n = bytes / ppx__coco_part_min;
    if (n < 2)
        return 0;
    part *parts = calloc(n, sizeof *parts);
    if (!parts)
        return nomem(r);
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        const char *start = k ? guess_start(from + bytes / n * k, j->end) : from;
        if (!start || (used && start <= parts[used - 1].start))
            continue;
        part *pt = &parts[used];
        if (k && anns_room(&pt->shell, anns_guess(bytes / n)))
            break; /* no memory: the parts so far, and one thread reads on */
        used++;
        pt->start = start;
        pt->depth = depth;
        pt->shell.lim = r->c->lim;
        ppx_err_clear(&pt->err);
        pt->r = (reader){.c = k ? &pt->shell : r->c, .jl = r->jl, .err = &pt->err};
        ppx_jcur_init(&pt->r.j, j->text, (size_t)(j->end - j->text), &pt->r.jl, &pt->err);
    }
    for (size_t k = 0; k + 1 < used; k++)
        parts[k].stop = parts[k + 1].start;
    run_each(read_part, parts, used, sizeof *parts);
    int rc = take_parts(r, parts, used, i, done);
    for (size_t k = 0; k < used; k++)
        free(parts[k].shell.an);
    free(parts);
    return rc;
}

/* The images (or annotations) list at j->p ('['), nested depth deep. */
static int scan_list(reader *r, int images, uint32_t depth)
{
    ppx_jcur *j = &r->j;
    ppx_coco *c = r->c;
    const char *what = images ? "images" : "annotations";
    uint64_t max = images ? c->lim.max_images : c->lim.max_annotations;
    size_t i = 0;
    int rc, done = 0;
    if (images)
        c->names.len = 0;
    if (open_container(r, depth, &rc) || rc)
        goto out;
    if (!images && anns_room(c, anns_guess((size_t)(j->end - j->p))))
        return nomem(r);
    if (!images && c->lim.threads > 1 && (rc = read_parallel(r, depth + 1, &i, &done)))
        return rc;
    if (!done)
        do {
            if (*j->p != '{')
                return not_objects(r, what, i, depth + 1);
            if (i >= max)
                return ppx_err_set(r->err, PPX_ELIMIT, PPX_STAGE_INPUT,
                                   "%s: more than %llu %s, over the limit", what,
                                   (unsigned long long)max, what);
            if ((rc = images ? scan_image(r, i, depth + 1) : scan_annotation(r, i, depth + 1)))
                return rc;
            i++;
        } while (next_elem(r, ']', &rc));
out:
    *(images ? &c->n_im : &c->n_an) = i;
    return rc;
}

/* The top level's members; *bad_type: a bit for images (1), annotations
 * (2), categories (4) whose (last) value is not an array. */
static int scan_root(reader *r, int *bad_type)
{
    ppx_jcur *j = &r->j;
    ppx_coco *c = r->c;
    const char *t = (const char *)c->text.data;
    int rc;
    if (open_container(r, 0, &rc) || rc)
        return rc;
    do {
        const char *k;
        size_t n;
        if ((rc = ppx_jcur_key(&r->j, &k, &n)))
            return rc;
        if (ppx_array_grow((void **)&c->root, &c->root_cap, c->n_root, sizeof *c->root, 16))
            return nomem(r);
        coco_member *m = &c->root[c->n_root];
        *m = (coco_member){(uint32_t)(k - 1 - t), (uint32_t)n + 2, (uint32_t)(j->p - t), 0};
        int which = n == 6 && memcmp(k, "images", 6) == 0          ? 1
                    : n == 11 && memcmp(k, "annotations", 11) == 0 ? 2
                    : n == 10 && memcmp(k, "categories", 10) == 0  ? 4
                                                                   : 0;
        if (which)
            *bad_type = (*bad_type & ~which) | (*j->p == '[' ? 0 : which);
        if (which == 1)
            c->root_images = (long)c->n_root;
        if (which == 2)
            c->root_anns = (long)c->n_root;
        if (which && which != 4 && *j->p == '[')
            rc = scan_list(r, which == 1, 1);
        else
            rc = ppx_jcur_skip(j, 1, NULL);
        if (rc)
            return rc;
        m->len = (uint32_t)(j->p - (t + m->val));
        c->n_root++;
    } while (next_elem(r, '}', &rc));
    return rc;
}

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

int ppx__coco_rle_doc(const ppx_coco *c, const coco_ann *a, ppx_jdoc *d, ppx_err *err)
{
    const char *v = (const char *)c->text.data + a->at[M_SEG];
    ppx_json_limits jl = {.max_bytes = UINT32_MAX - 2,
                          .max_depth = c->lim.max_depth,
                          .max_nodes = c->lim.max_nodes,
                          .max_number = c->lim.max_numbers};
    /* Checked whole already: only memory can fail. The value ends in '}',
     * so no number inside it runs past its end. */
    int rc = ppx_jdoc_parse(d, v, (size_t)(coco_skip(v) - v), &jl, err);
    return rc ? ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory") : 0;
}

static int check_rle(const ppx_coco *c, const coco_ann *a, size_t i, ppx_err *err)
{
    const coco_image *im = &c->im[a->image];
    ppx_jdoc d;
    int rc = ppx__coco_rle_doc(c, a, &d, err);
    if (rc)
        return rc;
    long size = ppx_jdoc_get(&d, 0, "size");
    double hw[2];
    uint32_t *counts = NULL;
    size_t n = 0;
    int compressed;
    if (size < 0 || d.v[size].type != PPX_JV_NUMS || d.v[size].n != 2) {
        rc = bad(err, PPX_EINVAL, "annotations", i, "segmentation.size", "not [height, width]");
        goto out;
    }
    ppx_jdoc_nums(&d, (size_t)size, hw);
    if (hw[0] != im->height || hw[1] != im->width) {
        rc = bad(err, PPX_EINVAL, "annotations", i, "segmentation.size",
                 "not the image's [height, width]");
        goto out;
    }
    if ((uint64_t)im->width * im->height > c->lim.max_pixels) {
        rc = bad(err, PPX_ELIMIT, "annotations", i, "segmentation",
                 "a mask larger than the pixel limit");
        goto out;
    }
    rc = ppx__coco_rle_counts(&d, ppx_jdoc_get(&d, 0, "counts"), &counts, &n, &compressed);
    if (rc == PPX_ENOMEM) {
        rc = ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory");
        goto out;
    }
    uint64_t sum = 0;
    for (size_t k = 0; k < n && !rc; k++)
        sum += counts[k];
    if (rc)
        rc = bad(err, PPX_EINVAL, "annotations", i, "segmentation.counts",
                 "not a list of run lengths or a compressed RLE string");
    else if (sum != (uint64_t)im->width * im->height)
        rc = bad(err, PPX_EINVAL, "annotations", i, "segmentation.counts",
                 "the runs do not cover height x width pixels");
out:
    free(counts);
    ppx_jdoc_destroy(&d);
    return rc;
}

/* A range of the annotations whose images one thread finds. */
typedef struct {
    ppx_coco *c;
    const int64_t *pairs; /* (id, index) of the images, by id */
    size_t from, to;
    int rc; /* the first failure of the range, and its message */
    ppx_err err;
} finding;

/* Each annotation's image found (and its RLE checked against it), until
 * the range's first failure. */
static void *find_images(void *arg)
{
    finding *f = arg;
    ppx_coco *c = f->c;
    for (size_t i = f->from; i < f->to && !f->rc; i++) {
        coco_ann *a = &c->an[i];
        long im = find_image(f->pairs, c->n_im, a->image);
        if (im < 0) {
            char what[96];
            snprintf(what, sizeof what, "%lld names no image of the file", (long long)a->image);
            f->rc = bad(&f->err, PPX_EINVAL, "annotations", i, "image_id", what);
            break;
        }
        a->image = im;
        if (a->seg_kind == SEG_RLE)
            f->rc = check_rle(c, a, i, &f->err);
    }
    return NULL;
}

/* Image ids unique; each annotation's image found (and its RLE checked
 * against it), by up to c->lim.threads threads over ranges of the
 * annotations: the failure reported is the first range's that failed,
 * which is the first in the file's order. */
static int resolve(ppx_coco *c, ppx_err *err)
{
    size_t n = c->n_im, n_f = c->lim.threads > 1 ? c->lim.threads : 1;
    /* A thread's start costs about 10^4 searches: each thread finds the
     * images of ppx__coco_part_min / 64 annotations at least (65536). */
    size_t least = ppx__coco_part_min / 64 + 1;
    if (n_f > c->n_an / least + 1)
        n_f = c->n_an / least + 1;
    int64_t *pairs = malloc((n ? n : 1) * 2 * sizeof *pairs);
    finding *f = calloc(n_f, sizeof *f);
    int rc = 0;
    if (!pairs || !f) {
        free(pairs);
        free(f);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        pairs[2 * i] = c->im[i].id, pairs[2 * i + 1] = (int64_t)i;
    qsort(pairs, n, 2 * sizeof *pairs, cmp_ids);
    for (size_t j = 1; j < n && !rc; j++)
        if (pairs[2 * j] == pairs[2 * j - 2])
            rc = bad(err, PPX_EINVAL, "images", (size_t)pairs[2 * j + 1], "id",
                     "the same id as an earlier image");
    for (size_t k = 0; k < n_f; k++) {
        f[k] = (finding){.c = c,
                         .pairs = pairs,
                         .from = c->n_an / n_f * k,
                         .to = k + 1 < n_f ? c->n_an / n_f * (k + 1) : c->n_an};
        ppx_err_clear(&f[k].err);
    }
    if (!rc)
        run_each(find_images, f, n_f, sizeof *f);
    for (size_t k = 0; k < n_f && !rc; k++)
        if ((rc = f[k].rc))
            *err = f[k].err;
    free(pairs);
    free(f);
    return rc;
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

/* The top level: an object of COCO's members, or any other JSON value
 * (checked as the generic reader would, then refused). */
static int scan_text(reader *r, int *bad_type)
{
    ppx_jcur *j = &r->j;
    const char *t = j->text;
    size_t len = (size_t)(j->end - t);
    int rc;
    if (len > r->jl.max_bytes || len > UINT32_MAX - 2)
        return ppx_err_set(r->err, PPX_ELIMIT, PPX_STAGE_INPUT, "%zu bytes, over the limit of %llu",
                           len, (unsigned long long)r->jl.max_bytes);
    if (len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0)
        return ppx_jcur_fail(j, PPX_ECORRUPT, t, "a byte-order mark: JSON text starts without one");
    ppx_jcur_ws(j);
    int obj = *j->p == '{';
    rc = obj ? scan_root(r, bad_type) : ppx_jcur_skip(j, 0, NULL);
    if (rc)
        return rc;
    ppx_jcur_ws(j);
    if (j->p != j->end)
        return ppx_jcur_fail(j, PPX_ECORRUPT, j->p, "more text after the JSON value");
    if (!obj)
        return ppx_err_set(r->err, PPX_EINVAL, PPX_STAGE_INPUT,
                           "not a COCO file: the top level is not an object");
    return 0;
}

int ppx__coco_read(ppx_coco *c, ppx_err *err)
{
    reader r = {.c = c, .err = err};
    r.jl = (ppx_json_limits){.max_bytes = c->lim.max_bytes,
                             .max_depth = c->lim.max_depth,
                             .max_nodes = c->lim.max_nodes,
                             .max_number = c->lim.max_numbers};
    ppx_jcur_init(&r.j, (const char *)c->text.data, c->text.len, &r.jl, err);
    c->root_images = c->root_anns = -1;
    int bad_type = 0, rc = scan_text(&r, &bad_type);
    if (rc)
        return rc;
    if (c->root_images < 0 || (bad_type & 1))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "images: %s",
                           c->root_images < 0 ? "missing" : "not an array of objects");
    if (bad_type & 2)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                           "annotations: not an array of objects");
    if ((rc = resolve(c, err)) || (rc = index_by_image(c, err)))
        return rc;
    if (bad_type & 4)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "categories: not an array");
    return 0;
}
