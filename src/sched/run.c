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
#include "prepix/sched.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"
#include "prepix/fsafe.h"
#include "prepix/io.h"
#include "prepix/json.h"
#include "sched/journal.h"
#include "sched/listing.h"
#include "sched/msg.h"
#include "sched/progress.h"
#include "sched/shards.h"
#include "sched/wire.h"
#include "stats/report.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102, TAG_CHUNKRES = 103, TAG_DONE = 104, TAG_BEAT = 105 };
/* Every other rank tells rank 0 it is alive (and its progress) this often,
 * busy or not, so that a rank silent for --rank-timeout is known stalled
 * (SIGSTOPped, hung in the kernel, its node gone) rather than slow. */
#define BEAT_S 2.0
enum { REQ_STOPPING = 1, REQ_FATAL = 2 };
enum { ASSIGN_CHUNK = 1, ASSIGN_NOMORE = 2 };
/* The stop word of an assignment: go on, stop now (a signal, a fatal error),
 * or finish the chunks already started first (--max-failures). */
enum { STOP_NONE = 0, STOP_NOW = 1, STOP_DRAIN = 2 };
/* Chunks a rank keeps queued beyond those its workers are on: one hides the
 * latency of a request (milliseconds); more only lengthens the tail, when
 * one rank still holds queued chunks while the others have nothing left. */
#define PREFETCH 1
#define STOP_GRACE_S 10.0 /* on SIGTERM/SIGUSR1, the longest wait for images in progress */

/* ---- signals ---------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;
static int sig_pipe[2] = {-1, -1};

void ppx_sched_request_stop(int sig)
{
    stop_signal = sig;
    if (sig_pipe[1] >= 0) {
        int e = errno;
        ssize_t w = write(sig_pipe[1], "s", 1);
        (void)w;
        errno = e;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- chunks ----------------------------------------------------------- */

typedef struct chunk {
    uint64_t id, first, count;
    uint64_t next;      /* next image (0..count) to hand to a worker */
    uint64_t remaining; /* images whose result has not come back */
    ppx_buf keys;       /* NUL-terminated keys, back to back */
    uint64_t *key_off;
    uint32_t *prefail;  /* why rank 0 knows this image fails before any work (PREFAIL_*) */
    int64_t *label;     /* shards: each image's class label */
    /* bytes transport, on a rank other than 0: each image's bytes, or the
     * error rank 0 met reading it */
    ppx_buf inputs;
    uint64_t *in_off, *in_len;
    int32_t *in_code;
    ppx_buf outputs; /* (index, len, bytes) of finished images, sent back */
    ppx_stats stats;
    ppx_failures fails;
    struct chunk *next_in_queue;
} chunk;

static void chunk_free(chunk *c)
{
    if (!c)
        return;
    ppx_buf_destroy(&c->keys);
    ppx_buf_destroy(&c->inputs);
    ppx_buf_destroy(&c->outputs);
    free(c->key_off);
    free(c->prefail);
    free(c->label);
    free(c->in_off);
    free(c->in_len);
    free(c->in_code);
    ppx_failures_destroy(&c->fails);
    free(c);
}

static chunk *chunk_new(uint64_t id, uint64_t first, uint64_t count)
{
    chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = id;
    c->first = first;
    c->count = count;
    c->remaining = count;
    c->key_off = calloc(count ? count : 1, sizeof *c->key_off);
    c->prefail = calloc(count ? count : 1, sizeof *c->prefail);
    c->label = calloc(count ? count : 1, sizeof *c->label);
    ppx_stats_init(&c->stats);
    if (!c->key_off || !c->prefail || !c->label) {
        chunk_free(c);
        return NULL;
    }
    return c;
}

/* Images rank 0 knows to fail before any work. The reason travels with the
 * chunk as a u32 (the kind, and for walk errors errno << 8); the message is
 * made where the failure is recorded, so every rank words it the same. */
enum { PREFAIL_NONE, PREFAIL_COLLIDE, PREFAIL_TWICE, PREFAIL_UNSAFE, PREFAIL_TOOLONG, PREFAIL_WALK };

static void prefail_result(uint32_t why, ppx_result *r)
{
    memset(r, 0, sizeof *r);
    int e = (int)(why >> 8);
    ppx_err *err = &r->err;
    switch (why & 0xff) {
    case PREFAIL_COLLIDE:
        r->status = ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                                "its output name is that of an earlier input (same name, another "
                                "extension); rename one of them");
        break;
    case PREFAIL_TWICE:
        r->status = ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                                "listed twice: the same file as an earlier line of the list");
        break;
    case PREFAIL_UNSAFE:
        r->status = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                                "its output name would lie outside OUTDIR ('..' in the path): "
                                "list it from a folder above it");
        break;
    case PREFAIL_TOOLONG:
        r->status = ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                                "its output name has a part longer than a file name may be");
        break;
    default:
        if (e == 0)
            r->status = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                                    "folders nested deeper than the walk goes: left out");
        else if (e == ENAMETOOLONG)
            r->status = ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                                    "path too long: left out");
        else if (e == ENOENT)
            r->status = ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT, "vanished during the walk");
        else if (e == ELOOP || e == ENOTDIR)
            r->status = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                                    "replaced by a link during the walk: not followed");
        else
            r->status = ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT,
                                    "cannot read this folder: %s; its images are left out",
                                    strerror(e));
        break;
    }
}

static const char *chunk_key(const chunk *c, uint64_t i)
{
    return (const char *)c->keys.data + c->key_off[i];
}

/* ---- the state of one rank -------------------------------------------- */

typedef struct {
    const ppx_run_config *cfg;
    MPI_Comm comm;
    int mpi, rank, size;
    double t0;

    /* rank 0: the job */
    ppx_listing listing;
    uint64_t chunk_size, n_chunks, next_chunk;
    ppx_resume_state resume;
    uint32_t *prefail; /* per listed image: PREFAIL_* | errno << 8, 0 for most */
    ppx_classes classes; /* shards: labels */
    int attempt;
    char root[4096]; /* INPUT folder, or the @LIST's folder */

    /* chunks this rank holds, in order */
    chunk *queue_head, *queue_tail;
    int no_more;     /* rank 0 said there is no more work for us */
    int req_out;     /* a request to rank 0 is outstanding */
    int stopping;    /* stop taking work */
    int draining;    /* stopping, but chunks already started are finished and journaled
                        (--max-failures: so that --resume always gets past them) */
    int fatal;       /* a fatal error happened here */
    int mpi_failed;  /* an MPI call failed here */
    ppx_err fatal_err;
    const char *stop_reason;
    char fatal_reason[PPX_ERR_MSG_MAX + 32];

    /* rank 0: serving the others */
    int ranks_done; /* other ranks that said they left their loop */
    double *last_seen; /* when each rank was last heard from */
    uint8_t *left;     /* the rank said it left its loop (TAG_DONE), or was declared silent */
    int silent;        /* ranks declared silent: the end cannot be agreed with them */
    char silent_reason[256];
    int end_timed_out; /* a step of the collective end passed --rank-timeout */
    double last_beat, req_sent; /* rank > 0 */
    uint64_t *rank_done, *rank_failed, *rank_bytes; /* progress piggybacked on requests */
    int global_stop;
    int global_fatal;
    ppx_wire_send *send_ws; /* one assignment in flight per rank */
    ppx_buf *send_buf;
    ppx_buf stop_msg;      /* rank 0: "stop, no more work", packed before it is needed */
    ppx_wire_send res_ws;  /* rank > 0: chunk results in flight (bytes transport) */
    ppx_buf res_buf;
    int res_pending;
    ppx_buf scratch;

    /* where this rank reads and writes */
    int in_root;        /* INPUT's descriptor (a walked folder), or -1 (@LIST) */
    ppx_outdir outdir;  /* fd -1 when this rank writes nothing */
    int jdir;           /* OUTDIR/.prepix, or -1 */
    int lock_fd;        /* rank 0: .prepix/lock, flock'ed for the whole run */
    ppx_dircache in_dirs, out_dirs; /* rank 0 reading and writing for the bytes transport */

    /* this rank's results */
    ppx_pool *pool;
    ppx_job_config job;
    ppx_buf shard_buf;  /* a shard being assembled */
    ppx_journal journal;
    int journal_open;
    ppx_stats acc; /* completed chunks journaled here */
    ppx_failures fails;
    uint64_t done, failed, bytes_read; /* this attempt, this rank */
    double busy_s;
    int workers;

    ppx_progress progress;
} run_state;

/* ---- MPI calls --------------------------------------------------------- */

/* main() sets MPI_ERRORS_RETURN, so every MPI call reports failure here
 * instead of aborting without a word: it becomes PPX_EMPI naming the call,
 * the rank and MPI's own text, and sets the fatal flag, which the ranks agree
 * on at the end (exit 1, report "complete": false naming it). Where even the
 * agreement fails, ppx_sched_run returns PPX_SCHED_ABORT and the CLI ends the
 * job with MPI_Abort. */
#define MPI_CHECK(s, call) mpi_result((s), (call), #call)

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

static void set_fatal(run_state *s, const ppx_err *e);

static int mpi_result(run_state *s, int rc, const char *text)
{
#ifdef PPX_TEST_HOOKS
    rc = test_mpi_fault(s, rc, text);
#endif
    if (rc == MPI_SUCCESS)
        return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = snprintf(msg, sizeof msg, "error code %d", rc);
    const char *paren = strchr(text, '(');
    ppx_err e;
    ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "%.*s failed on rank %d: %.*s",
                paren ? (int)(paren - text) : (int)strlen(text), text, s->rank, len, msg);
    set_fatal(s, &e);
    s->mpi_failed = 1;
    return -1;
}

static int is_bytes_remote(const run_state *s)
{
    return s->cfg->transport_bytes && s->rank != 0;
}

static void set_fatal(run_state *s, const ppx_err *e)
{
    if (!s->fatal) {
        s->fatal = 1;
        s->fatal_err = *e;
        fprintf(stderr, "prepix: rank %d: fatal: %s%s%s\n", s->rank, e->msg,
                e->path[0] ? ": " : "", e->path);
    }
    s->stopping = 1;
    if (!s->stop_reason)
        s->stop_reason = "fatal error";
}

static void enqueue(run_state *s, chunk *c)
{
    if (s->queue_tail)
        s->queue_tail->next_in_queue = c;
    else
        s->queue_head = c;
    s->queue_tail = c;
}

static void drop_unstarted(run_state *s)
{
    /* Abandon chunks not started; chunks with images in workers stay until
     * those come back (they are not journaled: --resume redoes them). */
    chunk **pp = &s->queue_head;
    s->queue_tail = NULL;
    while (*pp) {
        chunk *c = *pp;
        if (c->next == 0) {
            *pp = c->next_in_queue;
            chunk_free(c);
        } else {
            if (!s->draining)
                c->next = c->count; /* submit nothing more from it */
            s->queue_tail = c;
            pp = &c->next_in_queue;
        }
    }
}

/* Chunks not yet started. */
static int unstarted(const run_state *s)
{
    int n = 0;
    for (const chunk *c = s->queue_head; c; c = c->next_in_queue)
        n += c->next < c->count;
    return n;
}

/* ---- rank 0: the chunk source ----------------------------------------- */

static int input_path(const run_state *s, const char *key, char *out, size_t cap)
{
    return ppx_path_join(out, cap, s->root, key);
}

/* Next chunk id not finished by an earlier attempt, or -1. */
static int64_t take_chunk_id(run_state *s)
{
    while (s->next_chunk < s->n_chunks) {
        uint64_t id = s->next_chunk++;
        if (!s->resume.done || !s->resume.done[id])
            return (int64_t)id;
    }
    return -1;
}

static void chunk_range(const run_state *s, uint64_t id, uint64_t *first, uint64_t *count)
{
    *first = id * s->chunk_size;
    uint64_t end = *first + s->chunk_size;
    if (end > s->listing.n)
        end = s->listing.n;
    *count = end - *first;
}

/* Builds a chunk from the listing (rank 0's own work). */
static chunk *make_local_chunk(run_state *s, uint64_t id)
{
    uint64_t first, count;
    chunk_range(s, id, &first, &count);
    chunk *c = chunk_new(id, first, count);
    if (!c)
        return NULL;
    for (uint64_t i = 0; i < count; i++) {
        const char *k = ppx_listing_key(&s->listing, first + i);
        c->key_off[i] = c->keys.len;
        c->prefail[i] = s->prefail ? s->prefail[first + i] : 0;
        c->label[i] = ppx_classes_label(&s->classes, k);
        if (ppx_buf_append(&c->keys, k, strlen(k) + 1)) {
            chunk_free(c);
            return NULL;
        }
    }
    return c;
}

/* Packs an assignment for another rank: the keys and, for the bytes
 * transport, each file's bytes (or the reason it could not be read). */
static int pack_assign(run_state *s, int kind, int stop, uint64_t id, ppx_buf *b)
{
    b->len = 0;
    uint64_t first = 0, count = 0;
    if (kind == ASSIGN_CHUNK)
        chunk_range(s, id, &first, &count);
    int rc = ppx_put_u64(b, (uint64_t)kind) || ppx_put_u64(b, (uint64_t)stop) ||
             ppx_put_u64(b, id) || ppx_put_u64(b, first) || ppx_put_u64(b, count);
    for (uint64_t i = 0; i < count && !rc; i++) {
        const char *k = ppx_listing_key(&s->listing, first + i);
        size_t kl = strlen(k);
        rc = ppx_put_u64(b, kl) || ppx_buf_append(b, k, kl) ||
             ppx_put_u64(b, s->prefail ? s->prefail[first + i] : 0) ||
             ppx_put_u64(b, (uint64_t)ppx_classes_label(&s->classes, k));
        if (rc || !s->cfg->transport_bytes)
            continue;
        char path[4096];
        ppx_err e;
        ppx_err_clear(&e);
        uint64_t max = s->cfg->limits.max_file_bytes;
        int r = s->in_root >= 0
                    ? ppx_read_beneath(s->in_root, &s->in_dirs, k, s->cfg->follow_symlinks, max,
                                       &s->scratch, NULL, &e)
                : input_path(s, k, path, sizeof path)
                    ? ppx_err_set(&e, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long")
                    : ppx_file_read(path, max, &s->scratch, NULL, &e);
        if (r) {
            size_t ml = strlen(e.msg);
            rc = ppx_put_u64(b, (uint64_t)(int64_t)r) || ppx_put_u64(b, (uint64_t)e.stage) ||
                 ppx_put_u64(b, ml) || ppx_buf_append(b, e.msg, ml);
        } else {
            rc = ppx_put_u64(b, 0) || ppx_put_u64(b, s->scratch.len) ||
                 ppx_buf_append(b, s->scratch.data, s->scratch.len);
        }
    }
    return rc ? PPX_ENOMEM : 0;
}

static chunk *unpack_assign(const uint8_t *p, size_t n, int bytes, int *kind, int *stop)
{
    ppx_rd r = {p, p + n, 0};
    *kind = (int)ppx_get_u64(&r);
    *stop = (int)ppx_get_u64(&r);
    uint64_t id = ppx_get_u64(&r), first = ppx_get_u64(&r), count = ppx_get_u64(&r);
    if (r.bad || *kind != ASSIGN_CHUNK)
        return NULL;
    chunk *c = chunk_new(id, first, count);
    if (!c)
        return NULL;
    if (bytes) {
        c->in_off = calloc(count ? count : 1, sizeof *c->in_off);
        c->in_len = calloc(count ? count : 1, sizeof *c->in_len);
        c->in_code = calloc(count ? count : 1, sizeof *c->in_code);
        if (!c->in_off || !c->in_len || !c->in_code)
            goto bad;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t kl = ppx_get_u64(&r);
        const uint8_t *k = ppx_get_bytes(&r, kl);
        c->prefail[i] = (uint32_t)ppx_get_u64(&r);
        c->label[i] = (int64_t)ppx_get_u64(&r);
        if (r.bad)
            goto bad;
        c->key_off[i] = c->keys.len;
        if (ppx_buf_append(&c->keys, k, kl) || ppx_buf_append(&c->keys, "", 1))
            goto bad;
        if (!bytes)
            continue;
        int64_t code = (int64_t)ppx_get_u64(&r);
        if (code) {
            uint64_t stage = ppx_get_u64(&r), ml = ppx_get_u64(&r);
            const uint8_t *m = ppx_get_bytes(&r, ml);
            if (r.bad)
                goto bad;
            /* Keep the error text where the bytes would be; stage in in_len. */
            c->in_code[i] = (int32_t)code;
            c->in_len[i] = stage;
            c->in_off[i] = c->inputs.len;
            if (ppx_buf_append(&c->inputs, m, ml) || ppx_buf_append(&c->inputs, "", 1))
                goto bad;
        } else {
            uint64_t len = ppx_get_u64(&r);
            const uint8_t *d = ppx_get_bytes(&r, len);
            if (r.bad)
                goto bad;
            c->in_off[i] = c->inputs.len;
            c->in_len[i] = len;
            if (ppx_buf_append(&c->inputs, d, len))
                goto bad;
        }
    }
    return c;
bad:
    chunk_free(c);
    return NULL;
}

/* ---- results ---------------------------------------------------------- */

static void finish_chunk(run_state *s, chunk *c);

static chunk *find_chunk(run_state *s, uint64_t id)
{
    for (chunk *c = s->queue_head; c; c = c->next_in_queue)
        if (c->id == id)
            return c;
    return NULL;
}

/* 1 if an image of these failures was lost with its worker (killed from
 * outside, the OOM killer, a timeout): such a chunk is reported but not
 * journaled, so --resume retries it and a transient death is never final. */
static int has_transient(const ppx_failures *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].stage == PPX_STAGE_WORKER || f->v[i].stage == PPX_STAGE_TIMEOUT)
            return 1;
    return 0;
}

/* A worker killed between writing its temporary file and the rename leaves
 * it behind: the rank removes it (named by the worker's pid). */
static void remove_lost_temps(run_state *s, const chunk *c, uint64_t i, const ppx_result *r)
{
    char name[PPX_KEY_MAX];
    if (r->worker_pid <= 0 || s->outdir.fd < 0 || s->cfg->shard ||
        ppx_output_name(name, sizeof name, chunk_key(c, i), s->cfg->out_format, NULL))
        return;
    char *slash = strrchr(name, '/');
    if (slash)
        *slash = '\0';
    int dfd = ppx_dir_open_beneath(s->outdir.fd, slash ? name : "", 0, NULL);
    if (dfd >= 0) {
        ppx_remove_temps_of(dfd, (uint32_t)r->worker_pid);
        close(dfd);
    }
}

/* Folds one image's outcome into its chunk. */
static void record(run_state *s, chunk *c, uint64_t i, const ppx_result *r,
                   const uint8_t *payload)
{
    ppx_stats *st = &c->stats;
    st->total++;
    st->bytes_read += r->bytes_read;
    s->bytes_read += r->bytes_read;
    s->busy_s += r->busy_s;
    s->done++;
    /* Per-image outputs written by rank 0 (bytes transport) are counted
     * there, once written: the image's statistics travel with its bytes. */
    int deferred = payload && !s->cfg->shard;
    if (r->status == 0) {
        if (!deferred) {
            st->ok++;
            st->bytes_written += r->bytes_written;
            ppx_stats_add_image(st, r->st.channels ? &r->st : NULL, r->in_w, r->in_h);
        }
        if (payload && (ppx_put_u64(&c->outputs, c->first + i) ||
                        ppx_put_u64(&c->outputs, (uint64_t)c->label[i]) ||
                        ppx_put_u64(&c->outputs, (uint64_t)r->out_format) ||
                        ppx_put_u64(&c->outputs, r->out_len) ||
                        ppx_buf_append(&c->outputs, payload, r->out_len) ||
                        (deferred && (ppx_put_u64(&c->outputs, r->in_w) ||
                                      ppx_put_u64(&c->outputs, r->in_h) ||
                                      ppx_buf_append(&c->outputs, &r->st, sizeof r->st))))) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory holding outputs");
            set_fatal(s, &e);
        }
    } else if (r->status == PPX_EOUTPUT) {
        /* The output location is unusable (full, read-only): every further
         * image would fail the same way. Stop the job (exit 1). */
        ppx_err e = r->err;
        set_fatal(s, &e);
    } else {
        st->failed++;
        s->failed++;
        if (ppx_failures_add(&c->fails, c->first + i, r->err.stage, r->status, r->err.msg)) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory recording a failure");
            set_fatal(s, &e); /* never counted yet missing from the report */
        }
        if (r->err.stage == PPX_STAGE_WORKER || r->err.stage == PPX_STAGE_TIMEOUT)
            remove_lost_temps(s, c, i, r);
    }
    if (--c->remaining == 0)
        finish_chunk(s, c);
}

static void on_result(void *arg, const ppx_result *r, const uint8_t *payload)
{
    run_state *s = arg;
    chunk *c = find_chunk(s, r->tag);
    if (!c || r->id < c->first || r->id >= c->first + c->count)
        return; /* cannot happen: tags are chunk ids we hold */
    record(s, c, r->id - c->first, r, payload);
}

/* The input's identity, for an output written by rank 0 (bytes transport):
 * the output must not replace it, and --copy-mode takes its mode. */
static int input_identity(const run_state *s, uint64_t index, ppx_file_id *id)
{
    char in[4096];
    struct stat st;
    if (input_path(s, ppx_listing_key(&s->listing, index), in, sizeof in) || stat(in, &st) != 0)
        return -1;
    *id = (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
    return 0;
}

/* Writes a finished chunk's outputs that came back as bytes (records of
 * index, label, format, length, bytes): its shard, or each image's file
 * (bytes transport), counting each image written as ok into st and each
 * that could not be written as a failure into fl. Returns 0, or a code when
 * the run must stop (OUTDIR unusable, malformed records). */
static int write_outputs(run_state *s, uint64_t id, const ppx_buf *outputs, ppx_stats *st,
                         ppx_failures *fl, ppx_err *e)
{
    if (s->cfg->shard)
        return ppx_shard_write(s->outdir.fd, s->cfg->shard, &s->job.npy, id, outputs,
                               &s->shard_buf, e);
    ppx_rd r = {outputs->data, outputs->data + outputs->len, 0};
    while (r.p < r.end) {
        uint64_t index = ppx_get_u64(&r);
        ppx_get_u64(&r); /* label */
        ppx_get_u64(&r); /* format */
        uint64_t len = ppx_get_u64(&r);
        const uint8_t *d = ppx_get_bytes(&r, len);
        uint32_t in_w = (uint32_t)ppx_get_u64(&r), in_h = (uint32_t)ppx_get_u64(&r);
        const uint8_t *sp = ppx_get_bytes(&r, sizeof(ppx_img_stats));
        if (r.bad || index >= s->listing.n)
            return ppx_err_set(e, PPX_EMPI, PPX_STAGE_JOB, "malformed chunk outputs");
        ppx_img_stats img;
        memcpy(&img, sp, sizeof img);
        char out[PPX_KEY_MAX];
        ppx_file_id in_id;
        int have_id = input_identity(s, index, &in_id) == 0;
        ppx_write_opts wo = {.mode = s->cfg->copy_mode && have_id ? in_id.mode & 0777 : 0644,
                             .keep = have_id ? &in_id : NULL};
        ppx_err ie;
        ppx_err_clear(&ie);
        int rc = ppx_output_name(out, sizeof out, ppx_listing_key(&s->listing, index),
                                 s->cfg->out_format, &ie);
        if (!rc)
            rc = ppx_write_beneath(s->outdir.fd, &s->out_dirs, out, d, len, &wo, &ie);
        if (rc == PPX_EOUTPUT) {
            *e = ie;
            return rc;
        }
        if (rc) {
            st->failed++;
            if (ppx_failures_add(fl, index, ie.stage, rc, ie.msg))
                return ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            continue;
        }
        st->ok++;
        st->bytes_written += len;
        ppx_stats_add_image(st, img.channels ? &img : NULL, in_w, in_h);
    }
    return 0;
}

/* Durable resume: the outputs of a chunk reach stable storage before its
 * journal record does (the record itself is fdatasync'ed), so --resume after
 * a node crash or power loss never skips a chunk whose files are empty. */
static int make_durable(run_state *s, ppx_err *e)
{
    /* One syncfs covers every file and folder the chunk's workers wrote:
     * measured +3% on 153 JPEG thumbnails (median of 12, -w 2) where an
     * fdatasync per file plus an fsync per folder cost +23%
     * (docs/benchmarks.md). */
    if (syncfs(s->outdir.fd) != 0)
        return ppx_err_set(e, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot sync OUTDIR %s: %s",
                           s->outdir.path, strerror(errno));
    return 0;
}

/* Writes the outputs that came back from another rank (bytes transport) and
 * journals that chunk. Runs on rank 0. */
static int store_remote_chunk(run_state *s, const uint8_t *p, size_t n)
{
    ppx_rd r = {p, p + n, 0};
    uint64_t id = ppx_get_u64(&r), count = ppx_get_u64(&r);
    uint64_t stats_len = ppx_get_u64(&r);
    const uint8_t *sp = ppx_get_bytes(&r, stats_len);
    uint64_t fails_len = ppx_get_u64(&r);
    const uint8_t *fp = ppx_get_bytes(&r, fails_len);
    ppx_stats st;
    ppx_failures fl = {0};
    ppx_err e;
    ppx_err_clear(&e);
    if (r.bad || ppx_stats_deserialize(sp, stats_len, &st, NULL) ||
        ppx_failures_unpack(fp, fails_len, &fl, NULL)) {
        ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "malformed chunk result from a rank");
        set_fatal(s, &e);
        ppx_failures_destroy(&fl);
        return -1;
    }
    ppx_buf outputs = {.data = (uint8_t *)r.p, .len = (size_t)(r.end - r.p)};
    if (write_outputs(s, id, &outputs, &st, &fl, &e) || ppx_outdir_check(&s->outdir, &e) ||
        make_durable(s, &e)) {
        set_fatal(s, &e);
        ppx_failures_destroy(&fl);
        return -1;
    }
    if (s->journal_open && !has_transient(&fl) &&
        ppx_journal_append(&s->journal, id, count, &st, &fl, &e))
        set_fatal(s, &e);
    ppx_stats_merge(&s->acc, &st);
    ppx_failures_extend(&s->fails, &fl);
    ppx_failures_destroy(&fl);
    return 0;
}

static void finish_chunk(run_state *s, chunk *c)
{
    if (s->fatal)
        return; /* not journaled: the run ends with exit 1 */
    if (is_bytes_remote(s)) {
        /* Send stats, failures and outputs to rank 0, which writes and
         * journals them. One send in flight: wait for the previous. */
        if (s->res_pending) {
            MPI_CHECK(s, ppx_wire_wait(&s->res_ws));
            s->res_pending = 0;
        }
        ppx_buf *b = &s->res_buf;
        b->len = 0;
        ppx_buf tmp;
        ppx_buf_init(&tmp);
        int rc = ppx_put_u64(b, c->id) || ppx_put_u64(b, c->count) ||
                 ppx_stats_serialize(&c->stats, &tmp) || ppx_put_u64(b, tmp.len) ||
                 ppx_buf_append(b, tmp.data, tmp.len);
        tmp.len = 0;
        rc = rc || ppx_failures_pack(&c->fails, &tmp) || ppx_put_u64(b, tmp.len) ||
             ppx_buf_append(b, tmp.data, tmp.len) ||
             ppx_buf_append(b, c->outputs.data, c->outputs.len);
        ppx_buf_destroy(&tmp);
        if (rc) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            set_fatal(s, &e);
            return;
        }
        if (MPI_CHECK(s, ppx_wire_isend(&s->res_ws, b->data, b->len, 0, TAG_CHUNKRES,
                                        s->comm)) == 0)
            s->res_pending = 1;
        return;
    }
    ppx_err e;
    ppx_err_clear(&e);
    if (s->cfg->shard && s->cfg->outdir &&
        write_outputs(s, c->id, &c->outputs, &c->stats, &c->fails, &e)) {
        set_fatal(s, &e);
        return;
    }
    /* A chunk is journaled as done only while OUTDIR is still the folder
     * its outputs went to (a deleted or replaced OUTDIR ends the run), and
     * only once its outputs are on stable storage. */
    if (s->outdir.fd >= 0 && (ppx_outdir_check(&s->outdir, &e) || make_durable(s, &e))) {
        set_fatal(s, &e);
        return;
    }
    if (s->journal_open && !has_transient(&c->fails) &&
        ppx_journal_append(&s->journal, c->id, c->count, &c->stats, &c->fails, &e)) {
        set_fatal(s, &e);
        return;
    }
    ppx_stats_merge(&s->acc, &c->stats);
    if (ppx_failures_extend(&s->fails, &c->fails)) {
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory recording failures");
        set_fatal(s, &e);
    }
}

/* Removes chunks whose every image came back. */
static void collect_finished(run_state *s)
{
    chunk **pp = &s->queue_head;
    s->queue_tail = NULL;
    while (*pp) {
        chunk *c = *pp;
        if (c->remaining == 0) {
            *pp = c->next_in_queue;
            chunk_free(c);
        } else {
            s->queue_tail = c;
            pp = &c->next_in_queue;
        }
    }
}

/* Hands images to workers: one each, and a second (paths only) to wait in
 * a busy worker's pipe so it never idles until we wake (see ppx_pool_slots). */
static void feed(run_state *s)
{
    char in[4096], out[4096];
    int with_payload = is_bytes_remote(s);
    int may = !s->stopping || s->draining;
    for (chunk *c = s->queue_head; c && may; c = c->next_in_queue) {
        while (c->next < c->count && ppx_pool_slots(s->pool, with_payload) > 0 && may) {
            uint64_t i = c->next++;
            const char *key = chunk_key(c, i);
            ppx_err e;
            ppx_err_clear(&e);
            const uint8_t *input = NULL;
            size_t len = 0;
            int rc = 0;
            if (c->prefail[i]) {
                ppx_result r;
                prefail_result(c->prefail[i], &r);
                record(s, c, i, &r, NULL);
                continue;
            }
            if (is_bytes_remote(s)) {
                if (c->in_code[i]) {
                    /* Rank 0 could not read it: a failure without a worker. */
                    ppx_result r;
                    memset(&r, 0, sizeof r);
                    r.status = c->in_code[i];
                    ppx_err_set(&r.err, c->in_code[i], (int)c->in_len[i], "%s",
                                (const char *)c->inputs.data + c->in_off[i]);
                    record(s, c, i, &r, NULL);
                    continue;
                }
                input = c->inputs.data + c->in_off[i];
                len = c->in_len[i];
                rc = ppx_pool_submit(s->pool, c->first + i, c->id, key, key, NULL,
                                     input ? input : (const uint8_t *)"", len, &e);
            } else {
                int per_image = s->cfg->outdir && !s->cfg->shard;
                ppx_result r;
                memset(&r, 0, sizeof r);
                if (input_path(s, key, in, sizeof in))
                    r.status = ppx_err_set(&r.err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                                           "path too long");
                else if (per_image)
                    r.status = ppx_output_name(out, sizeof out, key, s->cfg->out_format, &r.err);
                if (r.status) {
                    record(s, c, i, &r, NULL);
                    continue;
                }
                rc = ppx_pool_submit(s->pool, c->first + i, c->id, in, key,
                                     per_image ? out : NULL, NULL, 0, &e);
            }
            if (rc)
                set_fatal(s, &e);
        }
    }
}

/* ---- talking to rank 0 ------------------------------------------------ */

static void send_request(run_state *s)
{
    uint64_t msg[5] = {(uint64_t)((s->stopping ? REQ_STOPPING : 0) | (s->fatal ? REQ_FATAL : 0)),
                       s->done, s->failed, s->bytes_read, 0};
    if (MPI_CHECK(s, MPI_Send(msg, 5, MPI_UINT64_T, 0, TAG_REQ, s->comm)) == 0) {
        s->req_out = 1;
        s->req_sent = now_s();
    }
}

static void poll_assignment(run_state *s)
{
    int flag;
    MPI_Status st;
    if (MPI_CHECK(s, MPI_Iprobe(0, TAG_ASSIGN, s->comm, &flag, &st)) || !flag)
        return;
    int rrc = MPI_CHECK(s, ppx_wire_recv(&s->scratch, 0, TAG_ASSIGN, s->comm));
    s->req_out = 0;
    if (rrc)
        return;
    size_t n = s->scratch.len;
    int kind, stop;
    chunk *c = unpack_assign(s->scratch.data, n, s->cfg->transport_bytes, &kind, &stop);
    if (stop && !s->stopping) {
        s->stopping = 1;
        s->draining = stop == STOP_DRAIN;
        if (!s->stop_reason)
            s->stop_reason = "stopped by rank 0";
    }
    if (stop == STOP_NOW)
        s->draining = 0;
    if (kind == ASSIGN_NOMORE) {
        s->no_more = 1;
    } else if (!c) {
        ppx_err e;
        ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "malformed assignment from rank 0");
        set_fatal(s, &e);
    } else if (s->stopping) {
        chunk_free(c);
    } else {
        enqueue(s, c);
    }
    if (s->stopping)
        drop_unstarted(s);
}

/* Rank 0: answers requests and stores chunk results. */
static void serve(run_state *s)
{
    for (;;) {
        int flag;
        MPI_Status st;
        if (MPI_CHECK(s, MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, s->comm, &flag, &st)) || !flag)
            break;
        int src = st.MPI_SOURCE;
        s->last_seen[src] = now_s();
        if (st.MPI_TAG == TAG_BEAT) {
            uint64_t msg[3];
            if (MPI_CHECK(s, MPI_Recv(msg, 3, MPI_UINT64_T, src, TAG_BEAT, s->comm,
                                      MPI_STATUS_IGNORE)) == 0) {
                s->rank_done[src] = msg[0];
                s->rank_failed[src] = msg[1];
                s->rank_bytes[src] = msg[2];
            }
            continue;
        }
        if (st.MPI_TAG == TAG_CHUNKRES) {
            /* Out of memory here leaves fragments unreceived: MPI_ERR_NO_MEM
             * is fatal and the end is an abort, never a wrong agreement. */
            if (MPI_CHECK(s, ppx_wire_recv(&s->scratch, src, TAG_CHUNKRES, s->comm)) == 0)
                store_remote_chunk(s, s->scratch.data, s->scratch.len);
            continue;
        }
        if (st.MPI_TAG == TAG_DONE) {
            /* Sent after the rank's last chunk results: nothing more from it. */
            MPI_CHECK(s, MPI_Recv(NULL, 0, MPI_BYTE, src, TAG_DONE, s->comm, MPI_STATUS_IGNORE));
            if (!s->left[src])
                s->ranks_done++;
            s->left[src] = 1;
            continue;
        }
        if (st.MPI_TAG != TAG_REQ) {
            /* Not ours: leave it (cannot happen with this protocol). */
            break;
        }
        uint64_t msg[5];
        if (MPI_CHECK(s, MPI_Recv(msg, 5, MPI_UINT64_T, src, TAG_REQ, s->comm,
                                  MPI_STATUS_IGNORE)))
            continue;
        s->rank_done[src] = msg[1];
        s->rank_failed[src] = msg[2];
        s->rank_bytes[src] = msg[3];
        if (msg[0] & REQ_FATAL)
            s->global_fatal = 1;
        if (msg[0] & (REQ_STOPPING | REQ_FATAL)) {
            s->global_stop = 1;
            if (!s->stop_reason)
                s->stop_reason = (msg[0] & REQ_FATAL) ? "fatal error on a rank" : "signal";
        }
        /* The previous assignment to this rank is complete: it asked again. */
        MPI_CHECK(s, ppx_wire_wait(&s->send_ws[src]));
        int64_t id = (s->global_stop || (msg[0] & REQ_STOPPING)) ? -1 : take_chunk_id(s);
        int kind = id >= 0 ? ASSIGN_CHUNK : ASSIGN_NOMORE;
        int stop = !s->global_stop ? STOP_NONE : s->draining ? STOP_DRAIN : STOP_NOW;
        const ppx_buf *out = &s->send_buf[src];
        if (pack_assign(s, kind, stop, id >= 0 ? (uint64_t)id : 0, &s->send_buf[src])) {
            /* No memory for the assignment: the rank still gets an answer
             * (stop, no more work; packed at start), so it never waits for ever. */
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing chunk %lld",
                        (long long)id);
            set_fatal(s, &e);
            s->global_stop = 1;
            out = &s->stop_msg;
        }
        MPI_CHECK(s, ppx_wire_isend(&s->send_ws[src], out->data, out->len, src, TAG_ASSIGN,
                                    s->comm));
    }
}

/* ---- ranks that fall silent ------------------------------------------- */

/* Rank 0: a rank not heard from for --rank-timeout (no beat, request or
 * result: it sends a beat every BEAT_S even when busy) is stopped, hung or
 * gone. The job stops, and ends without it (finish_alone). */
static void check_silent(run_state *s)
{
    double limit = s->cfg->rank_timeout_s, t = now_s();
    if (limit <= 0)
        return;
    for (int r = 1; r < s->size; r++) {
        if (s->left[r] || t - s->last_seen[r] <= limit)
            continue;
        s->left[r] = 1;
        s->silent++;
        fprintf(stderr,
                "prepix: rank %d has been silent for %.0f s (stopped, hung, or its node is "
                "gone): stopping the job; --resume finishes it\n",
                r, t - s->last_seen[r]);
        size_t l = strlen(s->silent_reason);
        snprintf(s->silent_reason + l, sizeof s->silent_reason - l, "%s%d",
                 s->silent == 1 ? "silent rank(s): " : ", ", r);
        s->stop_reason = s->silent_reason;
        if (!s->global_stop || s->draining) {
            s->global_stop = s->stopping = 1;
            s->draining = 0;
        }
    }
}

/* Rank > 0: tells rank 0 it is alive; 1 when rank 0 itself has not answered
 * a request for --rank-timeout (it is stopped, hung or gone). */
static int beat(run_state *s)
{
    double t = now_s();
    if (t - s->last_beat >= BEAT_S) {
        uint64_t msg[3] = {s->done, s->failed, s->bytes_read};
        MPI_CHECK(s, MPI_Send(msg, 3, MPI_UINT64_T, 0, TAG_BEAT, s->comm));
        s->last_beat = t;
    }
    double limit = s->cfg->rank_timeout_s;
    if (s->req_out && limit > 0 && t - s->req_sent > limit) {
        fprintf(stderr,
                "prepix: rank %d: rank 0 has not answered for %.0f s (stopped, hung, or its "
                "node is gone): ending the job; --resume finishes it\n",
                s->rank, t - s->req_sent);
        return 1;
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------- */

/* Images failed in this attempt, on every rank (as far as rank 0 knows). */
static uint64_t total_failed(const run_state *s)
{
    uint64_t f = s->failed;
    for (int r = 1; r < s->size; r++)
        f += s->rank_failed[r];
    return f;
}

static void check_stop(run_state *s)
{
    if (stop_signal && (!s->stopping || s->draining)) {
        s->stopping = 1;
        s->draining = 0;
        s->stop_reason = stop_signal == SIGINT    ? "SIGINT"
                         : stop_signal == SIGTERM ? "SIGTERM"
                         : stop_signal == SIGUSR1 ? "SIGUSR1"
                                                  : "signal";
        fprintf(stderr, "prepix: rank %d: %s received: finishing the images in progress\n",
                s->rank, s->stop_reason);
    }
    if (s->rank == 0) {
        int64_t maxf = s->cfg->max_failures;
        /* The limit counts this attempt's failures: those in the journal
         * are known, and --resume must always be able to go on. */
        if (maxf >= 0 && !s->global_stop && total_failed(s) >= (uint64_t)(maxf > 0 ? maxf : 1)) {
            s->global_stop = 1;
            s->stopping = s->draining = 1;
            s->stop_reason = "--max-failures reached";
            fprintf(stderr,
                    "prepix: %llu images failed in this attempt: --max-failures %lld reached; "
                    "finishing the chunks already started, then stopping\n",
                    (unsigned long long)total_failed(s), (long long)maxf);
        }
        if (s->stopping)
            s->global_stop = 1;
        if (s->global_stop && !s->stopping)
            s->stopping = 1;
    }
    if (s->stopping)
        drop_unstarted(s);
}

static void show_progress(run_state *s, int final)
{
    if (s->rank != 0)
        return;
    uint64_t done = s->done, failed = total_failed(s), bytes = s->bytes_read;
    for (int r = 1; r < s->size; r++) {
        done += s->rank_done[r];
        bytes += s->rank_bytes[r];
    }
    ppx_progress_update(&s->progress, done, failed, bytes, final);
}

static int run_loop(run_state *s)
{
    double stop_deadline = 0;
    for (;;) {
        check_stop(s);
        if (s->stopping && !s->draining && stop_deadline == 0)
            /* Images in workers get a bounded time to finish (their chunks
             * are not journaled either way, so --resume redoes them). */
            stop_deadline = now_s() + (s->cfg->timeout_s < STOP_GRACE_S ? s->cfg->timeout_s
                                                                      : STOP_GRACE_S);
        /* Get work. */
        if (s->rank == 0) {
            while (!s->stopping && !s->no_more && unstarted(s) < PREFETCH) {
                int64_t id = take_chunk_id(s);
                if (id < 0) {
                    s->no_more = 1;
                    break;
                }
                chunk *c = make_local_chunk(s, (uint64_t)id);
                if (!c) {
                    ppx_err e;
                    ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
                    set_fatal(s, &e);
                    break;
                }
                enqueue(s, c);
            }
            if (s->stopping)
                s->no_more = 1;
            if (s->size > 1) {
                serve(s);
                check_silent(s);
            }
        } else {
            if (!s->req_out && !s->no_more && (s->stopping || unstarted(s) < PREFETCH))
                send_request(s);
            if (s->req_out)
                poll_assignment(s);
            if (beat(s))
                return PPX_SCHED_STALLED;
        }
        feed(s);
        collect_finished(s);

        int busy = ppx_pool_pending(s->pool); /* queued images included */
        int local_done = busy == 0 && (s->queue_head == NULL || (s->stopping && !s->draining));
        if (s->stopping && !s->draining && busy > 0 && now_s() > stop_deadline)
            local_done = 1; /* abandon what is still running: --resume redoes it */
        if (s->rank == 0) {
            /* Every other rank has said it is done, after its last chunk
             * results (bytes transport): nothing is left in flight. */
            int others_done = s->ranks_done + s->silent == s->size - 1;
            if (local_done && s->no_more && others_done)
                break;
        } else if (local_done && s->no_more) {
            break;
        }
        /* Wait for results; with other ranks to serve or answer, wake often. */
        int timeout = (s->size > 1) ? 2 : 200;
        if (busy == 0 && s->size == 1 && s->queue_head == NULL)
            timeout = 0;
        ppx_err e;
        ppx_err_clear(&e);
        int rc = ppx_pool_wait(s->pool, timeout, sig_pipe[0], on_result, s, &e);
        if (rc < 0)
            set_fatal(s, &e);
        if (sig_pipe[0] >= 0) {
            char sink[16];
            while (read(sig_pipe[0], sink, sizeof sink) > 0)
                ;
        }
        show_progress(s, 0);
    }
    if (s->res_pending) {
        MPI_CHECK(s, ppx_wire_wait(&s->res_ws));
        s->res_pending = 0;
    }
    if (s->rank != 0)
        MPI_CHECK(s, MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_DONE, s->comm));
    if (s->rank == 0)
        for (int r = 1; r < s->size; r++)
            MPI_CHECK(s, ppx_wire_wait(&s->send_ws[r]));
    return 0;
}

/* ---- set-up on rank 0 ------------------------------------------------- */

static int path_inside(const char *outdir, const char *input)
{
    char a[4096], b[4096];
    if (!realpath(input, a))
        return 0;
    /* OUTDIR may not exist yet: resolve its nearest existing ancestor. */
    char probe[4096], rest[4096] = "";
    snprintf(probe, sizeof probe, "%s", outdir);
    while (!realpath(probe, b)) {
        char *slash = strrchr(probe, '/');
        char tmp[8200];
        snprintf(tmp, sizeof tmp, "/%s%s", slash ? slash + 1 : probe, rest);
        snprintf(rest, sizeof rest, "%.4000s", tmp);
        if (!slash) {
            if (!getcwd(b, sizeof b))
                return 0;
            break;
        }
        if (slash == probe) {
            snprintf(b, sizeof b, "/");
            break;
        }
        *slash = '\0';
    }
    char full[8192];
    snprintf(full, sizeof full, "%s%s", strcmp(b, "/") == 0 ? "" : b, rest);
    size_t la = strlen(a);
    return strncmp(full, a, la) == 0 && (full[la] == '\0' || full[la] == '/');
}

/* Marks the images that fail before any work (s->prefail): entries the walk
 * could not read, and with per-image outputs, names that cannot be outputs
 * (outside OUTDIR, too long) and outputs an earlier input already has (x.png
 * and x.jpg both become x.jpg with -f jpeg; a list naming one file twice):
 * the later one fails at stage input, so that no two workers ever write the
 * same file. Open addressing over FNV-1a hashes of the output names. */
static int check_outputs(run_state *s)
{
    size_t n = s->listing.n, cap = 16;
    s->prefail = calloc(n ? n : 1, sizeof *s->prefail);
    if (!s->prefail)
        return -1;
    for (size_t k = 0; k < s->listing.n_walk_errors; k++) {
        const ppx_walk_error *w = &s->listing.walk_errors[k];
        s->prefail[w->index] = PREFAIL_WALK | (uint32_t)w->errno_value << 8;
    }
    if (!s->cfg->outdir || s->cfg->shard)
        return 0;
    while (cap < 2 * n)
        cap *= 2;
    int64_t *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    char name[PPX_KEY_MAX], other[PPX_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        if (s->prefail[i])
            continue;
        ppx_err e;
        int rc = ppx_output_name(name, sizeof name, ppx_listing_key(&s->listing, i),
                                 s->cfg->out_format, &e);
        if (rc) {
            s->prefail[i] = rc == PPX_ENAMETOOLONG ? PREFAIL_TOOLONG : PREFAIL_UNSAFE;
            continue;
        }
        /* Every name goes into the table, failed ones too, so that a later
         * copy of a line finds its twin ("listed twice"), not just the first
         * holder of the name. */
        uint64_t h = ppx_fnv1a(PPX_FNV1A_INIT, name, strlen(name));
        const char *key = ppx_listing_key(&s->listing, i);
        size_t k = h & (cap - 1);
        for (; slot[k] >= 0; k = (k + 1) & (cap - 1)) {
            const char *ok = ppx_listing_key(&s->listing, (size_t)slot[k]);
            if (ppx_output_name(other, sizeof other, ok, s->cfg->out_format, &e) != 0 ||
                strcmp(other, name) != 0)
                continue;
            if (strcmp(ok, key) == 0) {
                s->prefail[i] = PREFAIL_TWICE;
                break;
            }
            s->prefail[i] = PREFAIL_COLLIDE;
        }
        while (slot[k] >= 0)
            k = (k + 1) & (cap - 1);
        slot[k] = (int64_t)i;
    }
    free(slot);
    return 0;
}

/* For an @LIST, the "OUTDIR is not INPUT" rule applied to what the list names:
 * OUTDIR may not be the list's folder, and no listed file may lie inside
 * OUTDIR (its output could replace it). OUTDIR that does not exist yet holds
 * nothing. 1 (refused, message printed) or 0. */
static int list_into_outdir(const run_state *s)
{
    char out[PATH_MAX], dir[PATH_MAX], last[PATH_MAX] = "", real_last[PATH_MAX] = "";
    if (!realpath(s->cfg->outdir, out))
        return 0;
    size_t lo = strlen(out);
    if (realpath(s->root, dir) && strcmp(dir, out) == 0) {
        fprintf(stderr, "prepix: OUTDIR %s is the folder of the list; choose another folder\n",
                s->cfg->outdir);
        return 1;
    }
    for (size_t i = 0; i < s->listing.n; i++) {
        char path[PATH_MAX], parent[PATH_MAX];
        if (input_path(s, ppx_listing_key(&s->listing, i), path, sizeof path))
            continue;
        const char *slash = strrchr(path, '/');
        snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? path : ".");
        if (parent[0] == '\0')
            snprintf(parent, sizeof parent, "/");
        if (strcmp(parent, last) != 0) { /* consecutive lines mostly share a folder */
            snprintf(last, sizeof last, "%s", parent);
            if (!realpath(parent, real_last))
                real_last[0] = '\0';
        }
        char real[2 * PATH_MAX + 2];
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
            if (!realpath(path, real))
                continue;
        } else {
            snprintf(real, sizeof real, "%s/%s", real_last, slash ? slash + 1 : path);
        }
        if (real_last[0] && strncmp(real, out, lo) == 0 && (real[lo] == '/' || real[lo] == '\0')) {
            char shown[PPX_ERR_PATH_MAX * 4];
            ppx_escape_name(shown, sizeof shown, path);
            fprintf(stderr,
                    "prepix: the list names %s, inside OUTDIR %s: its output could replace it; "
                    "choose another OUTDIR\n",
                    shown, s->cfg->outdir);
            return 1;
        }
    }
    return 0;
}

static const char *format_name(const ppx_run_config *cfg)
{
    if (cfg->shard)
        return cfg->shard == PPX_SHARD_TAR ? "tar" : "npy";
    return cfg->out_format == PPX_FMT_UNKNOWN ? "same" : ppx_format_name(cfg->out_format);
}

/* One run at a time per OUTDIR: an flock on .prepix/lock, held by rank 0
 * until it exits (the lock dies with the process, so a killed run never
 * leaves it behind). The holder writes "pid host" into it for the message
 * of the next one. 0, or an exit code with the message printed. */
static int take_lock(run_state *s)
{
    s->lock_fd = openat(s->jdir, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                        0600);
    struct stat st;
    if (s->lock_fd < 0 || fstat(s->lock_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "prepix: cannot open %s/.prepix/lock: %s\n", s->cfg->outdir,
                s->lock_fd < 0 ? strerror(errno) : "not a regular file");
        return 1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            /* A file system without flock: say so, and go on unprotected. */
            fprintf(stderr, "prepix: warning: cannot lock %s (%s): make sure no other run "
                            "uses it\n",
                    s->cfg->outdir, strerror(errno));
            return 0;
        }
        char holder[128] = "";
        ssize_t n = pread(s->lock_fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        long pid = 0;
        char host[64] = "?";
        sscanf(holder, "%ld %63s", &pid, host);
        char shown[256];
        ppx_escape_name(shown, sizeof shown, host);
        fprintf(stderr,
                "prepix: OUTDIR %s is in use by another prepix run (pid %ld on host %s); one run "
                "at a time per OUTDIR\n",
                s->cfg->outdir, pid, shown);
        return 2;
    }
    char me[128], host[64] = "?";
    gethostname(host, sizeof host - 1);
    int n = snprintf(me, sizeof me, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, me, (size_t)n, 0) != n)
        fprintf(stderr, "prepix: warning: cannot write the lock's holder: %s\n", strerror(errno));
    return 0;
}

/* Opens OUTDIR (made when writing) and its private .prepix folder. dry-run
 * opens only what exists and creates nothing. */
static int open_outdir(run_state *s, int create, ppx_err *e)
{
    int rc = ppx_outdir_open(&s->outdir, s->cfg->outdir, create, e);
    if (rc == PPX_ENOENT)
        return 0;
    if (rc)
        return rc;
    if (create) {
        s->jdir = ppx_private_dir_open(s->outdir.fd, ".prepix", e);
        return s->jdir < 0 ? s->jdir : 0;
    }
    s->jdir = openat(s->outdir.fd, ".prepix", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return 0;
}

/* Lists the input, checks OUTDIR and the journal. Returns 0 or an exit code. */
static int setup_rank0(run_state *s, uint64_t total_workers)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_err e;
    ppx_err_clear(&e);
    if (cfg->outdir && cfg->input[0] != '@' && path_inside(cfg->outdir, cfg->input)) {
        fprintf(stderr, "prepix: OUTDIR %s is INPUT or lies inside it; choose another folder\n",
                cfg->outdir);
        return 2;
    }
    int rc = ppx_listing_build(cfg->input, &s->listing, &e);
    if (rc) {
        fprintf(stderr, "prepix: %s\n", e.msg);
        return rc == PPX_ENOENT || rc == PPX_EUSAGE ? 2 : 1;
    }
    snprintf(s->root, sizeof s->root, "%s", s->listing.root);
    if (cfg->outdir && s->listing.is_list && list_into_outdir(s))
        return 2;
    if (check_outputs(s) || (cfg->shard && ppx_classes_build(&s->classes, &s->listing))) {
        fprintf(stderr, "prepix: out of memory\n");
        return 1;
    }

    ppx_run_identity prev, now;
    int have_prev = 0;
    if (cfg->outdir) {
        /* An earlier run refused without --resume writes nothing: look
         * before creating anything. */
        rc = open_outdir(s, 0, &e);
        if (!rc && s->jdir >= 0)
            have_prev = ppx_journal_read_identity(s->jdir, &prev, &e);
        if (rc || have_prev < 0) {
            fprintf(stderr, "prepix: %s/.prepix: %s\n", cfg->outdir, e.msg);
            return 1;
        }
        if (have_prev && !cfg->resume && !cfg->dry_run) {
            /* Say whether --resume would be taken, so the advice is true. */
            uint64_t cs = cfg->chunk_size ? cfg->chunk_size : ppx_identity_chunk_size(&prev);
            char diff[8192];
            ppx_identity_make(&now, ppx_pipeline_canonical(cfg->pipeline), format_name(cfg),
                              cfg->quality, cfg->seed, cfg->limits.max_pixels, s->listing.hash,
                              s->listing.n, cs ? cs : 1);
            if (ppx_identity_diff(&prev, &now, diff, sizeof diff))
                fprintf(stderr,
                        "prepix: %s holds an earlier prepix run of another job (%s), which "
                        "--resume cannot finish: to start over, remove %s (or choose an empty "
                        "OUTDIR)\n",
                        cfg->outdir, diff, cfg->outdir);
            else
                fprintf(stderr,
                        "prepix: %s holds an earlier prepix run (%s/.prepix); pass --resume to "
                        "finish it, or choose an empty OUTDIR\n",
                        cfg->outdir, cfg->outdir);
            return 2;
        }
    }
    if (have_prev && cfg->resume) {
        s->chunk_size = ppx_identity_chunk_size(&prev);
        if (cfg->chunk_size && cfg->chunk_size != s->chunk_size) {
            fprintf(stderr, "prepix: --resume: chunk size %llu differs from the journal's %llu\n",
                    (unsigned long long)cfg->chunk_size, (unsigned long long)s->chunk_size);
            return 2;
        }
    } else if (cfg->chunk_size) {
        s->chunk_size = cfg->chunk_size;
    } else {
        /* About 32 chunks per worker of the job: the last chunks end the job
         * unevenly (one rank still busy while the others have nothing), and
         * that tail is about one chunk long; a chunk costs only a request
         * and a journal record. At most 256 images, so a lost chunk costs
         * little. */
        uint64_t per = 32 * (total_workers ? total_workers : 1);
        s->chunk_size = (s->listing.n + per - 1) / per;
        if (s->chunk_size < 1)
            s->chunk_size = 1;
        if (s->chunk_size > 256)
            s->chunk_size = 256;
    }
    if (s->chunk_size == 0)
        s->chunk_size = 1;
    s->n_chunks = (s->listing.n + s->chunk_size - 1) / s->chunk_size;
    ppx_identity_make(&now, ppx_pipeline_canonical(cfg->pipeline), format_name(cfg),
                      cfg->quality, cfg->seed, cfg->limits.max_pixels, s->listing.hash,
                      s->listing.n, s->chunk_size);
    if (have_prev && cfg->resume) {
        char diff[8192];
        if (ppx_identity_diff(&prev, &now, diff, sizeof diff)) {
            fprintf(stderr,
                    "prepix: --resume refused: this run differs from the one in %s: %s. To "
                    "start over, remove %s (or choose an empty OUTDIR)\n",
                    cfg->outdir, diff, cfg->outdir);
            return 2;
        }
    }
    if (cfg->dry_run)
        return 0;
    if (cfg->outdir) {
        if (s->jdir >= 0)
            close(s->jdir);
        s->jdir = -1;
        ppx_outdir_close(&s->outdir);
        rc = open_outdir(s, 1, &e);
        if (rc) {
            fprintf(stderr, "prepix: %s\n", e.msg);
            return 1;
        }
        int code = take_lock(s);
        if (code)
            return code;
        /* Under the lock, read the identity again: another run may have
         * started and stopped between the first look and the lock. */
        have_prev = ppx_journal_read_identity(s->jdir, &prev, &e);
        if (have_prev < 0 || (have_prev && !cfg->resume)) {
            fprintf(stderr, "prepix: %s\n",
                    have_prev < 0 ? e.msg : "another run wrote OUTDIR meanwhile: pass --resume");
            return have_prev < 0 ? 1 : 2;
        }
        rc = have_prev ? 0 : ppx_journal_write_identity(s->jdir, &now, &e);
        if (!rc)
            rc = ppx_journal_load(s->jdir, s->n_chunks, &s->resume, &e);
        if (rc) {
            fprintf(stderr, "prepix: %s\n", e.msg);
            return rc == PPX_EUSAGE ? 2 : 1;
        }
        s->attempt = s->resume.next_attempt;
        /* Temporary files of workers killed mid-write in an earlier attempt. */
        uint64_t swept = have_prev ? ppx_sweep_temps(s->outdir.fd) : 0;
        if (swept)
            fprintf(stderr, "prepix: removed %llu temporary files an earlier attempt left\n",
                    (unsigned long long)swept);
        if (s->resume.duplicates)
            fprintf(stderr, "prepix: warning: the journal holds %llu chunks twice\n",
                    (unsigned long long)s->resume.duplicates);
        if (s->resume.chunks)
            fprintf(stderr, "prepix: resuming: %llu of %llu chunks (%llu images) already done\n",
                    (unsigned long long)s->resume.chunks, (unsigned long long)s->n_chunks,
                    (unsigned long long)s->resume.images);
    } else {
        ppx_stats_init(&s->resume.stats);
    }
    return 0;
}

static void dry_run_list(run_state *s)
{
    char out[PPX_KEY_MAX], key[PPX_KEY_MAX * 4], name[PPX_KEY_MAX * 4];
    for (size_t i = 0; i < s->listing.n; i++) {
        const char *k = ppx_listing_key(&s->listing, i);
        ppx_escape_name(key, sizeof key, k);
        int named = 0;
        if (s->cfg->outdir && s->cfg->shard)
            named = ppx_shard_path(out, sizeof out, s->cfg->outdir, s->cfg->shard,
                                   i / s->chunk_size, 0) == 0;
        else if (s->cfg->outdir && !(s->prefail && s->prefail[i]))
            named = ppx_output_name(out, sizeof out, k, s->cfg->out_format, NULL) == 0;
        if (s->prefail && s->prefail[i]) {
            ppx_result r;
            prefail_result(s->prefail[i], &r);
            printf("%s -> fails: %s\n", key, r.err.msg);
        } else if (named) {
            ppx_escape_name(name, sizeof name, out);
            if (s->cfg->shard)
                printf("%s -> %s\n", key, name);
            else
                printf("%s -> %s/%s\n", key, s->cfg->outdir, name);
        } else {
            printf("%s\n", key);
        }
    }
    fprintf(stderr, "prepix: dry run: %zu images in %llu chunks of %llu, %llu files skipped\n",
            s->listing.n, (unsigned long long)s->n_chunks, (unsigned long long)s->chunk_size,
            (unsigned long long)s->listing.skipped);
}

/* ---- the end ---------------------------------------------------------- */

static void merge_op(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    ppx_stats *a = in, *b = inout;
    for (int i = 0; i < *len; i++)
        ppx_stats_merge(&b[i], &a[i]);
}

/* A report: under OUTDIR by default (never through a link there), or where
 * the user said (ppx_report_file_write's rules for devices and links). */
static int write_report(run_state *s, const char *user_path, const char *name,
                        const ppx_buf *b)
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

/* Rank 0, at the end: combines the totals (resumed work added unless
 * with_resumed is 0: the caller's totals hold it), decides the exit code,
 * writes index.csv, the JSON and HTML reports and the summary. all[0]: some
 * rank had a fatal error; all[1]: some rank stopped early. */
static int end_report(run_state *s, ppx_stats *totalp, ppx_failures *all_failsp,
                      ppx_rank_info *ranks, const int all[2], int with_resumed)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_stats total = *totalp;
    ppx_failures all_fails = *all_failsp; /* the caller frees it: the pointer is updated */
    int code = 0;
    if (with_resumed) {
        ppx_stats_merge(&total, &s->resume.stats);
        if (ppx_failures_extend(&all_fails, &s->resume.failures))
            s->global_fatal = 1;
    }
    ppx_failures_sort(&all_fails);
    int stopped = all[1] || s->global_stop;
    int fatal = all[0] || s->global_fatal;
    /* The report names the cause of a fatal end: the first rank's error. */
    for (int r = 0; r < s->size && fatal; r++)
        if (ranks[r].error[0]) {
            snprintf(s->fatal_reason, sizeof s->fatal_reason, "rank %d: %s", r,
                     ranks[r].error);
            s->stop_reason = s->fatal_reason;
            break;
        }
    if (!stopped && !fatal && total.ok + total.failed != s->listing.n) {
        /* A complete run accounts for every listed image; anything else
         * is a bug, and must never pass as success. */
        fprintf(stderr, "prepix: internal error: %llu of %llu images accounted for\n",
                (unsigned long long)(total.ok + total.failed),
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
    if ((code == 0 || code == 3) && cfg->shard && cfg->outdir) {
        /* Only a complete run knows every shard's members. */
        ppx_err e;
        ppx_err_clear(&e);
        if (ppx_shard_write_index(s->outdir.fd, cfg->shard, s->chunk_size, &s->listing,
                                  &s->classes, &all_fails, &e)) {
            fprintf(stderr, "prepix: %s\n", e.msg);
            code = 1;
            fatal = 1;
            s->stop_reason = "cannot write index.csv";
        }
    }

    const char **paths = calloc(all_fails.n ? all_fails.n : 1, sizeof *paths);
    char **owned = calloc(all_fails.n ? all_fails.n : 1, sizeof *owned);
    for (size_t i = 0; i < all_fails.n; i++) {
        char p[4096];
        uint64_t idx = all_fails.v[i].index;
        input_path(s, idx < s->listing.n ? ppx_listing_key(&s->listing, idx) : "?", p,
                   sizeof p);
        owned[i] = strdup(p);
        paths[i] = owned[i] ? owned[i] : "?";
    }
    total.total = s->listing.n;
    /* Run-level oddities, said loudly (stderr, JSON, HTML). */
    char wbuf[3][256];
    const char *warn[3];
    size_t nw = 0;
    if (s->listing.n == 0)
        snprintf(wbuf[nw], sizeof wbuf[nw], "no images found under %s (%llu other files "
                 "skipped): nothing was done",
                 cfg->input, (unsigned long long)s->listing.skipped), nw++;
    else if (s->listing.skipped > s->listing.n)
        snprintf(wbuf[nw], sizeof wbuf[nw], "%llu files were skipped as not images, more "
                 "than the %zu images found",
                 (unsigned long long)s->listing.skipped, s->listing.n), nw++;
    if (s->listing.n_walk_errors)
        snprintf(wbuf[nw], sizeof wbuf[nw], "%zu entries under INPUT could not be read "
                 "(listed as failures at stage input)",
                 s->listing.n_walk_errors), nw++;
    for (size_t i = 0; i < nw; i++)
        warn[i] = wbuf[i];
    ppx_report rep = {.warnings = warn,
                      .n_warnings = nw,
                      .command_line = cfg->command_line,.stats = &total,
                      .failures = &all_fails,
                      .fail_paths = paths,
                      .skipped = s->listing.skipped,
                      .resumed_chunks = s->resume.chunks,
                      .resumed_images = s->resume.images,
                      .ranks = s->size,
                      .per_rank = ranks,
                      .elapsed_s = now_s() - s->t0,
                      .complete = !stopped && !fatal,
                      .stop_reason = !stopped && !fatal ? ""
                                     : s->stop_reason ? s->stop_reason
                                     : fatal          ? "fatal error"
                                                      : "stopped",
                      .exit_code = code,
                      .pipeline = cfg->spec ? cfg->spec : "",
                      .format = format_name(cfg),
                      .input = cfg->input,
                      .outdir = cfg->outdir};
    /* Reports go under OUTDIR unless the user named them; stats print to stdout. */
    const char *report_path = cfg->report_path ? cfg->report_path : cfg->outdir ? NULL : "-";
    const char *html_path = cfg->html_path;
    int in_outdir = s->outdir.fd >= 0 && !outdir_gone;
    ppx_buf b;
    ppx_buf_init(&b);
    show_progress(s, 1);
    if ((report_path || in_outdir) &&
        (ppx_report_json(&rep, &b) ||
         write_report(s, report_path, "prepix-report.json", &b))) {
        code = 1;
        rep.report_failed = 1;
    }
    b.len = 0;
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
    *all_failsp = all_fails;
    return code;
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
        if (*deadline > 0 && now_s() > *deadline) {
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
static int finish_alone(run_state *s)
{
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_failures fails = {0};
    ppx_resume_state rs;
    ppx_err e;
    ppx_err_clear(&e);
    memset(&rs, 0, sizeof rs);
    ppx_rank_info *ranks = calloc((size_t)s->size, sizeof *ranks);
    if (s->jdir >= 0 && ppx_journal_load(s->jdir, s->n_chunks, &rs, &e) == 0) {
        total = rs.stats;
        if (ppx_failures_extend(&fails, &rs.failures))
            s->global_fatal = 1;
    } else {
        total = s->acc;
        if (ppx_failures_extend(&fails, &s->fails))
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
        end_report(s, &total, &fails, ranks, all, 0);
    }
    free(ranks);
    ppx_failures_destroy(&fails);
    ppx_resume_state_destroy(&rs);
    return PPX_SCHED_STALLED;
}

static int finish(run_state *s)
{
    int flags[2] = {s->fatal, s->stopping}, all[2] = {flags[0], flags[1]};
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_rank_info me = {.rank = s->rank, .workers = s->workers, .images = s->done,
                        .failed = s->failed, .busy_s = s->busy_s, .elapsed_s = now_s() - s->t0};
    gethostname(me.host, sizeof me.host - 1);
    ppx_rank_info *ranks = calloc((size_t)s->size, sizeof *ranks);
    ppx_failures all_fails = {0};
    ppx_buf packed;
    ppx_buf_init(&packed);
    /* A stopped run's report lists every failure known at the stop: those of
     * chunks left unfinished too (not journaled: --resume redoes them). */
    for (chunk *c = s->queue_head; c; c = c->next_in_queue)
        if (c->remaining) {
            ppx_stats_merge(&s->acc, &c->stats);
            if (ppx_failures_extend(&s->fails, &c->fails)) {
                ppx_err e;
                ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
                set_fatal(s, &e);
            }
        }
    if (ppx_failures_pack(&s->fails, &packed)) {
        ppx_err e;
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory packing failures");
        set_fatal(s, &e);
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
        double deadline = s->rank == 0 && limit > 0 ? now_s() + limit : 0;
        MPI_Request req;
        int broken = MPI_CHECK(s, MPI_Ibarrier(s->comm, &req)) || end_wait(s, &req, &deadline);
        if (!broken && s->rank != 0 && limit > 0)
            deadline = now_s() + limit;
        broken = broken ||
                 MPI_CHECK(s, MPI_Iallreduce(flags, all, 2, MPI_INT, MPI_MAX, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        MPI_Datatype t;
        MPI_Op op;
        if (!broken && !MPI_CHECK(s, MPI_Type_contiguous((int)sizeof(ppx_stats), MPI_BYTE, &t))) {
            if (!MPI_CHECK(s, MPI_Type_commit(&t)) && !MPI_CHECK(s, MPI_Op_create(merge_op, 1, &op))) {
                broken = MPI_CHECK(s, MPI_Ireduce(&s->acc, &total, 1, t, op, 0, s->comm, &req)) ||
                         end_wait(s, &req, &deadline);
                MPI_Op_free(&op);
            } else {
                broken = 1;
            }
            MPI_Type_free(&t);
        } else {
            broken = 1;
        }
        broken = broken ||
                 MPI_CHECK(s, MPI_Igather(&me, (int)sizeof me, MPI_BYTE, ranks, (int)sizeof me,
                                          MPI_BYTE, 0, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        int len = (int)packed.len; /* failures are small records: far below 2 GiB */
        broken = broken ||
                 MPI_CHECK(s, MPI_Igather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        uint8_t *recv = NULL;
        if (!broken && s->rank == 0) {
            size_t sum = 0;
            for (int r = 0; r < s->size; r++) {
                displs[r] = (int)sum;
                sum += (size_t)lens[r];
            }
            if (sum > INT_MAX || !(recv = malloc(sum ? sum : 1))) {
                fprintf(stderr, "prepix: rank 0: cannot gather %zu bytes of failures\n", sum);
                broken = 1;
            }
        }
        broken = broken ||
                 MPI_CHECK(s, MPI_Igatherv(packed.data, len, MPI_BYTE, recv, lens, displs,
                                           MPI_BYTE, 0, s->comm, &req)) ||
                 end_wait(s, &req, &deadline);
        if (!broken && s->rank == 0)
            for (int r = 0; r < s->size && !broken; r++)
                if (ppx_failures_unpack(recv + displs[r], (size_t)lens[r], &all_fails, NULL)) {
                    fprintf(stderr, "prepix: rank 0: malformed failures from rank %d\n", r);
                    broken = 1;
                }
        free(recv);
        if (broken) {
            free(ranks);
            free(lens);
            free(displs);
            ppx_buf_destroy(&packed);
            ppx_failures_destroy(&all_fails);
            if (s->end_timed_out) /* a rank fell silent at the end */
                return s->rank == 0 ? finish_alone(s) : PPX_SCHED_STALLED;
            fprintf(stderr, "prepix: rank %d: the ranks cannot agree on the end of the run "
                            "(%s): aborting the job (exit 1)\n",
                    s->rank, s->fatal ? s->fatal_err.msg : "MPI failure");
            return PPX_SCHED_ABORT;
        }
    } else {
        total = s->acc;
        ranks[0] = me;
        if (ppx_failures_extend(&all_fails, &s->fails))
            s->fatal = all[0] = 1;
    }
    free(lens);
    free(displs);
    ppx_buf_destroy(&packed);

    int code = 0;
    if (s->rank == 0)
        code = end_report(s, &total, &all_fails, ranks, all, 1);
    if (s->mpi) {
        MPI_Request req;
        double deadline = s->cfg->rank_timeout_s > 0 ? now_s() + s->cfg->rank_timeout_s : 0;
        if (MPI_CHECK(s, MPI_Ibcast(&code, 1, MPI_INT, 0, s->comm, &req)) ||
            end_wait(s, &req, &deadline))
            code = s->end_timed_out ? PPX_SCHED_STALLED : PPX_SCHED_ABORT;
    }
    ppx_failures_destroy(&all_fails);
    free(ranks);
    return code;
}

/* ---- entry ------------------------------------------------------------ */

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
    s->t0 = now_s();
    s->size = 1;
    if (s->mpi && (MPI_CHECK(s, MPI_Comm_rank(comm, &s->rank)) ||
                   MPI_CHECK(s, MPI_Comm_size(comm, &s->size)))) {
        free(s);
        return PPX_SCHED_ABORT;
    }
    ppx_stats_init(&s->acc);
    s->workers = cfg->workers > 0 ? cfg->workers : ppx_pool_default_workers();
    ppx_wire_send_init(&s->res_ws);
    s->in_root = s->jdir = s->lock_fd = s->outdir.fd = -1;
    ppx_dircache_init(&s->in_dirs);
    ppx_dircache_init(&s->out_dirs);
    ppx_buf_init(&s->scratch);
    ppx_buf_init(&s->stop_msg);
    ppx_buf_init(&s->res_buf);
    ppx_buf_init(&s->shard_buf);
    int code = 0;

    /* Set-up: rank 0 decides, everyone learns the outcome. */
    uint64_t total_workers = (uint64_t)s->workers;
    if (s->mpi &&
        MPI_CHECK(s, MPI_Allreduce(MPI_IN_PLACE, &total_workers, 1, MPI_UINT64_T, MPI_SUM, comm))) {
        code = PPX_SCHED_ABORT;
        goto out;
    }
    uint64_t hdr[4] = {0, 0, 0, 0};
    if (s->rank == 0) {
        code = setup_rank0(s, total_workers);
        hdr[0] = (uint64_t)code;
        hdr[1] = s->chunk_size;
        hdr[2] = (uint64_t)s->attempt;
        hdr[3] = (uint64_t)s->listing.is_list;
    }
    if (s->mpi) {
        if (MPI_CHECK(s, MPI_Bcast(hdr, 4, MPI_UINT64_T, 0, comm)) ||
            MPI_CHECK(s, MPI_Bcast(s->root, sizeof s->root, MPI_CHAR, 0, comm))) {
            code = PPX_SCHED_ABORT;
            goto out;
        }
        code = (int)hdr[0];
        s->chunk_size = hdr[1];
        s->attempt = (int)hdr[2];
        s->listing.is_list = (int)hdr[3];
    }
    if (code)
        goto out;
    if (cfg->dry_run) {
        if (s->rank == 0)
            dry_run_list(s);
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
        nomem = !s->rank_done || !s->rank_failed || !s->rank_bytes || !s->send_ws ||
                !s->last_seen || !s->left ||
                !s->send_buf || pack_assign(s, ASSIGN_NOMORE, STOP_NOW, 0, &s->stop_msg);
        for (int r = 0; r < s->size && s->send_ws; r++)
            ppx_wire_send_init(&s->send_ws[r]);
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
    if (!s->listing.is_list && !(cfg->transport_bytes && s->rank != 0)) {
        s->in_root = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->in_root < 0)
            local_rc = ppx_err_set(&e, PPX_EIO, PPX_STAGE_INPUT, "cannot open INPUT %s: %s",
                                   s->root, strerror(errno));
    }
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
    s->job.limits = cfg->limits;
    s->job.seed = cfg->seed;
    s->job.write_outputs = cfg->outdir != NULL;
    s->job.in_root = s->in_root;
    s->job.follow_symlinks = cfg->follow_symlinks;
    s->job.out_root = s->outdir.fd;
    s->job.copy_mode = cfg->copy_mode;
    if (cfg->shard == PPX_SHARD_NPY) /* the CLI refused pipelines without a fixed size */
        ppx_pipeline_npy_shape(cfg->pipeline, &s->job.npy);
    if (!local_rc && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        sig_pipe[0] = sig_pipe[1] = -1;
    if (!local_rc) {
        /* Address-space limit: room for the decoded image and the pipeline's
         * two scratch images at the pixel limit, plus the program. Not under
         * AddressSanitizer, which reserves terabytes of shadow memory. */
        uint64_t as = 0;
#if !defined(__SANITIZE_ADDRESS__)
        as = cfg->limits.max_pixels * 4 * 2 * 3 + (1ULL << 30);
#endif
        /* Workers keep INPUT and OUTDIR; the signal pipe, the journal and
         * the lock are the rank's alone (a worker outliving its rank must
         * not hold the OUTDIR lock). */
        int close_fds[5], nc = 0;
        int mine[] = {sig_pipe[0], sig_pipe[1], s->jdir, s->lock_fd, s->journal.fd};
        for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
            if (mine[i] >= 0 && (i != 4 || s->journal_open))
                close_fds[nc++] = mine[i];
        ppx_pool_config pc = {.workers = s->workers,
                              .timeout_s = cfg->timeout_s,
                              .as_limit = as,
                              .job = &s->job,
                              .close_fds = close_fds,
                              .n_close_fds = nc};
        local_rc = ppx_pool_new(&pc, &s->pool, &e);
    }
    /* Agree before going on: one rank that cannot start stops everyone. */
    int any_rc = local_rc ? 1 : 0;
    if (s->mpi && MPI_CHECK(s, MPI_Allreduce(MPI_IN_PLACE, &any_rc, 1, MPI_INT, MPI_MAX, comm))) {
        code = PPX_SCHED_ABORT;
        goto out;
    }
    if (any_rc) {
        if (local_rc)
            fprintf(stderr, "prepix: rank %d: %s\n", s->rank, e.msg);
        code = 1;
        goto out;
    }
    for (int r = 0; r < s->size && s->last_seen; r++)
        s->last_seen[r] = now_s();
    s->last_beat = s->req_sent = now_s();
    int loop_rc = run_loop(s);
    /* Idle workers exit at once; after a stop, the grace for images in
     * progress is spent already, so what still runs is killed promptly. */
    ppx_pool_free(&s->pool, s->stopping ? 0.5 : 5.0);
    code = loop_rc ? loop_rc : s->silent ? finish_alone(s) : finish(s);

out:
    ppx_pool_free(&s->pool, 0);
    if (s->journal_open)
        ppx_journal_close(&s->journal);
    for (chunk *c = s->queue_head, *n; c; c = n) {
        n = c->next_in_queue;
        chunk_free(c);
    }
    if (sig_pipe[0] >= 0) {
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
    }
    if (s->send_buf)
        for (int r = 0; r < s->size; r++)
            ppx_buf_destroy(&s->send_buf[r]);
    free(s->send_buf);
    if (s->send_ws)
        for (int r = 0; r < s->size; r++)
            ppx_wire_send_destroy(&s->send_ws[r]);
    free(s->send_ws);
    ppx_wire_send_destroy(&s->res_ws);
    free(s->rank_done);
    free(s->last_seen);
    free(s->left);
    free(s->rank_failed);
    free(s->rank_bytes);
    ppx_dircache_destroy(&s->in_dirs);
    ppx_dircache_destroy(&s->out_dirs);
    if (s->in_root >= 0)
        close(s->in_root);
    if (s->jdir >= 0)
        close(s->jdir);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the lock, last */
    ppx_outdir_close(&s->outdir);
    ppx_buf_destroy(&s->scratch);
    ppx_buf_destroy(&s->stop_msg);
    ppx_buf_destroy(&s->res_buf);
    ppx_buf_destroy(&s->shard_buf);
    ppx_classes_destroy(&s->classes);
    ppx_failures_destroy(&s->fails);
    ppx_resume_state_destroy(&s->resume);
    ppx_listing_destroy(&s->listing);
    free(s->prefail);
    free(s);
    return code;
}
