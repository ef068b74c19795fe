/* The duplicates of a run, at its end on rank 0: every fingerprint (this
 * attempt's, gathered from the ranks, and the journal's) grouped, the
 * members named as the report names inputs, and the list of the paths a
 * deduplicated dataset drops.
 * May change: no run state (its own dups_end); reads sched_plan and
 * sched_io. */
#include "sched/run_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/codec.h"
#include "prepix/pipeline.h"

/* Sorts by index and keeps one record per image. */
static void sort_unique(ppx_prints *p)
{
    ppx_prints_sort(p);
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++)
        if (m == 0 || p->v[i].index != p->v[m - 1].index)
            p->v[m++] = p->v[i];
    p->n = m;
}

/* One line of the drop list: the path, a newline or backslash in it
 * written \n or \\ (as in classes.txt), so that every line is one path. */
static int put_line(ppx_buf *b, const char *path)
{
    for (const char *c = path; *c; c++) {
        int rc = *c == '\n'   ? ppx_buf_append(b, "\\n", 2)
                 : *c == '\\' ? ppx_buf_append(b, "\\\\", 2)
                              : ppx_buf_append(b, c, 1);
        if (rc)
            return rc;
    }
    return ppx_buf_append(b, "\n", 1);
}

static int write_list(run_state *s, dups_end *de)
{
    const ppx_run_config *cfg = s->cfg;
    const char *user = cfg->drop_list;
    if (!user && (!cfg->outdir || s->io.outdir.fd < 0))
        return 0; /* prepix stats without --drop-list */
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < de->rep.prints->n && !rc; i++)
        if (de->dups.drop[i])
            rc = put_line(&b, de->paths[i] ? de->paths[i] : "?");
    if (rc)
        rc = ppx_err_set(&de->err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    else if (user)
        rc = ppx_report_file_write(user, b.data, b.len, &de->err);
    else
        rc = ppx_write_beneath(s->io.outdir.fd, NULL, "duplicates.txt", b.data, b.len, NULL,
                               &de->err);
    if (!rc) {
        if (user)
            snprintf(de->list_path, sizeof de->list_path, "%s", user);
        else
            snprintf(de->list_path, sizeof de->list_path, "%s/duplicates.txt", cfg->outdir);
        de->rep.drop_list = de->list_path;
    }
    ppx_buf_destroy(&b);
    return rc;
}

/* The split of entry idx: the index of the split its key's first part names. */
static int split_of(const run_state *s, uint64_t idx)
{
    const char *key = idx < s->plan.listing.n ? ppx_listing_key(&s->plan.listing, idx) : "";
    const char *slash = strchr(key, '/');
    for (int k = 0; slash && k < s->cfg->n_splits; k++)
        if (strncmp(s->cfg->split_names[k], key, (size_t)(slash - key)) == 0 &&
            s->cfg->split_names[k][slash - key] == '\0')
            return k;
    return 0;
}

static int cmp_match(const void *a, const void *b)
{
    const size_t *x = a, *y = b; /* (eval, match) pairs */
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* The leaks between named splits: for each member of a group (exact or
 * near) whose split comes later on the command line than another member's,
 * that member (the evaluation side) with every member of an earlier split
 * in its groups. 0 or PPX_ENOMEM. */
static int find_leaks(const run_state *s, dups_end *de)
{
    const ppx_prints *prints = de->rep.prints;
    size_t n_pairs = 0, cap = 0;
    size_t *pairs = NULL;
    int rc = 0;
    const ppx_dup_group *lists[2] = {de->dups.exact, de->dups.near};
    size_t counts[2] = {de->dups.n_exact, de->dups.n_near};
    for (int l = 0; l < 2 && !rc; l++)
        for (size_t g = 0; g < counts[l] && !rc; g++) {
            const size_t *m = de->dups.members + lists[l][g].first;
            for (size_t a = 0; a < lists[l][g].n && !rc; a++)
                for (size_t b = 0; b < lists[l][g].n && !rc; b++) {
                    if (split_of(s, prints->v[m[b]].index) >= split_of(s, prints->v[m[a]].index))
                        continue;
                    if (ppx_array_grow((void **)&pairs, &cap, n_pairs, 2 * sizeof *pairs, 64)) {
                        rc = PPX_ENOMEM;
                        break;
                    }
                    pairs[2 * n_pairs] = m[a];
                    pairs[2 * n_pairs + 1] = m[b];
                    n_pairs++;
                }
        }
    if (rc)
        goto out;
    if (n_pairs)
        qsort(pairs, n_pairs, 2 * sizeof *pairs, cmp_match);
    de->matches = malloc((n_pairs ? n_pairs : 1) * sizeof *de->matches);
    de->leaks = malloc((n_pairs ? n_pairs : 1) * sizeof *de->leaks);
    if (!de->matches || !de->leaks) {
        rc = PPX_ENOMEM;
        goto out;
    }
    size_t nm = 0, nl = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        size_t a = pairs[2 * i], b = pairs[2 * i + 1];
        if (i && a == pairs[2 * i - 2] && b == pairs[2 * i - 1])
            continue; /* in an exact group and a near group both */
        if (!nl || de->leaks[nl - 1].eval != a)
            de->leaks[nl++] = (ppx_leak){a, split_of(s, prints->v[a].index), nm, 0};
        de->matches[nm++] = (ppx_leak_match){b, split_of(s, prints->v[b].index),
                                             ppx_hamming64(prints->v[a].phash, prints->v[b].phash)};
        de->leaks[nl - 1].n++;
    }
    de->rep.n_splits = s->cfg->n_splits;
    de->rep.split_names = s->cfg->split_names;
    de->rep.leaks = de->leaks;
    de->rep.n_leaks = nl;
    de->rep.leak_matches = de->matches;
out:
    free(pairs);
    return rc;
}

int ppx__dups_prepare(run_state *s, ppx_prints *prints, uint64_t ok, int write, dups_end *de)
{
    memset(de, 0, sizeof *de);
    ppx_err_clear(&de->err);
    sort_unique(prints);
    int rc = ppx_dups_find(prints->v, prints->n, s->cfg->dup_distance, &de->dups);
    if (rc)
        return ppx_err_set(&de->err, rc, PPX_STAGE_JOB, "cannot group the duplicates: %s",
                           ppx_strerror(rc));
    de->paths = calloc(prints->n ? prints->n : 1, sizeof *de->paths);
    if (!de->paths)
        return ppx_err_set(&de->err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    de->rep.prints = prints;
    /* The members of every group are named: every image dropped is one. */
    const ppx_dup_group *lists[2] = {de->dups.exact, de->dups.near};
    size_t counts[2] = {de->dups.n_exact, de->dups.n_near};
    for (int l = 0; l < 2; l++)
        for (size_t g = 0; g < counts[l]; g++)
            for (size_t k = 0; k < lists[l][g].n; k++) {
                size_t pos = de->dups.members[lists[l][g].first + k];
                uint64_t idx = prints->v[pos].index;
                if (de->paths[pos])
                    continue;
                char p[PPX_PATH_MAX];
                const char *key =
                    idx < s->plan.listing.n ? ppx_listing_key(&s->plan.listing, idx) : "?";
                if (ppx__input_path(s->cfg, &s->plan, key, p, sizeof p))
                    snprintf(p, sizeof p, "%s", key);
                if (!(de->paths[pos] = strdup(p)))
                    return ppx_err_set(&de->err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            }
    uint64_t shrunk = 0;
    for (size_t i = 0; i < prints->n; i++)
        shrunk += prints->v[i].scale > 1;
    de->rep = (ppx_dup_report){.prints = prints,
                               .dups = &de->dups,
                               .paths = (const char *const *)de->paths,
                               .distance = s->cfg->dup_distance,
                               .shrunk = shrunk,
                               .unfingerprinted = ok > prints->n ? ok - prints->n : 0};
    if (s->cfg->n_splits && find_leaks(s, de))
        return ppx_err_set(&de->err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    de->ok = 1;
    return write ? write_list(s, de) : 0;
}

void ppx__dups_end_free(dups_end *de)
{
    if (de->paths)
        for (size_t i = 0; de->rep.prints && i < de->rep.prints->n; i++)
            free(de->paths[i]);
    free(de->paths);
    free(de->leaks);
    free(de->matches);
    if (de->thumbs)
        for (size_t i = 0; de->rep.prints && i < de->rep.prints->n; i++)
            free(de->thumbs[i]);
    free(de->thumbs);
    ppx_dups_destroy(&de->dups);
    memset(de, 0, sizeof *de);
}

/* Larger groups first; then in the order of their kept member, exact groups
 * before near ones. */
static size_t shown_size(const ppx_dups *d, const ppx_dup_shown *g)
{
    return g->near ? d->near[g->group].n : d->exact[g->group].n;
}

static size_t shown_kept(const ppx_dups *d, const ppx_dup_shown *g)
{
    const ppx_dup_group *x = g->near ? &d->near[g->group] : &d->exact[g->group];
    return d->members[x->first];
}

static int cmp_shown(const void *a, const void *b, void *arg)
{
    const ppx_dups *d = arg;
    const ppx_dup_shown *x = a, *y = b;
    size_t nx = shown_size(d, x), ny = shown_size(d, y), kx = shown_kept(d, x),
           ky = shown_kept(d, y);
    if (nx != ny)
        return nx > ny ? -1 : 1;
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return x->near - y->near;
}

/* "data:image/jpeg;base64," and the bytes in base64. NULL when out of memory. */
static char *data_uri(const uint8_t *b, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char head[] = "data:image/jpeg;base64,";
    char *out = malloc(sizeof head + (n + 2) / 3 * 4);
    if (!out)
        return NULL;
    memcpy(out, head, sizeof head - 1);
    char *o = out + sizeof head - 1;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) |
                     (i + 2 < n ? b[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

typedef struct {
    dups_end *de;
    size_t got;
    int nomem;
} thumb_wait;

static void thumb_done(void *arg, const ppx_result *r, const uint8_t *payload)
{
    thumb_wait *w = arg;
    w->got++;
    if (r->status || !payload || !r->out_len || r->id >= w->de->rep.prints->n)
        return; /* no thumbnail: a placeholder */
    free(w->de->thumbs[r->id]);
    if (!(w->de->thumbs[r->id] = data_uri(payload, r->out_len)))
        w->nomem = 1;
}

/* The groups the page shows, the largest first, into de->shown (*n_shown
 * of them), and de->thumbs ready for their members. 0 or PPX_ENOMEM. */
static int choose_shown(dups_end *de, size_t *n_shown)
{
    const ppx_prints *prints = de->rep.prints;
    size_t n_groups = de->dups.n_exact + de->dups.n_near, n = 0;
    ppx_dup_shown *all = malloc((n_groups ? n_groups : 1) * sizeof *all);
    de->thumbs = calloc(prints->n ? prints->n : 1, sizeof *de->thumbs);
    if (!all || !de->thumbs) {
        free(all);
        return PPX_ENOMEM;
    }
    for (size_t g = 0; g < de->dups.n_exact; g++)
        all[n++] = (ppx_dup_shown){0, g};
    for (size_t g = 0; g < de->dups.n_near; g++)
        all[n++] = (ppx_dup_shown){1, g};
    if (n)
        qsort_r(all, n, sizeof *all, cmp_shown, &de->dups);
    *n_shown = n < PPX_THUMB_GROUPS ? n : PPX_THUMB_GROUPS;
    memcpy(de->shown, all, *n_shown * sizeof *all);
    free(all);
    de->rep.shown = de->shown;
    de->rep.n_shown = *n_shown;
    de->rep.thumbs = (const char *const *)de->thumbs;
    return 0;
}

/* A worker as the run's: the same reading, limits and timeout; its pipeline
 * (*pl) makes the thumbnail. 0 with *pool; 1 when there is none to be had
 * (no thumbnails, not an error); PPX_ENOMEM. */
static int thumb_pool(run_state *s, ppx_job_config *tj, ppx_pipeline **pl, ppx_pool **pool)
{
    ppx_err e;
    ppx_err_clear(&e);
    *tj = s->job;
    if (ppx_pipeline_parse("resize 64 fit=longer | rgb | to-8bit", pl, &e))
        return e.code == PPX_ENOMEM ? PPX_ENOMEM : 1;
    tj->pipeline = *pl;
    tj->out_format = PPX_FMT_JPEG;
    ppx_encode_opts_default(&tj->enc, PPX_FMT_JPEG);
    tj->enc.quality = 80;
    tj->write_outputs = 1;
    tj->out_root = -1;
    tj->copy_mode = 0;
    tj->fingerprint = 0;
    tj->comp.n = 0; /* a thumbnail has no companions */
    memset(&tj->npy, 0, sizeof tj->npy);
    uint64_t as = 0;
#if !defined(__SANITIZE_ADDRESS__)
    as = s->cfg->limits.max_pixels * 4 * 2 * 3 + (1ULL << 30);
#endif
    int keep[1 + PPX_JOB_SPLITS_MAX] = {s->io.in_root};
    for (int k = 0; k < tj->splits.n; k++)
        keep[1 + k] = tj->splits.fd[k];
    ppx_pool_config pc = {.workers = 1,
                          .timeout_s = s->cfg->timeout_s,
                          .as_limit = as,
                          .work = ppx_job_worker(tj),
                          .keep_fds = keep,
                          .n_keep_fds = 1 + tj->splits.n};
    if (ppx_pool_new(&pc, pool, &e)) {
        ppx_pipeline_free(pl);
        return 1;
    }
    return 0;
}

/* Hands the member at pos of prints to the worker, unless it was asked
 * already (a member of two groups shown) or cannot be named: then it counts
 * as come back, without a thumbnail. */
static void submit_member(run_state *s, const ppx_job_config *tj, ppx_pool *pool, uint8_t *asked,
                          size_t pos, thumb_wait *w)
{
    uint64_t idx = w->de->rep.prints->v[pos].index;
    if (idx >= s->plan.listing.n || asked[pos]) {
        w->got++;
        return;
    }
    const char *key = ppx_listing_key(&s->plan.listing, idx);
    const ppx_member *m = ppx_listing_member(&s->plan.listing, idx);
    ppx_span sp = {0};
    if (m)
        sp = (ppx_span){.off = m->off,
                        .size = m->size,
                        .arc_len = m->arc_len,
                        .arc = *ppx_listing_arc(&s->plan.listing, m)};
    char path[PPX_PATH_MAX];
    if (s->io.in_root < 0 && !tj->splits.n &&
        ppx__image_path(s->cfg, &s->plan, key, sp.arc_len, path, sizeof path)) {
        w->got++;
        return;
    }
    if (s->io.in_root >= 0 || tj->splits.n)
        snprintf(path, sizeof path, "%s", key);
    asked[pos] = 1;
    ppx_err se;
    ppx_err_clear(&se);
    if (ppx_work_submit(pool, pos, 0, path, sp.arc_len ? &sp : NULL, key, NULL, NULL, 0, &se))
        w->got++;
}

/* The group shown at g. */
static const ppx_dup_group *shown_group(const dups_end *de, size_t g)
{
    return de->shown[g].near ? &de->dups.near[de->shown[g].group]
                             : &de->dups.exact[de->shown[g].group];
}

int ppx__dups_thumbs(run_state *s, dups_end *de)
{
    size_t n_shown;
    if (choose_shown(de, &n_shown))
        return PPX_ENOMEM;
    if (!n_shown)
        return 0;
    ppx_job_config tj;
    ppx_pipeline *pl = NULL;
    ppx_pool *pool = NULL;
    int rc = thumb_pool(s, &tj, &pl, &pool);
    if (rc)
        return rc == PPX_ENOMEM ? PPX_ENOMEM : 0;
    uint8_t *asked = calloc(de->rep.prints->n, 1);
    if (!asked) {
        ppx_pool_free(&pool, 0);
        ppx_pipeline_free(&pl);
        return PPX_ENOMEM;
    }
    thumb_wait w = {de, 0, 0};
    size_t want = 0, sent = 0;
    for (size_t g = 0; g < n_shown; g++) {
        size_t members = shown_group(de, g)->n;
        want += members < PPX_THUMB_MEMBERS ? members : PPX_THUMB_MEMBERS;
    }
    ppx_err e;
    ppx_err_clear(&e);
    size_t g = 0, k = 0;
    while (w.got < want && !w.nomem && !ppx__stop_signal) {
        while (sent < want && ppx_pool_slots(pool, 0) > 0) {
            const ppx_dup_group *x = shown_group(de, g);
            size_t pos = de->dups.members[x->first + k];
            if (++k == x->n || k == PPX_THUMB_MEMBERS) {
                g++;
                k = 0;
            }
            sent++;
            submit_member(s, &tj, pool, asked, pos, &w);
        }
        if (ppx_work_wait(pool, 1000, -1, thumb_done, &w, &e) < 0)
            break;
    }
    free(asked);
    ppx_pool_free(&pool, 0);
    ppx_pipeline_free(&pl);
    return w.nomem ? PPX_ENOMEM : 0;
}
