/* --coco: the annotation file read and checked by rank 0 before any work,
 * and its mapped copy written at the end from the outputs' geometry records
 * (prepix/coco.h; the rules are in docs/pipeline.md).
 * With -f tar, the per-sample KEY.json: rank 0 puts each annotated image's
 * slice into its chunk, the rank that writes the shard maps it.
 * May change: sched_plan's coco, coco_digest and coco_image; reads its listing. */
#include "sched/run_state.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/clock.h"
#include "prepix/fsafe.h"
#include "prepix/log.h"

static int index_samples(run_state *s);

/* Threads that read and map the file at most (ppx_coco_limits' threads):
 * beyond this, memory's speed bounds them. */
#define COCO_THREADS_MAX 16

/* FNV-1a over the text's 8-byte words in four lanes, then its tail and
 * length: a byte at a time would cost rank 0 about 0.5 s a 500 MB file. */
static uint64_t digest(const unsigned char *p, size_t n)
{
    uint64_t h[4] = {PPX_FNV1A_INIT, PPX_FNV1A_INIT ^ 1, PPX_FNV1A_INIT ^ 2, PPX_FNV1A_INIT ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * (size_t)l, 8);
            h[l] = (h[l] ^ w) * 0x100000001b3ULL;
        }
    uint64_t r = ppx_fnv1a(PPX_FNV1A_INIT, p + i, n - i);
    r = ppx_fnv1a(r, h, sizeof h);
    return ppx_fnv1a(r, &n, sizeof n);
}

int ppx__coco_load(run_state *s)
{
    ppx_coco_limits lim;
    ppx_coco_default_limits(&lim);
    /* Reading and mapping run while the workers wait (before the first
     * image and after the last): the rank's CPUs are free for them. */
    int cpus = ppx_pool_default_workers();
    lim.threads = cpus < COCO_THREADS_MAX ? (unsigned)cpus : COCO_THREADS_MAX;
    if (s->cfg->limits.max_pixels)
        lim.max_pixels = s->cfg->limits.max_pixels;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    ppx_err_clear(&e);
    char shown[1024];
    ppx_escape_name(shown, sizeof shown, s->cfg->coco);
    double t0 = ppx_now_s();
    /* One byte over the limit is enough to tell a file that is too large. */
    int rc = ppx_read_at(AT_FDCWD, s->cfg->coco, lim.max_bytes + 1, &b, &e);
    if (rc) {
        ppx_buf_destroy(&b);
        ppx_log(PPX_LOG_ERR, "--coco %s: %s", shown, rc == 1 ? "No such file or directory" : e.msg);
        return PPX_EUSAGE;
    }
    s->plan.coco_digest = digest((const unsigned char *)b.data, b.len);
    rc = ppx_coco_parse(&b, &lim, &s->plan.coco, &e);
    if (rc) {
        ppx_log(PPX_LOG_ERR, "--coco %s: %s", shown, e.msg);
        return rc == PPX_ENOMEM ? PPX_ENOMEM : PPX_EUSAGE;
    }
    ppx_log(PPX_LOG_DBG, "--coco %s: %zu images, %zu annotations, read and checked in %.2f s",
            shown, ppx_coco_n_images(s->plan.coco), ppx_coco_n_annotations(s->plan.coco),
            ppx_now_s() - t0);
    return s->cfg->shard == PPX_SHARD_TAR ? index_samples(s) : 0;
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

/* A sample's own .json member would share KEY.json's name: refused. */
static int own_json(const run_state *s, size_t i)
{
    const ppx_member *m = ppx_listing_member(&s->plan.listing, i);
    for (uint32_t j = 0; m && j < m->side_n; j++) {
        const ppx_sidecar *sc = &s->plan.listing.sides[m->side_first + j];
        if (!sc->companion &&
            strcmp((const char *)s->plan.listing.side_names.data + sc->ext, "json") == 0)
            return 1;
    }
    return 0;
}

/* -f tar: s->plan.coco_image, which image of the file each listed input is.
 * 0, PPX_EUSAGE (a sample that has its own .json, logged) or PPX_ENOMEM. */
static int index_samples(run_state *s)
{
    size_t n = ppx_coco_n_images(s->plan.coco), nl = s->plan.listing.n;
    long *which = malloc((n ? n : 1) * sizeof *which);
    s->plan.coco_image = malloc((nl ? nl : 1) * sizeof *s->plan.coco_image);
    int rc = !which || !s->plan.coco_image ? PPX_ENOMEM : match_images(s, which);
    for (size_t i = 0; i < nl && !rc; i++)
        s->plan.coco_image[i] = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (which[i] < 0)
            continue;
        s->plan.coco_image[which[i]] = (long)i;
        if (own_json(s, (size_t)which[i])) {
            char shown[1024];
            ppx_escape_name(shown, sizeof shown,
                            ppx_listing_key(&s->plan.listing, (size_t)which[i]));
            ppx_log(PPX_LOG_ERR,
                    "--coco with -f tar: %s has a .json member of its own, and its sample's "
                    "KEY.json would hold its COCO annotations: leave one of them out",
                    shown);
            rc = PPX_EUSAGE;
        }
    }
    free(which);
    if (rc == PPX_ENOMEM)
        ppx_log(PPX_LOG_ERR, "out of memory");
    return rc;
}

int ppx__coco_put_slice(const run_state *s, uint64_t i, uint64_t k, ppx_buf *b)
{
    if (!s->plan.coco_image || s->plan.coco_image[i] < 0)
        return 0;
    size_t at = b->len;
    int rc = ppx_put_u64(b, k) || ppx_put_u64(b, 0) ||
             ppx_coco_slice(s->plan.coco, (size_t)s->plan.coco_image[i], b);
    if (!rc) { /* the length, now known */
        ppx_set_le64(b->data + at + 8, b->len - at - 16);
    }
    return rc ? PPX_ENOMEM : 0;
}

/* The slice of chunk image k from c's records into *text (copied), or 1
 * when it has none. */
static int slice_of(const chunk *c, uint64_t k, ppx_buf *text)
{
    ppx_rd r = {c->annots.data, c->annots.data + c->annots.len, 0};
    while (r.p < r.end) {
        uint64_t at = ppx_get_u64(&r), len = ppx_get_u64(&r);
        const uint8_t *d = ppx_get_bytes(&r, len);
        if (r.bad)
            return PPX_EMPI;
        if (at == k)
            return ppx_buf_append(text, d, len);
    }
    return 1;
}

/* The KEY.json of image v (index index) appended to out as a record. */
static int one_sample(const run_state *s, const chunk *c, const ppx_out_rec *v, ppx_buf *out,
                      ppx_err *e)
{
    uint64_t index = v->it.index;
    ppx_buf text, json;
    ppx_buf_init(&text);
    ppx_buf_init(&json);
    ppx_coco *one = NULL;
    const ppx_coco *from = s->plan.coco;
    size_t image = 0;
    int rc = 0;
    if (c && c->annots.len) {
        rc = index >= c->first ? slice_of(c, index - c->first, &text) : 1;
        if (rc == 1)
            goto out;
        ppx_coco_limits lim;
        ppx_coco_default_limits(&lim);
        lim.max_pixels = s->cfg->limits.max_pixels ? s->cfg->limits.max_pixels : lim.max_pixels;
        rc = rc ? rc : ppx_coco_parse(&text, &lim, &one, e);
        from = one;
    } else if (s->plan.coco_image && index < s->plan.listing.n && s->plan.coco_image[index] >= 0) {
        image = (size_t)s->plan.coco_image[index];
    } else {
        goto out; /* no annotations: no member */
    }
    if (rc) {
        rc = ppx_err_set(e, rc == PPX_ENOMEM ? rc : PPX_EMPI, PPX_STAGE_WRITE,
                         "the COCO annotations of image %llu came malformed",
                         (unsigned long long)index);
        goto out;
    }
    char name[32];
    snprintf(name, sizeof name, "%09llu", (unsigned long long)index);
    ppx_coco_out o = {v->fp.geom.w ? PPX_COCO_OK : PPX_COCO_FAILED, name, v->fp.geom};
    rc = ppx_coco_write_sample(from, image, &o, &json, e);
    if (!rc && json.len)
        rc = ppx_put_u64(out, index) || ppx_put_u64(out, 4) || ppx_buf_append(out, "json", 4) ||
                     ppx_put_u64(out, json.len) || ppx_buf_append(out, json.data, json.len)
                 ? ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory")
                 : 0;
out:
    ppx_coco_free(&one);
    ppx_buf_destroy(&text);
    ppx_buf_destroy(&json);
    return rc == 1 ? 0 : rc;
}

int ppx__coco_samples(const run_state *s, const chunk *c, const ppx_out_rec *v, size_t n,
                      ppx_buf *out, ppx_err *e)
{
    int rc = 0;
    if (!s->cfg->coco || s->cfg->shard != PPX_SHARD_TAR)
        return 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!v[i].failed)
            rc = one_sample(s, c, &v[i], out, e);
    return rc;
}

static int put_atomic(void *ctx, const void *data, size_t len, ppx_err *err)
{
    return ppx_atomic_write(ctx, data, len, err);
}

int ppx__coco_end(run_state *s, const ppx_prints *prints, const ppx_failures *fails,
                  ppx_coco_counts *ct, ppx_err *e)
{
    double t0 = ppx_now_s();
    size_t n = ppx_coco_n_images(s->plan.coco);
    long *which = malloc((n ? n : 1) * sizeof *which);
    ppx_coco_out *outs = calloc(n ? n : 1, sizeof *outs);
    size_t *name_at = malloc((n ? n : 1) * sizeof *name_at);
    ppx_buf names;
    ppx_buf_init(&names);
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
    ppx_atomic f;
    if (!rc && (rc = ppx_atomic_open(s->io.outdir.fd, NULL, "coco.json", NULL, &f, e)) == 0) {
        /* Written as it is mapped: the file never lies whole in memory. */
        ppx_coco_sink sink = {put_atomic, &f};
        rc = ppx_coco_write_to(s->plan.coco, outs, &sink, ct, e);
        if (rc)
            ppx_atomic_abort(&f);
        else
            rc = ppx_atomic_commit(&f, e);
    }
    if (!rc)
        ppx_log(PPX_LOG_DBG, "coco.json: %llu annotations mapped, %llu dropped outside, in %.2f s",
                (unsigned long long)ct->annotations_written,
                (unsigned long long)ct->annotations_outside, ppx_now_s() - t0);
    ppx_buf_destroy(&names);
    free(name_at);
    free(outs);
    free(which);
    return rc;
}
