/* The duplicates of a run, at its end on rank 0: every fingerprint (this
 * attempt's, gathered from the ranks, and the journal's) grouped, the
 * members named as the report names inputs, and the list of the paths a
 * deduplicated dataset drops. */
#include "sched/run_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/io.h"

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
    if (!user && (!cfg->outdir || s->outdir.fd < 0))
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
        rc = ppx_write_beneath(s->outdir.fd, NULL, "duplicates.txt", b.data, b.len, NULL, &de->err);
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
    const char *key = idx < s->listing.n ? ppx_listing_key(&s->listing, idx) : "";
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
                char p[4096];
                const char *key = idx < s->listing.n ? ppx_listing_key(&s->listing, idx) : "?";
                if (ppx__input_path(s, key, p, sizeof p))
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
    ppx_dups_destroy(&de->dups);
    memset(de, 0, sizeof *de);
}
