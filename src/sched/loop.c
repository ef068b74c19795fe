/* The loop every rank runs: asking rank 0 for chunks (or, on rank 0, serving
 * the others), feeding workers and stopping (ranks that fall silent: watch.c).
 * May change: sched_queue (requests and chunks taken), sched_serve (rank 0
 * answering requests), sched_peer (rank > 0's request in flight), sched_stop
 * (through stop.c, and rank 0's global stop), the loop's timing. Reads
 * sched_intake's counters. */
#include "sched/run_state.h"

#include <math.h>

#include <sched.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prepix/buf.h"
#include "prepix/log.h"

static void send_request(run_state *s)
{
    uint64_t msg[5] = {
        (uint64_t)((s->stop.stopping ? REQ_STOPPING : 0) | (s->stop.fatal ? REQ_FATAL : 0)),
        s->in.done, s->in.failed, s->in.bytes_read, 0};
    if (ppx__send_small(s, &s->peer.req_ws, msg, 5, TAG_REQ) == 0) {
        s->queue.req_out = 1;
        s->peer.req_sent = ppx_wire_look(&s->peer.watch);
        s->last_msg = ppx_now_s();
        ppx__test_stop(s->rank, "request");
    }
}

/* Rank > 0: rank 0's beats while it holds our request for a chunk its walk
 * has yet to list: it is alive, so the request's wait starts again. */
static void take_beats(run_state *s)
{
    int flag;
    MPI_Status st;
    uint64_t none;
    while (MPI_CHECK(s, MPI_Iprobe(0, TAG_BEAT, s->comm, &flag, &st)) == 0 && flag) {
        if (MPI_CHECK(s, ppx_wire_recv_u64s(&none, 0, 0, TAG_BEAT, s->comm)))
            return;
        s->peer.heard0 = s->peer.req_sent = ppx_wire_look(&s->peer.watch);
        s->last_msg = ppx_now_s();
    }
}

static void poll_assignment(run_state *s)
{
    int flag;
    MPI_Status st;
    take_beats(s);
    if (MPI_CHECK(s, MPI_Iprobe(0, TAG_ASSIGN, s->comm, &flag, &st)) || !flag)
        return;
    int rrc = MPI_CHECK(
        s, ppx_wire_recv(&s->scratch, 0, TAG_ASSIGN, s->comm, ppx__peer_limit(s), &s->peer.watch));
    s->queue.req_out = 0;
    s->last_msg = ppx_now_s();
    s->peer.heard0 = ppx_wire_look(&s->peer.watch);
    if (rrc > 0) {
        s->peer.abandoned = 1;
        ppx__lose_rank0(s, ppx__peer_limit(s), " (its answer stopped half-way)");
    }
    if (rrc)
        return;
    int kind, stop;
    chunk *c = ppx__unpack_assign(&s->scratch, s->cfg->transport_bytes, &kind, &stop);
    if (stop && !s->stop.stopping) {
        s->stop.stopping = 1;
        s->stop.draining = stop == STOP_DRAIN;
        if (!s->stop.stop_reason)
            s->stop.stop_reason = "stopped by rank 0";
    }
    if (stop == STOP_NOW)
        s->stop.draining = 0;
    if (kind == ASSIGN_NOMORE) {
        s->queue.no_more = 1;
    } else if (!c) {
        ppx_err e;
        ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "malformed assignment from rank 0");
        ppx__set_fatal(&s->stop, &e);
    } else if (s->stop.stopping) {
        ppx__chunk_free(c);
    } else {
        ppx__enqueue(&s->queue, c);
    }
    if (s->stop.stopping)
        ppx__drop_unstarted(&s->queue, s->stop.draining);
}

static void reply(run_state *s, int src, int stopping);
static double cpu_s(void);

/* Rank 0: answers one request from src (its message probed). */
static void answer_request(run_state *s, int src)
{
    uint64_t msg[5];
    if (MPI_CHECK(s, ppx_wire_recv_u64s(msg, 5, src, TAG_REQ, s->comm)))
        return;
    s->serve.rank_done[src] = msg[1];
    s->serve.rank_failed[src] = msg[2];
    s->serve.rank_bytes[src] = msg[3];
    if (msg[0] & REQ_FATAL)
        s->stop.global_fatal = 1;
    if (msg[0] & (REQ_STOPPING | REQ_FATAL)) {
        s->stop.global_stop = 1;
        if (!s->stop.stop_reason)
            s->stop.stop_reason = (msg[0] & REQ_FATAL) ? "fatal error on a rank" : "signal";
    }
    /* The previous assignment to this rank is complete: it asked again, which
     * it does only once it has received it whole. The wait is bounded all
     * the same. */
    int wrc =
        MPI_CHECK(s, ppx_wire_wait(&s->serve.send_ws[src], ppx__peer_limit(s), &s->peer.watch));
    if (wrc > 0)
        ppx__stalled_midway(s, src);
    if (wrc)
        return;
    int stopping = s->stop.global_stop || (msg[0] & REQ_STOPPING);
    if (!stopping && ppx__stream_open(s) && s->plan.next_chunk >= s->plan.n_chunks) {
        ppx__stream_defer(s, src); /* answered once the walk has listed its chunk */
        return;
    }
    reply(s, src, stopping);
}

/* answer_request, its CPU time counted apart when timing: the cost of a
 * request, without the looks at an empty queue that T_SERVE also holds. */
static void answer(run_state *s, int src)
{
    if (!s->timing) {
        answer_request(s, src);
        return;
    }
    double t0 = cpu_s();
    answer_request(s, src);
    s->t.answer_cpu += cpu_s() - t0;
}

/* Rank 0: the requests that waited for the walk, answered once they can be. */
static void answer_deferred(run_state *s)
{
    for (int r = 1; s->stream && r < s->size; r++)
        if (!s->serve.gone[r] && ppx__stream_deferred(s, r))
            reply(s, r, s->stop.global_stop);
}

/* Rank 0: the next chunk id, its journal identity made to cover it first
 * (a streamed run), or -1. */
static int64_t take_chunk(run_state *s)
{
    int64_t id = ppx__take_chunk_id(&s->plan);
    return id >= 0 && ppx__stream_cover(s, (uint64_t)id) ? -1 : id;
}

/* Rank 0: the answer to rank src's request (its previous answer complete):
 * the next chunk, or no more (stopping: the request or the run stops). */
static void reply(run_state *s, int src, int stopping)
{
    int64_t id = stopping ? -1 : take_chunk(s);
    int kind = id >= 0 ? ASSIGN_CHUNK : ASSIGN_NOMORE;
    int stop = !s->stop.global_stop ? STOP_NONE : s->stop.draining ? STOP_DRAIN : STOP_NOW;
    const ppx_buf *out = &s->serve.send_buf[src];
    if (ppx__pack_assign(s, kind, stop, id >= 0 ? (uint64_t)id : 0, &s->serve.send_buf[src])) {
        /* No memory for the assignment: the rank still gets an answer
         * (stop, no more work; packed at start), so it never waits for ever. */
        ppx_err e;
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing chunk %lld",
                    (long long)id);
        ppx__set_fatal(&s->stop, &e);
        s->stop.global_stop = 1;
        out = &s->serve.stop_msg;
    }
    MPI_RECORD(
        s, ppx_wire_isend(&s->serve.send_ws[src], out->data, out->len, src, TAG_ASSIGN, s->comm));
    s->t.served++;
    ppx__test_stop(s->rank, "serve");
}

/* Rank 0: answers requests, stores chunk results and end messages. Every
 * receive of a message under way gives its sender half of --rank-timeout
 * (ppx__peer_limit) to deliver the rest, so that the other ranks, waiting on
 * rank 0 meanwhile, never reach theirs. */
static void serve(run_state *s)
{
    double part = ppx__peer_limit(s);
    while (!ppx__self_stalled(s)) {
        int flag;
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, s->comm, &flag, &st)) || !flag)
            break;
        int src = st.MPI_SOURCE, rc = 0;
        s->last_msg = ppx_now_s();
        if (st.MPI_TAG == TAG_GAVEUP && !s->serve.gone[src]) {
            ppx__gave_up(s, src);
            continue;
        }
        if (s->serve.gone[src] || st.MPI_TAG == PPX_WIRE_TAG_FRAG ||
            (st.MPI_TAG != TAG_BEAT && st.MPI_TAG != TAG_CHUNKRES && st.MPI_TAG != TAG_DONE &&
             st.MPI_TAG != TAG_REQ)) {
            /* A rank declared silent that runs again (or the rest of a
             * message it left half-way): the job ends without it, and its
             * messages are thrown away, so that none stands for ever before
             * the others' in the probe. */
            rc = MPI_CHECK(s, ppx_wire_drop(&st, s->comm, part, &s->peer.watch));
            if (rc > 0)
                s->peer.abandoned = 1;
            if (rc)
                break;
            continue;
        }
        s->serve.last_seen[src] = ppx_wire_look(&s->peer.watch);
        if (st.MPI_TAG == TAG_BEAT) {
            uint64_t msg[3];
            if (MPI_CHECK(s, ppx_wire_recv_u64s(msg, 3, src, TAG_BEAT, s->comm)) == 0) {
                s->serve.rank_done[src] = msg[0];
                s->serve.rank_failed[src] = msg[1];
                s->serve.rank_bytes[src] = msg[2];
            }
        } else if (st.MPI_TAG == TAG_CHUNKRES) {
            /* Out of memory here leaves fragments unreceived: MPI_ERR_NO_MEM
             * is fatal and the end is an abort, never a wrong agreement. */
            rc = MPI_CHECK(
                s, ppx_wire_recv(&s->scratch, src, TAG_CHUNKRES, s->comm, part, &s->peer.watch));
            if (rc == 0)
                /* A failure there is already the rank's fatal error. */
                ppx_ignore(ppx__store_remote_chunk(s, s->scratch.data, s->scratch.len));
        } else if (st.MPI_TAG == TAG_DONE) {
            /* Its end message, sent after its last chunk results: nothing
             * more comes from it but beats' answers; it now waits for the
             * exit code. (A failed receive leaves it empty: the end aborts.) */
            rc = MPI_CHECK(s, ppx_wire_recv(&s->serve.end_msg[src], src, TAG_DONE, s->comm, part,
                                            &s->peer.watch));
            if (rc <= 0 && !s->serve.left[src]) {
                s->serve.left[src] = 1;
                s->serve.ranks_done++;
            }
        } else {
            answer(s, src);
        }
        if (rc > 0)
            ppx__stalled_midway(s, src);
    }
}

static void check_stop(run_state *s)
{
    ppx__stop_on_signal(&s->stop);
    if (s->rank == 0) {
        int64_t maxf = s->cfg->max_failures;
        /* The limit counts this attempt's failures: those in the journal
         * are known, and --resume must always be able to go on. */
        if (maxf >= 0 && !s->stop.global_stop &&
            ppx__total_failed(s) >= (uint64_t)(maxf > 0 ? maxf : 1)) {
            s->stop.global_stop = 1;
            s->stop.stopping = s->stop.draining = 1;
            s->stop.stop_reason = "--max-failures reached";
            ppx_log(PPX_LOG_INFO,
                    "%llu images failed in this attempt: --max-failures %lld reached; finishing "
                    "the chunks already started, then stopping",
                    (unsigned long long)ppx__total_failed(s), (long long)maxf);
        }
        if (s->stop.stopping)
            s->stop.global_stop = 1;
        if (s->stop.global_stop && !s->stop.stopping)
            s->stop.stopping = 1;
    }
    if (s->stop.stopping)
        ppx__drop_unstarted(&s->queue, s->stop.draining);
}

/* This thread's CPU time: beside the wall time of each phase, so that time
 * the rank spends preempted (ranks and workers share the cores) or blocked
 * in a sync shows as the difference. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The whole process's, the committer thread included. */
static double proc_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    double wall, cpu, proc_cpu;
} mark;

/* Adds the time since *m to phase ph and moves the mark (only when timing). */
static void lap(run_state *s, int ph, mark *m)
{
    if (!s->timing)
        return;
    mark t = {ppx_now_s(), cpu_s(), 0};
    s->t.wall[ph] += t.wall - m->wall;
    s->t.cpu[ph] += t.cpu - m->cpu;
    *m = t;
}

/* Results from the pool, with the time spent on them counted apart from the
 * time spent waiting for them (taken out of T_WAIT at the end). */
static void on_result_timed(void *arg, const ppx_result *r, const uint8_t *payload)
{
    run_state *s = arg;
    mark m = {ppx_now_s(), cpu_s(), 0};
    ppx__on_result(arg, r, payload);
    lap(s, T_RESULTS, &m);
}

/* A streamed run: results are taken with the lock on the listing. */
static void on_result_locked(void *arg, const ppx_result *r, const uint8_t *payload)
{
    run_state *s = arg;
    ppx__stream_lock(s);
    if (s->timing)
        on_result_timed(arg, r, payload);
    else
        ppx__on_result(arg, r, payload);
    ppx__stream_unlock(s);
}

/* PPX_SCHED_TIMING=1: one line per rank at the end of its loop, for the
 * sched benchmark (bench/run-all --only sched; docs/scheduling.md): each
 * phase's wall and CPU seconds. */
static void print_timing(run_state *s, double wall, double cpu, double proc_cpu)
{
    static const char *name[T_PHASES] = {"serve",   "wait",    "results", "feed",
                                         "collect", "journal", "other"};
    s->t.wall[T_WAIT] -= s->t.wall[T_RESULTS];
    s->t.cpu[T_WAIT] -= s->t.cpu[T_RESULTS];
    char phases[512];
    size_t n = 0;
    for (int ph = 0; ph < T_PHASES && n < sizeof phases; ph++)
        n += (size_t)snprintf(phases + n, sizeof phases - n, "%s%s %.3f/%.3f s", ph ? ", " : "",
                              name[ph], s->t.wall[ph], s->t.cpu[ph]);
    ppx_log(PPX_LOG_INFO,
            "rank %d loop: wall %.3f s, cpu %.3f s, %llu turns (%llu without sleeping), %llu "
            "requests served (%.0f/s), %llu journal commits; wall/cpu: %s; process cpu %.3f s; "
            "committer %llu batches in %.3f s; answering %.3f s cpu",
            s->rank, wall, cpu, (unsigned long long)s->t.turns, (unsigned long long)s->t.spins,
            (unsigned long long)s->t.served, wall > 0 ? (double)s->t.served / wall : 0.0,
            (unsigned long long)s->t.commits, phases, proc_cpu,
            (unsigned long long)s->in.committer.commits, s->in.committer.commit_s, s->t.answer_cpu);
}

/* Rank 0, after its loop: the last assignment to each rank is complete (it
 * asked again, or said it is done) unless the rank is silent; those, and all
 * of them when rank 0 itself was away too long, are abandoned rather than
 * waited for: a send above MPI's eager limit completes only once the
 * receiver takes it, which a stopped rank never does. */
static void end_sends(run_state *s)
{
    for (int r = 1; r < s->size; r++) {
        ppx_wire_send *w = &s->serve.send_ws[r];
        int rc = MPI_CHECK(s, ppx_wire_wait(w,
                                            s->serve.gone[r] || s->serve.self_gap > 0
                                                ? 1e-9 /* one look */
                                                : ppx__peer_limit(s),
                                            &s->peer.watch));
        if (rc > 0) {
            s->peer.abandoned = 1;
            if (!s->serve.gone[r] && s->serve.self_gap == 0)
                ppx__declare_silent(s, r, ppx__peer_limit(s), "has not taken its last answer");
        }
    }
}

/* Rank 0 fills its own queue from the listing and serves the others; a
 * rank > 0 asks rank 0 for work and beats. 0, or PPX_SCHED_STALLED when
 * rank 0 fell silent. */
static int get_work(run_state *s)
{
    if (s->rank != 0) {
        if (!s->queue.req_out && !s->queue.no_more &&
            (s->stop.stopping || ppx__unstarted(&s->queue) < PREFETCH))
            send_request(s);
        if (s->queue.req_out)
            poll_assignment(s);
        ppx__beat(s);
        return s->peer.lost0 ? PPX_SCHED_STALLED : 0;
    }
    ppx__stream_refresh(s);
    if (s->serve.serve_only && s->size > 1 && s->plan.next_chunk >= s->plan.n_chunks &&
        !ppx__stream_open(s))
        s->queue.no_more = 1; /* every chunk handed out */
    while (!s->stop.stopping && !s->queue.no_more && !(s->serve.serve_only && s->size > 1) &&
           ppx__unstarted(&s->queue) < PREFETCH) {
        int64_t id = take_chunk(s);
        if (id < 0) {
            /* else: the walk has more */
            s->queue.no_more = !ppx__stream_open(s) || s->stop.fatal;
            break;
        }
        chunk *c = ppx__make_local_chunk(s, (uint64_t)id);
        if (!c) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            ppx__set_fatal(&s->stop, &e);
            break;
        }
        ppx__enqueue(&s->queue, c);
    }
    if (s->stop.stopping)
        s->queue.no_more = 1;
    if (s->size > 1) {
        serve(s);
        answer_deferred(s);
        ppx__check_silent(s);
        ppx__beat_done(s, 0, ppx__stream_held(s));
    }
    return 0;
}

/* Whether this rank's loop is over: its work done (or, stopping, abandoned
 * once the grace is spent: --resume redoes it), no more to come, and on
 * rank 0 every other rank's end message in (after its last chunk results)
 * or the rank silent: nothing is left in flight that the end needs. */
static int loop_over(const run_state *s, int busy, double stop_deadline)
{
    int local_done =
        busy == 0 && (s->queue.queue_head == NULL || (s->stop.stopping && !s->stop.draining));
    if (s->stop.stopping && !s->stop.draining && busy > 0 && ppx_now_s() > stop_deadline)
        local_done = 1;
    if (!local_done || !s->queue.no_more)
        return 0;
    return s->rank != 0 || s->serve.ranks_done + s->serve.silent == s->size - 1;
}

/* Waits for results. With other ranks, MPI has no descriptor to wait on:
 * while messages flow (one sent or handled in the last SPIN_S: rank 0's
 * answer to our request normally comes within it) the loop only looks
 * (poll with 0 ms, then yields the CPU), so a request is served as it
 * arrives; when they stop (rank 0 slow or stopped included), it sleeps up to
 * IDLE_WAIT_MS between looks. Idle (no result came, and not a mere look),
 * it commits the journal records waiting. */
static void wait_results(run_state *s, int busy, mark *m)
{
    int timeout = 200;
    int spin = 0;
    if (s->size > 1) {
        spin = ppx_now_s() - s->last_msg < SPIN_S;
        timeout = spin ? 0 : IDLE_WAIT_MS;
    } else if (busy == 0 && s->queue.queue_head == NULL && !ppx__stream_open(s)) {
        timeout = 0; /* (while the walk goes on, it wakes the loop when a chunk is whole) */
    }
    lap(s, T_SERVE, m);
    ppx_err e;
    ppx_err_clear(&e);
    ppx__stream_unlock(s); /* the walk goes on meanwhile */
    int rc = ppx_work_wait(s->pool, timeout, ppx__sig_pipe[0],
                           s->stream   ? on_result_locked
                           : s->timing ? on_result_timed
                                       : ppx__on_result,
                           s, &e);
    ppx__stream_lock(s);
    if (spin && rc == 0)
        sched_yield(); /* let workers and other ranks on this core run */
    lap(s, T_WAIT, m);
    size_t pending = s->in.journal.rec.len;
    ppx__commit_journal(s, rc == 0 && !spin);
    if (pending && s->in.journal.rec.len == 0)
        s->t.commits++;
    lap(s, T_JOURNAL, m);
    if (rc < 0)
        ppx__set_fatal(&s->stop, &e);
    if (ppx__sig_pipe[0] >= 0) {
        char sink[16];
        while (read(ppx__sig_pipe[0], sink, sizeof sink) > 0)
            ;
    }
    s->t.spins += spin;
}

/* After the loop: the journal committed, the last chunk results taken by
 * rank 0 within --rank-timeout, rank 0's last answers complete. 0, or
 * PPX_SCHED_STALLED. */
static int end_loop(run_state *s, const mark *m0)
{
    ppx__stream_end(s); /* the walk stopped if it still went on, the lock let go */
    ppx__commit_journal_all(s);
    ppx__test_stop(s->rank, "end");
    if (s->timing)
        print_timing(s, ppx_now_s() - m0->wall, cpu_s() - m0->cpu, proc_cpu_s() - m0->proc_cpu);
    if (s->peer.res_pending) {
        double limit = ppx__peer_limit(s),
               waited = ppx_wire_look(&s->peer.watch) - s->peer.res_sent;
        int rc =
            MPI_CHECK(s, ppx_wire_wait(&s->peer.res_ws, limit > 0 ? fmax(limit - waited, 1e-9) : 0,
                                       &s->peer.watch));
        s->peer.res_pending = 0;
        if (rc > 0) {
            s->peer.abandoned = 1;
            ppx__lose_rank0(s, limit, " (chunk results wait to be taken)");
            return PPX_SCHED_STALLED;
        }
    }
    if (s->rank == 0 && s->size > 1) {
        ppx_ignore(ppx__self_stalled(s));
        end_sends(s);
    }
    return 0;
}

int ppx__run_loop(run_state *s)
{
    const char *tm = getenv("PPX_SCHED_TIMING");
    s->timing = tm && tm[0] == '1';
    mark m0 = {ppx_now_s(), s->timing ? cpu_s() : 0, s->timing ? proc_cpu_s() : 0}, m = m0;
    double stop_deadline = 0;
    for (;;) {
        /* Rank 0 away for longer than --rank-timeout: no grace, no waiting
         * for anyone; the report is written at once (Open MPI's teardown,
         * which continues a stopped rank, ends it soon after). */
        if (ppx__self_stalled(s))
            break;
        check_stop(s);
        if (s->stop.stopping && !s->stop.draining && stop_deadline == 0)
            /* Images in workers get a bounded time to finish (their chunks
             * are not journaled either way, so --resume redoes them). */
            stop_deadline =
                ppx_now_s() + (s->cfg->timeout_s < STOP_GRACE_S ? s->cfg->timeout_s : STOP_GRACE_S);
        if (get_work(s))
            return PPX_SCHED_STALLED;
        lap(s, T_SERVE, &m);
        ppx__feed(s);
        lap(s, T_FEED, &m);
        ppx__collect_finished(&s->queue);
        lap(s, T_COLLECT, &m);
        int busy = ppx_pool_pending(s->pool); /* queued images included */
        if (loop_over(s, busy, stop_deadline))
            break;
        wait_results(s, busy, &m);
        if (s->peer.lost0) /* found waiting for a chunk's results to be taken */
            return PPX_SCHED_STALLED;
        ppx__show_progress(s, 0);
        s->t.turns++;
        lap(s, T_OTHER, &m);
    }
    return end_loop(s, &m0);
}
