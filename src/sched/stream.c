/* A streamed run: rank 0 walks INPUT in a thread while its loop hands out
 * the chunks the walk has produced so far (docs/scheduling.md, "Work while
 * the walk goes on"). The walk is the same depth-first walk as
 * ppx_listing_build's, so the listing, its chunks and its hash are the same
 * as a run that lists first. The thread makes no MPI call. May change:
 * sched_plan (the listing, its marks, chunk size and count), sched_stop
 * (the fatal error), the progress total, and its own ppx_stream. Calls
 * stop.c and plan.c only (setup.c and loop.c call it; watch.c is handed
 * the ranks it holds). */
#include "sched/run_state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prepix/buf.h"
#include "prepix/io.h"
#include "prepix/log.h"

/* A set of strings (output names, archive member keys): open addressing
 * over offsets into an arena. */
typedef struct {
    ppx_buf arena;
    uint64_t *slot; /* offset + 1, 0 empty */
    size_t cap, n;
} str_set;

struct ppx_stream {
    pthread_t thread;
    int started, joined, final; /* final: the walk is over and its outcome taken */
    /* A fair (ticket) lock between the loop and the walk: the listing grows
     * (and moves) under it. */
    pthread_mutex_t m;
    pthread_cond_t c;
    uint64_t next, serving;
    atomic_int waiting;
    volatile sig_atomic_t stop; /* the loop asks the walk to end */
    int done, rc;               /* the walk ended, with rc and err */
    ppx_err err;
    int fd;            /* INPUT, walked */
    size_t err_cursor; /* walk errors marked in prefail */
    uint64_t marked;   /* entries whose prefail is decided */
    uint64_t covered;  /* entries the durable identity covers (listed=) */
    uint64_t wake_at;  /* the walk wakes the loop when it has this many entries */
    uint64_t workers;  /* of the whole job: the automatic chunk size's */
    uint64_t sure;     /* entries past which the automatic chunk size is the largest */
    str_set names, members;
    uint8_t *deferred;  /* per rank: its request waits for a chunk the walk has yet to produce */
    const char *format; /* the run's, as its identity names it (ppx__format_name) */
    uint64_t gate_n;    /* test hook PPX_TEST_WALK_GATE=N:FILE */
    char gate_file[PPX_PATH_MAX];
};

/* ---- the lock ---------------------------------------------------------- */

static void fair_lock(ppx_stream *st)
{
    atomic_fetch_add(&st->waiting, 1);
    pthread_mutex_lock(&st->m);
    uint64_t t = st->next++;
    while (t != st->serving)
        pthread_cond_wait(&st->c, &st->m);
    pthread_mutex_unlock(&st->m);
    atomic_fetch_sub(&st->waiting, 1);
}

static void fair_unlock(ppx_stream *st)
{
    pthread_mutex_lock(&st->m);
    st->serving++;
    pthread_cond_broadcast(&st->c);
    pthread_mutex_unlock(&st->m);
}

void ppx__stream_lock(run_state *s)
{
    if (s->stream && !s->stream->joined)
        fair_lock(s->stream);
}

void ppx__stream_unlock(run_state *s)
{
    if (s->stream && !s->stream->joined)
        fair_unlock(s->stream);
}

/* ---- the walk's thread ------------------------------------------------- */

static void wake_loop(void)
{
    if (ppx__sig_pipe[1] >= 0) {
        ssize_t w = write(ppx__sig_pipe[1], "w", 1);
        (void)w; /* a full pipe wakes the loop already */
    }
}

/* Test hook: the walk holds after gate_n entries until gate_file exists
 * (or the run stops), without the lock, so that the loop goes on. */
static void gate(run_state *s, ppx_stream *st)
{
    if (!st->gate_n || s->plan.listing.n < st->gate_n)
        return;
    st->gate_n = 0;
    fair_unlock(st);
    wake_loop();
    while (!st->stop && access(st->gate_file, F_OK) != 0) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    fair_lock(st);
}

/* Every step of the walk (the lock held): the loop woken once a chunk is
 * whole, the lock given up when the loop waits for it. */
static void on_step(void *arg)
{
    run_state *s = arg;
    ppx_stream *st = s->stream;
    gate(s, st);
    if (s->plan.listing.n >= st->wake_at) {
        st->wake_at = s->plan.listing.n + (s->plan.chunk_size ? s->plan.chunk_size : 64);
        wake_loop();
    }
    if (atomic_load(&st->waiting)) {
        fair_unlock(st);
        fair_lock(st);
    }
}

static void release(void *arg)
{
    fair_unlock(((run_state *)arg)->stream);
}

static void acquire(void *arg)
{
    fair_lock(((run_state *)arg)->stream);
}

static void *walker(void *arg)
{
    run_state *s = arg;
    ppx_stream *st = s->stream;
    fair_lock(st);
    ppx_err_clear(&st->err);
    st->rc = ppx_listing_walk_root(&s->plan.listing, st->fd, &st->err);
    st->done = 1;
    fair_unlock(st);
    wake_loop();
    return NULL;
}

/* ---- which runs stream ------------------------------------------------- */

int ppx__stream_wanted(const ppx_run_config *cfg)
{
#ifdef PPX_TEST_HOOKS
    const char *no = getenv("PPX_TEST_NO_STREAM"), *f = getenv("PPX_TEST_FAULT");
    if ((no && no[0] == '1') || (f && strstr(f, "stall-listing:")))
        return 0;
#endif
    struct stat sb;
    /* The chunks must not depend on the listing's size (--shards does), a
     * shard's labels not on entries the walk has yet to list (the classes of
     * an archive at the top level may sort before folders walked earlier),
     * and the other modes need the whole listing before any work
     * (docs/scheduling.md). */
    return !cfg->shards && !cfg->resume && !cfg->dry_run && !cfg->n_splits && !cfg->exclude &&
           !ppx_sub_active(&cfg->sub) && !cfg->coco && cfg->n_with == 0 && cfg->input[0] != '@' &&
           stat(cfg->input, &sb) == 0 && S_ISDIR(sb.st_mode) &&
           (!cfg->shard || !ppx_listing_top_has_archive(cfg->input));
}

static void read_gate(ppx_stream *st)
{
#ifdef PPX_TEST_HOOKS
    const char *g = getenv("PPX_TEST_WALK_GATE");
    char *colon = NULL;
    unsigned long long n = g ? strtoull(g, &colon, 10) : 0;
    if (n && colon && *colon == ':') {
        st->gate_n = n;
        snprintf(st->gate_file, sizeof st->gate_file, "%s", colon + 1);
    }
#else
    (void)st;
#endif
}

/* INPUT opened as ppx_listing_build opens a folder, the listing prepared. */
int ppx__stream_prepare(run_state *s, uint64_t total_workers, const char *format, ppx_err *e)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_listing *l = &s->plan.listing;
    memset(l, 0, sizeof *l);
    l->hash = PPX_FNV1A_INIT;
    l->follow_symlinks = cfg->follow_symlinks;
    ppx_stream *st = calloc(1, sizeof *st);
    if (!st)
        return ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    s->stream = st;
    st->format = format;
    st->fd = ppx_list_open_at(AT_FDCWD, cfg->input, 1, 1);
    if (st->fd < 0)
        return ppx_err_set(e, st->fd == -ENOENT ? PPX_ENOENT : PPX_EIO, PPX_STAGE_INPUT,
                           "input %s: %s", cfg->input, strerror(-st->fd));
    snprintf(l->root, sizeof l->root, "%s", cfg->input);
    struct stat sb;
    if (fstat(st->fd, &sb) == 0)
        l->root_id = (ppx_file_id){(uint64_t)sb.st_dev, (uint64_t)sb.st_ino, (uint32_t)sb.st_mode};
    snprintf(s->plan.root, sizeof s->plan.root, "%s", l->root);
    pthread_mutex_init(&st->m, NULL);
    pthread_cond_init(&st->c, NULL);
    read_gate(st);
    /* The automatic size (ppx__plan_auto_chunk_size) is known once the walk
     * has listed more than 32 chunks of the largest size less one per
     * worker, or when it ends: 0 until then. */
    s->plan.chunk_size = cfg->chunk_size;
    s->plan.n_chunks = 0;
    ppx_classes_init(&s->plan.classes);
    st->workers = total_workers ? total_workers : 1;
    st->sure = ppx__plan_auto_chunk_sure(st->workers);
    return 0;
}

int ppx__stream_start(run_state *s)
{
    ppx_stream *st = s->stream;
    ppx_listing *l = &s->plan.listing;
    st->deferred = calloc((size_t)(s->size > 0 ? s->size : 1), 1);
    if (!st->deferred)
        return PPX_ENOMEM;
    l->stop = &st->stop;
    l->on_step = on_step;
    l->release = release;
    l->acquire = acquire;
    l->hook_arg = s;
    st->wake_at = s->plan.chunk_size ? s->plan.chunk_size : st->sure + 1;
    /* The loop gets the signals (the walk looks at st->stop only). */
    fair_lock(st); /* held by the loop but while it waits for results */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&st->thread, NULL, walker, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        close(st->fd);
        return PPX_ENOMEM;
    }
    st->started = 1;
    return 0;
}

/* Companion members of archives that no --with role claims are left out:
 * counted in skipped, and the report says so. */
void ppx__count_stray_companions(ppx_listing *l, const ppx_run_config *cfg)
{
    for (size_t i = 0; i < l->n_sides; i++) {
        const char *ext = (const char *)l->side_names.data + l->sides[i].ext;
        if (!l->sides[i].companion || ppx_listing_companion_role(cfg, ext) >= 0)
            continue;
        l->skipped++;
        if (l->stray_companions++ == 0)
            snprintf(l->stray_companion_first, sizeof l->stray_companion_first, "%s", ext);
    }
}

/* ---- output names, as ppx__mark_collisions decides them ---------------- */

static uint64_t str_hash(const char *k)
{
    return ppx_fnv1a(PPX_FNV1A_INIT, k, strlen(k));
}

/* Adds k to the set: 1 when it was there already, 0 when added, or
 * PPX_ENOMEM. */
static int set_add(str_set *set, const char *k)
{
    if (2 * (set->n + 1) > set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 1024;
        uint64_t *v = calloc(cap, sizeof *v);
        if (!v)
            return PPX_ENOMEM;
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slot[i])
                continue;
            size_t j = str_hash((const char *)set->arena.data + set->slot[i] - 1) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = set->slot[i];
        }
        free(set->slot);
        set->slot = v;
        set->cap = cap;
    }
    size_t j = str_hash(k) & (set->cap - 1);
    for (; set->slot[j]; j = (j + 1) & (set->cap - 1))
        if (strcmp((const char *)set->arena.data + set->slot[j] - 1, k) == 0)
            return 1;
    set->slot[j] = set->arena.len + 1;
    if (ppx_buf_append(&set->arena, k, strlen(k) + 1))
        return PPX_ENOMEM;
    set->n++;
    return 0;
}

static void set_free(str_set *set)
{
    ppx_buf_destroy(&set->arena);
    free(set->slot);
    memset(set, 0, sizeof *set);
}

/* Entry i's mark, as ppx__mark_collisions gives it over the whole listing:
 * the first entry of an output name keeps it (a lower index wins), an
 * archive's member listed again under the same key is SAME_MEMBER, any
 * other entry of a taken name collides. A folder walk names each file
 * once, so only members can repeat a key. */
static int mark_name(run_state *s, uint64_t i)
{
    ppx_stream *st = s->stream;
    char name[PPX_KEY_MAX];
    const char *key = ppx_listing_key(&s->plan.listing, i);
    int bad = ppx_output_name(name, sizeof name, key, s->cfg->out_format, NULL);
    if (bad) {
        s->plan.prefail[i] = bad == PPX_ENAMETOOLONG ? PREFAIL_TOOLONG : PREFAIL_UNSAFE;
        return 0;
    }
    int member = ppx_listing_member(&s->plan.listing, i) != NULL;
    int had = set_add(&st->names, name);
    if (had < 0)
        return had;
    int again = member ? set_add(&st->members, key) : 0;
    if (again < 0)
        return again;
    if (had)
        s->plan.prefail[i] = again ? PREFAIL_SAME_MEMBER : PREFAIL_COLLIDE;
    return 0;
}

/* The prefail marks of the entries listed since the last look. */
static int mark_new(run_state *s)
{
    ppx_stream *st = s->stream;
    const ppx_listing *l = &s->plan.listing;
    if (l->n > st->marked) {
        uint32_t *p = realloc(s->plan.prefail, (l->n ? l->n : 1) * sizeof *p);
        if (!p)
            return PPX_ENOMEM;
        memset(p + st->marked, 0, (l->n - st->marked) * sizeof *p);
        s->plan.prefail = p;
    }
    for (; st->err_cursor < l->n_walk_errors; st->err_cursor++)
        s->plan.prefail[l->walk_errors[st->err_cursor].index] =
            ppx__plan_walk_prefail(&l->walk_errors[st->err_cursor]);
    for (; st->marked < l->n; st->marked++) {
        /* Shards have no output name of their own. */
        if (s->plan.prefail[st->marked] || !s->cfg->outdir || s->cfg->shard)
            continue;
        int rc = mark_name(s, st->marked);
        if (rc)
            return rc;
    }
    /* A shard's labels are final once its entries are taken: the walk meets
     * the classes in order (ppx_classes_grow refuses one that is not). */
    return s->cfg->shard ? ppx_classes_grow(&s->plan.classes, l) : 0;
}

/* The walk's entries could not be marked: the run cannot go on. */
static void mark_failed(run_state *s, int rc)
{
    ppx_err e;
    if (rc == PPX_EINVAL)
        ppx_err_set(&e, PPX_EINVAL, PPX_STAGE_INPUT,
                    "%s changed while it was walked: the class of %s sorts before classes "
                    "already handed out (an archive appeared at its top level?); run again",
                    s->plan.root, ppx_listing_key(&s->plan.listing, s->plan.classes.seen));
    else
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    ppx__set_fatal(&s->stop, &e);
}

/* ---- identity ---------------------------------------------------------- */

/* The durable identity covers the first `upto` entries listed now (all of
 * them: fewer writes): every chunk handed out lies within them, so that
 * --resume after a kill can check that the tree it lists again begins with
 * the same keys. */
static int write_pending(run_state *s)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_run_identity id;
    ppx_identity_make_pending(&id, ppx_pipeline_canonical(cfg->pipeline), s->stream->format,
                              cfg->quality, cfg->seed, cfg->limits.max_pixels, s->plan.listing.n,
                              s->plan.listing.hash, s->plan.chunk_size);
    ppx_err e;
    ppx_err_clear(&e);
    if (s->io.jdir >= 0 && ppx_journal_write_identity(s->io.jdir, &id, &e)) {
        ppx__set_fatal(&s->stop, &e);
        return PPX_EIO;
    }
    s->stream->covered = s->plan.listing.n;
    return 0;
}

int ppx__stream_cover(run_state *s, uint64_t id)
{
    ppx_stream *st = s->stream;
    if (!st || st->final || (id + 1) * s->plan.chunk_size <= st->covered)
        return 0;
    return write_pending(s);
}

/* The walk is over: its outcome taken, the identity made whole. */
static void finish_walk(run_state *s)
{
    ppx_stream *st = s->stream;
    fair_unlock(st);
    pthread_join(st->thread, NULL);
    fair_lock(st);
    st->final = 1;
    close(st->fd);
    if (st->rc == PPX_ECANCELED)
        return; /* the run is stopping: the identity stays pending */
    if (st->rc) {
        ppx__set_fatal(&s->stop, &st->err);
        return;
    }
    int rc = mark_new(s);
    if (rc) {
        mark_failed(s, rc);
        return;
    }
    ppx__count_stray_companions(&s->plan.listing, s->cfg);
    s->plan.n_chunks = ppx__plan_n_chunks(s->plan.listing.n, s->plan.chunk_size);
    s->progress.total = s->plan.listing.n;
    s->progress.listing = 0;
    ppx_run_identity now;
    const ppx_run_config *cfg = s->cfg;
    ppx_identity_make(&now, ppx_pipeline_canonical(cfg->pipeline), s->stream->format, cfg->quality,
                      cfg->seed, cfg->limits.max_pixels, s->plan.listing.hash, s->plan.listing.n,
                      s->plan.chunk_size);
    ppx_err e;
    ppx_err_clear(&e);
    if (s->io.jdir >= 0 && ppx_journal_write_identity(s->io.jdir, &now, &e))
        ppx__set_fatal(&s->stop, &e);
    ppx_log(PPX_LOG_DBG, "%zu images in %llu chunks of %llu", s->plan.listing.n,
            (unsigned long long)s->plan.n_chunks, (unsigned long long)s->plan.chunk_size);
}

int ppx__stream_open(const run_state *s)
{
    return s->stream && !s->stream->final;
}

/* Rank 0, each turn (the lock held): what the walk listed since the last
 * turn is marked, its whole chunks become available, the end of the walk
 * is taken. */
void ppx__stream_refresh(run_state *s)
{
    ppx_stream *st = s->stream;
    if (!st || st->final)
        return;
    if (s->stop.stopping)
        st->stop = 1;
    int done = st->done;
    int rc = mark_new(s);
    if (rc) {
        mark_failed(s, rc);
        st->stop = 1;
    }
    if (!s->plan.chunk_size && (done || s->plan.listing.n > st->sure))
        s->plan.chunk_size =
            ppx__plan_auto_chunk_size(done ? s->plan.listing.n : st->sure + 1, st->workers);
    s->plan.n_chunks = s->plan.chunk_size ? s->plan.listing.n / s->plan.chunk_size : 0;
    s->progress.total = s->plan.listing.n;
    s->progress.listing = 1;
    if (done)
        finish_walk(s);
}

void ppx__stream_defer(run_state *s, int src)
{
    s->stream->deferred[src] = 1;
}

const uint8_t *ppx__stream_held(const run_state *s)
{
    return s->stream ? s->stream->deferred : NULL;
}

int ppx__stream_deferred(run_state *s, int src)
{
    ppx_stream *st = s->stream;
    if (!st || !st->deferred[src])
        return 0;
    if (!s->stop.global_stop && ppx__stream_open(s) && s->plan.next_chunk >= s->plan.n_chunks)
        return 0; /* still nothing to give it */
    st->deferred[src] = 0;
    return 1;
}

void ppx__stream_end(run_state *s)
{
    ppx_stream *st = s->stream;
    if (!st)
        return;
    if (st->started && !st->joined) {
        st->stop = 1;
        fair_unlock(st);
        if (!st->final) {
            pthread_join(st->thread, NULL);
            close(st->fd);
        }
        st->joined = 1;
    }
}

void ppx__stream_free(run_state *s)
{
    ppx_stream *st = s->stream;
    if (!st)
        return;
    ppx__stream_end(s);
    if (!st->started && st->fd > 0)
        close(st->fd);
    set_free(&st->names);
    set_free(&st->members);
    free(st->deferred);
    if (st->started) {
        pthread_mutex_destroy(&st->m);
        pthread_cond_destroy(&st->c);
    }
    free(st);
    s->stream = NULL;
}
