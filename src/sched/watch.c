/* The other ranks as this one sees them: on rank 0, which ranks are alive
 * (their beats, their silence, its own absence) and the progress they
 * report; on rank > 0, its beats to rank 0 and the loss of rank 0. May
 * change: sched_peer, sched_serve's liveness fields (last_seen, left, gone,
 * silent, silent_reason, self_gap, gave_up, beats_sent, out_ws) and
 * sched_stop (stopping when a rank is lost). Calls stop.c, chunk.c
 * (nothing else of sched), so that loop.c and end.c may both call it. */
#include "sched/run_state.h"

#include <stdio.h>
#include <string.h>

#include "prepix/log.h"

double ppx__peer_limit(const run_state *s)
{
    double limit = s->cfg->rank_timeout_s > 0 ? s->cfg->rank_timeout_s : 0;
    return s->rank == 0 ? limit / 2 : limit;
}

void ppx__lose_rank0(run_state *s, double silent_s, const char *when)
{
    if (s->peer.lost0)
        return;
    ppx_log_rank(PPX_LOG_ERR, s->rank,
                 "rank 0 has not answered for %.0f s%s (stopped, hung, or its node is gone): "
                 "ending the job; --resume finishes it",
                 silent_s, when);
    s->peer.lost0 = 1;
    s->stop.stopping = 1;
    /* Rank 0 may only have been stopped for a while, and Open MPI's teardown
     * continues it: this word (small, so delivered into its queue even while
     * it is stopped) tells it that it was the silent one. Best effort: the
     * job ends either way. */
    uint64_t ms = (uint64_t)(silent_s * 1000);
    if (MPI_CHECK(s, ppx_wire_send_u64s(&s->peer.bye_ws, &ms, 1, 0, TAG_GAVEUP, s->comm)) == 0 &&
        MPI_CHECK(s, ppx_wire_wait(&s->peer.bye_ws, 0.1, &s->peer.watch)) > 0)
        s->peer.abandoned = 1;
}

/* Rank > 0: a small message to rank 0 (a request, a beat), posted and
 * waited for. Small messages travel eagerly, so the wait normally ends at
 * once, whatever rank 0 is doing; it can only last while MPI has no buffer
 * for it, which a stopped rank 0 would make last for ever. 0, or -1 (rank 0
 * lost, or MPI failed: recorded). */
int ppx__send_small(run_state *s, ppx_wire_send *w, const uint64_t *msg, int n, int tag)
{
    if (MPI_CHECK(s, ppx_wire_send_u64s(w, msg, n, 0, tag, s->comm)))
        return -1;
    int rc = MPI_CHECK(s, ppx_wire_wait(w, ppx__peer_limit(s), &s->peer.watch));
    if (rc > 0) {
        s->peer.abandoned = 1;
        ppx__lose_rank0(s, ppx__peer_limit(s), " (a message to it stays unsent)");
    }
    return rc ? -1 : 0;
}

/* Rank 0: was it itself away (stopped, starved, blocked) for longer than
 * --rank-timeout? Then the other ranks may have given up on it and ended
 * the job, and a rank it has not heard from may be silent or may be gone
 * for that reason: it cannot know which. It ends the job at once, writing
 * the report from the journal. 1 when so. */
int ppx__self_stalled(run_state *s)
{
    double limit = s->cfg->rank_timeout_s;
    if (s->rank != 0 || limit <= 0)
        return 0;
    (void)ppx_wire_look(&s->peer.watch);
    /* A rank waiting for the end counts from rank 0's last beat, up to
     * beat_s before rank 0 stopped: from limit - beat_s on, it may have given
     * up. (TAG_GAVEUP says so for sure, when it arrives.) */
    if (s->serve.self_gap > 0 || s->peer.watch.gap <= limit - s->peer.beat_s)
        return s->serve.self_gap > 0;
    s->serve.self_gap = s->peer.watch.gap;
    ppx_log(PPX_LOG_ERR,
            "rank 0 itself could not run for %.0f s, close to or over --rank-timeout (%g s): the "
            "other ranks may have ended the job meanwhile; ending it; --resume finishes it",
            s->serve.self_gap, limit);
    ppx__stop_job(&s->stop);
    return 1;
}

void ppx__gave_up(run_state *s, int src)
{
    uint64_t ms;
    if (MPI_CHECK(s, ppx_wire_recv_u64s(&ms, 1, src, TAG_GAVEUP, s->comm)))
        return;
    ppx_log(PPX_LOG_ERR,
            "rank %d gave up waiting on rank 0 after %.0f s: rank 0 itself was away (stopped, "
            "starved or blocked); ending the job; --resume finishes it",
            src, (double)ms / 1000);
    size_t l = strlen(s->serve.gave_up);
    snprintf(s->serve.gave_up + l, sizeof s->serve.gave_up - l, "%s%d", l == 0 ? "rank(s) " : ", ",
             src);
    if (s->serve.self_gap == 0)
        s->serve.self_gap = s->peer.watch.gap > 0.001 ? s->peer.watch.gap : 0.001;
    ppx__stop_job(&s->stop);
}

/* Rank 0: rank r is stopped, hung or gone (silent for silent_s, or a
 * message of it stalled half-way): the job stops and ends without it
 * (finish_alone). */
void ppx__declare_silent(run_state *s, int r, double silent_s, const char *what)
{
    if (s->serve.gone[r] || ppx__self_stalled(s))
        return; /* rank 0's own absence is no rank's silence */
    s->serve.gone[r] = 1;
    if (!s->serve.left[r]) {
        s->serve.left[r] = 1;
        s->serve.silent++;
    }
    ppx_log(PPX_LOG_ERR,
            "rank %d %s for %.0f s (stopped, hung, or its node is gone): stopping the job; "
            "--resume finishes it",
            r, what, silent_s);
    size_t l = strlen(s->serve.silent_reason);
    snprintf(s->serve.silent_reason + l, sizeof s->serve.silent_reason - l, "%s%d",
             l == 0 ? "silent rank(s): " : ", ", r);
    s->stop.stop_reason = s->serve.silent_reason;
    if (!s->stop.global_stop || s->stop.draining)
        ppx__stop_job(&s->stop);
}

/* Rank 0: a wait on rank src gave up (rc > 0). */
void ppx__stalled_midway(run_state *s, int src)
{
    s->peer.abandoned = 1;
    ppx__declare_silent(s, src, ppx__peer_limit(s), "has left a message half-delivered");
}

/* Rank 0: a rank not heard from for --rank-timeout (no beat, request or
 * result: it beats even when busy) is stopped, hung or gone. The job stops,
 * and ends without it (finish_alone). Measured on rank 0's own clock, after
 * serve() has taken every message that waited: a rank is never blamed for
 * the time rank 0 itself was away. */
void ppx__check_silent(run_state *s)
{
    double limit = s->cfg->rank_timeout_s, t = ppx_wire_look(&s->peer.watch);
    if (limit <= 0 || ppx__self_stalled(s))
        return;
    for (int r = 1; r < s->size; r++)
        if (!s->serve.left[r] && t - s->serve.last_seen[r] > limit)
            ppx__declare_silent(s, r, t - s->serve.last_seen[r], "has been silent");
}

void ppx__beat_done(run_state *s, int now, const uint8_t *held)
{
    double t = ppx_wire_look(&s->peer.watch);
    if (s->rank != 0 || s->size < 2 || (!now && t - s->serve.beats_sent < s->peer.beat_s))
        return;
    s->serve.beats_sent = t;
    for (int r = 1; r < s->size; r++) {
        int done;
        if ((!s->serve.left[r] && !(held && held[r])) || s->serve.gone[r] ||
            s->serve.out_ws[r].abandoned ||
            MPI_CHECK(s, ppx_wire_test(&s->serve.out_ws[r], &done)) || !done)
            continue; /* an earlier beat still under way (it waits eagerly): skip this one */
        MPI_RECORD(s, ppx_wire_send_u64s(&s->serve.out_ws[r], NULL, 0, r, TAG_BEAT, s->comm));
    }
}

/* Rank > 0: tells rank 0 it is alive; notices when rank 0 has not answered a
 * request, or taken chunk results, for --rank-timeout of this rank's clock. */
void ppx__beat(run_state *s)
{
    double t = ppx_wire_look(&s->peer.watch);
    if (t - s->peer.last_beat >= s->peer.beat_s) {
        uint64_t msg[3] = {s->in.done, s->in.failed, s->in.bytes_read};
        s->peer.last_beat = t;
        if (ppx__send_small(s, &s->peer.beat_ws, msg, 3, TAG_BEAT))
            return;
    }
    double limit = ppx__peer_limit(s);
    if (limit <= 0)
        return;
    if (s->queue.req_out && t - s->peer.req_sent > limit)
        ppx__lose_rank0(s, t - s->peer.req_sent, "");
    int done = 1;
    if (s->peer.res_pending && MPI_CHECK(s, ppx_wire_test(&s->peer.res_ws, &done)) == 0 && done)
        s->peer.res_pending = 0;
    if (s->peer.res_pending && !done && t - s->peer.res_sent > limit)
        ppx__lose_rank0(s, t - s->peer.res_sent, " (chunk results wait to be taken)");
}

/* Images failed in this attempt, on every rank (as far as rank 0 knows). */
uint64_t ppx__total_failed(const run_state *s)
{
    uint64_t f = s->in.failed;
    for (int r = 1; r < s->size; r++)
        f += s->serve.rank_failed[r];
    return f;
}

void ppx__show_progress(run_state *s, int final)
{
    if (s->rank != 0)
        return;
    uint64_t done = s->in.done, failed = ppx__total_failed(s), bytes = s->in.bytes_read;
    for (int r = 1; r < s->size; r++) {
        done += s->serve.rank_done[r];
        bytes += s->serve.rank_bytes[r];
    }
    ppx_progress_update(&s->progress, done, failed, bytes, final);
}
