/* The collective end: flags agreed, statistics reduced, failures gathered;
 * rank 0 decides the exit code and writes index.csv and the reports.
 * May change: sched_intake (reduced), sched_serve (end messages, exit codes
 * sent), sched_stop (the agreed flags, the stop reason), sched_peer (sends
 * given up). Reads sched_plan and sched_io. */
#include "sched/run_state.h"

#include <poll.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prepix/buf.h"
#include "prepix/log.h"

/* A DataLoader's usual worker count: fewer shards than this leaves some of
 * its workers without data. */
#define MIN_SHARDS 8

/* A report: under OUTDIR by default (never through a link there), or where
 * the user said (ppx_report_file_write's rules for devices and links). */
static int write_report(run_state *s, const char *user_path, const char *name, const ppx_buf *b)
{
    ppx_err e;
    ppx_err_clear(&e);
    int rc = user_path ? ppx_report_file_write(user_path, b->data, b->len, &e)
                       : ppx_write_beneath(s->io.outdir.fd, NULL, name, b->data, b->len, NULL, &e);
    if (rc) {
        char shown[PPX_PATH_MAX];
        ppx_escape_name(shown, sizeof shown, user_path ? user_path : name);
        ppx_log(PPX_LOG_ERR, "cannot write the report %s: %s", shown, e.msg);
    }
    return rc;
}

/* Run-level oddities, said loudly (stderr, JSON, HTML). */
#define MAX_WARNINGS 8
typedef struct {
    char text[MAX_WARNINGS][PPX_KEY_MAX * 4 + 256];
    const char *v[MAX_WARNINGS];
    size_t n;
} warnings;

__attribute__((format(printf, 2, 3))) static void warn(warnings *w, const char *fmt, ...)
{
    if (w->n == MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text[w->n], sizeof w->text[w->n], fmt, ap);
    va_end(ap);
    w->v[w->n] = w->text[w->n];
    w->n++;
}

/* Values the run changed unasked: float64 samples float32 cannot hold
 * (only when some value changed). Clipping by `scale`, asked for, is only
 * counted (values_changed). */
static void value_warnings(const ppx_stats *t, warnings *w)
{
    if (t->narrowed)
        warn(w,
             "%llu float64 samples changed value when narrowed to float32 (values_changed in "
             "the report)",
             (unsigned long long)t->narrowed);
}

static void run_warnings(const run_state *s, warnings *w)
{
    const ppx_run_config *cfg = s->cfg;
    const ppx_listing *l = &s->plan.listing;
    if (l->n == 0)
        warn(w, "no images found under %s (%llu other files skipped): nothing was done", cfg->input,
             (unsigned long long)l->skipped);
    else if (l->skipped > l->n)
        warn(w, "%llu files were skipped as not images, more than the %zu images found",
             (unsigned long long)l->skipped, l->n);
    if (l->n_walk_errors)
        warn(w, "%zu entries under INPUT could not be read (listed as failures at stage input)",
             l->n_walk_errors);
    if (l->skipped_other)
        warn(w,
             "%llu archive members were skipped unread: links, devices, FIFOs or sparse files "
             "(counted in skipped)",
             (unsigned long long)l->skipped_other);
    if (l->long_sides && cfg->shard == PPX_SHARD_TAR) {
        char name[PPX_KEY_MAX * 4];
        ppx_escape_name(name, sizeof name, l->long_side_first);
        warn(w,
             "%llu sidecars left out of the tar shards: their extension is over %d bytes, too "
             "long for a tar member's name (counted in skipped; the first: %s)",
             (unsigned long long)l->long_sides, PPX_SIDE_EXT_MAX, name);
    }
    if (l->stray_companions)
        warn(w,
             "%llu archive members KEY.ROLE.<image extension> beside their sample's image were "
             "left out: companions of no --with role (counted in skipped; the first: .%s; "
             "--with ROLE carries them with their images)",
             (unsigned long long)l->stray_companions, l->stray_companion_first);
    if (cfg->shard && cfg->outdir && l->n && s->plan.n_chunks < MIN_SHARDS)
        warn(w,
             "only %llu %s written: a PyTorch DataLoader usually has %d workers, and with more "
             "workers than shards some get none (webdataset: 'fewer shards than workers')%s",
             (unsigned long long)s->plan.n_chunks,
             s->plan.n_chunks == 1 ? "shard was" : "shards were", MIN_SHARDS,
             l->n >= MIN_SHARDS ? "; ask for more with --shards 8 or a smaller --shard-size" : "");
    if (cfg->shard && s->plan.classes.n == 0 && s->plan.classes.cls_unnamed != PPX_NO_CLS)
        warn(w,
             "classes.txt is empty: the .cls label %lld cannot be a line number (line k names "
             "label k, for labels 0 to %lld); index.csv and the shards keep the labels",
             (long long)s->plan.classes.cls_unnamed, (long long)(PPX_CLS_LINES_MAX - 1));
}

/* Sorts by index, keeping one entry per index (a chunk redone after a lost
 * rank may report its images twice). */
static void sort_unique(ppx_prints *p)
{
    ppx_prints_sort(p);
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++)
        if (m == 0 || p->v[i].index != p->v[m - 1].index)
            p->v[m++] = p->v[i];
    p->n = m;
}

/* OUTDIR/geometry.csv for per-image outputs: header
 * path,source,width,height,xx,xy,x0,yx,yy,y0, then a row per image with a
 * geometry record (prints sorted by index), in listing order: the output's
 * name below OUTDIR, its key, and the record (docs/formats.md). */
static int write_geometry_csv(run_state *s, const ppx_prints *prints, ppx_err *e)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = ppx_buf_printf(&b, "path,source," PPX_GEOM_CSV_HEADER "\n");
    for (size_t i = 0; i < prints->n && !rc; i++) {
        const ppx_print *p = &prints->v[i];
        char out[PPX_KEY_MAX];
        if (!p->geom.w || p->index >= s->plan.listing.n)
            continue;
        const char *key = ppx_listing_key(&s->plan.listing, p->index);
        if (ppx_output_name(out, sizeof out, key, s->cfg->out_format, NULL))
            continue; /* never written: the image failed by that name */
        rc = ppx__csv_field(&b, out) || ppx_buf_append(&b, ",", 1) || ppx__csv_field(&b, key) ||
             ppx__geom_fields(&b, p) || ppx_buf_append(&b, "\n", 1);
    }
    if (rc)
        rc = ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory writing geometry.csv");
    else
        rc = ppx_write_beneath(s->io.outdir.fd, NULL, "geometry.csv", b.data, b.len, NULL, e);
    ppx_buf_destroy(&b);
    return rc;
}

/* Rank 0's end of the run: what the ranks' end messages (or the journal)
 * add up to, and what the report is built from. */
typedef struct {
    ppx_stats total;
    ppx_failures *fails; /* the caller's: sorted here */
    ppx_prints *prints;  /* the caller's */
    ppx_rank_info *ranks;
    int fatal, stopped, outdir_gone;
    int code; /* the run's ppx_run_outcome */
    ppx_shard_tally tally;
    int shards_state;
    int have_dups;
    dups_end de;
    int have_coco;
    ppx_coco_counts coco; /* --coco: what the mapping kept and dropped */
    const char **paths;   /* the path of each failure, for the report */
    char **owned;
    warnings *w;
} end_ctx;

/* The outcome: fatal (some rank's error, images unaccounted for, OUTDIR
 * gone), stopped, failures or done. The report names the cause of a fatal
 * end: the first rank's error. */
static void decide_outcome(run_state *s, end_ctx *x, const int all[2])
{
    x->stopped = all[1] || s->stop.global_stop;
    x->fatal = all[0] || s->stop.global_fatal;
    for (int r = 0; r < s->size && x->fatal; r++)
        if (x->ranks[r].error[0]) {
            snprintf(s->stop.fatal_reason, sizeof s->stop.fatal_reason, "rank %d: %s", r,
                     x->ranks[r].error);
            s->stop.stop_reason = s->stop.fatal_reason;
            break;
        }
    uint64_t accounted = x->total.ok + x->total.failed + x->total.nodata;
    if (!x->stopped && !x->fatal && accounted != s->plan.listing.n) {
        /* A complete run accounts for every listed image; anything else
         * is a bug, and must never pass as success. */
        ppx_log(PPX_LOG_ERR, "internal error: %llu of %llu images accounted for",
                (unsigned long long)accounted, (unsigned long long)s->plan.listing.n);
        x->fatal = 1;
        if (!s->stop.stop_reason)
            s->stop.stop_reason = "internal error: images unaccounted for";
    }
    if (s->io.outdir.fd >= 0) {
        ppx_err e;
        if (ppx_outdir_check(&s->io.outdir, &e)) {
            ppx_log(PPX_LOG_ERR, "fatal: %s", e.msg);
            x->fatal = x->outdir_gone = 1;
            s->stop.stop_reason = "OUTDIR vanished or was replaced";
        }
    }
    x->code = ppx__plan_outcome(x->fatal, x->stopped, x->total.failed, x->fails->n);
}

/* A run's outcome turned fatal at the end, for reason. */
static void end_fatal(run_state *s, end_ctx *x, const char *reason)
{
    x->code = PPX_RUN_FATAL;
    x->fatal = 1;
    s->stop.stop_reason = reason;
}

/* index.csv and the report's list of shards and classes: only a complete
 * run knows every shard's members. */
static void shard_index(run_state *s, end_ctx *x)
{
    const ppx_run_config *cfg = s->cfg;
    x->shards_state = cfg->shard && cfg->outdir ? PPX_REPORT_SHARDS_UNLISTED : PPX_REPORT_NO_SHARDS;
    if (!(x->code == PPX_RUN_DONE || x->code == PPX_RUN_FAILURES) || !cfg->shard || !cfg->outdir)
        return;
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx_shard_write_index(s->io.outdir.fd, cfg->shard, s->plan.chunk_size, &s->plan.listing,
                              &s->plan.classes, x->fails, x->prints, &e)) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        end_fatal(s, x, "cannot write index.csv");
    } else if (ppx_shard_tally_build(&x->tally, cfg->shard, s->plan.chunk_size, &s->plan.listing,
                                     &s->plan.classes, x->fails)) {
        ppx_log(PPX_LOG_ERR, "out of memory listing the shards for the report");
    } else {
        x->shards_state = PPX_REPORT_SHARDS_LISTED;
    }
}

/* For a complete run with per-image outputs, OUTDIR/geometry.csv; with
 * --coco, OUTDIR/coco.json (the mapped annotations). */
static void annotations_end(run_state *s, end_ctx *x)
{
    const ppx_run_config *cfg = s->cfg;
    if (!(x->code == PPX_RUN_DONE || x->code == PPX_RUN_FAILURES) || !cfg->outdir)
        return;
    ppx_err e;
    ppx_err_clear(&e);
    if (!cfg->shard && write_geometry_csv(s, x->prints, &e)) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        end_fatal(s, x, "cannot write geometry.csv");
        return;
    }
    if (!s->plan.coco)
        return;
    if (ppx__coco_end(s, x->prints, x->fails, &x->coco, &e)) {
        ppx_log(PPX_LOG_ERR, "--coco: %s", e.msg);
        end_fatal(s, x, "cannot write coco.json");
    } else {
        x->have_coco = 1;
    }
}

/* The path of each failure, as the report shows it (a path too long to join
 * is shown as its key, relative to INPUT). 0, or PPX_ENOMEM. */
static int fail_paths(const run_state *s, end_ctx *x)
{
    size_t n = x->fails->n;
    x->paths = calloc(n ? n : 1, sizeof *x->paths);
    x->owned = calloc(n ? n : 1, sizeof *x->owned);
    if (!x->paths || !x->owned)
        return PPX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char p[PPX_PATH_MAX];
        uint64_t idx = x->fails->v[i].index;
        const char *key = idx < s->plan.listing.n ? ppx_listing_key(&s->plan.listing, idx) : "?";
        if (ppx__input_path(s->cfg, &s->plan, key, p, sizeof p))
            snprintf(p, sizeof p, "%s", key);
        x->owned[i] = strdup(p);
        x->paths[i] = x->owned[i] ? x->owned[i] : "?";
    }
    return 0;
}

static void end_ctx_destroy(end_ctx *x)
{
    for (size_t i = 0; x->owned && i < x->fails->n; i++)
        free(x->owned[i]);
    free(x->owned);
    free(x->paths);
    free(x->w);
    ppx_shard_tally_destroy(&x->tally);
    if (x->have_dups)
        ppx__dups_end_free(&x->de);
    free(x->coco.by_category);
}

/* The report's contents (rep's pointers point into s and x). */
static void fill_report(run_state *s, end_ctx *x, ppx_report *rep)
{
    const ppx_run_config *cfg = s->cfg;
    int complete = !x->stopped && !x->fatal;
    x->total.total = s->plan.listing.n;
    *rep = (ppx_report){.warnings = x->w ? x->w->v : NULL,
                        .n_warnings = x->w ? x->w->n : 0,
                        .command_line = cfg->command_line,
                        .stats = &x->total,
                        .failures = x->fails,
                        .fail_paths = x->paths,
                        .skipped = s->plan.listing.skipped,
                        .excluded = s->plan.listing.excluded,
                        .resumed_chunks = s->plan.resume.chunks,
                        .resumed_images = s->plan.resume.images,
                        .ranks = s->size,
                        .per_rank = x->ranks,
                        .elapsed_s = ppx_now_s() - s->t0,
                        .complete = complete,
                        .stop_reason = complete              ? ""
                                       : s->stop.stop_reason ? s->stop.stop_reason
                                       : x->fatal            ? "fatal error"
                                                             : "stopped",
                        .exit_code = x->code,
                        .pipeline = cfg->spec ? cfg->spec : "",
                        .format = ppx__format_name(cfg),
                        .input = cfg->input,
                        .outdir = cfg->outdir,
                        .shards_state = x->shards_state,
                        .shards = x->tally.shards,
                        .n_shards = x->tally.n_shards,
                        .classes = x->tally.classes,
                        .n_classes = x->tally.n_classes,
                        .dups = x->have_dups && x->de.ok ? &x->de.rep : NULL,
                        .coco = x->have_coco ? &x->coco : NULL};
}

/* The JSON and HTML reports, under OUTDIR unless the user named them (stats
 * print to stdout), and the summary on stderr. */
static void write_reports(run_state *s, end_ctx *x, ppx_report *rep)
{
    const ppx_run_config *cfg = s->cfg;
    const char *report_path = cfg->report_path ? cfg->report_path : cfg->outdir ? NULL : "-";
    const char *html_path = cfg->html_path;
    int in_outdir = s->io.outdir.fd >= 0 && !x->outdir_gone;
    int html = html_path ? html_path[0] != '\0' : in_outdir;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx__show_progress(s, 1);
    if ((report_path || in_outdir) &&
        (ppx_report_json(rep, &b) || write_report(s, report_path, "prepix-report.json", &b))) {
        x->code = PPX_RUN_FATAL;
        rep->report_failed = 1;
    }
    b.len = 0;
    /* Thumbnails only for the page that shows them. */
    if (html && rep->dups && ppx__dups_thumbs(s, &x->de))
        ppx_log(PPX_LOG_ERR, "out of memory making the thumbnails of duplicates");
    if (html && (ppx_report_html(rep, &b) || write_report(s, html_path, "prepix-report.html", &b)))
        x->code = PPX_RUN_FATAL;
    ppx_buf_destroy(&b);
    rep->exit_code = x->code;
    char shown[PPX_PATH_MAX] = "";
    if (report_path && strcmp(report_path, "-") != 0)
        ppx_escape_name(shown, sizeof shown, report_path);
    else if (!report_path && cfg->outdir)
        snprintf(shown, sizeof shown, "%s/prepix-report.json", cfg->outdir);
    /* The summary is what the run did: a message of level info (--quiet drops it). */
    if (ppx_log_get_level() >= PPX_LOG_INFO)
        ppx_report_summary(rep, shown[0] ? shown : NULL, stderr);
}

/* Rank 0, at the end: combines the totals (resumed work added unless
 * with_resumed is 0: the caller's totals hold it), decides the outcome,
 * writes index.csv, the JSON and HTML reports and the summary. all[0]: some
 * rank had a fatal error; all[1]: some rank stopped early. fails and prints
 * stay the caller's. Returns the run's ppx_run_outcome. */
static int end_report(run_state *s, const ppx_stats *total, ppx_failures *fails, ppx_prints *prints,
                      ppx_rank_info *ranks, const int all[2], int with_resumed)
{
    end_ctx x = {.total = *total, .fails = fails, .prints = prints, .ranks = ranks};
    if (with_resumed) {
        ppx_stats_merge(&x.total, &s->plan.resume.stats);
        if (ppx_failures_extend(fails, &s->plan.resume.failures) ||
            ppx_prints_extend(prints, &s->plan.resume.prints))
            s->stop.global_fatal = 1;
    }
    ppx_failures_sort(fails);
    sort_unique(prints);
    decide_outcome(s, &x, all);
    shard_index(s, &x);
    annotations_end(s, &x);
    /* Duplicates, once the outcome is known: the drop list is written for a
     * complete run only, as index.csv is. Entries that hold only a geometry
     * record (a chunk of a run that took no fingerprints) are no image
     * without a fingerprint. */
    ppx_prints_keep_hashed(prints);
    x.have_dups = s->cfg->duplicates;
    if (x.have_dups &&
        ppx__dups_prepare(s, prints, x.total.ok,
                          x.code == PPX_RUN_DONE || x.code == PPX_RUN_FAILURES, &x.de)) {
        ppx_log(PPX_LOG_ERR, "%s", x.de.err.msg);
        end_fatal(s, &x, "cannot list the duplicates");
    }
    if (fail_paths(s, &x)) {
        /* A report that cannot name its failures would hide them: none. */
        ppx_log(PPX_LOG_ERR, "out of memory writing the report");
        end_ctx_destroy(&x);
        return PPX_RUN_FATAL;
    }
    x.w = calloc(1, sizeof *x.w);
    if (x.w) {
        run_warnings(s, x.w);
        value_warnings(&x.total, x.w);
    }
    ppx_report rep;
    fill_report(s, &x, &rep);
    write_reports(s, &x, &rep);
    end_ctx_destroy(&x);
    return x.code;
}

/* Rank 0, when it cannot end the run with every rank: ranks fell silent (they
 * cannot send their end message), or rank 0 itself was away for longer than
 * --rank-timeout (the others may have given up on it). The report is built
 * from the journal, which holds every chunk any rank finished (each journals
 * its own), marked incomplete with the silent ranks named, or saying that
 * which rank fell silent cannot be known; the job ends with MPI_Abort and
 * exit 4 so that a Slurm requeue with --resume finishes it. */
int ppx__finish_alone(run_state *s)
{
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_failures fails = {0};
    ppx_prints prints = {0};
    ppx_resume_state rs;
    ppx_err e;
    ppx_err_clear(&e);
    memset(&rs, 0, sizeof rs);
    ppx_rank_info *ranks = calloc((size_t)s->size, sizeof *ranks);
    /* The ranks that gave up waiting on rank 0 said so (TAG_GAVEUP) into its
     * queue, even while it was stopped: the report names them. */
    for (int flag = s->mpi && s->serve.self_gap > 0; flag;) {
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, TAG_GAVEUP, s->comm, &flag, &st)))
            break;
        if (flag)
            ppx__gave_up(s, st.MPI_SOURCE);
    }
    if (s->io.jdir >= 0 && ppx_journal_load(s->io.jdir, s->plan.n_chunks, &rs, &e) == 0) {
        total = rs.stats;
        if (ppx_failures_extend(&fails, &rs.failures) || ppx_prints_extend(&prints, &rs.prints))
            s->stop.global_fatal = 1;
    } else {
        total = s->in.acc;
        if (ppx_failures_extend(&fails, &s->in.fails) || ppx_prints_extend(&prints, &s->in.prints))
            s->stop.global_fatal = 1;
    }
    char reason[sizeof s->serve.silent_reason + sizeof s->serve.gave_up + 512];
    if (s->serve.self_gap > 0)
        snprintf(reason, sizeof reason,
                 "rank 0 (which writes this report) was itself silent: it could not run for "
                 "%.0f s (stopped, starved or blocked; --rank-timeout %g s)%s%s%s; the other "
                 "ranks %s ended the job meanwhile, so which other rank, if any, fell silent "
                 "cannot be known%s%s%s; --resume finishes the job",
                 s->serve.self_gap, s->cfg->rank_timeout_s, s->serve.gave_up[0] ? ", and " : "",
                 s->serve.gave_up, s->serve.gave_up[0] ? " gave up waiting on it" : "",
                 s->serve.gave_up[0] ? "have" : "may have",
                 s->serve.silent_reason[0] ? " (before that: " : "", s->serve.silent_reason,
                 s->serve.silent_reason[0] ? ")" : "");
    else
        snprintf(reason, sizeof reason, "%s, not heard from for %g s: --resume finishes the job",
                 s->serve.silent_reason, s->cfg->rank_timeout_s);
    s->stop.stop_reason = reason;
    if (ranks) {
        for (int r = 0; r < s->size; r++) {
            ranks[r].rank = r;
            ranks[r].images = r ? s->serve.rank_done[r] : s->in.done;
            ranks[r].failed = r ? s->serve.rank_failed[r] : s->in.failed;
            snprintf(ranks[r].host, sizeof ranks[r].host, "%s", r ? "?" : "");
        }
        gethostname(ranks[0].host, sizeof ranks[0].host - 1);
        ranks[0].workers = s->workers;
        ranks[0].busy_s = s->in.busy_s;
        int all[2] = {0, 1};
        end_report(s, &total, &fails, &prints, ranks, all, 0);
    }
    free(ranks);
    ppx_failures_destroy(&fails);
    ppx_prints_destroy(&prints);
    ppx_resume_state_destroy(&rs);
    return PPX_SCHED_STALLED;
}

/* Rank > 0: sends its end message (packed) to rank 0, then waits for the
 * exit code. Rank 0 may still be at work on its own images for a long time:
 * it beats meanwhile (ppx__beat_done), and a rank 0 not heard from for
 * --rank-timeout is stopped, hung or gone. The exit code, or
 * PPX_SCHED_STALLED / PPX_SCHED_ABORT. */
static int end_rank(run_state *s)
{
    double limit = ppx__peer_limit(s);
    if (MPI_CHECK(s, ppx_wire_isend(&s->peer.res_ws, s->peer.res_buf.data, s->peer.res_buf.len, 0,
                                    TAG_DONE, s->comm)))
        return PPX_SCHED_ABORT;
    int rc = MPI_CHECK(s, ppx_wire_wait(&s->peer.res_ws, limit, &s->peer.watch));
    if (rc > 0) {
        s->peer.abandoned = 1;
        ppx__lose_rank0(s, limit, " (at the end of the run)");
        return PPX_SCHED_STALLED;
    }
    if (rc)
        return PPX_SCHED_ABORT;
    s->peer.heard0 = ppx_wire_look(&s->peer.watch);
    for (;;) {
        int flag;
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(0, MPI_ANY_TAG, s->comm, &flag, &st)))
            return PPX_SCHED_ABORT;
        double t = ppx_wire_look(&s->peer.watch);
        if (flag && (st.MPI_TAG == TAG_BEAT || st.MPI_TAG == TAG_CODE)) {
            uint64_t code;
            int n = st.MPI_TAG == TAG_CODE;
            if (MPI_CHECK(s, ppx_wire_recv_u64s(&code, n, 0, st.MPI_TAG, s->comm)))
                return PPX_SCHED_ABORT;
            if (n) {
                ppx__test_stop(s->rank, "code");
                return (int)(int64_t)code;
            }
            s->peer.heard0 = t;
            continue;
        }
        if (flag) {
            ppx_log_rank(PPX_LOG_ERR, s->rank, "unexpected message (tag %d) from rank 0 at the end",
                         st.MPI_TAG);
            return PPX_SCHED_ABORT;
        }
        if (limit > 0 && t - s->peer.heard0 > limit) {
            ppx__lose_rank0(s, t - s->peer.heard0, " (at the end of the run)");
            return PPX_SCHED_STALLED;
        }
        /* Beats come every few seconds: no need to look more often. */
        poll(NULL, 0, 2);
    }
}

/* Rank 0: the exit code to every rank (each waits for it in end_rank). A
 * small message, which completes at once whatever the rank does; one that
 * does not within the limit is left to MPI (the rank gets nothing more). */
static void send_codes(run_state *s, int code)
{
    for (int r = 1; r < s->size; r++) {
        ppx_wire_send *w = &s->serve.out_ws[r];
        if (MPI_CHECK(s, ppx_wire_wait(w, ppx__peer_limit(s), &s->peer.watch)) > 0)
            s->peer.abandoned = 1;
        if (w->abandoned)
            continue;
        uint64_t v = (uint64_t)(int64_t)code;
        if (MPI_CHECK(s, ppx_wire_send_u64s(w, &v, 1, r, TAG_CODE, s->comm)) == 0 &&
            MPI_CHECK(s, ppx_wire_wait(w, ppx__peer_limit(s), &s->peer.watch)) > 0)
            s->peer.abandoned = 1;
    }
}

/* A stopped run's report lists every failure known at the stop: those of
 * chunks left unfinished too (not journaled: --resume redoes them). */
static void merge_unfinished(run_state *s)
{
    for (chunk *c = s->queue.queue_head; c; c = c->next_in_queue)
        if (c->remaining) {
            ppx_stats_merge(&s->in.acc, &c->stats);
            if (ppx_failures_extend(&s->in.fails, &c->fails) ||
                ppx_prints_extend(&s->in.prints, &c->prints)) {
                ppx_err e;
                ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
                ppx__set_fatal(&s->stop, &e);
            }
        }
}

/* What this rank tells rank 0 at the end, in one message (res_buf: the last
 * chunk results are delivered): its flags, statistics, facts and failures
 * (plan.h's ppx__pack_end). Without memory for its failures, a message
 * without them, the rank's error saying so. */
static void pack_mine(run_state *s, ppx_rank_info *me)
{
    ppx_buf *packed = &s->peer.res_buf;
    packed->len = 0;
    snprintf(me->error, sizeof me->error, "%s", s->stop.fatal ? s->stop.fatal_err.msg : "");
    if (s->mpi && ppx__pack_end(s->stop.fatal, s->stop.stopping, &s->in.acc, me, &s->in.fails,
                                &s->in.prints, packed)) {
        ppx_err e;
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing failures");
        ppx__set_fatal(&s->stop, &e);
        ppx_failures none = {0};
        ppx_prints no_prints = {0};
        packed->len = 0;
        snprintf(me->error, sizeof me->error, "%s", s->stop.fatal ? s->stop.fatal_err.msg : "");
        if (ppx__pack_end(s->stop.fatal, s->stop.stopping, &s->in.acc, me, &none, &no_prints,
                          packed))
            packed->len = 0; /* rank 0 finds it malformed: the end aborts */
    }
    snprintf(me->error, sizeof me->error, "%s", s->stop.fatal ? s->stop.fatal_err.msg : "");
}

/* The totals of the end, merged on rank 0 (ranks, fails and prints are the
 * caller's). */
typedef struct {
    int all[2];
    ppx_stats total;
    ppx_rank_info *ranks;
    ppx_failures fails;
    ppx_prints prints;
} end_totals;

/* Rank 0: every other rank's end message came in its loop (TAG_DONE). It
 * merges the statistics (exact, so the order does not matter) and the
 * failures; a message it cannot read means the ranks cannot agree. 0, 1
 * when rank 0 must end alone (ppx__finish_alone), or PPX_SCHED_ABORT. */
static int gather_ends(run_state *s, end_totals *t)
{
    ppx__beat_done(s, 1, NULL);
    /* A rank that gave up waiting on rank 0 (it was stopped after its loop)
     * has ended the job: no complete report can be agreed on. */
    for (int flag = 1; flag;) {
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, TAG_GAVEUP, s->comm, &flag, &st)))
            break;
        if (flag)
            ppx__gave_up(s, st.MPI_SOURCE);
    }
    if (ppx__self_stalled(s))
        return 1;
    for (int r = 0; r < s->size; r++) {
        const ppx_buf *m = r ? &s->serve.end_msg[r] : &s->peer.res_buf;
        if (ppx__unpack_end(m->data, m->len, t->all, &t->total, &t->ranks[r], &t->fails,
                            &t->prints)) {
            ppx_log_rank(PPX_LOG_ERR, 0,
                         "malformed end message from rank %d: the ranks cannot agree on the end "
                         "of the run; aborting the job (exit 1)",
                         r);
            return PPX_SCHED_ABORT;
        }
    }
    return 0;
}

int ppx__finish(run_state *s)
{
    end_totals t = {{0, 0}, {0}, NULL, {0}, {0}};
    ppx_stats_init(&t.total);
    ppx_rank_info me = {.rank = s->rank,
                        .workers = s->workers,
                        .images = s->in.done,
                        .failed = s->in.failed,
                        .busy_s = s->in.busy_s,
                        .elapsed_s = ppx_now_s() - s->t0};
    gethostname(me.host, sizeof me.host - 1);
    t.ranks = calloc((size_t)s->size, sizeof *t.ranks);
    merge_unfinished(s);
    pack_mine(s, &me);
    if (!t.ranks) {
        ppx_log_rank(PPX_LOG_ERR, s->rank, "out of memory at the end of the run");
        return s->mpi ? PPX_SCHED_ABORT : PPX_RUN_FATAL;
    }
    int code = 0;
    if (s->mpi && s->rank != 0) {
        code = end_rank(s);
    } else if (s->mpi) {
        code = gather_ends(s, &t);
        if (code == 1)
            code = ppx__finish_alone(s);
    } else {
        t.all[0] = s->stop.fatal;
        t.all[1] = s->stop.stopping;
        t.total = s->in.acc;
        t.ranks[0] = me;
        if (ppx_failures_extend(&t.fails, &s->in.fails) ||
            ppx_prints_extend(&t.prints, &s->in.prints))
            s->stop.fatal = t.all[0] = 1;
    }
    if (!code && (!s->mpi || s->rank == 0)) {
        code = end_report(s, &t.total, &t.fails, &t.prints, t.ranks, t.all, 1);
        if (s->mpi)
            send_codes(s, code);
    }
    ppx_failures_destroy(&t.fails);
    ppx_prints_destroy(&t.prints);
    free(t.ranks);
    return code;
}
