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
    if (!stopped && !fatal && total.ok + total.failed != s->listing.n) {
        /* A complete run accounts for every listed image; anything else
         * is a bug, and must never pass as success. */
        fprintf(stderr, "prepix: internal error: %llu of %llu images accounted for\n",
                (unsigned long long)(total.ok + total.failed), (unsigned long long)s->listing.n);
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

/* One rank's end message: its statistics (ppx_stats_serialize), its facts
 * (ppx_rank_info_pack), its failures (ppx_failures_pack) and its images'
 * fingerprints (ppx_prints_pack), appended to out.
 * 0 or PPX_ENOMEM. */
static int pack_end(run_state *s, ppx_rank_info *me, const ppx_failures *fails,
                    const ppx_prints *prints, ppx_buf *out)
{
    snprintf(me->error, sizeof me->error, "%s", s->fatal ? s->fatal_err.msg : "");
    return ppx_stats_serialize(&s->acc, out) || ppx_rank_info_pack(me, out) ||
                   ppx_failures_pack(fails, out) || ppx_prints_pack(prints, out)
               ? PPX_ENOMEM
               : 0;
}

/* Rank 0: reads one rank's end message p[0..n) (untrusted: another rank's
 * memory may be damaged), merging its statistics into total and its failures
 * into fails. 0, or PPX_ECORRUPT / PPX_ENOMEM. */
static int unpack_end(const uint8_t *p, size_t n, ppx_stats *total, ppx_rank_info *ri,
                      ppx_failures *fails, ppx_prints *prints)
{
    ppx_stats st;
    size_t used = 0;
    int rc = ppx_stats_deserialize(p, n, &st, &used);
    if (rc)
        return rc;
    ppx_rd r = {p + used, p + n, 0};
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
    return 0;
}

/* Waits for a step of the collective end, sleeping (blocking collectives
 * busy-poll in Open MPI and would take CPU from workers still running on the
 * node), until *deadline (0: none). 0, or 1 when it failed or timed out (the
 * message printed; end_timed_out set). */
static int end_wait(run_state *s, MPI_Request *req, const double *deadline)
{
    for (int done = 0;;) {
        if (MPI_CHECK(s, MPI_Test(req, &done, MPI_STATUS_IGNORE)))
            return 1;
        if (done)
            return 0;
        if (*deadline > 0 && ppx_now_s() > *deadline) {
            s->end_timed_out = 1;
            fprintf(stderr,
                    "prepix: rank %d: a rank fell silent at the end of the run (not there within "
                    "%g s: stopped, hung, or its node is gone)\n",
                    s->rank, s->cfg->rank_timeout_s);
            if (!s->silent_reason[0])
                snprintf(s->silent_reason, sizeof s->silent_reason,
                         "a rank fell silent at the end of the run");
            return 1;
        }
        poll(NULL, 0, 1);
    }
}

/* Rank 0, when ranks fell silent: they cannot take part in the collective
 * end, so the report is built from the journal, which holds every chunk any
 * rank finished (each journals its own), marked incomplete with the silent
 * ranks named, and the job ends with MPI_Abort and exit 4 so that a Slurm
 * requeue with --resume finishes it. */
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
    if (s->jdir >= 0 && ppx_journal_load(s->jdir, s->n_chunks, &rs, &e) == 0) {
        total = rs.stats;
        if (ppx_failures_extend(&fails, &rs.failures) || ppx_prints_extend(&prints, &rs.prints))
            s->global_fatal = 1;
    } else {
        total = s->acc;
        if (ppx_failures_extend(&fails, &s->fails) || ppx_prints_extend(&prints, &s->prints))
            s->global_fatal = 1;
    }
    char reason[sizeof s->silent_reason + 96];
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

int ppx__finish(run_state *s)
{
    int flags[2] = {s->fatal, s->stopping}, all[2] = {flags[0], flags[1]};
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
    ppx_buf packed;
    ppx_buf_init(&packed);
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
    /* What this rank tells rank 0 at the end, in one message: its
     * statistics, its facts and its failures (buf.h's encoding). */
    if (s->mpi && pack_end(s, &me, &s->fails, &s->prints, &packed)) {
        ppx_err e;
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing failures");
        ppx__set_fatal(s, &e);
        ppx_failures none = {0};
        ppx_prints no_prints = {0};
        packed.len = 0;
        if (pack_end(s, &me, &none, &no_prints, &packed))
            packed.len = 0; /* rank 0 finds it malformed: the end aborts */
    }
    snprintf(me.error, sizeof me.error, "%s", s->fatal ? s->fatal_err.msg : "");
    flags[0] = s->fatal;
    flags[1] = s->stopping;
    int *lens = s->rank == 0 ? calloc((size_t)s->size, sizeof *lens) : NULL;
    int *displs = s->rank == 0 ? calloc((size_t)s->size, sizeof *displs) : NULL;
    if (!ranks || (s->rank == 0 && (!lens || !displs))) {
        fprintf(stderr, "prepix: rank %d: out of memory at the end of the run\n", s->rank);
        free(ranks);
        free(lens);
        free(displs);
        ppx_buf_destroy(&packed);
        return s->mpi ? PPX_SCHED_ABORT : 1;
    }

    if (s->mpi) {
        /* Ranks that finish first wait here for the last one. Blocking
         * collectives busy-poll in Open MPI and would take CPU from the
         * workers still running on the same node: wait in a sleeping barrier.
         * From here on a failed call means the ranks cannot agree: abort. */
        /* Rank 0 arrives last (every other rank has left its loop), so from
         * here on each step has --rank-timeout to complete; the others wait
         * in the barrier for as long as rank 0 works, then have the same. */
        double limit = s->cfg->rank_timeout_s;
        double deadline = s->rank == 0 && limit > 0 ? ppx_now_s() + limit : 0;
        MPI_Request req;
        int broken = MPI_CHECK(s, MPI_Ibarrier(s->comm, &req)) || end_wait(s, &req, &deadline);
        if (!broken && s->rank != 0 && limit > 0)
            deadline = ppx_now_s() + limit;
        broken = broken ||
                 MPI_CHECK(s, MPI_Iallreduce(flags, all, 2, MPI_INT, MPI_MAX, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        /* Each rank's end message, gathered on rank 0: rank 0 merges the
         * statistics (exact, so the order does not matter) and the failures. */
        uint8_t len_le[8], *lens_le = NULL;
        ppx_set_le64(len_le, packed.len);
        if (!broken && s->rank == 0 && !(lens_le = malloc((size_t)s->size * 8))) {
            fprintf(stderr, "prepix: rank 0: out of memory at the end of the run\n");
            broken = 1;
        }
        broken = broken ||
                 MPI_CHECK(
                     s, MPI_Igather(len_le, 8, MPI_BYTE, lens_le, 8, MPI_BYTE, 0, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        uint8_t *recv = NULL;
        if (!broken && s->rank == 0) {
            size_t sum = 0;
            for (int r = 0; r < s->size && !broken; r++) {
                uint64_t l = ppx_get_le64(lens_le + 8 * (size_t)r);
                if (l > INT_MAX - sum) {
                    broken = 1;
                    break;
                }
                lens[r] = (int)l;
                displs[r] = (int)sum;
                sum += (size_t)l;
            }
            if (broken || !(recv = malloc(sum ? sum : 1))) {
                fprintf(stderr, "prepix: rank 0: cannot gather %zu bytes of results\n", sum);
                broken = 1;
            }
        }
        free(lens_le);
        /* An end message is statistics, failures and 40 bytes of fingerprints per image:
         * below 2 GiB up to 50 million images per rank. */
        int len = packed.len <= INT_MAX ? (int)packed.len : 0;
        broken = broken ||
                 MPI_CHECK(s, MPI_Igatherv(packed.data, len, MPI_BYTE, recv, lens, displs, MPI_BYTE,
                                           0, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        for (int r = 0; r < s->size && !broken && s->rank == 0; r++)
            if (unpack_end(recv + displs[r], (size_t)lens[r], &total, &ranks[r], &all_fails,
                           &all_prints)) {
                fprintf(stderr, "prepix: rank 0: malformed end message from rank %d\n", r);
                broken = 1;
            }
        free(recv);
        if (broken) {
            free(ranks);
            free(lens);
            free(displs);
            ppx_buf_destroy(&packed);
            ppx_failures_destroy(&all_fails);
            ppx_prints_destroy(&all_prints);
            if (s->end_timed_out) /* a rank fell silent at the end */
                return s->rank == 0 ? ppx__finish_alone(s) : PPX_SCHED_STALLED;
            fprintf(stderr,
                    "prepix: rank %d: the ranks cannot agree on the end of the run "
                    "(%s): aborting the job (exit 1)\n",
                    s->rank, s->fatal ? s->fatal_err.msg : "MPI failure");
            return PPX_SCHED_ABORT;
        }
    } else {
        total = s->acc;
        ranks[0] = me;
        if (ppx_failures_extend(&all_fails, &s->fails) ||
            ppx_prints_extend(&all_prints, &s->prints))
            s->fatal = all[0] = 1;
    }
    free(lens);
    free(displs);
    ppx_buf_destroy(&packed);

    int code = 0;
    if (s->rank == 0)
        code = end_report(s, &total, &all_fails, &all_prints, ranks, all, 1);
    if (s->mpi) {
        MPI_Request req;
        double deadline = s->cfg->rank_timeout_s > 0 ? ppx_now_s() + s->cfg->rank_timeout_s : 0;
        uint8_t code_le[8];
        ppx_set_le64(code_le, (uint64_t)(int64_t)code);
        if (MPI_CHECK(s, MPI_Ibcast(code_le, 8, MPI_BYTE, 0, s->comm, &req)) ||
            end_wait(s, &req, &deadline))
            code = s->end_timed_out ? PPX_SCHED_STALLED : PPX_SCHED_ABORT;
        else
            code = (int)(int64_t)ppx_get_le64(code_le);
    }
    ppx_failures_destroy(&all_fails);
    ppx_prints_destroy(&all_prints);
    free(ranks);
    return code;
}
