/* --exclude: inputs left out of a run by name, for instance the drop list
 * of an earlier run (OUTDIR/duplicates.txt): find, then drop.
 * May change: sched_plan's listing (entries left out). */
#include "sched/run_state.h"

#include <stdlib.h>
#include <string.h>

#include "prepix/io.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of b, each unescaped (\n and \\, as the drop list writes them)
 * and NUL-terminated in place; empty lines are left out. */
static size_t split_lines(ppx_buf *b, char ***out)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    char *p = (char *)b->data, *end = p + b->len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end, *w = p;
        for (char *r = p; r < stop; r++) {
            if (*r == '\\' && r + 1 < stop && (r[1] == 'n' || r[1] == '\\')) {
                *w++ = r[1] == 'n' ? '\n' : '\\';
                r++;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        if (w > p) {
            if (ppx_array_grow((void **)&v, &cap, n, sizeof *v, 64)) {
                free(v);
                *out = NULL;
                return SIZE_MAX;
            }
            v[n++] = p;
        }
        p = stop + 1;
    }
    *out = v;
    return n;
}

int ppx__apply_exclude(run_state *s, ppx_err *e)
{
    const char *arg = s->cfg->exclude;
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = 0;
    char **lines = NULL;
    uint8_t *drop = NULL;
    size_t n;
    if (arg[0] == '@') {
        rc = ppx_file_read(arg + 1, (uint64_t)1 << 32, &b, NULL, e);
        if (rc) {
            rc = ppx_err_set(e, PPX_EUSAGE, PPX_STAGE_INPUT, "--exclude %s: %s", arg, e->msg);
            goto out;
        }
    } else if (ppx_buf_append(&b, arg, strlen(arg))) {
        rc = ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        goto out;
    }
    /* The text becomes C strings in place: one byte more for the last. */
    if (ppx_buf_append(&b, "\n", 1) || (n = split_lines(&b, &lines)) == SIZE_MAX ||
        !(drop = calloc(s->plan.listing.n ? s->plan.listing.n : 1, 1))) {
        rc = ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
        goto out;
    }
    if (n)
        qsort(lines, n, sizeof *lines, cmp_str);
    /* An entry is left out when a line names it as the report does (INPUT
     * joined with its key) or by its key alone. */
    for (size_t i = 0; i < s->plan.listing.n && n; i++) {
        char path[PPX_PATH_MAX];
        const char *key = ppx_listing_key(&s->plan.listing, i), *k = key, *p = path;
        if (ppx__input_path(s->cfg, &s->plan, key, path, sizeof path))
            p = key;
        drop[i] = bsearch(&p, lines, n, sizeof *lines, cmp_str) ||
                  bsearch(&k, lines, n, sizeof *lines, cmp_str);
    }
    ppx_listing_filter(&s->plan.listing, drop);
out:
    free(lines);
    free(drop);
    ppx_buf_destroy(&b);
    return rc;
}
