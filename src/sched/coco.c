/* --coco: the annotation file read and checked by rank 0 before any work,
 * and its mapped copy written at the end from the outputs' geometry records
 * (prepix/coco.h; the rules are in docs/pipeline.md).
 * May change: sched_plan's coco; reads its listing. */
#include "sched/run_state.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/fsafe.h"
#include "prepix/log.h"

int ppx__coco_load(run_state *s)
{
    ppx_coco_limits lim;
    ppx_coco_default_limits(&lim);
    if (s->cfg->limits.max_pixels)
        lim.max_pixels = s->cfg->limits.max_pixels;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    ppx_err_clear(&e);
    char shown[1024];
    ppx_escape_name(shown, sizeof shown, s->cfg->coco);
    /* One byte over the limit is enough to tell a file that is too large. */
    int rc = ppx_read_at(AT_FDCWD, s->cfg->coco, lim.max_bytes + 1, &b, &e);
    if (rc) {
        ppx_buf_destroy(&b);
        ppx_log(PPX_LOG_ERR, "--coco %s: %s", shown, rc == 1 ? "No such file or directory" : e.msg);
        return PPX_EUSAGE;
    }
    rc = ppx_coco_parse(&b, &lim, &s->plan.coco, &e);
    if (rc) {
        ppx_log(PPX_LOG_ERR, "--coco %s: %s", shown, e.msg);
        return rc == PPX_ENOMEM ? PPX_ENOMEM : PPX_EUSAGE;
    }
    return 0;
}

typedef struct {
    const char *name;
    size_t index;
} named;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Entries of v (sorted) named name: their first position and count. */
static size_t find_named(const named *v, size_t n, const char *name, size_t *count)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = lo;
    while (k < n && strcmp(v[k].name, name) == 0)
        k++;
    *count = k - lo;
    return lo;
}

static int failed(const ppx_failures *f, uint64_t index)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->v[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n && f->v[lo].index == index;
}

/* Which input each image of the file is: the listing key equal to its
 * file_name, else the one input whose base name it is (COCO's file_name is
 * a base name, the input may be a folder of folders); none when no key or
 * more than one base name matches. -1 for none. */
static int match_images(run_state *s, long *which)
{
    const ppx_listing *l = &s->plan.listing;
    named *keys = malloc((l->n ? l->n : 1) * sizeof *keys);
    named *bases = malloc((l->n ? l->n : 1) * sizeof *bases);
    if (!keys || !bases) {
        free(keys);
        free(bases);
        return PPX_ENOMEM;
    }
    for (size_t i = 0; i < l->n; i++) {
        const char *k = ppx_listing_key(l, i), *slash = strrchr(k, '/');
        keys[i] = (named){k, i};
        bases[i] = (named){slash ? slash + 1 : k, i};
    }
    qsort(keys, l->n, sizeof *keys, cmp_named);
    qsort(bases, l->n, sizeof *bases, cmp_named);
    for (size_t i = 0; i < ppx_coco_n_images(s->plan.coco); i++) {
        const char *fn = ppx_coco_file_name(s->plan.coco, i);
        size_t count, at = find_named(keys, l->n, fn, &count);
        which[i] = -1;
        if (count == 1) {
            which[i] = (long)keys[at].index;
            continue;
        }
        at = find_named(bases, l->n, fn, &count);
        if (count == 1)
            which[i] = (long)bases[at].index;
    }
    free(keys);
    free(bases);
    return 0;
}

int ppx__coco_end(run_state *s, const ppx_prints *prints, const ppx_failures *fails,
                  ppx_coco_counts *ct, ppx_err *e)
{
    size_t n = ppx_coco_n_images(s->plan.coco);
    long *which = malloc((n ? n : 1) * sizeof *which);
    ppx_coco_out *outs = calloc(n ? n : 1, sizeof *outs);
    size_t *name_at = malloc((n ? n : 1) * sizeof *name_at);
    ppx_buf names, json;
    ppx_buf_init(&names);
    ppx_buf_init(&json);
    int rc = !which || !outs || !name_at ? PPX_ENOMEM : match_images(s, which);
    /* Output names: the file's name below OUTDIR, or a shard sample's key. */
    for (size_t i = 0; i < n && !rc; i++) {
        if (which[i] < 0)
            continue;
        const ppx_print *p = ppx_prints_find(prints, (uint64_t)which[i]);
        char name[PPX_KEY_MAX];
        if (failed(fails, (uint64_t)which[i]) || !p || !p->geom.w) {
            outs[i].state = PPX_COCO_FAILED;
            continue;
        }
        if (s->cfg->shard)
            snprintf(name, sizeof name, "%09ld", which[i]);
        else if (ppx_output_name(name, sizeof name,
                                 ppx_listing_key(&s->plan.listing, (size_t)which[i]),
                                 s->cfg->out_format, NULL)) {
            outs[i].state = PPX_COCO_FAILED;
            continue;
        }
        name_at[i] = names.len;
        rc = ppx_buf_append(&names, name, strlen(name) + 1);
        outs[i] = (ppx_coco_out){PPX_COCO_OK, NULL, p->geom};
    }
    for (size_t i = 0; i < n && !rc; i++)
        if (outs[i].state == PPX_COCO_OK)
            outs[i].name = (const char *)names.data + name_at[i];
    if (rc)
        rc = ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory matching COCO images");
    if (!rc)
        rc = ppx_coco_write(s->plan.coco, outs, &json, ct, e);
    if (!rc)
        rc = ppx_write_beneath(s->io.outdir.fd, NULL, "coco.json", json.data, json.len, NULL, e);
    ppx_buf_destroy(&json);
    ppx_buf_destroy(&names);
    free(name_at);
    free(outs);
    free(which);
    return rc;
}
