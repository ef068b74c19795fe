/* The collective end: flags agreed, statistics reduced, failures gathered;
 * rank 0 decides the exit code and writes index.csv and the reports. */
#include "sched/run_state.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/io.h"
#include "prepix/json.h"
#include "prepix/buf.h"

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
                       : ppx_write_beneath(s->outdir.fd, NULL, name, b->data, b->len, NULL, &e);
    if (rc) {
        char shown[4096];
        ppx_escape_name(shown, sizeof shown, user_path ? user_path : name);
        fprintf(stderr, "prepix: cannot write the report %s: %s\n", shown, e.msg);
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

static void run_warnings(const run_state *s, warnings *w)
{
    const ppx_run_config *cfg = s->cfg;
    const ppx_listing *l = &s->listing;
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
    if (cfg->shard && cfg->outdir && l->n && s->n_chunks < MIN_SHARDS)
        warn(w,
             "only %llu %s written: a PyTorch DataLoader usually has %d workers, and with more "
             "workers than shards some get none (webdataset: 'fewer shards than workers')%s",
             (unsigned long long)s->n_chunks, s->n_chunks == 1 ? "shard was" : "shards were",
             MIN_SHARDS,
             l->n >= MIN_SHARDS ? "; ask for more with --shards 8 or a smaller --shard-size" : "");
    if (cfg->shard && s->classes.n == 0 && s->classes.cls_unnamed != PPX_NO_CLS)
        warn(w,
             "classes.txt is empty: the .cls label %lld cannot be a line number (line k names "
             "label k, for labels 0 to %lld); index.csv and the shards keep the labels",
             (long long)s->classes.cls_unnamed, (long long)(PPX_CLS_LINES_MAX - 1));
}

/* Rank 0, at the end: combines the totals (resumed work added unless
 * with_resumed is 0: the caller's totals hold it), decides the exit code,
 * writes index.csv, the JSON and HTML reports and the summary. all[0]: some
 * rank had a fatal error; all[1]: some rank stopped early. */
static int end_report(run_state *s, ppx_stats *totalp, ppx_failures *all_failsp, ppx_prints *prints,
                      ppx_rank_info *ranks, const int all[2], int with_resumed)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_stats total = *totalp;
    ppx_failures all_fails = *all_failsp; /* the caller frees it: the pointer is updated */
    int code = 0;
    if (with_resumed) {
        ppx_stats_merge(&total, &s->resume.stats);
        if (ppx_failures_extend(&all_fails, &s->resume.failures) ||
            ppx_prints_extend(prints, &s->resume.prints))
            s->global_fatal = 1;
    }
    ppx_failures_sort(&all_fails);
    int stopped = all[1] || s->global_stop;
    int fatal = all[0] || s->global_fatal;
    /* The report names the cause of a fatal end: the first rank's error. */
    for (int r = 0; r < s->size && fatal; r++)
        if (ranks[r].error[0]) {
            snprintf(s->fatal_reason, sizeof s->fatal_reason, "rank %d: %s", r, ranks[r].error);
            s->stop_reason = s->fatal_reason;
            break;
        }
    if (!stopped && !fatal && total.ok + total.failed + total.nodata != s->listing.n) {
        /* A complete run accounts for every listed image; anything else
         * is a bug, and must never pass as success. */
        fprintf(stderr, "prepix: internal error: %llu of %llu images accounted for\n",
                (unsigned long long)(total.ok + total.failed + total.nodata),
                (unsigned long long)s->listing.n);
        fatal = 1;
        if (!s->stop_reason)
            s->stop_reason = "internal error: images unaccounted for";
    }
    int outdir_gone = 0;
    if (s->outdir.fd >= 0) {
        ppx_err e;
        if (ppx_outdir_check(&s->outdir, &e)) {
            fprintf(stderr, "prepix: fatal: %s\n", e.msg);
            fatal = outdir_gone = 1;
            s->stop_reason = "OUTDIR vanished or was replaced";
        }
    }
    code = fatal ? 1 : stopped ? 4 : (total.failed || all_fails.n) ? 3 : 0;
    ppx_shard_tally tally = {0}; /* the report's list of shards and classes */
    int shards_state =
        cfg->shard && cfg->outdir ? PPX_REPORT_SHARDS_UNLISTED : PPX_REPORT_NO_SHARDS;
    if ((code == 0 || code == 3) && cfg->shard && cfg->outdir) {
        /* Only a complete run knows every shard's members. */
        ppx_err e;
        ppx_err_clear(&e);
        if (ppx_shard_write_index(s->outdir.fd, cfg->shard, s->chunk_size, &s->listing, &s->classes,
                                  &all_fails, &e)) {
            fprintf(stderr, "prepix: %s\n", e.msg);
            code = 1;
            fatal = 1;
            s->stop_reason = "cannot write index.csv";
        } else if (ppx_shard_tally_build(&tally, cfg->shard, s->chunk_size, &s->listing,
                                         &s->classes, &all_fails)) {
            fprintf(stderr, "prepix: out of memory listing the shards for the report\n");
        } else {
            shards_state = PPX_REPORT_SHARDS_LISTED;
        }
    }

    /* Duplicates, once the exit code is known: the drop list is written for a
     * complete run only, as index.csv is. */
    dups_end de;
    if (cfg->duplicates && ppx__dups_prepare(s, prints, total.ok, code == 0 || code == 3, &de)) {
        fprintf(stderr, "prepix: %s\n", de.err.msg);
        code = 1;
        fatal = 1;
        s->stop_reason = "cannot list the duplicates";
    }

    const char **paths = calloc(all_fails.n ? all_fails.n : 1, sizeof *paths);
    char **owned = calloc(all_fails.n ? all_fails.n : 1, sizeof *owned);
    if (!paths || !owned) {
        /* A report that cannot name its failures would hide them: none. */
        fprintf(stderr, "prepix: out of memory writing the report\n");
        free(paths);
        free(owned);
        ppx_shard_tally_destroy(&tally);
        if (cfg->duplicates)
            ppx__dups_end_free(&de);
        *all_failsp = all_fails;
        return 1;
    }
    for (size_t i = 0; i < all_fails.n; i++) {
        char p[4096];
        uint64_t idx = all_fails.v[i].index;
        const char *key = idx < s->listing.n ? ppx_listing_key(&s->listing, idx) : "?";
        /* A path too long to join is shown as its key, relative to INPUT. */
        if (ppx__input_path(s, key, p, sizeof p))
            snprintf(p, sizeof p, "%s", key);
        owned[i] = strdup(p);
        paths[i] = owned[i] ? owned[i] : "?";
    }
    total.total = s->listing.n;
    warnings *w = calloc(1, sizeof *w);
    if (w)
        run_warnings(s, w);
    ppx_report rep = {.warnings = w ? w->v : NULL,
                      .n_warnings = w ? w->n : 0,
                      .command_line = cfg->command_line,
                      .stats = &total,
                      .failures = &all_fails,
                      .fail_paths = paths,
                      .skipped = s->listing.skipped,
                      .excluded = s->listing.excluded,
                      .resumed_chunks = s->resume.chunks,
                      .resumed_images = s->resume.images,
                      .ranks = s->size,
                      .per_rank = ranks,
                      .elapsed_s = ppx_now_s() - s->t0,
                      .complete = !stopped && !fatal,
                      .stop_reason = !stopped && !fatal ? ""
                                     : s->stop_reason   ? s->stop_reason
                                     : fatal            ? "fatal error"
                                                        : "stopped",
                      .exit_code = code,
                      .pipeline = cfg->spec ? cfg->spec : "",
                      .format = ppx__format_name(cfg),
                      .input = cfg->input,
                      .outdir = cfg->outdir,
                      .shards_state = shards_state,
                      .shards = tally.shards,
                      .n_shards = tally.n_shards,
                      .classes = tally.classes,
                      .n_classes = tally.n_classes,
                      .dups = cfg->duplicates && de.ok ? &de.rep : NULL};
    /* Reports go under OUTDIR unless the user named them; stats print to stdout. */
    const char *report_path = cfg->report_path ? cfg->report_path : cfg->outdir ? NULL : "-";
    const char *html_path = cfg->html_path;
    int in_outdir = s->outdir.fd >= 0 && !outdir_gone;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx__show_progress(s, 1);
    if ((report_path || in_outdir) &&
        (ppx_report_json(&rep, &b) || write_report(s, report_path, "prepix-report.json", &b))) {
        code = 1;
        rep.report_failed = 1;
    }
    b.len = 0;
    /* Thumbnails only for the page that shows them. */
    if ((html_path ? html_path[0] != '\0' : in_outdir) && rep.dups && ppx__dups_thumbs(s, &de))
        fprintf(stderr, "prepix: out of memory making the thumbnails of duplicates\n");
    if ((html_path ? html_path[0] != '\0' : in_outdir) &&
        (ppx_report_html(&rep, &b) || write_report(s, html_path, "prepix-report.html", &b)))
        code = 1;
    ppx_buf_destroy(&b);
    rep.exit_code = code;
    char shown[4096] = "";
    if (report_path && strcmp(report_path, "-") != 0)
        ppx_escape_name(shown, sizeof shown, report_path);
    else if (!report_path && cfg->outdir)
        snprintf(shown, sizeof shown, "%s/prepix-report.json", cfg->outdir);
    ppx_report_summary(&rep, shown[0] ? shown : NULL, stderr);
    for (size_t i = 0; i < all_fails.n; i++)
        free(owned[i]);
    free(owned);
    free(paths);
    free(w);
    ppx_shard_tally_destroy(&tally);
    if (cfg->duplicates)
        ppx__dups_end_free(&de);
    *all_failsp = all_fails;
    return code;
}

/* One rank's end message: its two flags (a fatal error, stopped early), its
 * statistics (ppx_stats_serialize), its facts (ppx_rank_info_pack), its
 * failures (ppx_failures_pack) and its images' fingerprints
 * (ppx_prints_pack), appended to out. 0 or PPX_ENOMEM. */
static int pack_end(run_state *s, ppx_rank_info *me, const ppx_failures *fails,
                    const ppx_prints *prints, ppx_buf *out)
{
    snprintf(me->error, sizeof me->error, "%s", s->fatal ? s->fatal_err.msg : "");
    return ppx_put_u64(out, (uint64_t)s->fatal) || ppx_put_u64(out, (uint64_t)s->stopping) ||
                   ppx_stats_serialize(&s->acc, out) || ppx_rank_info_pack(me, out) ||
                   ppx_failures_pack(fails, out) || ppx_prints_pack(prints, out)
               ? PPX_ENOMEM
               : 0;
}

/* Rank 0: reads one rank's end message p[0..n) (untrusted: another rank's
 * memory may be damaged), merging its flags into all[2], its statistics into
 * total, its failures into fails and its fingerprints into prints. 0, or
 * PPX_ECORRUPT / PPX_ENOMEM. */
static int unpack_end(const uint8_t *p, size_t n, int all[2], ppx_stats *total, ppx_rank_info *ri,
                      ppx_failures *fails, ppx_prints *prints)
{
    ppx_rd r = {p, p + n, 0};
    uint64_t fatal = ppx_get_u64(&r), stopped = ppx_get_u64(&r);
    if (r.bad || fatal > 1 || stopped > 1)
        return PPX_ECORRUPT;
    ppx_stats st;
    size_t used = 0;
    int rc = ppx_stats_deserialize(r.p, (size_t)(r.end - r.p), &st, &used);
    if (rc)
        return rc;
    r.p += used;
    rc = ppx_rank_info_unpack(&r, ri);
    if (rc)
        return rc;
    rc = ppx_failures_unpack(r.p, (size_t)(r.end - r.p), fails, &used);
    if (rc)
        return rc;
    r.p += used;
    rc = ppx_prints_unpack(r.p, (size_t)(r.end - r.p), prints, &used);
    if (rc)
        return rc;
    if (used != (size_t)(r.end - r.p))
        return PPX_ECORRUPT;
    ppx_stats_merge(total, &st);
    all[0] |= (int)fatal;
    all[1] |= (int)stopped;
    return 0;
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
    for (int flag = s->mpi && s->self_gap > 0; flag;) {
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, TAG_GAVEUP, s->comm, &flag, &st)))
            break;
        if (flag)
            ppx__gave_up(s, st.MPI_SOURCE);
    }
    if (s->jdir >= 0 && ppx_journal_load(s->jdir, s->n_chunks, &rs, &e) == 0) {
        total = rs.stats;
        if (ppx_failures_extend(&fails, &rs.failures) || ppx_prints_extend(&prints, &rs.prints))
            s->global_fatal = 1;
    } else {
        total = s->acc;
        if (ppx_failures_extend(&fails, &s->fails) || ppx_prints_extend(&prints, &s->prints))
            s->global_fatal = 1;
    }
    char reason[sizeof s->silent_reason + sizeof s->gave_up + 512];
    if (s->self_gap > 0)
        snprintf(reason, sizeof reason,
                 "rank 0 (which writes this report) was itself silent: it could not run for "
                 "%.0f s (stopped, starved or blocked; --rank-timeout %g s)%s%s%s; the other "
                 "ranks %s ended the job meanwhile, so which other rank, if any, fell silent "
                 "cannot be known%s%s%s; --resume finishes the job",
                 s->self_gap, s->cfg->rank_timeout_s, s->gave_up[0] ? ", and " : "", s->gave_up,
                 s->gave_up[0] ? " gave up waiting on it" : "", s->gave_up[0] ? "have" : "may have",
                 s->silent_reason[0] ? " (before that: " : "", s->silent_reason,
                 s->silent_reason[0] ? ")" : "");
    else
        snprintf(reason, sizeof reason, "%s, not heard from for %g s: --resume finishes the job",
                 s->silent_reason, s->cfg->rank_timeout_s);
    s->stop_reason = reason;
    if (ranks) {
        for (int r = 0; r < s->size; r++) {
            ranks[r].rank = r;
            ranks[r].images = r ? s->rank_done[r] : s->done;
            ranks[r].failed = r ? s->rank_failed[r] : s->failed;
            snprintf(ranks[r].host, sizeof ranks[r].host, "%s", r ? "?" : "");
        }
        gethostname(ranks[0].host, sizeof ranks[0].host - 1);
        ranks[0].workers = s->workers;
        ranks[0].busy_s = s->busy_s;
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
    if (MPI_CHECK(
            s, ppx_wire_isend(&s->res_ws, s->res_buf.data, s->res_buf.len, 0, TAG_DONE, s->comm)))
        return PPX_SCHED_ABORT;
    int rc = MPI_CHECK(s, ppx_wire_wait(&s->res_ws, limit, &s->watch));
    if (rc > 0) {
        s->abandoned = 1;
        ppx__lose_rank0(s, limit, " (at the end of the run)");
        return PPX_SCHED_STALLED;
    }
    if (rc)
        return PPX_SCHED_ABORT;
    s->heard0 = ppx_wire_look(&s->watch);
    for (;;) {
        int flag;
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(0, MPI_ANY_TAG, s->comm, &flag, &st)))
            return PPX_SCHED_ABORT;
        double t = ppx_wire_look(&s->watch);
        if (flag && (st.MPI_TAG == TAG_BEAT || st.MPI_TAG == TAG_CODE)) {
            uint64_t code;
            int n = st.MPI_TAG == TAG_CODE;
            if (MPI_CHECK(s, ppx_wire_recv_u64s(&code, n, 0, st.MPI_TAG, s->comm)))
                return PPX_SCHED_ABORT;
            if (n) {
                ppx__test_stop(s, "code");
                return (int)(int64_t)code;
            }
            s->heard0 = t;
            continue;
        }
        if (flag) {
            fprintf(stderr, "prepix: rank %d: unexpected message (tag %d) from rank 0 at the end\n",
                    s->rank, st.MPI_TAG);
            return PPX_SCHED_ABORT;
        }
        if (limit > 0 && t - s->heard0 > limit) {
            ppx__lose_rank0(s, t - s->heard0, " (at the end of the run)");
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
        ppx_wire_send *w = &s->out_ws[r];
        if (MPI_CHECK(s, ppx_wire_wait(w, ppx__peer_limit(s), &s->watch)) > 0)
            s->abandoned = 1;
        if (w->abandoned)
            continue;
        uint64_t v = (uint64_t)(int64_t)code;
        if (MPI_CHECK(s, ppx_wire_send_u64s(w, &v, 1, r, TAG_CODE, s->comm)) == 0 &&
            MPI_CHECK(s, ppx_wire_wait(w, ppx__peer_limit(s), &s->watch)) > 0)
            s->abandoned = 1;
    }
}

int ppx__finish(run_state *s)
{
    int all[2] = {0, 0};
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_rank_info me = {.rank = s->rank,
                        .workers = s->workers,
                        .images = s->done,
                        .failed = s->failed,
                        .busy_s = s->busy_s,
                        .elapsed_s = ppx_now_s() - s->t0};
    gethostname(me.host, sizeof me.host - 1);
    ppx_rank_info *ranks = calloc((size_t)s->size, sizeof *ranks);
    ppx_failures all_fails = {0};
    ppx_prints all_prints = {0};
    /* A stopped run's report lists every failure known at the stop: those of
     * chunks left unfinished too (not journaled: --resume redoes them). */
    for (chunk *c = s->queue_head; c; c = c->next_in_queue)
        if (c->remaining) {
            ppx_stats_merge(&s->acc, &c->stats);
            if (ppx_failures_extend(&s->fails, &c->fails) ||
                ppx_prints_extend(&s->prints, &c->prints)) {
                ppx_err e;
                ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
                ppx__set_fatal(s, &e);
            }
        }
    /* What this rank tells rank 0 at the end, in one message (res_buf: the
     * last chunk results are delivered): its flags, statistics, facts and
     * failures (buf.h's encoding). */
    ppx_buf *packed = &s->res_buf;
    packed->len = 0;
    if (s->mpi && pack_end(s, &me, &s->fails, &s->prints, packed)) {
        ppx_err e;
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing failures");
        ppx__set_fatal(s, &e);
        ppx_failures none = {0};
        ppx_prints no_prints = {0};
        packed->len = 0;
        if (pack_end(s, &me, &none, &no_prints, packed))
            packed->len = 0; /* rank 0 finds it malformed: the end aborts */
    }
    snprintf(me.error, sizeof me.error, "%s", s->fatal ? s->fatal_err.msg : "");
    if (!ranks) {
        fprintf(stderr, "prepix: rank %d: out of memory at the end of the run\n", s->rank);
        return s->mpi ? PPX_SCHED_ABORT : 1;
    }
    if (s->mpi && s->rank != 0) {
        free(ranks);
        return end_rank(s);
    }
    if (s->mpi) {
        /* Rank 0: every other rank's end message came in its loop (TAG_DONE).
         * It merges the statistics (exact, so the order does not matter) and
         * the failures; a message it cannot read means the ranks cannot agree. */
        ppx__beat_done(s, 1);
        /* A rank that gave up waiting on rank 0 (it was stopped after its
         * loop) has ended the job: no complete report can be agreed on. */
        for (int flag = 1; flag;) {
            MPI_Status st;
            if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, TAG_GAVEUP, s->comm, &flag, &st)))
                break;
            if (flag)
                ppx__gave_up(s, st.MPI_SOURCE);
        }
        if (ppx__self_stalled(s)) {
            free(ranks);
            return ppx__finish_alone(s);
        }
        for (int r = 0; r < s->size; r++) {
            const ppx_buf *m = r ? &s->end_msg[r] : packed;
            if (unpack_end(m->data, m->len, all, &total, &ranks[r], &all_fails, &all_prints)) {
                fprintf(stderr,
                        "prepix: rank 0: malformed end message from rank %d: the ranks cannot "
                        "agree on the end of the run; aborting the job (exit 1)\n",
                        r);
                free(ranks);
                ppx_failures_destroy(&all_fails);
                ppx_prints_destroy(&all_prints);
                return PPX_SCHED_ABORT;
            }
        }
    } else {
        all[0] = s->fatal;
        all[1] = s->stopping;
        total = s->acc;
        ranks[0] = me;
        if (ppx_failures_extend(&all_fails, &s->fails) ||
            ppx_prints_extend(&all_prints, &s->prints))
            s->fatal = all[0] = 1;
    }

    int code = end_report(s, &total, &all_fails, &all_prints, ranks, all, 1);
    if (s->mpi)
        send_codes(s, code);
    ppx_failures_destroy(&all_fails);
    ppx_prints_destroy(&all_prints);
    free(ranks);
    return code;
}
