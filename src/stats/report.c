#include "stats/report.h"

#include <stdio.h>
#include <string.h>

#include "prepix/error.h"
#include "prepix/json.h"

const char *ppx__report_band_name(unsigned channels, unsigned b)
{
    static const char *const names[4][4] = {
        {"L"}, {"L", "A"}, {"R", "G", "B"}, {"R", "G", "B", "A"}};
    return channels >= 1 && channels <= 4 && b < channels ? names[channels - 1][b] : "?";
}

void ppx__report_normalize(const ppx_group_stats *g, unsigned channels, unsigned bits, char *mean,
                           char *std, size_t cap)
{
    unsigned colour = channels == 2 || channels == 4 ? channels - 1 : channels;
    mean[0] = std[0] = '\0';
    for (unsigned b = 0; b < colour; b++) {
        double m, sd;
        ppx_group_mean_std(g, bits, (int)b, &m, &sd);
        size_t lm = strlen(mean), ls = strlen(std);
        snprintf(mean + lm, cap - lm, "%s%.4f", b ? "," : "", m);
        snprintf(std + ls, cap - ls, "%s%.4f", b ? "," : "", sd);
    }
}

static void size_stats(ppx_json *j, const char *key, uint64_t mn, uint64_t mx, uint64_t sum,
                       uint64_t n)
{
    ppx_json_key(j, key);
    ppx_json_obj(j);
    ppx_json_key(j, "min");
    ppx_json_u64(j, n ? mn : 0);
    ppx_json_key(j, "max");
    ppx_json_u64(j, mx);
    ppx_json_key(j, "mean");
    ppx_json_dbl(j, n ? (double)sum / (double)n : 0);
    ppx_json_obj_end(j);
}

/* "shards" and "classes": what index.csv and classes.txt hold, counted. */
static void shards_json(ppx_json *j, const ppx_report *r)
{
    ppx_json_key(j, "shards");
    ppx_json_arr(j);
    for (size_t i = 0; i < r->n_shards; i++) {
        ppx_json_obj(j);
        ppx_json_key(j, "file");
        ppx_json_str(j, r->shards[i].file);
        ppx_json_key(j, "images");
        ppx_json_u64(j, r->shards[i].images);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
    ppx_json_key(j, "classes");
    ppx_json_arr(j);
    for (size_t i = 0; i < r->n_classes; i++) {
        const ppx_report_class *c = &r->classes[i];
        ppx_json_obj(j);
        ppx_json_key(j, "label");
        ppx_json_i64(j, c->label);
        ppx_json_key(j, "name");
        if (c->name)
            ppx_json_str(j, c->name);
        else
            ppx_json_null(j);
        ppx_json_key(j, "images");
        ppx_json_u64(j, c->images);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

/* "coco": what --coco wrote (docs/formats.md). */
static void coco_json(ppx_json *j, const ppx_coco_counts *c)
{
    ppx_json_key(j, "coco");
    ppx_json_obj(j);
    ppx_json_key(j, "images");
    ppx_json_obj(j);
    ppx_json_key(j, "total");
    ppx_json_u64(j, c->images);
    ppx_json_key(j, "written");
    ppx_json_u64(j, c->images_written);
    ppx_json_key(j, "failed");
    ppx_json_u64(j, c->images_failed);
    ppx_json_key(j, "not_in_run");
    ppx_json_u64(j, c->images_absent);
    ppx_json_obj_end(j);
    ppx_json_key(j, "annotations");
    ppx_json_obj(j);
    ppx_json_key(j, "total");
    ppx_json_u64(j, c->annotations);
    ppx_json_key(j, "written");
    ppx_json_u64(j, c->annotations_written);
    ppx_json_key(j, "outside");
    ppx_json_u64(j, c->annotations_outside);
    ppx_json_key(j, "of_removed_images");
    ppx_json_u64(j, c->annotations_removed);
    ppx_json_key(j, "outside_by_category");
    ppx_json_obj(j);
    for (size_t i = 0; i < c->n_categories; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)c->by_category[i].category);
        ppx_json_key(j, id);
        ppx_json_u64(j, c->by_category[i].dropped);
    }
    ppx_json_obj_end(j);
    ppx_json_obj_end(j);
    ppx_json_obj_end(j);
}

/* What ran: version, outcome, command, paths, pipeline, ranks and workers. */
static void run_json(ppx_json *j, const ppx_report *r)
{
    ppx_json_key(j, "version");
    ppx_json_str(j, PPX_VERSION);
    ppx_json_key(j, "complete");
    ppx_json_bool(j, r->complete);
    /* Always present, so that a reader needs no special case; the caller may have set a
     * reason although nothing stopped the run, which would only mislead. */
    ppx_json_key(j, "stop_reason");
    ppx_json_str(j, r->complete ? "" : r->stop_reason);
    ppx_json_key(j, "exit_code");
    ppx_json_i64(j, r->exit_code);
    if (r->command_line) {
        ppx_json_key(j, "command_line");
        ppx_json_str(j, r->command_line);
    }
    ppx_json_key(j, "input");
    ppx_json_str(j, r->input);
    /* Always present (a reader indexes it without a special case); null for
     * prepix stats, which has no OUTDIR. */
    ppx_json_key(j, "outdir");
    if (r->outdir)
        ppx_json_str(j, r->outdir);
    else
        ppx_json_null(j);
    ppx_json_key(j, "pipeline");
    ppx_json_str(j, r->pipeline);
    ppx_json_key(j, "format");
    ppx_json_str(j, r->format);
    ppx_json_key(j, "ranks");
    ppx_json_i64(j, r->ranks);
    ppx_json_key(j, "workers");
    ppx_json_arr(j);
    for (int i = 0; i < r->ranks; i++)
        ppx_json_i64(j, r->per_rank[i].workers);
    ppx_json_arr_end(j);
}

/* What was counted: images, exclusions, resumption, bytes, time. */
static void counts_json(ppx_json *j, const ppx_report *r)
{
    const ppx_stats *s = r->stats;
    ppx_json_key(j, "images");
    ppx_json_obj(j);
    ppx_json_key(j, "total");
    ppx_json_u64(j, s->total);
    ppx_json_key(j, "ok");
    ppx_json_u64(j, s->ok);
    ppx_json_key(j, "failed");
    ppx_json_u64(j, s->failed);
    ppx_json_key(j, "skipped");
    ppx_json_u64(j, r->skipped);
    if (s->nodata) { /* only with --chips --nodata: the report of other runs stays as it was */
        ppx_json_key(j, "nodata");
        ppx_json_u64(j, s->nodata);
    }
    ppx_json_obj_end(j);
    if (s->clipped || s->narrowed) { /* only when some value changed: other reports stay */
        ppx_json_key(j, "values_changed");
        ppx_json_obj(j);
        ppx_json_key(j, "scale_clipped");
        ppx_json_u64(j, s->clipped);
        ppx_json_key(j, "float64_narrowed");
        ppx_json_u64(j, s->narrowed);
        ppx_json_obj_end(j);
    }
    /* Inputs --exclude left out: not in images.total, which counts what the run took. */
    ppx_json_key(j, "excluded");
    ppx_json_u64(j, r->excluded);

    ppx_json_key(j, "resumed");
    ppx_json_obj(j);
    ppx_json_key(j, "chunks");
    ppx_json_u64(j, r->resumed_chunks);
    ppx_json_key(j, "images");
    ppx_json_u64(j, r->resumed_images);
    ppx_json_obj_end(j);

    ppx_json_key(j, "bytes");
    ppx_json_obj(j);
    ppx_json_key(j, "read");
    ppx_json_u64(j, s->bytes_read);
    ppx_json_key(j, "written");
    ppx_json_u64(j, s->bytes_written);
    ppx_json_obj_end(j);

    ppx_json_key(j, "elapsed_s");
    ppx_json_dbl(j, r->elapsed_s);
    ppx_json_key(j, "images_per_s");
    uint64_t done_now = s->ok + s->failed + s->nodata - r->resumed_images;
    ppx_json_dbl(j, r->elapsed_s > 0 ? (double)done_now / r->elapsed_s : 0);
}

static void channel_stats_json(ppx_json *j, const ppx_stats *s)
{
    ppx_json_key(j, "channel_stats");
    ppx_json_arr(j);
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!g->images)
            continue;
        unsigned ch = (unsigned)(gi % 4) + 1, bits = gi >= 4 ? 16 : 8;
        ppx_json_obj(j);
        ppx_json_key(j, "channels");
        ppx_json_u64(j, ch);
        ppx_json_key(j, "bits");
        ppx_json_u64(j, bits);
        ppx_json_key(j, "images");
        ppx_json_u64(j, g->images);
        ppx_json_key(j, "pixels");
        ppx_json_u64(j, g->pixels);
        ppx_json_key(j, "bands");
        ppx_json_arr(j);
        for (unsigned b = 0; b < ch; b++) {
            double mean, std;
            ppx_group_mean_std(g, bits, (int)b, &mean, &std);
            ppx_json_obj(j);
            ppx_json_key(j, "name");
            ppx_json_str(j, ppx__report_band_name(ch, b));
            ppx_json_key(j, "mean");
            ppx_json_dbl(j, mean);
            ppx_json_key(j, "std");
            ppx_json_dbl(j, std);
            ppx_json_key(j, "min");
            ppx_json_u64(j, g->min[b]);
            ppx_json_key(j, "max");
            ppx_json_u64(j, g->max[b]);
            ppx_json_key(j, "histogram");
            ppx_json_arr(j);
            for (int v = 0; v < 256; v++)
                ppx_json_u64(j, g->hist[b][v]);
            ppx_json_arr_end(j);
            ppx_json_obj_end(j);
        }
        ppx_json_arr_end(j);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

static void band_json(ppx_json *j, const ppx_band_stats *b, unsigned index)
{
    double mean, std;
    ppx_xacc_mean_std(&b->sum, &b->sumsq, b->count, &mean, &std);
    ppx_json_obj(j);
    ppx_json_key(j, "band");
    ppx_json_u64(j, index + 1);
    ppx_json_key(j, "count");
    ppx_json_u64(j, b->count);
    ppx_json_key(j, "nan");
    ppx_json_u64(j, b->nan);
    ppx_json_key(j, "posinf");
    ppx_json_u64(j, b->posinf);
    ppx_json_key(j, "neginf");
    ppx_json_u64(j, b->neginf);
    ppx_json_key(j, "min");
    if (b->count)
        ppx_json_dbl(j, b->min);
    else
        ppx_json_null(j);
    ppx_json_key(j, "max");
    if (b->count)
        ppx_json_dbl(j, b->max);
    else
        ppx_json_null(j);
    ppx_json_key(j, "mean");
    ppx_json_dbl(j, mean);
    ppx_json_key(j, "std");
    ppx_json_dbl(j, std);
    ppx_json_key(j, "histogram");
    ppx_json_arr(j);
    for (int k = 0; k < PPX_RSTATS_BINS; k++)
        ppx_json_u64(j, b->hist[k]);
    ppx_json_arr_end(j);
    ppx_json_obj_end(j);
}

/* Written only when rasters were measured: photo-only reports keep their
 * keys. */
static void raster_stats_json(ppx_json *j, const ppx_stats *s)
{
    int any = 0;
    for (int t = 0; t < PPX_RSTATS_TYPES; t++)
        any |= s->raster[t].images != 0;
    if (!any)
        return;
    ppx_json_key(j, "raster_stats");
    ppx_json_arr(j);
    for (int t = 0; t < PPX_RSTATS_TYPES; t++) {
        const ppx_raster_group *g = &s->raster[t];
        if (!g->images)
            continue;
        ppx_json_obj(j);
        ppx_json_key(j, "type");
        ppx_json_str(j, ppx_sample_name(ppx_rstats_type(t)));
        ppx_json_key(j, "images");
        ppx_json_u64(j, g->images);
        ppx_json_key(j, "pixels");
        ppx_json_u64(j, g->pixels);
        ppx_json_key(j, "bands_min");
        ppx_json_u64(j, g->bands_min);
        ppx_json_key(j, "bands_max");
        ppx_json_u64(j, g->bands_max);
        ppx_json_key(j, "bands");
        ppx_json_arr(j);
        for (unsigned b = 0; b < g->bands_max && b < PPX_RSTATS_BANDS; b++)
            band_json(j, &g->band[b], b);
        ppx_json_arr_end(j);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

static void sizes_ranks_json(ppx_json *j, const ppx_report *r)
{
    const ppx_stats *s = r->stats;
    ppx_json_key(j, "input_sizes");
    ppx_json_obj(j);
    size_stats(j, "width", s->w_min, s->w_max, s->w_sum, s->sized);
    size_stats(j, "height", s->h_min, s->h_max, s->h_sum, s->sized);
    ppx_json_obj_end(j);

    ppx_json_key(j, "per_rank");
    ppx_json_arr(j);
    for (int i = 0; i < r->ranks; i++) {
        const ppx_rank_info *p = &r->per_rank[i];
        ppx_json_obj(j);
        ppx_json_key(j, "rank");
        ppx_json_i64(j, p->rank);
        ppx_json_key(j, "host");
        ppx_json_str(j, p->host);
        ppx_json_key(j, "workers");
        ppx_json_i64(j, p->workers);
        ppx_json_key(j, "images");
        ppx_json_u64(j, p->images);
        ppx_json_key(j, "failed");
        ppx_json_u64(j, p->failed);
        ppx_json_key(j, "busy_s");
        ppx_json_dbl(j, p->busy_s);
        ppx_json_key(j, "images_per_s");
        ppx_json_dbl(j, p->elapsed_s > 0 ? (double)p->images / p->elapsed_s : 0);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

static void failures_json(ppx_json *j, const ppx_report *r)
{
    ppx_json_key(j, "failures");
    ppx_json_arr(j);
    for (size_t i = 0; i < r->failures->n; i++) {
        const ppx_failure *f = &r->failures->v[i];
        ppx_json_obj(j);
        ppx_json_key(j, "path");
        ppx_json_str(j, r->fail_paths[i]);
        ppx_json_key(j, "stage");
        ppx_json_str(j, ppx_stage_name(f->stage));
        ppx_json_key(j, "code");
        ppx_json_str(j, ppx_err_name(f->code));
        ppx_json_key(j, "error");
        ppx_json_str(j, f->msg);
        ppx_json_obj_end(j);
    }
    ppx_json_arr_end(j);
}

int ppx_report_json(const ppx_report *r, ppx_buf *out)
{
    ppx_json j;
    ppx_json_init(&j, out);
    ppx_json_obj(&j);
    run_json(&j, r);
    counts_json(&j, r);
    channel_stats_json(&j, r->stats);
    raster_stats_json(&j, r->stats);
    sizes_ranks_json(&j, r);
    if (r->shards_state == PPX_REPORT_SHARDS_LISTED)
        shards_json(&j, r);
    failures_json(&j, r);
    if (r->dups) {
        ppx_json_key(&j, "duplicates");
        ppx__report_dups_json(&j, r->dups);
    }
    if (r->coco)
        coco_json(&j, r->coco);
    ppx_json_key(&j, "warnings");
    ppx_json_arr(&j);
    for (size_t i = 0; i < r->n_warnings; i++)
        ppx_json_str(&j, r->warnings[i]);
    ppx_json_arr_end(&j);
    ppx_json_obj_end(&j);
    if (ppx_buf_append(out, "\n", 1))
        j.failed = 1;
    return j.failed ? PPX_ENOMEM : 0;
}

void ppx_report_summary(const ppx_report *r, const char *report_path, FILE *f)
{
    const ppx_stats *s = r->stats;
    uint64_t done_now = s->ok + s->failed + s->nodata - r->resumed_images;
    fprintf(f, "prepix: %s: %llu images, %llu ok, %llu failed, %llu skipped (not images)",
            r->complete ? "done" : "stopped early", (unsigned long long)s->total,
            (unsigned long long)s->ok, (unsigned long long)s->failed,
            (unsigned long long)r->skipped);
    if (s->nodata)
        fprintf(f, ", %llu chips all nodata", (unsigned long long)s->nodata);
    if (r->resumed_images)
        fprintf(f, ", %llu resumed", (unsigned long long)r->resumed_images);
    fprintf(f, "\nprepix: %.2f s, %.1f images/s, %.1f MB/s read, on %d rank%s\n", r->elapsed_s,
            r->elapsed_s > 0 ? (double)done_now / r->elapsed_s : 0.0,
            r->elapsed_s > 0 ? (double)s->bytes_read / 1e6 / r->elapsed_s : 0.0, r->ranks,
            r->ranks == 1 ? "" : "s");
    if (!r->complete)
        fprintf(f, "prepix: stopped: %s; run again with --resume to finish\n",
                r->stop_reason ? r->stop_reason : "unknown reason");
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!g->images)
            continue;
        unsigned ch = (unsigned)(gi % 4) + 1, bits = gi >= 4 ? 16 : 8;
        char mean[64], std[64];
        ppx__report_normalize(g, ch, bits, mean, std, sizeof mean);
        fprintf(f, "prepix: %u-channel %u-bit (%llu images): normalize mean=%s std=%s\n", ch, bits,
                (unsigned long long)g->images, mean, std);
    }
    if (r->failures->n) {
        size_t show = r->failures->n < 5 ? r->failures->n : 5;
        for (size_t i = 0; i < show; i++) {
            /* Names reach a terminal escaped as in the JSON: never obeyed;
             * so do messages (a resumed one comes from the journal). */
            char shown[PPX_PATH_MAX], msg[PPX_ERR_MSG_MAX * 6];
            ppx_escape_name(shown, sizeof shown, r->fail_paths[i]);
            ppx_escape_name(msg, sizeof msg, r->failures->v[i].msg);
            fprintf(f, "prepix: failed: %s: %s: %s\n", shown,
                    ppx_stage_name(r->failures->v[i].stage), msg);
        }
        if (r->failures->n > show)
            fprintf(f, "prepix: ... and %zu more failures\n", r->failures->n - show);
    }
    if (r->dups)
        ppx__report_dups_summary(r->dups, f);
    if (r->coco)
        fprintf(f,
                "prepix: coco.json: %llu of %llu images (%llu failed, %llu not in the run), "
                "%llu of %llu annotations (%llu wholly outside their output, %llu of removed "
                "images)\n",
                (unsigned long long)r->coco->images_written, (unsigned long long)r->coco->images,
                (unsigned long long)r->coco->images_failed,
                (unsigned long long)r->coco->images_absent,
                (unsigned long long)r->coco->annotations_written,
                (unsigned long long)r->coco->annotations,
                (unsigned long long)r->coco->annotations_outside,
                (unsigned long long)r->coco->annotations_removed);
    for (size_t i = 0; i < r->n_warnings; i++) {
        char shown[1024];
        ppx_escape_name(shown, sizeof shown, r->warnings[i]);
        fprintf(f, "prepix: warning: %s\n", shown);
    }
    if (report_path && !r->report_failed)
        fprintf(f, "prepix: report: %s\n", report_path);
}

static int put_f64(ppx_buf *o, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return ppx_put_u64(o, u);
}

static double get_f64(ppx_rd *r)
{
    uint64_t u = ppx_get_u64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int put_str(ppx_buf *o, const char *s)
{
    size_t n = strlen(s);
    return ppx_put_u64(o, n) || ppx_buf_append(o, s, n);
}

/* A string of at most cap - 1 bytes into out, NUL-terminated. */
static int get_str(ppx_rd *r, char *out, size_t cap)
{
    uint64_t n = ppx_get_u64(r);
    const uint8_t *p = r->bad || n >= cap ? NULL : ppx_get_bytes(r, n);
    if (!p)
        return PPX_ECORRUPT;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return 0;
}

int ppx_rank_info_pack(const ppx_rank_info *ri, ppx_buf *o)
{
    int rc = ppx_put_u64(o, (uint64_t)(int64_t)ri->rank) || put_str(o, ri->host) ||
             ppx_put_u64(o, (uint64_t)(int64_t)ri->workers) || ppx_put_u64(o, ri->images) ||
             ppx_put_u64(o, ri->failed) || put_f64(o, ri->busy_s) || put_f64(o, ri->elapsed_s) ||
             put_str(o, ri->error);
    return rc ? PPX_ENOMEM : 0;
}

int ppx_rank_info_unpack(ppx_rd *r, ppx_rank_info *ri)
{
    ppx_rank_info t;
    memset(&t, 0, sizeof t);
    int64_t rank = (int64_t)ppx_get_u64(r);
    if (get_str(r, t.host, sizeof t.host))
        return PPX_ECORRUPT;
    int64_t workers = (int64_t)ppx_get_u64(r);
    t.images = ppx_get_u64(r);
    t.failed = ppx_get_u64(r);
    t.busy_s = get_f64(r);
    t.elapsed_s = get_f64(r);
    if (get_str(r, t.error, sizeof t.error) || r->bad || rank < 0 || rank > INT32_MAX ||
        workers < 0 || workers > INT32_MAX)
        return PPX_ECORRUPT;
    t.rank = (int)rank;
    t.workers = (int)workers;
    *ri = t;
    return 0;
}
