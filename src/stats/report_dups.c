/* The duplicates section of the reports (docs/duplicates.md, docs/formats.md). */
#include <stdio.h>
#include <string.h>

#include "stats/report.h"

static void member(ppx_json *j, const ppx_dup_report *d, size_t pos, size_t kept, int near)
{
    const ppx_print *p = &d->prints->v[pos];
    char hex[33];
    ppx_json_obj(j);
    ppx_json_key(j, "path");
    ppx_json_str(j, d->paths[pos] ? d->paths[pos] : "?");
    if (near) {
        ppx_json_key(j, "distance");
        ppx_json_u64(j, (uint64_t)ppx_hamming64(p->phash, d->prints->v[kept].phash));
    }
    ppx_json_key(j, "phash");
    ppx_phash_hex(p->phash, hex);
    ppx_json_str(j, hex);
    ppx_json_key(j, "exact");
    ppx_exact_hex(p->exact, hex);
    ppx_json_str(j, hex);
    ppx_json_obj_end(j);
}

static void groups(ppx_json *j, const ppx_dup_report *d, const ppx_dup_group *g, size_t n, int near)
{
    ppx_json_arr(j);
    for (size_t i = 0; i < n; i++) {
        const size_t *m = d->dups->members + g[i].first;
        ppx_json_obj(j);
        ppx_json_key(j, "kept");
        ppx_json_str(j, d->paths[m[0]] ? d->paths[m[0]] : "?");
        ppx_json_key(j, "members");
        ppx_json_arr(j);
        for (size_t k = 0; k < g[i].n; k++)
            member(j, d, m[k], m[0], near);
        ppx_json_arr_end(j);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

static uint64_t images_in(const ppx_dup_group *g, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += g[i].n;
    return s;
}

static void leaks(ppx_json *j, const ppx_dup_report *d)
{
    ppx_json_arr(j);
    for (size_t i = 0; i < d->n_leaks; i++) {
        const ppx_leak *l = &d->leaks[i];
        ppx_json_obj(j);
        ppx_json_key(j, "eval");
        ppx_json_str(j, d->paths[l->eval] ? d->paths[l->eval] : "?");
        ppx_json_key(j, "split");
        ppx_json_str(j, d->split_names[l->split]);
        ppx_json_key(j, "matches");
        ppx_json_arr(j);
        for (size_t k = 0; k < l->n; k++) {
            const ppx_leak_match *m = &d->leak_matches[l->first + k];
            ppx_json_obj(j);
            ppx_json_key(j, "path");
            ppx_json_str(j, d->paths[m->pos] ? d->paths[m->pos] : "?");
            ppx_json_key(j, "split");
            ppx_json_str(j, d->split_names[m->split]);
            ppx_json_key(j, "distance");
            ppx_json_u64(j, (uint64_t)m->distance);
            ppx_json_obj_end(j);
        }
        ppx_json_arr_end(j);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

void ppx__report_dups_json(ppx_json *j, const ppx_dup_report *d)
{
    const ppx_dups *x = d->dups;
    ppx_json_obj(j);
    ppx_json_key(j, "distance");
    ppx_json_u64(j, (uint64_t)d->distance);
    ppx_json_key(j, "fingerprinted");
    ppx_json_u64(j, d->prints->n);
    ppx_json_key(j, "shrunk_on_load");
    ppx_json_u64(j, d->shrunk);
    ppx_json_key(j, "not_fingerprinted");
    ppx_json_u64(j, d->unfingerprinted);
    ppx_json_key(j, "exact_groups");
    ppx_json_u64(j, x->n_exact);
    ppx_json_key(j, "exact_images");
    ppx_json_u64(j, images_in(x->exact, x->n_exact));
    ppx_json_key(j, "near_groups");
    ppx_json_u64(j, x->n_near);
    ppx_json_key(j, "near_images");
    ppx_json_u64(j, images_in(x->near, x->n_near));
    ppx_json_key(j, "dropped");
    ppx_json_u64(j, x->n_drop);
    ppx_json_key(j, "drop_list");
    if (d->drop_list)
        ppx_json_str(j, d->drop_list);
    else
        ppx_json_null(j);
    ppx_json_key(j, "exact");
    groups(j, d, x->exact, x->n_exact, 0);
    ppx_json_key(j, "near");
    groups(j, d, x->near, x->n_near, 1);
    if (d->n_splits) {
        ppx_json_key(j, "leaks");
        leaks(j, d);
    }
    ppx_json_obj_end(j);
}

void ppx__report_dups_summary(const ppx_dup_report *d, FILE *f)
{
    const ppx_dups *x = d->dups;
    fprintf(f,
            "prepix: duplicates: %zu exact groups (%llu images), %zu near groups (%llu images, "
            "distance <= %d); a deduplicated set drops %zu",
            x->n_exact, (unsigned long long)images_in(x->exact, x->n_exact), x->n_near,
            (unsigned long long)images_in(x->near, x->n_near), d->distance, x->n_drop);
    if (d->drop_list) {
        char shown[PPX_PATH_MAX];
        ppx_escape_name(shown, sizeof shown, d->drop_list);
        fprintf(f, " (listed in %s)", shown);
    }
    fputc('\n', f);
    if (d->n_splits)
        fprintf(f,
                "prepix: leaks between splits: %zu image%s with a duplicate in a split named "
                "before %s\n",
                d->n_leaks, d->n_leaks == 1 ? "" : "s", d->n_leaks == 1 ? "its own" : "theirs");
}
