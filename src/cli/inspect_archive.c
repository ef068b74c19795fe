/* `prepix inspect ARCHIVE.tar`: what a run would take from an archive, as
 * one JSON line: images, members that are not images, skipped members,
 * inner archives, the labelling rule in force and images per class, and the
 * problems found (each a failure entry of a run). */
#include "cli/inspect_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/archive.h"
#include "prepix/json.h"
#include "sched/listing.h"
#include "sched/shards.h"

typedef struct {
    int64_t label;
    uint64_t images;
} class_count;

static int cmp_count(const void *a, const void *b)
{
    int64_t x = ((const class_count *)a)->label, y = ((const class_count *)b)->label;
    return (x > y) - (x < y);
}

/* The rule that gave entry i its label: the order of DESIGN's rule list. */
static const char *label_rule(const ppx_listing *l, size_t i)
{
    const ppx_member *m = ppx_listing_member(l, i);
    if (!m)
        return NULL;
    if (m->cls != PPX_NO_CLS)
        return "cls member of the sample";
    if (m->inner_len)
        return "inner archive's name";
    return strchr(ppx_listing_key(l, i) + m->arc_len + 1, '/') ? "first folder inside the archive"
                                                               : "none (-1)";
}

void ppx_cli_json_error(ppx_json *j, int code, const ppx_err *err)
{
    ppx_json_key(j, "error");
    ppx_json_obj(j);
    ppx_json_key(j, "code");
    ppx_json_str(j, ppx_err_name(code));
    ppx_json_key(j, "stage");
    ppx_json_str(j, ppx_stage_name(err->stage));
    ppx_json_key(j, "reason");
    ppx_json_str(j, err->msg);
    ppx_json_obj_end(j);
}

int ppx_cli_inspect_archive(const char *path, ppx_buf *line)
{
    ppx_listing l;
    ppx_classes cl = {0};
    ppx_err err;
    ppx_err_clear(&err);
    ppx_json j;
    line->len = 0;
    ppx_json_init(&j, line);
    ppx_json_obj(&j);
    ppx_json_key(&j, "path");
    ppx_json_str(&j, path);
    int rc = ppx_listing_build(path, 1, NULL, &l, &err);
    if (!rc && ppx_classes_build(&cl, &l))
        rc = ppx_err_set(&err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    if (rc) {
        ppx_cli_json_error(&j, rc, &err);
        ppx_json_obj_end(&j);
        ppx_listing_destroy(&l);
        return 1;
    }
    ppx_json_key(&j, "format");
    ppx_json_str(&j, "tar");
    ppx_json_key(&j, "images");
    ppx_json_u64(&j, l.n - l.n_walk_errors);
    ppx_json_key(&j, "not_images");
    ppx_json_u64(&j, l.skipped - l.skipped_other);
    ppx_json_key(&j, "skipped_links_devices_sparse");
    ppx_json_u64(&j, l.skipped_other);
    ppx_json_key(&j, "sidecars");
    ppx_json_u64(&j, l.n_sides);
    ppx_json_key(&j, "inner_archives");
    ppx_json_u64(&j, l.archives ? l.archives - 1 : 0);

    /* Images per label, and the rule of the first image (mixing rules in
     * one dataset is unusual; each image's own rule is in the run's index). */
    class_count *cc = calloc(l.n ? l.n : 1, sizeof *cc);
    size_t ncc = 0, w = 0;
    const char *rule = NULL;
    for (size_t i = 0; cc && i < l.n; i++) {
        while (w < l.n_walk_errors && l.walk_errors[w].index < i)
            w++;
        if (w < l.n_walk_errors && l.walk_errors[w].index == i)
            continue;
        if (!rule)
            rule = label_rule(&l, i);
        cc[ncc++] = (class_count){ppx_classes_label(&cl, &l, i), 1};
    }
    if (ncc)
        qsort(cc, ncc, sizeof *cc, cmp_count);
    ppx_json_key(&j, "label_rule");
    if (rule)
        ppx_json_str(&j, rule);
    else
        ppx_json_null(&j);
    ppx_json_key(&j, "classes");
    ppx_json_arr(&j);
    for (size_t i = 0; i < ncc;) {
        size_t k = i;
        while (k < ncc && cc[k].label == cc[i].label)
            k++;
        ppx_json_obj(&j);
        ppx_json_key(&j, "label");
        ppx_json_i64(&j, cc[i].label);
        ppx_json_key(&j, "name");
        if (cc[i].label >= 0 && (size_t)cc[i].label < cl.n && rule &&
            strcmp(rule, "cls member of the sample") != 0)
            ppx_json_str(&j, cl.names[cc[i].label]);
        else
            ppx_json_null(&j);
        ppx_json_key(&j, "images");
        ppx_json_u64(&j, k - i);
        ppx_json_obj_end(&j);
        i = k;
    }
    ppx_json_arr_end(&j);
    free(cc);

    ppx_json_key(&j, "problems");
    ppx_json_arr(&j);
    for (size_t k = 0; k < l.n_walk_errors; k++) {
        const ppx_walk_error *we = &l.walk_errors[k];
        ppx_json_obj(&j);
        ppx_json_key(&j, "path");
        ppx_json_str(&j, ppx_listing_key(&l, we->index));
        ppx_json_key(&j, "reason");
        ppx_json_str(&j,
                     we->problem ? ppx_tar_problem_text(we->problem) : strerror(we->errno_value));
        ppx_json_obj_end(&j);
    }
    ppx_json_arr_end(&j);
    ppx_json_obj_end(&j);
    int bad = l.n_walk_errors > 0;
    ppx_classes_destroy(&cl);
    ppx_listing_destroy(&l);
    return bad;
}
