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
 * MPI call at all.
 *
 * May change: every state, as their owner: run.c makes and frees them
 * (state_new, state_free) and opens the rank's inputs and outputs (sched_io);
 * the work itself is done by setup.c, loop.c and end.c. */
#include "sched/run_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/log.h"

_Static_assert(PPX_JOB_SPLITS_MAX == PPX_SPLITS_MAX, "the workers hold every split's folder");

/* A set-up step's non-blocking collective, waited for with a limit (0: none).
 * 0, or an exit code of ppx_sched_run (the message printed). */
static int setup_wait(run_state *s, int rc, MPI_Request *req, double limit, const char *what)
{
    if (MPI_CHECK(s, rc))
        return PPX_SCHED_ABORT;
    rc = MPI_CHECK(s, ppx_wire_wait_request(req, limit, &s->peer.watch));
    if (rc < 0)
        return PPX_SCHED_ABORT;
    if (rc > 0) {
        /* The collective's request and buffers stay MPI's (they are static
         * or leaked): the job ends by MPI_Abort. */
        ppx_log_rank(PPX_LOG_ERR, s->rank,
                     "a rank did not reach %s within %g s (stopped, hung, or its node is gone): "
                     "ending the job; nothing was done yet",
                     what, limit);
        return PPX_SCHED_STALLED;
    }
    return 0;
}

/* --rank-timeout, 0 for none: the limit of a step every rank takes together. */
static double run_limit(const run_state *s)
{
    return s->cfg->rank_timeout_s > 0 ? s->cfg->rank_timeout_s : 0;
}

/* A rank's state before set-up: nothing open, nothing allocated but s. */
static run_state *state_new(const ppx_run_config *cfg, MPI_Comm comm)
{
    run_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->comm = comm;
    s->mpi = cfg->use_mpi;
    s->t0 = ppx_now_s();
    s->size = 1;
    ppx_stats_init(&s->in.acc);
    s->workers = cfg->workers > 0 ? cfg->workers : ppx_pool_default_workers();
    ppx_wire_send_init(&s->peer.res_ws);
    ppx_wire_send_init(&s->peer.req_ws);
    ppx_wire_send_init(&s->peer.beat_ws);
    ppx_wire_send_init(&s->peer.bye_ws);
    s->io.in_root = s->io.jdir = s->io.lock_fd = s->io.outdir.fd = -1;
    ppx_dircache_init(&s->io.in_dirs);
    ppx_arc_cache_init(&s->io.in_arc);
    ppx_dircache_init(&s->io.out_dirs);
    ppx_buf_init(&s->scratch);
    ppx_buf_init(&s->serve.stop_msg);
    ppx_buf_init(&s->peer.res_buf);
    ppx_buf_init(&s->io.shard_buf);
    s->job.splits.n = 0;
    for (int k = 0; k < PPX_JOB_SPLITS_MAX; k++)
        s->job.splits.fd[k] = -1;
    return s;
}

/* Set-up: rank 0 decides, everyone learns the outcome. Each step is a
 * non-blocking collective, waited for with MPI_Test (a rank waiting in a
 * blocking one spins at 100% CPU, and for ever if a rank was stopped). The
 * ranks start together, so the first step gets --rank-timeout. The buffers
 * are static: a step given up on leaves them to MPI. *outcome: set-up's
 * ppx_run_outcome, the same on every rank. 0, or PPX_SCHED_ABORT /
 * PPX_SCHED_STALLED. */
static int setup_collective(run_state *s, int *outcome)
{
    double limit = run_limit(s);
    static uint64_t total_workers;
    total_workers = (uint64_t)s->workers;
    MPI_Request req;
    int code = 0;
    if (s->mpi && (code = setup_wait(s,
                                     MPI_Iallreduce(MPI_IN_PLACE, &total_workers, 1, MPI_UINT64_T,
                                                    MPI_SUM, s->comm, &req),
                                     &req, limit, "the start of the run")))
        return code;
    uint64_t hdr[4] = {0, 0, 0, 0};
    if (s->rank == 0) {
        hdr[0] = (uint64_t)ppx__plan_setup_outcome(ppx__setup_rank0(s, total_workers));
        hdr[1] = s->plan.chunk_size;
        hdr[2] = (uint64_t)s->plan.attempt;
        hdr[3] = (uint64_t)s->plan.listing.is_list;
    }
    if (s->mpi) {
        /* One message: the four values little-endian, then the root folder.
         * The other ranks wait here for rank 0's listing, which takes as long
         * as the input is large (minutes for millions of files), so this wait
         * has no limit: rank 0 says nothing while it lists, and a rank 0
         * stopped now holds the job until its time limit, with nothing done
         * yet to lose (docs/scheduling.md). It sleeps between looks. */
        static uint8_t msg[4 * 8 + sizeof s->plan.root];
        for (int i = 0; i < 4; i++)
            ppx_set_le64(msg + 8 * i, hdr[i]);
        memcpy(msg + 4 * 8, s->plan.root, sizeof s->plan.root);
        if ((code = setup_wait(s, MPI_Ibcast(msg, (int)sizeof msg, MPI_BYTE, 0, s->comm, &req),
                               &req, 0, "the end of the listing")))
            return code;
        for (int i = 0; i < 4; i++)
            hdr[i] = ppx_get_le64(msg + 8 * i);
        memcpy(s->plan.root, msg + 4 * 8, sizeof s->plan.root);
        s->plan.root[sizeof s->plan.root - 1] = '\0';
        s->plan.chunk_size = hdr[1];
        s->plan.attempt = (int)hdr[2];
        s->plan.listing.is_list = (int)hdr[3];
    }
    *outcome = (int)hdr[0];
    return 0;
}

/* Rank 0's state for serving the others: 0, or PPX_ENOMEM. */
static int alloc_rank0(run_state *s)
{
    size_t n = (size_t)s->size;
    s->serve.rank_done = calloc(n, sizeof *s->serve.rank_done);
    s->serve.rank_failed = calloc(n, sizeof *s->serve.rank_failed);
    s->serve.rank_bytes = calloc(n, sizeof *s->serve.rank_bytes);
    s->serve.send_ws = calloc(n, sizeof *s->serve.send_ws);
    s->serve.send_buf = calloc(n, sizeof *s->serve.send_buf);
    s->serve.last_seen = calloc(n, sizeof *s->serve.last_seen);
    s->serve.left = calloc(n, 1);
    s->serve.gone = calloc(n, 1);
    s->serve.end_msg = calloc(n, sizeof *s->serve.end_msg);
    s->serve.out_ws = calloc(n, sizeof *s->serve.out_ws);
    int nomem = !s->serve.rank_done || !s->serve.rank_failed || !s->serve.rank_bytes ||
                !s->serve.send_ws || !s->serve.last_seen || !s->serve.left || !s->serve.send_buf ||
                !s->serve.gone || !s->serve.end_msg || !s->serve.out_ws ||
                ppx__pack_assign(s, ASSIGN_NOMORE, STOP_NOW, 0, &s->serve.stop_msg);
    for (int r = 0; r < s->size && s->serve.send_ws && s->serve.out_ws; r++) {
        ppx_wire_send_init(&s->serve.send_ws[r]);
        ppx_wire_send_init(&s->serve.out_ws[r]);
    }
    ppx_progress_init(&s->progress, s->cfg->progress,
                      s->plan.listing.n - (s->plan.resume.done ? s->plan.resume.images : 0));
    return nomem ? PPX_ENOMEM : 0;
}

/* A walked INPUT is read from its descriptor, never through a folder
 * swapped for a link after the walk (by whoever reads: every rank with the
 * paths transport, rank 0 with bytes); so is each split's folder. 0, or a
 * code with e set. */
static int open_inputs(run_state *s, ppx_err *e)
{
    const ppx_run_config *cfg = s->cfg;
    if (ppx__is_bytes_remote(s))
        return 0;
    if (cfg->n_splits) {
        s->job.splits.names = cfg->split_names;
        for (int k = 0; k < cfg->n_splits; k++) {
            int fd = ppx_list_open_at(AT_FDCWD, cfg->split_paths[k], 1, 1);
            if (fd < 0)
                return ppx_err_set(e, PPX_EIO, PPX_STAGE_INPUT, "cannot open split %s: %s",
                                   cfg->split_paths[k], strerror(-fd));
            s->job.splits.fd[s->job.splits.n++] = fd;
            if (s->rank == 0 && !ppx_fd_is(fd, &s->plan.listing.split_ids[k]))
                return ppx_err_set(e, PPX_ECHANGED, PPX_STAGE_INPUT,
                                   "split %s is not the folder that was listed (replaced "
                                   "meanwhile)",
                                   cfg->split_paths[k]);
        }
        return 0;
    }
    if (s->plan.listing.is_list)
        return 0;
    s->io.in_root = ppx_list_open_at(AT_FDCWD, s->plan.root, 1, 1);
    if (s->io.in_root < 0) {
        int rc = ppx_err_set(e, PPX_EIO, PPX_STAGE_INPUT, "cannot open INPUT %s: %s", s->plan.root,
                             strerror(-s->io.in_root));
        s->io.in_root = -1;
        return rc;
    }
    /* Reopened by its name: it must be the folder that was walked (rank 0 alone
     * compares: other ranks may see other device numbers of a shared file system). */
    if (s->rank == 0 && s->plan.listing.root_id.ino &&
        !ppx_fd_is(s->io.in_root, &s->plan.listing.root_id))
        return ppx_err_set(e, PPX_ECHANGED, PPX_STAGE_INPUT,
                           "INPUT %s is not the folder that was listed (replaced meanwhile)",
                           s->plan.root);
    return 0;
}

/* Companion trees (--with ROLE=DIR): read by the workers, beneath these
 * descriptors; a role without DIR has archive members only. 0, or a code
 * with e set. */
static int open_companions(run_state *s, ppx_err *e)
{
    const ppx_run_config *cfg = s->cfg;
    s->job.comp.spec = cfg->with;
    for (int k = 0; k < cfg->n_with; k++) {
        int fd = cfg->with[k].dir[0] ? ppx_list_open_at(AT_FDCWD, cfg->with[k].dir, 1, 1) : -1;
        if (cfg->with[k].dir[0] && fd < 0)
            return ppx_err_set(e, PPX_EIO, PPX_STAGE_INPUT, "cannot open --with %s=%s: %s",
                               cfg->with[k].role, cfg->with[k].dir, strerror(-fd));
        s->job.comp.root[s->job.comp.n++] = fd;
    }
    return 0;
}

/* OUTDIR and the journal: opened by whoever writes the outputs. */
static int open_outputs(run_state *s, ppx_err *e)
{
    const ppx_run_config *cfg = s->cfg;
    if (!cfg->outdir || ppx__is_bytes_remote(s))
        return 0;
    int rc = 0;
    if (s->rank != 0) {
        rc = ppx_outdir_open(&s->io.outdir, cfg->outdir, 0, e);
        if (!rc && (s->io.jdir = ppx_private_dir_open(s->io.outdir.fd, ".prepix", e)) < 0)
            rc = s->io.jdir;
    }
    if (!rc)
        rc = ppx_journal_open(&s->in.journal, s->io.jdir, s->plan.attempt, s->rank, e);
    s->in.journal_open = rc == 0;
    if (s->in.journal_open)
        ppx_committer_init(&s->in.committer, s->io.outdir.fd, s->io.outdir.path, s->in.journal.fd);
    return rc;
}

/* The workers' job, from the run's configuration. 0, or PPX_EINVAL. */
static int job_config(run_state *s, ppx_err *e)
{
    const ppx_run_config *cfg = s->cfg;
    s->job.pipeline = cfg->pipeline;
    s->job.out_format = cfg->out_format;
    ppx_encode_opts_default(&s->job.enc, cfg->out_format);
    s->job.enc.quality = cfg->quality;
    s->job.enc.webp_lossless = cfg->webp_lossless;
    s->job.limits = cfg->limits;
    s->job.seed = cfg->seed;
    s->job.write_outputs = cfg->outdir != NULL;
    s->job.in_root = s->io.in_root;
    s->job.follow_symlinks = cfg->follow_symlinks;
    s->job.out_root = s->io.outdir.fd;
    s->job.copy_mode = cfg->copy_mode;
    s->job.fingerprint = cfg->duplicates;
    s->job.sub = cfg->sub;
    if (cfg->shard == PPX_SHARD_NPY &&
        ppx_sched_npy_shape(cfg->pipeline, cfg->sub.chip_w, cfg->sub.chip_h, &s->job.npy))
        /* The CLI refuses such pipelines first: a caller of the library that did not. */
        return ppx_err_set(e, PPX_EINVAL, PPX_STAGE_JOB,
                           "-f npy needs a pipeline that gives every image the same size");
    return 0;
}

/* The pool of workers. Address-space limit: room for the decoded image and
 * the pipeline's two scratch images at the pixel limit, plus the program.
 * Not under AddressSanitizer, which reserves terabytes of shadow memory. */
static int start_pool(run_state *s, ppx_err *e)
{
    uint64_t as = 0;
#if !defined(__SANITIZE_ADDRESS__)
    as = s->cfg->limits.max_pixels * 4 * 2 * 3 + (1ULL << 30);
#endif
    /* Workers keep INPUT and OUTDIR and close the rest: the signal pipe, the
     * journal, the lock and MPI's descriptors are the rank's alone (a worker
     * outliving its rank must not hold the OUTDIR lock). */
    int keep[2 + PPX_JOB_SPLITS_MAX + PPX_ROLES_MAX] = {s->io.in_root, s->io.outdir.fd};
    for (int k = 0; k < s->job.splits.n; k++)
        keep[2 + k] = s->job.splits.fd[k];
    for (int k = 0; k < s->job.comp.n; k++)
        keep[2 + s->job.splits.n + k] = s->job.comp.root[k];
    ppx_pool_config pc = {.workers = s->workers,
                          .timeout_s = s->cfg->timeout_s,
                          .as_limit = as,
                          .work = ppx_job_worker(&s->job),
                          .keep_fds = keep,
                          .n_keep_fds = 2 + s->job.splits.n + s->job.comp.n};
    return ppx_pool_new(&pc, &s->pool, e);
}

/* This rank's own set-up, after rank 0's: 0, or a code with e set. */
static int setup_rank(run_state *s, ppx_err *e)
{
    int rc = s->rank == 0 && alloc_rank0(s)
                 ? ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory")
                 : 0;
    if (!rc)
        rc = open_inputs(s, e);
    if (!rc)
        rc = open_companions(s, e);
    if (!rc)
        rc = open_outputs(s, e);
    if (!rc)
        rc = job_config(s, e);
    if (!rc && pipe2(ppx__sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        ppx__sig_pipe[0] = ppx__sig_pipe[1] = -1;
    if (!rc)
        rc = start_pool(s, e);
    return rc;
}

/* Agree before going on: one rank that cannot start stops everyone. The
 * ranks come here together from the broadcast (a rank's own set-up is
 * opening folders and starting its workers). 0 (go on), PPX_RUN_FATAL (this
 * rank's message logged), or PPX_SCHED_ABORT / PPX_SCHED_STALLED. */
static int agree_start(run_state *s, int local_rc, const ppx_err *e)
{
    static int any_rc;
    any_rc = local_rc ? 1 : 0;
    MPI_Request req;
    int code;
    if (s->mpi && (code = setup_wait(
                       s, MPI_Iallreduce(MPI_IN_PLACE, &any_rc, 1, MPI_INT, MPI_MAX, s->comm, &req),
                       &req, run_limit(s), "the end of the set-up")))
        return code;
    if (!any_rc)
        return 0;
    if (local_rc)
        ppx_log_rank(PPX_LOG_ERR, s->rank, "%s", e->msg);
    return PPX_RUN_FATAL;
}

/* The loop and the end, once every rank has started. */
static int run_and_finish(run_state *s)
{
    double t = ppx_wire_look(&s->peer.watch);
    for (int r = 0; r < s->size && s->serve.last_seen; r++)
        s->serve.last_seen[r] = t;
    s->peer.last_beat = s->peer.req_sent = s->peer.res_sent = s->peer.heard0 = s->serve.beats_sent =
        t;
    /* Once away longer than --rank-timeout, rank 0 trusts no wait (wire.h). */
    if (s->rank == 0)
        s->peer.watch.give_up_gap = run_limit(s);
#ifdef PPX_TEST_HOOKS
    /* Test-only: PPX_TEST_SERVE_ONLY=1: rank 0 of several runs no chunk
     * itself and only serves (bench/run-all --only sched measures it so). */
    const char *so = getenv("PPX_TEST_SERVE_ONLY");
    s->serve.serve_only = s->rank == 0 && so && so[0] == '1';
#endif
    int loop_rc = ppx__run_loop(s);
    if (s->in.journal_open) { /* a stalled end: the report reads the journal */
        ppx_err e;
        if (ppx_committer_wait(&s->in.committer, &e))
            ppx__set_fatal(&s->stop, &e);
    }
    /* Idle workers exit at once; after a stop, the grace for images in
     * progress is spent already, so what still runs is killed promptly. */
    ppx_pool_free(&s->pool, s->stop.stopping ? 0.5 : 5.0);
    return loop_rc                                    ? loop_rc
           : s->serve.silent || s->serve.self_gap > 0 ? ppx__finish_alone(s)
                                                      : ppx__finish(s);
}

/* What every rank holds: descriptors, the lock (released last), the listing
 * and its results. */
static void close_rank(run_state *s)
{
    ppx_pool_free(&s->pool, 0);
    if (s->in.journal_open) {
        ppx_committer_destroy(&s->in.committer); /* waits for the commit in progress */
        ppx_journal_close(&s->in.journal);
    }
    for (chunk *c = s->queue.queue_head, *n; c; c = n) {
        n = c->next_in_queue;
        ppx__chunk_free(c);
    }
    if (ppx__sig_pipe[0] >= 0) {
        close(ppx__sig_pipe[0]);
        close(ppx__sig_pipe[1]);
        ppx__sig_pipe[0] = ppx__sig_pipe[1] = -1;
    }
    if (s->serve.end_msg)
        for (int r = 0; r < s->size; r++)
            ppx_buf_destroy(&s->serve.end_msg[r]);
    free(s->serve.end_msg);
    free(s->serve.gone);
    free(s->serve.rank_done);
    free(s->serve.last_seen);
    free(s->serve.left);
    free(s->serve.rank_failed);
    free(s->serve.rank_bytes);
    ppx_dircache_destroy(&s->io.in_dirs);
    ppx_arc_cache_close(&s->io.in_arc);
    ppx_dircache_destroy(&s->io.out_dirs);
    if (s->io.in_root >= 0)
        close(s->io.in_root);
    for (int k = 0; k < s->job.comp.n; k++)
        if (s->job.comp.root[k] >= 0)
            close(s->job.comp.root[k]);
    s->job.comp.n = 0;
    for (int k = 0; k < s->job.splits.n; k++)
        close(s->job.splits.fd[k]);
    if (s->io.jdir >= 0)
        close(s->io.jdir);
    if (s->io.lock_fd >= 0)
        close(s->io.lock_fd); /* releases the lock, last */
    ppx_outdir_close(&s->io.outdir);
    ppx_buf_destroy(&s->io.shard_buf);
    ppx_classes_destroy(&s->plan.classes);
    ppx_coco_free(&s->plan.coco);
    free(s->plan.coco_image);
    ppx_failures_destroy(&s->in.fails);
    ppx_prints_destroy(&s->in.prints);
    ppx_resume_state_destroy(&s->plan.resume);
    ppx__stream_free(s);
    ppx_listing_destroy(&s->plan.listing);
    free(s->plan.prefail);
}

/* The buffers and requests of messages, and s itself; unless a send or
 * receive was given up (a rank fell silent): MPI may still read or write
 * them (in s, the send and result buffers, the request arrays) until the job
 * ends by MPI_Abort, which comes next (the CLI), so they are left
 * allocated. */
static void free_wire(run_state *s)
{
    if (s->peer.abandoned)
        return;
    if (s->serve.send_buf)
        for (int r = 0; r < s->size; r++)
            ppx_buf_destroy(&s->serve.send_buf[r]);
    free(s->serve.send_buf);
    if (s->serve.send_ws)
        for (int r = 0; r < s->size; r++)
            ppx_wire_send_destroy(&s->serve.send_ws[r]);
    free(s->serve.send_ws);
    if (s->serve.out_ws)
        for (int r = 0; r < s->size; r++)
            ppx_wire_send_destroy(&s->serve.out_ws[r]);
    free(s->serve.out_ws);
    ppx_wire_send_destroy(&s->peer.res_ws);
    ppx_wire_send_destroy(&s->peer.req_ws);
    ppx_wire_send_destroy(&s->peer.beat_ws);
    ppx_wire_send_destroy(&s->peer.bye_ws);
    ppx_buf_destroy(&s->serve.stop_msg);
    ppx_buf_destroy(&s->scratch);
    ppx_buf_destroy(&s->peer.res_buf);
    free(s);
}

int ppx_sched_run(const ppx_run_config *cfg, MPI_Comm comm)
{
    run_state *s = state_new(cfg, comm);
    if (!s) {
        ppx_log(PPX_LOG_ERR, "out of memory");
        return PPX_RUN_FATAL;
    }
    if (s->mpi && MPI_CHECK(s, MPI_Comm_rank(comm, &s->rank))) {
        free(s);
        return PPX_SCHED_ABORT;
    }
    s->stop.rank = s->rank;
    if (s->mpi && MPI_CHECK(s, MPI_Comm_size(comm, &s->size))) {
        free(s);
        return PPX_SCHED_ABORT;
    }
    double limit = run_limit(s);
    s->peer.beat_s = limit > 0 && limit / 4 < BEAT_S ? limit / 4 : BEAT_S;
    int outcome = 0;
    int code = setup_collective(s, &outcome);
    if (!code && !outcome && cfg->dry_run && s->rank == 0)
        ppx__dry_run_list(s);
    if (!code && !outcome && !cfg->dry_run) {
        ppx_err e;
        ppx_err_clear(&e);
        /* Failures here are agreed on, so no rank waits for ever. */
        int local_rc = setup_rank(s, &e);
        code = agree_start(s, local_rc, &e);
        if (!code)
            code = run_and_finish(s);
    }
    close_rank(s);
    free_wire(s);
    return code ? code : outcome;
}
