/* Running a job on one or many ranks.
 *
 * Rank 0 lists the inputs and cuts them into chunks with fixed ids
 * (contiguous ranges of the sorted listing). Every rank, rank 0 included,
 * asks for chunks when its local queue runs low and feeds their images to its
 * pool of forked workers. A rank that finishes a chunk journals it (paths
 * transport) so that --resume can skip it; with the bytes transport, rank 0
 * sends the files' bytes along with the chunk, gets the encoded outputs back,
 * writes them and journals the chunk itself. At the end the per-rank exact
 * accumulators are reduced to rank 0, which writes the report.
 *
 * Without a launcher (use_mpi == 0) the same loop runs with one rank and no
 * MPI call at all. */
#include "sched/run_state.h"

#include <errno.h>
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

_Static_assert(PPX_JOB_SPLITS_MAX == PPX_SPLITS_MAX, "the workers hold every split's folder");

volatile sig_atomic_t ppx__stop_signal;
int ppx__sig_pipe[2] = {-1, -1};

void ppx_sched_request_stop(int sig)
{
    ppx__stop_signal = sig;
    if (ppx__sig_pipe[1] >= 0) {
        int e = errno;
        ssize_t w = write(ppx__sig_pipe[1], "s", 1);
        (void)w;
        errno = e;
    }
}

const char *ppx__signal_name(int sig)
{
    return sig == SIGINT    ? "SIGINT"
           : sig == SIGTERM ? "SIGTERM"
           : sig == SIGUSR1 ? "SIGUSR1"
                            : "signal";
}

#ifdef PPX_TEST_HOOKS
/* Test-only: PPX_TEST_MPI_FAIL="RANK:NAME:N" makes the Nth call named NAME
 * (e.g. MPI_Send) on rank RANK report an error after it ran, as a transient
 * fault that leaves the communicator working would. */
static int test_mpi_fault(const run_state *s, int rc, const char *text)
{
    static int calls;
    const char *spec = getenv("PPX_TEST_MPI_FAIL");
    int rank, n;
    char name[64];
    if (!spec || sscanf(spec, "%d:%63[^:]:%d", &rank, name, &n) != 3 || rank != s->rank)
        return rc;
    size_t nl = strlen(name);
    if (strncmp(text, name, nl) == 0 && text[nl] == '(' && ++calls == n)
        return MPI_ERR_OTHER;
    return rc;
}
#endif

#ifdef PPX_TEST_HOOKS
void ppx__test_stop(const run_state *s, const char *moment)
{
    static int passed;
    const char *spec = getenv("PPX_TEST_STOP");
    int rank, n;
    char name[32];
    if (!spec || sscanf(spec, "%d:%31[^:]:%d", &rank, name, &n) != 3 || rank != s->rank ||
        strcmp(name, moment) != 0 || ++passed != n)
        return;
    dprintf(STDERR_FILENO, "prepix: test fault: rank %d stops at %s %d\n", rank, moment, n);
    raise(SIGSTOP);
}
#endif

int ppx__mpi_result(run_state *s, int rc, const char *text)
{
#ifdef PPX_TEST_HOOKS
    rc = test_mpi_fault(s, rc, text);
#endif
    if (rc == MPI_SUCCESS)
        return 0;
    if (rc == PPX_WIRE_TIMEOUT)
        return 1;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = snprintf(msg, sizeof msg, "error code %d", rc);
    const char *paren = strchr(text, '(');
    ppx_err e;
    ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "%.*s failed on rank %d: %.*s",
                paren ? (int)(paren - text) : (int)strlen(text), text, s->rank, len, msg);
    ppx__set_fatal(s, &e);
    s->mpi_failed = 1;
    return -1;
}

double ppx__peer_limit(const run_state *s)
{
    double limit = s->cfg->rank_timeout_s > 0 ? s->cfg->rank_timeout_s : 0;
    return s->rank == 0 ? limit / 2 : limit;
}

/* A set-up step's non-blocking collective, waited for with a limit (0: none).
 * 0, or an exit code of ppx_sched_run (the message printed). */
static int setup_wait(run_state *s, int rc, MPI_Request *req, double limit, const char *what)
{
    if (MPI_CHECK(s, rc))
        return PPX_SCHED_ABORT;
    rc = MPI_CHECK(s, ppx_wire_wait_request(req, limit, &s->watch));
    if (rc < 0)
        return PPX_SCHED_ABORT;
    if (rc > 0) {
        /* The collective's request and buffers stay MPI's (they are static
         * or leaked): the job ends by MPI_Abort. */
        fprintf(stderr,
                "prepix: rank %d: a rank did not reach %s within %g s (stopped, hung, or its "
                "node is gone): ending the job; nothing was done yet\n",
                s->rank, what, limit);
        return PPX_SCHED_STALLED;
    }
    return 0;
}

int ppx__is_bytes_remote(const run_state *s)
{
    return s->cfg->transport_bytes && s->rank != 0;
}

void ppx__set_fatal(run_state *s, const ppx_err *e)
{
    if (!s->fatal) {
        s->fatal = 1;
        s->fatal_err = *e;
        fprintf(stderr, "prepix: rank %d: fatal: %s\n", s->rank, e->msg);
    }
    s->stopping = 1;
    if (!s->stop_reason)
        s->stop_reason = "fatal error";
}

int ppx_sched_run(const ppx_run_config *cfg, MPI_Comm comm)
{
    run_state *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "prepix: out of memory\n");
        return 1;
    }
    s->cfg = cfg;
    s->comm = comm;
    s->mpi = cfg->use_mpi;
    s->t0 = ppx_now_s();
    s->size = 1;
    if (s->mpi && (MPI_CHECK(s, MPI_Comm_rank(comm, &s->rank)) ||
                   MPI_CHECK(s, MPI_Comm_size(comm, &s->size)))) {
        free(s);
        return PPX_SCHED_ABORT;
    }
    ppx_stats_init(&s->acc);
    s->workers = cfg->workers > 0 ? cfg->workers : ppx_pool_default_workers();
    ppx_wire_send_init(&s->res_ws);
    ppx_wire_send_init(&s->req_ws);
    ppx_wire_send_init(&s->beat_ws);
    ppx_wire_send_init(&s->bye_ws);
    s->in_root = s->jdir = s->lock_fd = s->outdir.fd = -1;
    ppx_dircache_init(&s->in_dirs);
    ppx_arc_cache_init(&s->in_arc);
    ppx_dircache_init(&s->out_dirs);
    ppx_buf_init(&s->scratch);
    ppx_buf_init(&s->stop_msg);
    ppx_buf_init(&s->res_buf);
    ppx_buf_init(&s->shard_buf);
    int code = 0;

    /* Set-up: rank 0 decides, everyone learns the outcome. Each step is a
     * non-blocking collective, waited for with MPI_Test (a rank waiting in a
     * blocking one spins at 100% CPU, and for ever if a rank was stopped).
     * The ranks start together, so the first step gets --rank-timeout. The
     * buffers are static: a step given up on leaves them to MPI. */
    double limit = cfg->rank_timeout_s > 0 ? cfg->rank_timeout_s : 0;
    s->beat_s = limit > 0 && limit / 4 < BEAT_S ? limit / 4 : BEAT_S;
    static uint64_t total_workers;
    total_workers = (uint64_t)s->workers;
    MPI_Request req;
    if (s->mpi &&
        (code = setup_wait(
             s, MPI_Iallreduce(MPI_IN_PLACE, &total_workers, 1, MPI_UINT64_T, MPI_SUM, comm, &req),
             &req, limit, "the start of the run")))
        goto out;
    uint64_t hdr[4] = {0, 0, 0, 0};
    if (s->rank == 0) {
        code = ppx__setup_rank0(s, total_workers);
        hdr[0] = (uint64_t)code;
        hdr[1] = s->chunk_size;
        hdr[2] = (uint64_t)s->attempt;
        hdr[3] = (uint64_t)s->listing.is_list;
    }
    if (s->mpi) {
        /* One message: the four values little-endian, then the root folder.
         * The other ranks wait here for rank 0's listing, which takes as long
         * as the input is large (minutes for millions of files), so this wait
         * has no limit: rank 0 says nothing while it lists, and a rank 0
         * stopped now holds the job until its time limit, with nothing done
         * yet to lose (docs/scheduling.md). It sleeps between looks. */
        static uint8_t msg[4 * 8 + sizeof s->root];
        for (int i = 0; i < 4; i++)
            ppx_set_le64(msg + 8 * i, hdr[i]);
        memcpy(msg + 4 * 8, s->root, sizeof s->root);
        if ((code = setup_wait(s, MPI_Ibcast(msg, (int)sizeof msg, MPI_BYTE, 0, comm, &req), &req,
                               0, "the end of the listing")))
            goto out;
        for (int i = 0; i < 4; i++)
            hdr[i] = ppx_get_le64(msg + 8 * i);
        memcpy(s->root, msg + 4 * 8, sizeof s->root);
        s->root[sizeof s->root - 1] = '\0';
        code = (int)hdr[0];
        s->chunk_size = hdr[1];
        s->attempt = (int)hdr[2];
        s->listing.is_list = (int)hdr[3];
    }
    if (code)
        goto out;
    if (cfg->dry_run) {
        if (s->rank == 0)
            ppx__dry_run_list(s);
        goto out;
    }

    /* Per-rank state. */
    int nomem = 0;
    if (s->rank == 0) {
        s->rank_done = calloc((size_t)s->size, sizeof *s->rank_done);
        s->rank_failed = calloc((size_t)s->size, sizeof *s->rank_failed);
        s->rank_bytes = calloc((size_t)s->size, sizeof *s->rank_bytes);
        s->send_ws = calloc((size_t)s->size, sizeof *s->send_ws);
        s->send_buf = calloc((size_t)s->size, sizeof *s->send_buf);
        s->last_seen = calloc((size_t)s->size, sizeof *s->last_seen);
        s->left = calloc((size_t)s->size, 1);
        s->gone = calloc((size_t)s->size, 1);
        s->end_msg = calloc((size_t)s->size, sizeof *s->end_msg);
        s->out_ws = calloc((size_t)s->size, sizeof *s->out_ws);
        nomem = !s->rank_done || !s->rank_failed || !s->rank_bytes || !s->send_ws ||
                !s->last_seen || !s->left || !s->send_buf || !s->gone || !s->end_msg ||
                !s->out_ws || ppx__pack_assign(s, ASSIGN_NOMORE, STOP_NOW, 0, &s->stop_msg);
        for (int r = 0; r < s->size && s->send_ws && s->out_ws; r++) {
            ppx_wire_send_init(&s->send_ws[r]);
            ppx_wire_send_init(&s->out_ws[r]);
        }
        ppx_progress_init(&s->progress, cfg->progress,
                          s->listing.n - (s->resume.done ? s->resume.images : 0));
    }
    ppx_err e;
    ppx_err_clear(&e);
    /* Failures here are agreed on below, so no rank waits for ever. */
    int local_rc = nomem ? ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory") : 0;
    /* A walked INPUT is read from its descriptor, never through a folder
     * swapped for a link after the walk (by whoever reads: every rank with
     * the paths transport, rank 0 with bytes). */
    s->job.splits.n = 0;
    for (int k = 0; k < PPX_JOB_SPLITS_MAX; k++)
        s->job.splits.fd[k] = -1;
    if (cfg->n_splits && !(cfg->transport_bytes && s->rank != 0)) {
        /* Each split's folder, as INPUT's below: the folders the walk listed. */
        s->job.splits.names = cfg->split_names;
        for (int k = 0; k < cfg->n_splits && !local_rc; k++) {
            int fd = ppx_list_open_at(AT_FDCWD, cfg->split_paths[k], 1, 1);
            struct stat st;
            if (fd < 0)
                local_rc = ppx_err_set(&e, PPX_EIO, PPX_STAGE_INPUT, "cannot open split %s: %s",
                                       cfg->split_paths[k], strerror(-fd));
            else if (s->rank == 0 &&
                     (fstat(fd, &st) != 0 || (uint64_t)st.st_dev != s->listing.split_ids[k].dev ||
                      (uint64_t)st.st_ino != s->listing.split_ids[k].ino))
                local_rc = ppx_err_set(&e, PPX_ECHANGED, PPX_STAGE_INPUT,
                                       "split %s is not the folder that was listed (replaced "
                                       "meanwhile)",
                                       cfg->split_paths[k]);
            if (fd >= 0)
                s->job.splits.fd[s->job.splits.n++] = fd;
        }
    } else if (!s->listing.is_list && !(cfg->transport_bytes && s->rank != 0)) {
        s->in_root = ppx_list_open_at(AT_FDCWD, s->root, 1, 1);
        struct stat st;
        if (s->in_root < 0) {
            local_rc = ppx_err_set(&e, PPX_EIO, PPX_STAGE_INPUT, "cannot open INPUT %s: %s",
                                   s->root, strerror(-s->in_root));
            s->in_root = -1;
        } else if (s->rank == 0 && s->listing.root_id.ino &&
                   (fstat(s->in_root, &st) != 0 || (uint64_t)st.st_dev != s->listing.root_id.dev ||
                    (uint64_t)st.st_ino != s->listing.root_id.ino)) {
            /* Reopened by its name: it must be the folder that was walked (other
             * ranks may see other device numbers of a shared file system). */
            local_rc = ppx_err_set(
                &e, PPX_ECHANGED, PPX_STAGE_INPUT,
                "INPUT %s is not the folder that was listed (replaced meanwhile)", s->root);
        }
    }
    /* Companion trees: read by the workers, beneath these descriptors. */
    for (int k = 0; !local_rc && k < cfg->n_with; k++) {
        int fd = cfg->with[k].dir[0] ? ppx_list_open_at(AT_FDCWD, cfg->with[k].dir, 1, 1) : -1;
        if (!cfg->with[k].dir[0])
            s->job.comp.root[s->job.comp.n++] = -1; /* archive members only */
        else if (fd < 0)
            local_rc = ppx_err_set(&e, PPX_EIO, PPX_STAGE_INPUT, "cannot open --with %s=%s: %s",
                                   cfg->with[k].role, cfg->with[k].dir, strerror(-fd));
        else
            s->job.comp.root[s->job.comp.n++] = fd;
    }
    s->job.comp.spec = cfg->with;
    /* OUTDIR and the journal: opened by whoever writes the outputs. */
    if (!local_rc && cfg->outdir && !(cfg->transport_bytes && s->rank != 0)) {
        if (s->rank != 0) {
            local_rc = ppx_outdir_open(&s->outdir, cfg->outdir, 0, &e);
            if (!local_rc && (s->jdir = ppx_private_dir_open(s->outdir.fd, ".prepix", &e)) < 0)
                local_rc = s->jdir;
        }
        if (!local_rc)
            local_rc = ppx_journal_open(&s->journal, s->jdir, s->attempt, s->rank, &e);
        s->journal_open = local_rc == 0;
    }
    s->job.pipeline = cfg->pipeline;
    s->job.out_format = cfg->out_format;
    ppx_encode_opts_default(&s->job.enc, cfg->out_format);
    s->job.enc.quality = cfg->quality;
    s->job.enc.webp_lossless = cfg->webp_lossless;
    s->job.limits = cfg->limits;
    s->job.seed = cfg->seed;
    s->job.write_outputs = cfg->outdir != NULL;
    s->job.in_root = s->in_root;
    s->job.follow_symlinks = cfg->follow_symlinks;
    s->job.out_root = s->outdir.fd;
    s->job.copy_mode = cfg->copy_mode;
    s->job.fingerprint = cfg->duplicates;
    s->job.sub = cfg->sub;
    if (cfg->shard == PPX_SHARD_NPY && ppx_sched_npy_shape(cfg->pipeline, &s->job.npy) && !local_rc)
        /* The CLI refuses such pipelines first: a caller of the library that did not. */
        local_rc = ppx_err_set(&e, PPX_EINVAL, PPX_STAGE_JOB,
                               "-f npy needs a pipeline that gives every image the same size");
    if (!local_rc && pipe2(ppx__sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        ppx__sig_pipe[0] = ppx__sig_pipe[1] = -1;
    if (!local_rc) {
        /* Address-space limit: room for the decoded image and the pipeline's
         * two scratch images at the pixel limit, plus the program. Not under
         * AddressSanitizer, which reserves terabytes of shadow memory. */
        uint64_t as = 0;
#if !defined(__SANITIZE_ADDRESS__)
        as = cfg->limits.max_pixels * 4 * 2 * 3 + (1ULL << 30);
#endif
        /* Workers keep INPUT and OUTDIR and close the rest: the signal
         * pipe, the journal, the lock and MPI's descriptors are the rank's
         * alone (a worker outliving its rank must not hold the OUTDIR lock). */
        int keep[2 + PPX_JOB_SPLITS_MAX + PPX_ROLES_MAX] = {s->in_root, s->outdir.fd};
        for (int k = 0; k < s->job.splits.n; k++)
            keep[2 + k] = s->job.splits.fd[k];
        for (int k = 0; k < s->job.comp.n; k++)
            keep[2 + s->job.splits.n + k] = s->job.comp.root[k];
        ppx_pool_config pc = {.workers = s->workers,
                              .timeout_s = cfg->timeout_s,
                              .as_limit = as,
                              .work = ppx_job_worker(&s->job),
                              .keep_fds = keep,
                              .n_keep_fds = 2 + s->job.splits.n + s->job.comp.n};
        local_rc = ppx_pool_new(&pc, &s->pool, &e);
    }
    /* Agree before going on: one rank that cannot start stops everyone. The
     * ranks come here together from the broadcast (a rank's own set-up is
     * opening folders and starting its workers). */
    static int any_rc;
    any_rc = local_rc ? 1 : 0;
    if (s->mpi && (code = setup_wait(
                       s, MPI_Iallreduce(MPI_IN_PLACE, &any_rc, 1, MPI_INT, MPI_MAX, comm, &req),
                       &req, limit, "the end of the set-up")))
        goto out;
    if (any_rc) {
        if (local_rc)
            fprintf(stderr, "prepix: rank %d: %s\n", s->rank, e.msg);
        code = 1;
        goto out;
    }
    double t = ppx_wire_look(&s->watch);
    for (int r = 0; r < s->size && s->last_seen; r++)
        s->last_seen[r] = t;
    s->last_beat = s->req_sent = s->res_sent = s->heard0 = s->beats_sent = t;
    /* Once away longer than --rank-timeout, rank 0 trusts no wait (wire.h). */
    if (s->rank == 0)
        s->watch.give_up_gap = limit;
    int loop_rc = ppx__run_loop(s);
    /* Idle workers exit at once; after a stop, the grace for images in
     * progress is spent already, so what still runs is killed promptly. */
    ppx_pool_free(&s->pool, s->stopping ? 0.5 : 5.0);
    code = loop_rc ? loop_rc : s->silent || s->self_gap > 0 ? ppx__finish_alone(s) : ppx__finish(s);

out:
    ppx_pool_free(&s->pool, 0);
    if (s->journal_open)
        ppx_journal_close(&s->journal);
    for (chunk *c = s->queue_head, *n; c; c = n) {
        n = c->next_in_queue;
        ppx__chunk_free(c);
    }
    if (ppx__sig_pipe[0] >= 0) {
        close(ppx__sig_pipe[0]);
        close(ppx__sig_pipe[1]);
        ppx__sig_pipe[0] = ppx__sig_pipe[1] = -1;
    }
    if (s->end_msg)
        for (int r = 0; r < s->size; r++)
            ppx_buf_destroy(&s->end_msg[r]);
    free(s->end_msg);
    free(s->gone);
    free(s->rank_done);
    free(s->last_seen);
    free(s->left);
    free(s->rank_failed);
    free(s->rank_bytes);
    ppx_dircache_destroy(&s->in_dirs);
    ppx_arc_cache_close(&s->in_arc);
    ppx_dircache_destroy(&s->out_dirs);
    if (s->in_root >= 0)
        close(s->in_root);
    for (int k = 0; k < s->job.comp.n; k++)
        if (s->job.comp.root[k] >= 0)
            close(s->job.comp.root[k]);
    s->job.comp.n = 0;
    for (int k = 0; k < s->job.splits.n; k++)
        close(s->job.splits.fd[k]);
    if (s->jdir >= 0)
        close(s->jdir);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the lock, last */
    ppx_outdir_close(&s->outdir);
    ppx_buf_destroy(&s->shard_buf);
    ppx_classes_destroy(&s->classes);
    ppx_failures_destroy(&s->fails);
    ppx_prints_destroy(&s->prints);
    ppx_resume_state_destroy(&s->resume);
    ppx_listing_destroy(&s->listing);
    free(s->prefail);
    if (s->abandoned)
        /* A send or receive was given up (a rank fell silent): MPI may still
         * read or write its buffers (in s, the send and result buffers, the
         * request arrays) until the job ends by MPI_Abort, which comes next
         * (the CLI): they are left allocated. */
        return code;
    if (s->send_buf)
        for (int r = 0; r < s->size; r++)
            ppx_buf_destroy(&s->send_buf[r]);
    free(s->send_buf);
    if (s->send_ws)
        for (int r = 0; r < s->size; r++)
            ppx_wire_send_destroy(&s->send_ws[r]);
    free(s->send_ws);
    if (s->out_ws)
        for (int r = 0; r < s->size; r++)
            ppx_wire_send_destroy(&s->out_ws[r]);
    free(s->out_ws);
    ppx_wire_send_destroy(&s->res_ws);
    ppx_wire_send_destroy(&s->req_ws);
    ppx_wire_send_destroy(&s->beat_ws);
    ppx_wire_send_destroy(&s->bye_ws);
    ppx_buf_destroy(&s->stop_msg);
    ppx_buf_destroy(&s->scratch);
    ppx_buf_destroy(&s->res_buf);
    free(s);
    return code;
}
