/* The scheduler's shard assembly (sched/shards.h); the byte formats are core/tar_npy.c. */
#include "sched/shards.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/codec.h"
#include "prepix/fsafe.h"
#include "prepix/io.h"
#include "prepix/tar_npy.h"
#include "prepix/buf.h"

/* ---- classes ---------------------------------------------------------- */

/* Length of key's first folder (leading slashes of an absolute @LIST line
 * skipped into *start), or 0 when the key has no folder. */
static size_t first_folder(const char *key, const char **start)
{
    while (*key == '/')
        key++;
    *start = key;
    const char *slash = strchr(key, '/');
    return slash ? (size_t)(slash - key) : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stem of the archive named by key's first len bytes ("a/n01.tar" ->
 * "n01"), as a span of key. */
static size_t archive_stem(const char *key, size_t len, const char **start)
{
    const char *end = key + len, *b = end;
    while (b > key && b[-1] != '/')
        b--;
    *start = b;
    return (size_t)(end - b) - 4; /* ".tar" */
}

/* Entry i's class name as a span of its key (length, *start), or 0 when it
 * has none; *cls gets its sample's .cls value (or PPX_NO_CLS). */
static size_t class_span(const ppx_listing *l, size_t i, const char **start, int64_t *cls)
{
    const char *key = ppx_listing_key(l, i);
    const ppx_member *m = ppx_listing_member(l, i);
    *cls = PPX_NO_CLS;
    if (!m && l->n_splits) {
        /* SPLIT/CLASS/...: the class is the folder under the split. */
        const char *slash = strchr(key, '/');
        return slash ? first_folder(slash + 1, start) : 0;
    }
    if (!m)
        return first_folder(key, start);
    if (m->cls != PPX_NO_CLS) {
        *cls = m->cls;
        return 0;
    }
    /* An archive below the top level of a folder INPUT is part of its first
     * folder's class, as a file there is: so the walk meets the classes in
     * their order (docs/scheduling.md, "Which runs stream"). */
    if (!l->is_list && !l->is_archive && !l->n_splits && memchr(key, '/', m->arc_len))
        return first_folder(key, start);
    if (m->inner_len)
        return archive_stem(key, m->inner_len, start);
    const char *in = key + m->arc_len + 1; /* the first folder inside the archive */
    const char *slash = strchr(in, '/');
    *start = in;
    if (slash)
        return (size_t)(slash - in);
    if (l->is_archive)
        return 0; /* INPUT itself names no class */
    /* An archive met in a walk or named in a list is a folder of its own:
     * its stem is the class, as for the class tars of a tar of tars (a
     * folder of ImageNet's class tars, as `tar xf` of the train tar leaves). */
    return archive_stem(key, m->arc_len, start);
}

/* Failure entries of archives (their keys name an archive, not a class). */
static int is_archive_problem(const ppx_listing *l, size_t i, size_t *cursor)
{
    while (*cursor < l->n_walk_errors && l->walk_errors[*cursor].index < i)
        (*cursor)++;
    return *cursor < l->n_walk_errors && l->walk_errors[*cursor].index == i &&
           l->walk_errors[*cursor].problem;
}

void ppx_classes_init(ppx_classes *cl)
{
    memset(cl, 0, sizeof *cl);
    cl->cls_max = -1;
    cl->cls_unnamed = PPX_NO_CLS;
}

/* Takes entries cl->seen .. l->n - 1: their .cls values, and each class
 * name not the last one taken appended. sorted: a name that sorts before
 * the last one is refused (PPX_EINVAL). */
static int classes_take(ppx_classes *cl, const ppx_listing *l, int sorted)
{
    for (size_t i = cl->seen; i < l->n; i++, cl->seen = i) {
        const char *f;
        int64_t cls;
        size_t len = class_span(l, i, &f, &cls);
        if (cls != PPX_NO_CLS && (cls < -1 || cls >= PPX_CLS_LINES_MAX)) {
            if (cl->cls_unnamed == PPX_NO_CLS)
                cl->cls_unnamed = cls;
        } else if (cls != PPX_NO_CLS && cls > cl->cls_max) {
            cl->cls_max = cls;
        }
        if (len == 0 || is_archive_problem(l, i, &cl->cursor))
            continue;
        /* Entries of a class mostly come together: compare with the last one only. */
        int c = 1;
        if (cl->n) {
            const char *last = cl->names[cl->n - 1];
            c = strncmp(f, last, len);
            if (c == 0)
                c = last[len] == '\0' ? 0 : -1;
        }
        if (c == 0)
            continue;
        if (c < 0 && sorted)
            return PPX_EINVAL;
        if (cl->n == cl->cap) {
            size_t cap = cl->cap ? 2 * cl->cap : 64;
            char **v = realloc(cl->names, cap * sizeof *v);
            if (!v)
                return PPX_ENOMEM;
            cl->names = v;
            cl->cap = cap;
        }
        if (!(cl->names[cl->n] = strndup(f, len)))
            return PPX_ENOMEM;
        cl->n++;
    }
    return 0;
}

int ppx_classes_grow(ppx_classes *cl, const ppx_listing *l)
{
    return classes_take(cl, l, 1);
}

int ppx_classes_build(ppx_classes *cl, const ppx_listing *l)
{
    ppx_classes_init(cl);
    if (classes_take(cl, l, 0))
        goto nomem;
    /* "a.b/x" sorts before "a/x" as a path, after "a" as a name. */
    if (cl->n)
        qsort(cl->names, cl->n, sizeof *cl->names, cmp_names);
    size_t u = 0; /* archives in any order may repeat a name */
    for (size_t i = 0; i < cl->n; i++) {
        if (u && strcmp(cl->names[u - 1], cl->names[i]) == 0)
            free(cl->names[i]);
        else
            cl->names[u++] = cl->names[i];
    }
    cl->n = u;
    return 0;
nomem:
    ppx_classes_destroy(cl);
    return PPX_ENOMEM;
}

int64_t ppx_classes_label(const ppx_classes *cl, const ppx_listing *l, size_t i)
{
    const char *f;
    int64_t cls;
    size_t len = class_span(l, i, &f, &cls);
    if (cls != PPX_NO_CLS)
        return cls;
    if (len == 0)
        return -1;
    size_t lo = 0, hi = cl->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(cl->names[mid], f, len);
        if (c == 0 && cl->names[mid][len] != '\0')
            c = 1;
        if (c == 0)
            return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1; /* an archive's failure entry */
}

void ppx_classes_destroy(ppx_classes *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->names[i]);
    free(cl->names);
    memset(cl, 0, sizeof *cl);
}

/* ---- shards ----------------------------------------------------------- */

int ppx_shard_path(char *out, size_t cap, const char *outdir, ppx_shard_kind kind, uint64_t id,
                   int labels)
{
    char name[64];
    snprintf(name, sizeof name, "shard-%06llu.%s", (unsigned long long)id,
             kind == PPX_SHARD_TAR ? "tar"
             : labels              ? "labels.npy"
                                   : "npy");
    return ppx_path_join(out, cap, outdir, name);
}

static int cmp_items(const void *a, const void *b)
{
    uint64_t x = ((const ppx_shard_item *)a)->index, y = ((const ppx_shard_item *)b)->index;
    return (x > y) - (x < y);
}

static int write_buf(int outdir, ppx_shard_kind kind, uint64_t id, int labels, const ppx_buf *b,
                     uint32_t mode, ppx_err *err)
{
    char name[64];
    if (ppx_shard_path(name, sizeof name, "", kind, id, labels))
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WRITE, "shard name too long");
    ppx_write_opts wo = {.mode = mode};
    return ppx_write_beneath(outdir, NULL, name, b->data, b->len, &wo, err);
}

/* Writes the sidecars of image index from the records at *r (sorted by
 * index); *own_cls is set when one of them is the sample's .cls. */
static int add_sides(ppx_buf *tar, ppx_rd *r, uint64_t index, int *own_cls)
{
    *own_cls = 0;
    while (r->p < r->end) {
        ppx_rd peek = *r;
        uint64_t at = ppx_get_u64(&peek);
        if (peek.bad || at > index)
            return peek.bad ? PPX_EINTERNAL : 0;
        uint64_t el = ppx_get_u64(&peek);
        const uint8_t *ext = ppx_get_bytes(&peek, el);
        uint64_t len = ppx_get_u64(&peek);
        const uint8_t *data = ppx_get_bytes(&peek, len);
        if (peek.bad || el > PPX_SIDE_EXT_MAX)
            return PPX_EINTERNAL;
        *r = peek;
        if (at < index)
            continue; /* its image failed */
        char name[100];
        snprintf(name, sizeof name, "%09llu.%.*s", (unsigned long long)index, (int)el,
                 (const char *)ext);
        *own_cls |= el == 3 && memcmp(ext, "cls", 3) == 0;
        int rc = ppx_tar_add(tar, name, data, len);
        if (rc)
            return rc;
    }
    return 0;
}

/* shard-N.ROLE.npy: role k's maps of the n items, N x H x W, in b (reused).
 * 8-bit maps are widened when another one of the shard is 16-bit. */
static int write_npy_role(int outdir, const ppx_npy_shape *shape, uint64_t id,
                          const ppx_shard_item *v, size_t n, const ppx_companion_spec *roles, int k,
                          ppx_buf *b, uint32_t mode, ppx_err *err)
{
    size_t px = (size_t)shape->w * shape->h;
    int wide = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].part_len[k] != px && v[i].part_len[k] != 2 * px)
            return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WRITE,
                               "image %llu: its %s map has %llu bytes, not a %ux%u map",
                               (unsigned long long)v[i].index, roles[k].role,
                               (unsigned long long)v[i].part_len[k], shape->w, shape->h);
        wide |= v[i].part_len[k] == 2 * px;
    }
    uint64_t dims[3] = {n, shape->h, shape->w};
    b->len = 0;
    int rc = ppx_npy_header(b, wide ? "<u2" : "|u1", dims, 3);
    for (size_t i = 0; i < n && !rc; i++) {
        const uint8_t *part = v[i].data + v[i].len;
        for (int q = 0; q < k; q++)
            part += v[i].part_len[q];
        if (!wide || v[i].part_len[k] == 2 * px) {
            rc = ppx_buf_append(b, part, v[i].part_len[k]);
            continue;
        }
        for (size_t j = 0; j < px && !rc; j++) {
            uint16_t w16 = part[j];
            rc = ppx_buf_append(b, &w16, 2);
        }
    }
    if (rc)
        return ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory building shard %llu",
                           (unsigned long long)id);
    char name[64 + PPX_ROLE_MAX];
    snprintf(name, sizeof name, "shard-%06llu.%s.npy", (unsigned long long)id, roles[k].role);
    ppx_write_opts wo = {.mode = mode};
    return ppx_write_beneath(outdir, NULL, name, b->data, b->len, &wo, err);
}

int ppx_shard_write(int outdir, ppx_shard_kind kind, const ppx_npy_shape *shape, uint64_t id,
                    ppx_shard_item *v, size_t n, uint32_t mode, const ppx_buf *sides,
                    const ppx_buf *annots, const ppx_companion_spec *roles, int n_roles,
                    ppx_buf *scratch, ppx_err *err)
{
    int rc = 0;
    if (n)
        qsort(v, n, sizeof *v, cmp_items);

    scratch->len = 0;
    if (!rc && kind == PPX_SHARD_TAR) {
        /* WebDataset groups members by the name before the first dot: the
         * 9-digit listing index is a key no file name can break. */
        ppx_rd sr = {sides ? sides->data : NULL, sides ? sides->data + sides->len : NULL, 0};
        ppx_rd ar = {annots ? annots->data : NULL, annots ? annots->data + annots->len : NULL, 0};
        for (size_t i = 0; i < n && !rc; i++) {
            char name[64], label[32];
            int own_cls = 0;
            snprintf(name, sizeof name, "%09llu.%s", (unsigned long long)v[i].index,
                     v[i].format == PPX_FMT_TIFF ? "tiff" : ppx_format_ext(v[i].format));
            rc = ppx_tar_add(scratch, name, v[i].data, v[i].len);
            const uint8_t *part = v[i].data + v[i].len;
            for (int k = 0; k < n_roles && !rc; k++) {
                if (!v[i].part_len[k])
                    continue;
                snprintf(name, sizeof name, "%09llu.%s.%s", (unsigned long long)v[i].index,
                         roles[k].role, v[i].format == PPX_FMT_TIFF ? "tiff" : "png");
                rc = ppx_tar_add(scratch, name, part, v[i].part_len[k]);
                part += v[i].part_len[k];
            }
            rc = rc ? rc : add_sides(scratch, &sr, v[i].index, &own_cls);
            int no_cls = 0; /* a KEY.json record is never a .cls */
            rc = rc ? rc : add_sides(scratch, &ar, v[i].index, &no_cls);
            int ll = snprintf(label, sizeof label, "%lld", (long long)v[i].label);
            snprintf(name, sizeof name, "%09llu.cls", (unsigned long long)v[i].index);
            if (!own_cls)
                rc = rc ? rc : ppx_tar_add(scratch, name, label, (size_t)ll);
        }
        rc = rc ? rc : ppx_tar_end(scratch);
        if (rc == PPX_ENOMEM)
            ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory building shard %llu",
                        (unsigned long long)id);
        else if (rc && !err->code)
            ppx_err_set(err, rc, PPX_STAGE_WRITE, "a member of shard %llu is too large",
                        (unsigned long long)id);
        rc = rc ? rc : write_buf(outdir, kind, id, 0, scratch, mode, err);
    } else {
        /* The shard's layout is its images' (one: the rank failed the images
         * of another, sched/results.c); an empty shard has the pipeline's. */
        int lay = n ? v[0].format : ppx_npy_layout(shape->f32 ? PPX_F32 : PPX_U8, shape->c);
        const char *descr = ppx_npy_descr(ppx_npy_layout_type(lay));
        unsigned bands = ppx_npy_layout_bands(lay);
        if (!descr || bands < 1 || bands > PPX_MAX_BANDS)
            return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WRITE,
                               "shard %llu: bad npy layout %#x", (unsigned long long)id,
                               (unsigned)lay);
        size_t each =
            (size_t)shape->w * shape->h * bands * ppx_sample_size(ppx_npy_layout_type(lay));
        uint64_t dims[4] = {n, shape->h, shape->w, bands};
        rc = ppx_npy_header(scratch, descr, dims, 4);
        for (size_t i = 0; i < n && !rc; i++) {
            if (v[i].format != lay || v[i].len != each)
                rc =
                    ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WRITE,
                                "image %llu has %llu bytes, not the %zu of the shard's shape",
                                (unsigned long long)v[i].index, (unsigned long long)v[i].len, each);
            else
                rc = ppx_buf_append(scratch, v[i].data, v[i].len);
        }
        /* Labels first: a shard's data never lands without them. */
        ppx_buf labels;
        ppx_buf_init(&labels);
        rc = rc ? rc : ppx_npy_header(&labels, "<i8", dims, 1);
        for (size_t i = 0; i < n && !rc; i++)
            rc = ppx_put_u64(&labels, (uint64_t)v[i].label);
        if (rc && !err->code)
            ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory building shard %llu",
                        (unsigned long long)id);
        rc = rc ? rc : write_buf(outdir, kind, id, 1, &labels, mode, err);
        for (int k = 0; k < n_roles && !rc; k++)
            rc = write_npy_role(outdir, shape, id, v, n, roles, k, &labels, mode, err);
        rc = rc ? rc : write_buf(outdir, kind, id, 0, scratch, mode, err);
        ppx_buf_destroy(&labels);
    }
    if (rc == PPX_ENOMEM && !err->code)
        ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory");
    return rc;
}

/* ---- index.csv, classes.txt -------------------------------------------- */

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
int ppx__csv_field(ppx_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n"))
        return ppx_buf_append(b, s, strlen(s));
    int rc = ppx_buf_append(b, "\"", 1);
    for (const char *p = s; *p && !rc; p++)
        rc = *p == '"' ? ppx_buf_append(b, "\"\"", 2) : ppx_buf_append(b, p, 1);
    return rc ? rc : ppx_buf_append(b, "\"", 1);
}

/* ",width,height,xx,xy,x0,yx,yy,y0" of g (empty fields without one):
 * doubles with 17 significant digits, which read back exactly. */
int ppx__geom_fields(ppx_buf *b, const ppx_print *p)
{
    if (!p || !p->geom.w)
        return ppx_buf_append(b, ",,,,,,,,", 8);
    const double *m = p->geom.m;
    return ppx_buf_printf(b, ",%u,%u,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g", p->geom.w, p->geom.h,
                          m[0], m[1], m[2], m[3], m[4], m[5]);
}

int ppx_shard_write_index(int outdir, ppx_shard_kind kind, uint64_t shard_size,
                          const ppx_listing *l, const ppx_classes *cl, const ppx_failures *fails,
                          const ppx_prints *geoms, ppx_err *err)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = ppx_buf_printf(&b, "key,shard,label,path," PPX_GEOM_CSV_HEADER "\n");
    size_t f = 0;
    for (size_t i = 0; i < l->n && !rc; i++) {
        while (f < fails->n && fails->v[f].index < i)
            f++;
        if (f < fails->n && fails->v[f].index == i)
            continue;
        const char *key = ppx_listing_key(l, i);
        rc = ppx_buf_printf(
            &b, "%09zu,shard-%06llu.%s,%lld,", i, (unsigned long long)(i / shard_size),
            kind == PPX_SHARD_TAR ? "tar" : "npy", (long long)ppx_classes_label(cl, l, i));
        rc = rc ? rc : ppx__csv_field(&b, key);
        rc = rc ? rc : ppx__geom_fields(&b, geoms ? ppx_prints_find(geoms, i) : NULL);
        rc = rc ? rc : ppx_buf_append(&b, "\n", 1);
    }
    if (rc)
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory writing index.csv");
    else
        rc = ppx_write_beneath(outdir, NULL, "index.csv", b.data, b.len, NULL, err);
    b.len = 0;
    /* A class name holding a line break would shift every label after it:
     * written as \n (and a backslash as \\). */
    for (size_t i = 0; i < cl->n && !rc; i++) {
        for (const char *p = cl->names[i]; *p && !rc; p++)
            rc = *p == '\n'   ? ppx_buf_append(&b, "\\n", 2)
                 : *p == '\\' ? ppx_buf_append(&b, "\\\\", 2)
                              : ppx_buf_append(&b, p, 1);
        rc = rc ? rc : ppx_buf_append(&b, "\n", 1);
    }
    /* Labels that are .cls values have no names: each id is its own, on its
     * own line, gaps included, so that line k still names label k. */
    if (cl->n == 0 && cl->cls_unnamed == PPX_NO_CLS)
        for (int64_t k = 0; k <= cl->cls_max && !rc; k++)
            rc = ppx_buf_printf(&b, "%lld\n", (long long)k);
    if (!rc)
        rc = ppx_write_beneath(outdir, NULL, "classes.txt", b.data, b.len, NULL, err);
    else if (!err->code) {
        ppx_err_set(err, rc, PPX_STAGE_WRITE, "out of memory writing classes.txt");
    }
    ppx_buf_destroy(&b);
    return rc;
}

/* ---- the report's counts ----------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Appends the runs of equal labels of v[0..n) (sorted) to t->classes, nameless. */
static void add_other_labels(ppx_shard_tally *t, const int64_t *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && v[k] == v[i])
            k++;
        t->classes[t->n_classes++] = (ppx_report_class){v[i], NULL, k - i};
        i = k;
    }
}

int ppx_shard_tally_build(ppx_shard_tally *t, ppx_shard_kind kind, uint64_t shard_size,
                          const ppx_listing *l, const ppx_classes *cl, const ppx_failures *fails)
{
    memset(t, 0, sizeof *t);
    size_t n_shards = l->n ? (size_t)((l->n - 1) / shard_size + 1) : 0;
    /* Labels of classes.txt are counted in place; others (-1, .cls values)
     * are collected, sorted and counted in runs. */
    uint64_t *named = calloc(cl->n ? cl->n : 1, sizeof *named);
    int64_t *other = malloc((l->n ? l->n : 1) * sizeof *other);
    size_t n_other = 0, f = 0;
    t->shards = calloc(n_shards ? n_shards : 1, sizeof *t->shards);
    if (!named || !other || !t->shards)
        goto nomem;
    for (size_t s = 0; s < n_shards; s++)
        if (ppx_shard_path(t->shards[s].file, sizeof t->shards[s].file, "", kind, s, 0))
            goto nomem; /* never: 32 bytes hold the name of shard 2^64 - 1 */
    t->n_shards = n_shards;
    for (size_t i = 0; i < l->n; i++) {
        while (f < fails->n && fails->v[f].index < i)
            f++;
        if (f < fails->n && fails->v[f].index == i)
            continue;
        t->shards[i / shard_size].images++;
        int64_t label = ppx_classes_label(cl, l, i);
        if (label >= 0 && (uint64_t)label < cl->n)
            named[label]++;
        else
            other[n_other++] = label;
    }
    if (n_other)
        qsort(other, n_other, sizeof *other, cmp_i64);
    size_t below = 0; /* the other labels below 0 come first */
    while (below < n_other && other[below] < 0)
        below++;
    t->classes = calloc(cl->n + n_other ? cl->n + n_other : 1, sizeof *t->classes);
    if (!t->classes)
        goto nomem;
    add_other_labels(t, other, below);
    for (size_t c = 0; c < cl->n; c++)
        t->classes[t->n_classes++] = (ppx_report_class){(int64_t)c, cl->names[c], named[c]};
    add_other_labels(t, other + below, n_other - below);
    free(named);
    free(other);
    return 0;
nomem:
    free(named);
    free(other);
    ppx_shard_tally_destroy(t);
    return PPX_ENOMEM;
}

void ppx_shard_tally_destroy(ppx_shard_tally *t)
{
    free(t->shards);
    free(t->classes);
    memset(t, 0, sizeof *t);
}

int ppx_sched_npy_shape(const ppx_pipeline *pl, uint32_t chip_w, uint32_t chip_h,
                        ppx_npy_shape *out)
{
    ppx_pipeline_geometry g;
    ppx_pipeline_output_geometry(pl, &g);
    g.fixed = ppx_pipeline_fixed_size_from(pl, chip_w, chip_h, &g.w, &g.h);
    if (!g.fixed)
        return PPX_EINVAL;
    *out = (ppx_npy_shape){.w = g.w, .h = g.h, .c = g.channels ? g.channels : 3, .f32 = g.f32};
    return 0;
}
