/* The scheduler's own state and the functions its files share (internal:
 * not installed, not for other layers). One rank's whole state is a
 * run_state, the composition of one struct per concern (sched_plan,
 * sched_queue, sched_stop, sched_serve, sched_peer, sched_intake, sched_io,
 * below); each file says which of them it may change:
 *   run.c      entry, set-up collectives; makes and frees every state
 *   stop.c     stopping and the fatal error, MPI failures (sched_stop)
 *   chunk.c    chunks and the rank's queue of them (sched_queue, queue.h)
 *   source.c   rank 0 as the chunk source; the assignment wire format
 *   results.c  one image's outcome into its chunk; writing and journaling chunks
 *   loop.c     the loop: requests, serving, stopping
 *   watch.c    the other ranks' liveness (beats, silence) and progress
 *   setup.c    rank 0's set-up: listing, OUTDIR, lock, journal, output names
 *   end.c      the collective end: reduction, exit code, reports
 *   dups.c     the duplicates found at the end, their paths and drop list
 *   exclude.c  --exclude: inputs left out by name
 *   stream.c   rank 0's walk in a thread while chunks are handed out (ppx_stream)
 *   zygote.c   the workers' job as the rank and its zygote make it (no state)
 * Calls go one way: run -> setup, loop, end, stream, zygote; dups -> zygote
 * (zygote calls no sched file); loop -> results, watch,
 * chunk, source, stream; setup -> stream; end -> watch, dups, coco; results
 * -> watch, chunk, coco; source -> coco (calls no sched file); watch -> stop;
 * stream -> plan, stop; stop calls no other sched file. */
#ifndef PPX_SCHED_RUN_STATE_H
#define PPX_SCHED_RUN_STATE_H

#include "prepix/error.h"

#include <mpi.h>
#include <signal.h>
#include <stdint.h>

#include "work/job.h"
#include "pool/pool.h"
#include "prepix/coco.h"
#include "prepix/clock.h"
#include "prepix/fsafe.h"
#include "prepix/sched.h"
#include "sched/commit.h"
#include "sched/journal.h"
#include "sched/listing.h"
#include "sched/plan.h"
#include "sched/progress.h"
#include "sched/queue.h"
#include "sched/shards.h"
#include "sched/stop.h"
#include "sched/wire.h"
#include "stats/report.h"

/* TAG_DONE: a rank's end message (its statistics, facts and failures),
 * after its last chunk results; TAG_CODE: rank 0's answer to it, the exit
 * code, once the report is written; TAG_GAVEUP: a rank tells rank 0 it gave
 * up waiting on it and ends the job (rank 0 reads it if it runs again). */
enum {
    TAG_REQ = 101,
    TAG_ASSIGN = 102,
    TAG_CHUNKRES = 103,
    TAG_DONE = 104,
    TAG_BEAT = 105,
    TAG_CODE = 106,
    TAG_GAVEUP = 107
};
/* Every other rank tells rank 0 it is alive (and its progress) this often,
 * busy or not, so that a rank silent for --rank-timeout is known stalled
 * (SIGSTOPped, hung in the kernel, its node gone) rather than slow; rank 0
 * beats the same way to the ranks that wait for the end of the run. With a
 * --rank-timeout under 8 s, a quarter of it, so that a late beat or two is
 * never taken for silence. */
#define BEAT_S 2.0
enum { REQ_STOPPING = 1, REQ_FATAL = 2 };
/* Chunks a rank keeps queued beyond those its workers are on: one hides the
 * latency of a request (milliseconds); more only lengthens the tail, when
 * one rank still holds queued chunks while the others have nothing left. */
#define PREFETCH 1
#define STOP_GRACE_S 10.0 /* on SIGTERM/SIGUSR1, the longest wait for images in progress */
/* Finished chunks wait at most this long for their journal commit, while
 * results keep coming: one syncfs and one fdatasync then cover every chunk
 * finished meanwhile, so small chunks do not cost a sync each. */
#define JOURNAL_GROUP_S 0.005
/* Serving: after any message between ranks (a request of ours included), a
 * rank keeps turning its loop without sleeping for this long,
 * so that the next request or answer is handled as it arrives; then it
 * sleeps in poll() for at most IDLE_WAIT_MS between checks (MPI has no
 * descriptor to wait on). docs/scheduling.md gives the measurements. */
#define SPIN_S 0.002
#define IDLE_WAIT_MS 2

/* Phases of the loop, for PPX_SCHED_TIMING: getting and serving work,
 * waiting in poll (results excluded), handling workers' results, feeding
 * workers, finishing chunks, committing the journal, the rest. */
enum { T_SERVE, T_WAIT, T_RESULTS, T_FEED, T_COLLECT, T_JOURNAL, T_OTHER, T_PHASES };

/* A streamed run's walk (stream.c). */
typedef struct ppx_stream ppx_stream;

/* One rank's state, by concern. Each sched file says in its header comment
 * which of these it may change; a function takes the narrowest of them it
 * needs where that is practical. */

/* Rank 0: the job to do, fixed by set-up (setup.c, exclude.c, coco.c),
 * then only next_chunk moves (source.c). */
typedef struct {
    ppx_listing listing;
    uint64_t chunk_size, n_chunks, next_chunk;
    ppx_resume_state resume;
    uint32_t *prefail;    /* per listed image: PREFAIL_* | errno << 8, 0 for most */
    ppx_classes classes;  /* shards: labels */
    ppx_coco *coco;       /* --coco: the checked annotation file (rank 0) */
    uint64_t coco_digest; /* --coco: the file's contents hashed (the run's identity) */
    long *coco_image;     /* --coco with -f tar: per listed image, its image of coco or -1 */
    int attempt;
    char root[PPX_PATH_MAX]; /* INPUT folder, or the @LIST's folder */
} sched_plan;

/* Rank 0: serving the others (loop.c), and the end it agrees with them
 * (end.c). */
typedef struct {
    int serve_only;    /* rank 0 runs no chunk itself (test hook PPX_TEST_SERVE_ONLY) */
    int ranks_done;    /* other ranks that said they left their loop */
    double *last_seen; /* when each rank was last heard from */
    uint8_t *left;     /* the rank said it left its loop (TAG_DONE), or was declared silent */
    int silent;        /* ranks declared silent: the end cannot be agreed with them */
    uint8_t *gone;     /* the rank was declared silent */
    char silent_reason[256];
    ppx_buf *end_msg;      /* each rank's end message (TAG_DONE) */
    ppx_wire_send *out_ws; /* beats, then the exit code, to each rank that is done */
    double beats_sent;     /* when rank 0 last beat to them (watch clock) */
    /* > 0: rank 0 itself could not run for this long, over --rank-timeout
     * less a beat, or a rank said it gave up waiting on it: the others may
     * have ended the job, so it cannot tell who else fell silent */
    double self_gap;
    char gave_up[128]; /* "rank(s) 1, 2": those that said they gave up on rank 0 */
    uint64_t *rank_done, *rank_failed, *rank_bytes; /* progress piggybacked on requests */
    ppx_wire_send *send_ws;                         /* one assignment in flight per rank */
    ppx_buf *send_buf;
    ppx_buf stop_msg; /* rank 0: "stop, no more work", packed before it is needed */
} sched_serve;

/* Waiting on other ranks (watch.c, loop.c): this rank's own running clock
 * (wire.h), how often it beats (BEAT_S, or a quarter of --rank-timeout),
 * and on rank > 0 its sends to rank 0 and what it last heard from it. */
typedef struct {
    ppx_wire_watch watch;
    double beat_s;
    int abandoned; /* a send or receive was given up: its buffers stay MPI's until the abort */
    /* rank > 0: its clock times (watch clock) of the last beat, of the
     * request waiting for an answer, of the chunk results in flight, and of
     * the last word from rank 0 */
    double last_beat, req_sent, res_sent, heard0;
    int lost0; /* rank 0 fell silent: the job ends by MPI_Abort (exit 4) */
    ppx_wire_send req_ws, beat_ws, bye_ws;
    ppx_wire_send res_ws; /* rank > 0: chunk results in flight (bytes transport) */
    ppx_buf res_buf;
    int res_pending;
} sched_peer;

/* This rank's results: the outcomes taken in and journaled (results.c),
 * reduced at the end (end.c). */
typedef struct {
    ppx_journal journal;
    int journal_open;
    ppx_committer committer; /* commits the journal off the serving path (commit.h) */
    double pending_since;    /* when the oldest chunk not yet committed finished, or 0 */
    ppx_stats acc;           /* completed chunks journaled here */
    ppx_failures fails;
    ppx_prints prints;                 /* fingerprints of those chunks' images */
    uint64_t done, failed, bytes_read; /* this attempt, this rank */
    double busy_s;
} sched_intake;

/* Where this rank reads and writes (opened by setup.c and run.c; the shard
 * and outputs written by results.c). */
typedef struct {
    int in_root;                    /* INPUT's descriptor (a walked folder), or -1 (@LIST) */
    ppx_outdir outdir;              /* fd -1 when this rank writes nothing */
    int jdir;                       /* OUTDIR/.prepix, or -1 */
    int lock_fd;                    /* rank 0: .prepix/lock, flock'ed for the whole run */
    ppx_dircache in_dirs, out_dirs; /* rank 0 reading and writing for the bytes transport */
    ppx_arc_cache in_arc;           /* the archive last read here (bytes transport, sidecars) */
    ppx_buf shard_buf;              /* a shard being assembled */
} sched_io;

typedef struct {
    const ppx_run_config *cfg;
    MPI_Comm comm;
    int mpi, rank, size;
    double t0;

    sched_plan plan;    /* rank 0: the job */
    sched_queue queue;  /* chunks this rank holds */
    sched_stop stop;    /* stopping, the fatal error (stop.h) */
    sched_serve serve;  /* rank 0: serving the others */
    sched_peer peer;    /* waiting on other ranks */
    sched_intake in;    /* this rank's results */
    sched_io io;        /* where this rank reads and writes */
    ppx_stream *stream; /* rank 0: the walk goes on while chunks are handed out, or NULL */

    ppx_pool *pool;
    ppx_job_config job;
    int workers;
    ppx_buf scratch;

    ppx_progress progress;

    /* Where the loop's time goes (PPX_SCHED_TIMING=1 prints it at the end). */
    double last_msg; /* when a message between ranks was last handled */
    int timing;
    struct {
        double wall[T_PHASES], cpu[T_PHASES]; /* seconds in each phase (T_*) */
        uint64_t served, turns, commits, spins;
        double answer_cpu; /* of answering requests alone (answer()), inside T_SERVE */
    } t;
} run_state;

/* ---- MPI calls --------------------------------------------------------- */

/* main() sets MPI_ERRORS_RETURN, so every MPI call reports failure here
 * instead of aborting without a word: it becomes PPX_EMPI naming the call,
 * the rank and MPI's own text, and sets the fatal flag, which the ranks agree
 * on at the end (exit 1, report "complete": false naming it). Where even the
 * agreement fails, ppx_sched_run returns PPX_SCHED_ABORT and the CLI ends the
 * job with MPI_Abort. 0; -1 when it failed; 1 when a wait of wire.h gave up
 * on its peer (PPX_WIRE_TIMEOUT: no failure of MPI, the caller decides). */
#define MPI_CHECK(s, call) ppx__mpi_result(&(s)->stop, (call), #call)
/* The statement form, where recording the failure is all there is to do
 * (the fatal flag then ends the run through the agreement). */
#define MPI_RECORD(s, call) ppx_ignore(MPI_CHECK(s, call))

/* With --transport bytes, a rank other than 0 (it reads and writes
 * nothing itself). */
static inline int ppx__is_bytes_remote(const run_state *s)
{
    return s->cfg->transport_bytes && s->rank != 0;
}
/* source.c */
/* The path of the input key: INPUT's folder (or its split's) joined with
 * it. */
PPX_MUST_USE int ppx__input_path(const ppx_run_config *cfg, const sched_plan *p, const char *key,
                                 char *out, size_t cap);
/* The path opened for the image key: the file, or (arc_len > 0) its archive. */
PPX_MUST_USE int ppx__image_path(const ppx_run_config *cfg, const sched_plan *p, const char *key,
                                 uint32_t arc_len, char *out, size_t cap);
/* Next chunk id not finished by an earlier attempt, or -1. */
int64_t ppx__take_chunk_id(sched_plan *p);
chunk *ppx__make_local_chunk(run_state *s, uint64_t id);
PPX_MUST_USE int ppx__pack_assign(run_state *s, int kind, int stop, uint64_t id, ppx_buf *b);
/* results.c: commits the records of the chunks finished since the last
 * commit, after one sync of their outputs, once the oldest has waited
 * JOURNAL_GROUP_S or at once when now (the loop is idle, or ending). */
void ppx__commit_journal(run_state *s, int now);
/* results.c: every record waiting committed, and the commit in progress
 * waited for (the end of the loop). */
void ppx__commit_journal_all(run_state *s);
/* results.c */
void ppx__record(run_state *s, chunk *c, uint64_t i, const ppx_result *r, const uint8_t *payload);
void ppx__on_result(void *arg, const ppx_result *r, const uint8_t *payload);
/* c: the chunk, when this rank holds it (else rebuilt from the listing);
 * the fingerprints of the images written go into pr. */
PPX_MUST_USE int ppx__write_outputs(run_state *s, const chunk *c, uint64_t id,
                                    const ppx_buf *outputs, ppx_stats *st, ppx_failures *fl,
                                    ppx_prints *pr, ppx_err *e);
PPX_MUST_USE int ppx__store_remote_chunk(run_state *s, const uint8_t *p, size_t n);
void ppx__feed(run_state *s);
/* watch.c: the other ranks' liveness and progress. */
/* How long a wait on one peer may last, in seconds of this rank's own
 * clock: --rank-timeout for a rank waiting on rank 0; half of it for rank 0
 * waiting on one rank's message, so that the other ranks, waiting on rank 0
 * meanwhile, never reach theirs; 0 (no limit) with --rank-timeout 0. */
double ppx__peer_limit(const run_state *s);
/* Rank > 0: rank 0 has not answered for silent_s (when: what waited, may be
 * ""): said once; the run loop then ends the job (exit 4). */
void ppx__lose_rank0(run_state *s, double silent_s, const char *when);
/* Rank > 0: a small message to rank 0 (a request, a beat), posted and
 * waited for. 0, or -1 (rank 0 lost, or MPI failed: recorded). */
PPX_MUST_USE int ppx__send_small(run_state *s, ppx_wire_send *w, const uint64_t *msg, int n,
                                 int tag);
/* Rank 0: 1 when it was itself away (stopped, starved, blocked) for longer
 * than --rank-timeout, so that it cannot tell which rank, if any, fell silent
 * (self_gap set, the job stopping); said once on stderr. */
int ppx__self_stalled(run_state *s);
/* Rank 0: receives rank src's TAG_GAVEUP (probed): src gave up waiting on
 * rank 0, which was therefore the silent one (self_gap set). */
void ppx__gave_up(run_state *s, int src);
/* Rank 0: rank r is stopped, hung or gone (silent for silent_s, or a
 * message of it stalled half-way): the job stops and ends without it. */
void ppx__declare_silent(run_state *s, int r, double silent_s, const char *what);
/* Rank 0: a wait on rank src gave up. */
void ppx__stalled_midway(run_state *s, int src);
/* Rank 0: declares silent every rank not heard from for --rank-timeout. */
void ppx__check_silent(run_state *s);
/* Rank 0: a beat to every rank that sent its end message and waits for the
 * exit code, and to every rank whose request waits for the walk
 * (held[r] set; held may be NULL), every beat_s (now: at once), so that they
 * can tell a rank 0 at work from a stopped one. */
void ppx__beat_done(run_state *s, int now, const uint8_t *held);
/* Rank > 0: its beat to rank 0, and the check that rank 0 still answers. */
void ppx__beat(run_state *s);
/* Images failed in this attempt, on every rank (as far as rank 0 knows). */
PPX_MUST_USE uint64_t ppx__total_failed(const run_state *s);
/* Rank 0: the progress line, from every rank's reported counts. */
void ppx__show_progress(run_state *s, int final);
/* loop.c */
PPX_MUST_USE int ppx__run_loop(run_state *s);
/* setup.c */
/* What ppx__mark_collisions did, for the tests of its complexity: output
 * names computed, and the times it looked at one entry against another. */
typedef struct {
    uint64_t names, compares;
} collision_work;
/* With per-image outputs, marks in prefail (one per entry of l) the entries
 * not marked yet that cannot have an output of their own: a name that cannot
 * be an output under format fmt (outside OUTDIR, too long), or an output
 * name an entry of a lower index already has (x.png and x.jpg both become
 * x.jpg with -f jpeg: PREFAIL_COLLIDE; a list naming one file twice:
 * PREFAIL_TWICE, or PREFAIL_SAME_MEMBER for an archive's two members of one
 * name), so that no two workers ever write the same file. Entries already
 * marked take part in nothing. work (may be NULL) receives the counts. 0,
 * PPX_ENOMEM, or PPX_ECANCELED once *stop (may be NULL) is set. */
PPX_MUST_USE int ppx__mark_collisions(const ppx_listing *l, ppx_format fmt,
                                      const volatile sig_atomic_t *stop, uint32_t *prefail,
                                      collision_work *work);
const char *ppx__format_name(const ppx_run_config *cfg);
PPX_MUST_USE int ppx__setup_rank0(run_state *s, uint64_t total_workers);
void ppx__dry_run_list(run_state *s);
/* stream.c: a streamed run (docs/scheduling.md, "Work while the walk goes
 * on"). Rank 0 walks INPUT in a thread and hands out each chunk once the
 * walk has listed it whole. The loop holds the lock on the listing but
 * while it waits for results (ppx__stream_unlock/lock there). */
PPX_MUST_USE int ppx__stream_wanted(const ppx_run_config *cfg);
/* INPUT opened, the listing and s->plan.chunk_size prepared (s->stream
 * made): 0 for the automatic size, decided as the walk goes (total_workers:
 * the job's); format: the run's as its identity names it (ppx__format_name). */
PPX_MUST_USE int ppx__stream_prepare(run_state *s, uint64_t total_workers, const char *format,
                                     ppx_err *e);
/* The walk's thread started, the lock taken for the loop. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__stream_start(run_state *s);
void ppx__stream_lock(run_state *s);
void ppx__stream_unlock(run_state *s);
/* 1 while the walk may still list entries (the chunk count is not final). */
PPX_MUST_USE int ppx__stream_open(const run_state *s);
/* The listing's new entries marked, s->n_chunks its whole chunks. */
void ppx__stream_refresh(run_state *s);
/* The durable identity made to cover chunk id before it is handed out:
 * 0, or PPX_EIO (the run's fatal error set). */
PPX_MUST_USE int ppx__stream_cover(run_state *s, uint64_t id);
/* Rank src's request waits for a chunk; ppx__stream_deferred: 1 once it
 * can be answered (a chunk, no more, or stop), and no longer deferred. */
void ppx__stream_defer(run_state *s, int src);
/* Per rank, 1 while its request waits for the walk (NULL: none): rank 0
 * beats to it (ppx__beat_done), so that it does not take the wait for a
 * silent rank 0. */
const uint8_t *ppx__stream_held(const run_state *s);
PPX_MUST_USE int ppx__stream_deferred(run_state *s, int src);
/* The walk stopped and joined, the lock let go (the loop's end). */
void ppx__stream_end(run_state *s);
void ppx__stream_free(run_state *s);
/* stream.c (for setup.c too): companion members no --with role claims: counted in l->skipped. */
void ppx__count_stray_companions(ppx_listing *l, const ppx_run_config *cfg);
/* dups.c: the duplicates of a run, at its end on rank 0. */
typedef struct {
    int ok; /* rep is filled */
    ppx_dups dups;
    ppx_dup_report rep;
    char **paths;            /* owned: the path of each group member, NULL for the others */
    ppx_leak *leaks;         /* owned: named splits, the leaks between them */
    ppx_leak_match *matches; /* owned: their matches */
    ppx_dup_shown shown[PPX_THUMB_GROUPS];
    char **thumbs; /* owned: data: URIs of the members shown, per position in prints */
    char list_path[PPX_PATH_MAX];
    ppx_err err;
} dups_end;
/* Sorts prints by index (dropping a repeated index), finds the groups at
 * --dup-distance, names their members and, when write_list, writes the drop
 * list (OUTDIR/duplicates.txt, or --drop-list). ok: images counted ok, to
 * tell how many have no fingerprint. 0, or a code with de->err (the list
 * could not be written, out of memory). de must be freed in either case. */
PPX_MUST_USE int ppx__dups_prepare(run_state *s, ppx_prints *prints, uint64_t ok, int write_list,
                                   dups_end *de);
/* The thumbnails of the groups the HTML report shows (the largest,
 * PPX_THUMB_GROUPS at most, their first PPX_THUMB_MEMBERS members): each
 * member read and decoded again as the run's workers do (a worker process
 * with the same limits and timeout, reading below INPUT's descriptor),
 * reduced to 64 pixels and encoded as JPEG into a data: URI. A member that
 * cannot be read or decoded gets none. Rank 0, after the pass; 0 or
 * PPX_ENOMEM (a pool that cannot start makes no thumbnails, not an error). */
PPX_MUST_USE int ppx__dups_thumbs(run_state *s, dups_end *de);
void ppx__dups_end_free(dups_end *de);
/* exclude.c: leaves out of the listing the entries --exclude names (its
 * "@FILE" lines, or the one path given), matched against the path the report
 * shows (INPUT joined with the key) or the key. 0, PPX_EUSAGE (the file
 * cannot be read) or PPX_ENOMEM, with the message in e. Rank 0, after the
 * listing. */
PPX_MUST_USE int ppx__apply_exclude(run_state *s, ppx_err *e);
/* end.c */
PPX_MUST_USE int ppx__finish_alone(run_state *s);
PPX_MUST_USE int ppx__finish(run_state *s);

/* --coco on rank 0: reads and checks cfg->coco into s->coco before any
 * work (0, or the exit code: 2 for a file that is not a COCO file prepix
 * can map, 1 when it cannot be read). */
PPX_MUST_USE int ppx__coco_load(run_state *s);
/* --coco at the end of a complete run: matches the file's images to the
 * outputs (prints: their geometry records sorted by index; fails sorted),
 * writes OUTDIR/coco.json and fills *ct for the report. 0 or a code with e. */
PPX_MUST_USE int ppx__coco_end(run_state *s, const ppx_prints *prints, const ppx_failures *fails,
                               ppx_coco_counts *ct, ppx_err *e);
/* --coco with -f tar on rank 0: the annotation records of listed image i
 * (index k in its chunk) appended to b: (k, length, ppx_coco_slice's
 * text); nothing for an image the file does not name. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__coco_put_slice(const run_state *s, uint64_t i, uint64_t k, ppx_buf *b);
/* --coco with -f tar, where a shard is written: the KEY.json member of
 * each of the n finished images of v (not failed) that has annotations,
 * appended to out as sidecar records (index, 4, "json", length, bytes) in
 * index order, mapped through the image's geometry record. The
 * annotations come from c's records (ppx__coco_put_slice), or on rank 0
 * from s->coco. 0, or a code with e (the run cannot go on). */
PPX_MUST_USE int ppx__coco_samples(const run_state *s, const chunk *c, const ppx_out_rec *v,
                                   size_t n, ppx_buf *out, ppx_err *e);

#endif
