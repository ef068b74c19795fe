/* Rank 0's set-up: the listing, the checks on OUTDIR and output names, the
 * lock, the journal, the chunk size.
 * May change: sched_plan (it fills it) and sched_io (OUTDIR, .prepix, the
 * lock), on rank 0 before any work. */
#include "sched/run_state.h"

#include <errno.h>

#include <limits.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/buf.h"
#include "prepix/log.h"

static int path_inside(const char *outdir, const char *input)
{
    char a[PPX_PATH_MAX], b[PPX_PATH_MAX];
    if (!realpath(input, a))
        return 0;
    /* OUTDIR may not exist yet: resolve its nearest existing ancestor. */
    char probe[PPX_PATH_MAX], rest[PPX_PATH_MAX] = "";
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
    char full[2 * PPX_PATH_MAX];
    snprintf(full, sizeof full, "%s%s", strcmp(b, "/") == 0 ? "" : b, rest);
    size_t la = strlen(a);
    return strncmp(full, a, la) == 0 && (full[la] == '\0' || full[la] == '/');
}

/* 1 when the folder input lies inside OUTDIR (both exist): its outputs
 * could replace inputs not read yet (OUTDIR/data/x.jpg is the output of
 * INPUT=OUTDIR/data's data/x.jpg). An archive given as INPUT is one file
 * whose outputs all lie in OUTDIR/<its stem>/, so it may lie there; an
 * image given as INPUT may not, as a list's files may not (OUTDIR/x.tif is
 * the output of INPUT=OUTDIR/x.tif with -f same). */
static int input_inside_outdir(const char *outdir, const char *input)
{
    char o[PATH_MAX], in[PATH_MAX];
    struct stat st;
    if (!realpath(outdir, o) || !realpath(input, in) || stat(in, &st) != 0 ||
        (!S_ISDIR(st.st_mode) && ppx_is_tar_name(input)))
        return 0;
    size_t lo = strlen(o);
    if (lo == 1) /* OUTDIR is / */
        return 1;
    return strncmp(in, o, lo) == 0 && in[lo] == '/';
}

/* The companion trees (--with) are inputs: each must be a folder, OUTDIR
 * must not lie in one, nor one in OUTDIR. 0, or 1 after saying why. */
static int check_companion_dirs(const ppx_run_config *cfg)
{
    for (int k = 0; k < cfg->n_with; k++) {
        const char *d = cfg->with[k].dir;
        struct stat st;
        if (!d[0])
            continue; /* archive members only */
        if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
            ppx_log(PPX_LOG_ERR, "--with %s=%s: not a folder", cfg->with[k].role, d);
            return PPX_EUSAGE;
        }
        if (cfg->outdir && (path_inside(cfg->outdir, d) || input_inside_outdir(cfg->outdir, d))) {
            ppx_log(PPX_LOG_ERR,
                    "--with %s=%s and OUTDIR %s overlap, where outputs could replace "
                    "inputs; choose another folder",
                    cfg->with[k].role, d, cfg->outdir);
            return PPX_EUSAGE;
        }
    }
    return 0;
}

/* A role without a folder needs archive input. Per-image outputs of
 * companions go to OUTDIR/ROLE/: an input folder of that name at the top of
 * INPUT would write its own outputs there too, and which one stays would
 * depend on timing. 0, or PPX_EUSAGE (exit 2, before any work) with the message logged. */
static int role_folder_clash(const ppx_listing *l, const ppx_run_config *cfg)
{
    for (int k = 0; k < cfg->n_with && !l->archives; k++)
        if (!cfg->with[k].dir[0]) {
            ppx_log(PPX_LOG_ERR,
                    "--with %s names no folder (ROLE=DIR), and INPUT holds no archive "
                    "whose members could be its companions",
                    cfg->with[k].role);
            return PPX_EUSAGE;
        }
    if (cfg->shard || !cfg->n_with)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *key = ppx_listing_key(l, i);
        while (key[0] == '/')
            key++;
        for (int k = 0; k < cfg->n_with; k++) {
            size_t n = strlen(cfg->with[k].role);
            if (strncmp(key, cfg->with[k].role, n) == 0 && key[n] == '/') {
                ppx_log(PPX_LOG_ERR,
                        "--with %s: INPUT has a folder %s (%s), where the companions' "
                        "outputs go (OUTDIR/%s/); name the role otherwise",
                        cfg->with[k].role, cfg->with[k].role, key, cfg->with[k].role);
                return PPX_EUSAGE;
            }
        }
    }
    return 0;
}

/* An entry that has an output name, in the sort of ppx__mark_collisions. */
typedef struct {
    uint64_t name;  /* offset of its output name in the arena of names */
    uint64_t index; /* its place in the listing */
} named_entry;

typedef struct {
    const ppx_listing *l;
    const char *names;
    uint64_t compares;
} named_order;

/* By output name, then key, then index: entries of one name come together,
 * and among them the copies of one key, each copy after the earlier ones. */
static int cmp_named(const void *pa, const void *pb, void *arg)
{
    const named_entry *a = pa, *b = pb;
    named_order *o = arg;
    o->compares++;
    int c = strcmp(o->names + a->name, o->names + b->name);
    if (!c)
        c = strcmp(ppx_listing_key(o->l, a->index), ppx_listing_key(o->l, b->index));
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Each output name is computed once, into one arena; one sort of the entries
 * by (name, key, index) and one scan then decide every entry: O(n log n)
 * whatever the names, where a hash table chained equal names and walked the
 * whole chain for each new entry (200,000 members of one name: 17 s). */
int ppx__mark_collisions(const ppx_listing *l, ppx_format fmt, const volatile sig_atomic_t *stop,
                         uint32_t *prefail, collision_work *work)
{
    size_t n = l->n, m = 0;
    named_order o = {.l = l};
    uint64_t names_made = 0;
    ppx_buf arena;
    ppx_buf_init(&arena);
    named_entry *v = malloc((n ? n : 1) * sizeof *v);
    int rc = v ? 0 : PPX_ENOMEM;
    char name[PPX_KEY_MAX];
    for (size_t i = 0; i < n && !rc; i++) {
        if (stop && *stop) /* one load an entry: nothing beside making its name */
            rc = PPX_ECANCELED;
        if (rc || prefail[i])
            continue;
        int bad = ppx_output_name(name, sizeof name, ppx_listing_key(l, i), fmt, NULL);
        names_made++;
        if (bad) {
            prefail[i] = bad == PPX_ENAMETOOLONG ? PREFAIL_TOOLONG : PREFAIL_UNSAFE;
            continue;
        }
        v[m] = (named_entry){arena.len, i};
        rc = ppx_buf_append(&arena, name, strlen(name) + 1) ? PPX_ENOMEM : 0;
        m++;
    }
    if (rc)
        goto out;
    o.names = (const char *)arena.data;
    if (m > 1)
        qsort_r(v, m, sizeof *v, cmp_named, &o);
    /* A run of one name: its lowest index keeps the name. Within it, a run
     * of one key: every entry but its first has an earlier copy (a list that
     * names one file twice, an archive's two members of one name); the
     * others collide with a different file of the same output. */
    for (size_t g = 0, end; g < m; g = end) {
        if (stop && *stop) {
            rc = PPX_ECANCELED;
            goto out;
        }
        const char *gname = o.names + v[g].name;
        uint64_t keeper = v[g].index;
        for (end = g + 1; end < m && strcmp(o.names + v[end].name, gname) == 0; end++) {
            o.compares++;
            if (v[end].index < keeper)
                keeper = v[end].index;
        }
        for (size_t k = g; k < end; k++) {
            uint64_t i = v[k].index;
            o.compares += k > g;
            if (k > g && strcmp(ppx_listing_key(l, v[k - 1].index), ppx_listing_key(l, i)) == 0)
                prefail[i] = ppx_listing_member(l, i) ? PREFAIL_SAME_MEMBER : PREFAIL_TWICE;
            else if (i != keeper)
                prefail[i] = PREFAIL_COLLIDE;
        }
    }
    if (work)
        *work = (collision_work){names_made, o.compares};
out:
    free(v);
    ppx_buf_destroy(&arena);
    return rc;
}

/* Marks the images that fail before any work (s->plan.prefail): entries the walk
 * could not read, and with per-image outputs, the names
 * ppx__mark_collisions refuses. 0, PPX_ENOMEM or PPX_ECANCELED. */
static int check_outputs(run_state *s)
{
    size_t n = s->plan.listing.n;
    s->plan.prefail = calloc(n ? n : 1, sizeof *s->plan.prefail);
    if (!s->plan.prefail)
        return PPX_ENOMEM;
    ppx__plan_mark_walk_errors(&s->plan.listing, s->plan.prefail);
    if (!s->cfg->outdir || s->cfg->shard)
        return 0;
    return ppx__mark_collisions(&s->plan.listing, s->cfg->out_format, &ppx__stop_signal,
                                s->plan.prefail, NULL);
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
    if (realpath(s->plan.root, dir) && strcmp(dir, out) == 0) {
        ppx_log(PPX_LOG_ERR, "OUTDIR %s is the folder of the list; choose another folder",
                s->cfg->outdir);
        return 1;
    }
    for (size_t i = 0; i < s->plan.listing.n && !ppx__stop_signal; i++) {
        char path[PATH_MAX], parent[PATH_MAX];
        /* An archive member: the archive is what lies somewhere. */
        const ppx_member *m = ppx_listing_member(&s->plan.listing, i);
        char arc[PPX_KEY_MAX];
        snprintf(arc, sizeof arc, "%.*s", m ? (int)m->arc_len : (int)sizeof arc,
                 ppx_listing_key(&s->plan.listing, i));
        if (ppx__input_path(s->cfg, &s->plan, arc, path, sizeof path))
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
            char shown[PPX_PATH_MAX];
            ppx_escape_name(shown, sizeof shown, path);
            ppx_log(PPX_LOG_ERR,
                    "the list names %s, inside OUTDIR %s: its output could replace it; choose "
                    "another OUTDIR",
                    shown, s->cfg->outdir);
            return 1;
        }
    }
    return 0;
}

const char *ppx__format_name(const ppx_run_config *cfg)
{
    if (cfg->shard)
        return cfg->shard == PPX_SHARD_TAR ? "tar" : "npy";
    if (cfg->out_format == PPX_FMT_WEBP && cfg->webp_lossless)
        return "webp-lossless"; /* the journal must tell it from lossy webp */
    return cfg->out_format == PPX_FMT_UNKNOWN ? "same" : ppx_format_name(cfg->out_format);
}

/* One run at a time per OUTDIR: an flock on .prepix/lock, held by rank 0
 * until it exits (the lock dies with the process, so a killed run never
 * leaves it behind). The holder writes "pid host" into it for the message
 * of the next one. 0, PPX_EUSAGE (another run holds it) or PPX_EIO, with
 * the message logged. */
static int take_lock(run_state *s)
{
    s->io.lock_fd = ppx_private_file_open(s->io.jdir, "lock", PPX_PRIVATE_LOCK);
    struct stat st;
    if (s->io.lock_fd < 0 || fstat(s->io.lock_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ppx_log(PPX_LOG_ERR, "cannot open %s/.prepix/lock: %s", s->cfg->outdir,
                s->io.lock_fd < 0 ? strerror(-s->io.lock_fd) : "not a regular file");
        return PPX_EIO;
    }
    if (flock(s->io.lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            /* A file system without flock: say so, and go on unprotected. */
            ppx_log(PPX_LOG_WARN, "cannot lock %s (%s): make sure no other run uses it",
                    s->cfg->outdir, strerror(errno));
            return 0;
        }
        char holder[128] = "";
        ssize_t n = pread(s->io.lock_fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        long pid = 0;
        char host[64] = "?";
        sscanf(holder, "%ld %63s", &pid, host);
        char shown[256];
        ppx_escape_name(shown, sizeof shown, host);
        ppx_log(PPX_LOG_ERR,
                "OUTDIR %s is in use by another prepix run (pid %ld on host %s); one run at a time "
                "per OUTDIR",
                s->cfg->outdir, pid, shown);
        return PPX_EUSAGE;
    }
    char me[128], host[64] = "?";
    gethostname(host, sizeof host - 1);
    int n = snprintf(me, sizeof me, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(s->io.lock_fd, 0) != 0 || pwrite(s->io.lock_fd, me, (size_t)n, 0) != n)
        ppx_log(PPX_LOG_WARN, "cannot write the lock's holder: %s", strerror(errno));
    return 0;
}

/* Opens OUTDIR (made when writing) and its private .prepix folder. dry-run
 * opens only what exists and creates nothing. */
static int open_outdir(run_state *s, int create, ppx_err *e)
{
    int rc = ppx_outdir_open(&s->io.outdir, s->cfg->outdir, create, e);
    if (rc == PPX_ENOENT)
        return 0;
    if (rc)
        return rc;
    /* Whose .prepix it is is checked before anything in it is read: in a
     * shared OUTDIR, another user's .prepix/run is not ours to trust. */
    rc = create ? ppx_private_dir_open(s->io.outdir.fd, ".prepix", e)
                : ppx_private_dir_find(s->io.outdir.fd, ".prepix", e);
    s->io.jdir = rc < 0 ? -1 : rc;
    return rc == PPX_ENOENT && !create ? 0 : rc < 0 ? rc : 0;
}

/* A stop asked for (SIGINT, SIGTERM, SIGUSR1) while the input was listed and
 * checked: the run ends before it writes anything, so no journal or report
 * claims any part of it, with the exit code of every stop (4). Listing a
 * large input takes seconds to minutes, and a job's time limit does not wait
 * for it. PPX_ECANCELED. */
static int stopped_before_work(const run_state *s)
{
    ppx_log(PPX_LOG_ERR,
            "%s received while listing the input (%zu entries listed): stopped before any work; "
            "nothing written",
            ppx__signal_name(ppx__stop_signal), s->plan.listing.n);
    return PPX_ECANCELED;
}

/* A failure of set-up that is no refusal and no stop (ppx__plan_setup_outcome
 * maps those): the run cannot go on. */
static int fatal_code(int rc)
{
    return rc == PPX_EUSAGE || rc == PPX_ECANCELED || rc >= 0 ? PPX_EIO : rc;
}

/* OUTDIR is no INPUT (nor inside one), and no INPUT folder lies in OUTDIR:
 * 0, or PPX_EUSAGE with the message logged. */
static int check_in_out(const ppx_run_config *cfg)
{
    /* Each split's folder is an INPUT of its own. */
    int n_in = cfg->n_splits ? cfg->n_splits : 1;
    for (int k = 0; k < n_in && cfg->outdir; k++) {
        const char *in = cfg->n_splits ? cfg->split_paths[k] : cfg->input;
        if (in[0] != '@' && path_inside(cfg->outdir, in)) {
            ppx_log(PPX_LOG_ERR, "OUTDIR %s is INPUT or lies inside it; choose another folder",
                    cfg->outdir);
            return PPX_EUSAGE;
        }
        if (in[0] != '@' && input_inside_outdir(cfg->outdir, in)) {
            ppx_log(PPX_LOG_ERR,
                    "INPUT %s lies inside OUTDIR %s, where outputs could replace inputs; "
                    "choose another folder",
                    in, cfg->outdir);
            return PPX_EUSAGE;
        }
    }
    return check_companion_dirs(cfg);
}

/* The listing, --exclude applied, the entries that fail before any work
 * marked, the classes of shards. 0, or a code with the message logged. */
static int list_input(run_state *s)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = cfg->n_splits ? ppx_listing_build_splits(cfg->split_names, cfg->split_paths,
                                                      cfg->n_splits, cfg->follow_symlinks,
                                                      &ppx__stop_signal, &s->plan.listing, &e)
                           : ppx_listing_build(cfg->input, cfg->follow_symlinks, &ppx__stop_signal,
                                               &s->plan.listing, &e);
    if (rc == PPX_ECANCELED)
        return stopped_before_work(s);
    if (rc) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        return rc == PPX_ENOENT || rc == PPX_EUSAGE ? PPX_EUSAGE : fatal_code(rc);
    }
    ppx__count_stray_companions(&s->plan.listing, cfg);
    if ((rc = role_folder_clash(&s->plan.listing, cfg)) != 0)
        return rc;
    snprintf(s->plan.root, sizeof s->plan.root, "%s", s->plan.listing.root);
    if (cfg->exclude && (rc = ppx__apply_exclude(s, &e)) != 0) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        return rc == PPX_EUSAGE ? PPX_EUSAGE : fatal_code(rc);
    }
    if (ppx_sub_active(&cfg->sub)) {
        rc = ppx_listing_expand(&s->plan.listing, &cfg->sub, &cfg->limits, cfg->split_names,
                                cfg->split_paths, &e);
        if (rc == PPX_ECANCELED)
            return stopped_before_work(s);
        if (rc) {
            ppx_log(PPX_LOG_ERR, "%s", e.msg);
            return fatal_code(rc);
        }
    }
    if (cfg->outdir && s->plan.listing.is_list && list_into_outdir(s))
        return PPX_EUSAGE;
    if (cfg->coco && (rc = ppx__coco_load(s)) != 0)
        return rc;
    rc = ppx__stop_signal ? PPX_ECANCELED : check_outputs(s);
    if (rc == PPX_ECANCELED || ppx__stop_signal)
        return stopped_before_work(s);
    if (rc || (cfg->shard && ppx_classes_build(&s->plan.classes, &s->plan.listing))) {
        ppx_log(PPX_LOG_ERR, "out of memory");
        return PPX_ENOMEM;
    }
    return 0;
}

/* The identity of this run, of chunks of chunk_size. */
static void identity_now(const run_state *s, uint64_t chunk_size, ppx_run_identity *now)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_identity_make(now, ppx_pipeline_canonical(cfg->pipeline), ppx__format_name(cfg),
                      cfg->quality, cfg->seed, cfg->limits.max_pixels, s->plan.listing.hash,
                      s->plan.listing.n, chunk_size);
    if (cfg->coco)
        ppx_identity_add_coco(now, s->plan.coco_digest);
}

/* The first look at OUTDIR, before anything is created there: an earlier
 * run's identity into *prev (*have_prev 1), refused without --resume. 0, or
 * a code with the message logged. */
static int first_look(run_state *s, uint64_t asked, ppx_run_identity *prev, int *have_prev)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_err e;
    ppx_err_clear(&e);
    *have_prev = 0;
    if (!cfg->outdir)
        return 0;
    int rc = open_outdir(s, 0, &e);
    if (!rc && s->io.jdir >= 0)
        *have_prev = ppx_journal_read_identity(s->io.jdir, prev, &e);
    if (rc || *have_prev < 0) {
        ppx_log(PPX_LOG_ERR, "%s/.prepix: %s", cfg->outdir, e.msg);
        /* not ours: refused before any work */
        return rc == PPX_EUNSAFE ? PPX_EUSAGE : fatal_code(rc ? rc : *have_prev);
    }
    if (!*have_prev || cfg->resume || cfg->dry_run)
        return 0;
    /* Say whether --resume would be taken, so the advice is true (a run
     * stopped while it walked is told by the listing of --resume). */
    uint64_t cs = asked ? asked : ppx_identity_chunk_size(prev);
    char diff[8192];
    ppx_run_identity now;
    identity_now(s, cs ? cs : 1, &now);
    uint64_t listed, listed_hash;
    if (!ppx_identity_pending(prev, &listed, &listed_hash) &&
        ppx_identity_diff(prev, &now, diff, sizeof diff))
        ppx_log(PPX_LOG_ERR,
                "%s holds an earlier prepix run of another job (%s), which --resume cannot "
                "finish: to start over, remove %s (or choose an empty OUTDIR)",
                cfg->outdir, diff, cfg->outdir);
    else
        ppx_log(PPX_LOG_ERR,
                "%s holds an earlier prepix run (%s/.prepix); pass --resume to finish it, or "
                "choose an empty OUTDIR",
                cfg->outdir, cfg->outdir);
    return PPX_EUSAGE;
}

/* s->plan.chunk_size and s->plan.n_chunks: the journal's with --resume (which must be
 * the one asked for, if any), else the one asked for, else one that gives
 * every worker of the job about 32 chunks. 0, or PPX_EUSAGE logged. */
static int choose_chunks(run_state *s, uint64_t asked, const ppx_run_identity *prev,
                         uint64_t total_workers)
{
    const ppx_run_config *cfg = s->cfg;
    if (prev) {
        s->plan.chunk_size = ppx_identity_chunk_size(prev);
        if (s->plan.chunk_size == 0 || s->plan.chunk_size > 1000000) {
            ppx_log(PPX_LOG_ERR,
                    "%s/.prepix/run holds a chunk size of %llu, out of range: it was not written "
                    "by prepix; to start over, remove %s",
                    cfg->outdir, (unsigned long long)s->plan.chunk_size, cfg->outdir);
            return PPX_EUSAGE;
        }
        if (asked && asked != s->plan.chunk_size) {
            ppx_log(PPX_LOG_ERR, "--resume: chunk size %llu differs from the journal's %llu",
                    (unsigned long long)asked, (unsigned long long)s->plan.chunk_size);
            return PPX_EUSAGE;
        }
    } else if (asked) {
        s->plan.chunk_size = asked;
    } else {
        s->plan.chunk_size = ppx__plan_auto_chunk_size(s->plan.listing.n, total_workers);
    }
    if (s->plan.chunk_size == 0)
        s->plan.chunk_size = 1;
    s->plan.n_chunks = ppx__plan_n_chunks(s->plan.listing.n, s->plan.chunk_size);
    ppx_log(PPX_LOG_DBG, "%zu images in %llu chunks of %llu", s->plan.listing.n,
            (unsigned long long)s->plan.n_chunks, (unsigned long long)s->plan.chunk_size);
    return 0;
}

/* What the journal says of earlier attempts, said once. */
static void say_resumed(const run_state *s, uint64_t swept)
{
    if (swept)
        ppx_log(PPX_LOG_INFO, "removed %llu temporary files an earlier attempt left",
                (unsigned long long)swept);
    if (s->plan.resume.ignored)
        ppx_log(PPX_LOG_WARN, "%llu damaged journal records ignored: their chunks are redone",
                (unsigned long long)s->plan.resume.ignored);
    if (s->plan.resume.duplicates)
        ppx_log(PPX_LOG_WARN, "the journal holds %llu chunks twice",
                (unsigned long long)s->plan.resume.duplicates);
    if (s->plan.resume.chunks)
        ppx_log(PPX_LOG_INFO, "resuming: %llu of %llu chunks (%llu images) already done",
                (unsigned long long)s->plan.resume.chunks, (unsigned long long)s->plan.n_chunks,
                (unsigned long long)s->plan.resume.images);
}

/* OUTDIR made and locked, the run's identity written (or the earlier one
 * read again under the lock), the journal of earlier attempts loaded. 0, or
 * a code with the message logged. */
static int open_journal(run_state *s, const ppx_run_identity *now)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_err e;
    ppx_err_clear(&e);
    if (s->io.jdir >= 0)
        close(s->io.jdir);
    s->io.jdir = -1;
    ppx_outdir_close(&s->io.outdir);
    int rc = open_outdir(s, 1, &e);
    if (rc) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        return rc == PPX_EUNSAFE ? PPX_EUSAGE : fatal_code(rc);
    }
    if ((rc = take_lock(s)) != 0)
        return rc;
    /* Under the lock, read the identity again: another run may have
     * started and stopped between the first look and the lock. */
    ppx_run_identity prev;
    int have_prev = ppx_journal_read_identity(s->io.jdir, &prev, &e);
    if (have_prev < 0 || (have_prev && !cfg->resume)) {
        ppx_log(PPX_LOG_ERR, "%s",
                have_prev < 0 ? e.msg : "another run wrote OUTDIR meanwhile: pass --resume");
        return have_prev < 0 ? fatal_code(have_prev) : PPX_EUSAGE;
    }
    uint64_t listed, listed_hash;
    int pending = have_prev && ppx_identity_pending(&prev, &listed, &listed_hash);
    rc = have_prev && !pending ? 0 : ppx_journal_write_identity(s->io.jdir, now, &e);
    if (!rc)
        rc = ppx_journal_load(s->io.jdir, s->plan.n_chunks, &s->plan.resume, &e);
    if (rc) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        return rc == PPX_EUSAGE ? PPX_EUSAGE : fatal_code(rc);
    }
    s->plan.attempt = s->plan.resume.next_attempt;
    /* Temporary files of workers killed mid-write in an earlier attempt. */
    say_resumed(s, have_prev ? ppx_sweep_temps(s->io.outdir.fd) : 0);
    return 0;
}

/* Lists the input, checks OUTDIR and the journal. 0; PPX_EUSAGE when the run
 * is refused before any work, PPX_ECANCELED when a stop was asked for while
 * listing, another code when it cannot go on; the message logged. */
/* The identity the journal's is compared with: this run's, or, when the
 * journal's walk was cut short (a streamed run stopped while it walked),
 * this run's listing checked to begin with the keys the journal's covered,
 * and the rest compared. 1 when they differ (diff says how), else 0. */
static int identity_differs(const run_state *s, const ppx_run_identity *prev,
                            const ppx_run_identity *now, char *diff, size_t cap)
{
    uint64_t listed, listed_hash;
    if (!ppx_identity_pending(prev, &listed, &listed_hash))
        return ppx_identity_diff(prev, now, diff, cap);
    const ppx_run_config *cfg = s->cfg;
    uint64_t h = PPX_FNV1A_INIT;
    for (uint64_t i = 0; i < listed && i < s->plan.listing.n; i++) {
        const char *k = ppx_listing_key(&s->plan.listing, i);
        h = ppx_fnv1a(h, k, strlen(k) + 1);
    }
    if (listed > s->plan.listing.n || h != listed_hash) {
        snprintf(diff, cap,
                 "input listing (the first %llu entries the journal's walk had listed are not "
                 "those listed now)",
                 (unsigned long long)listed);
        return 1;
    }
    ppx_run_identity cut;
    ppx_identity_make_pending(&cut, ppx_pipeline_canonical(cfg->pipeline), ppx__format_name(cfg),
                              cfg->quality, cfg->seed, cfg->limits.max_pixels, listed, listed_hash,
                              s->plan.chunk_size);
    return ppx_identity_diff(prev, &cut, diff, cap);
}

/* A streamed run's set-up: INPUT opened, OUTDIR checked and locked, the
 * identity written as pending, the walk started. */
static int setup_streamed(run_state *s, uint64_t total_workers)
{
    const ppx_run_config *cfg = s->cfg;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = check_in_out(cfg);
    if (rc)
        return rc;
    if ((rc = ppx__stream_prepare(s, total_workers, ppx__format_name(cfg), &e)) != 0) {
        ppx_log(PPX_LOG_ERR, "%s", e.msg);
        return rc == PPX_ENOENT ? PPX_EUSAGE : fatal_code(rc);
    }
    ppx_run_identity prev, now;
    int have_prev;
    if ((rc = first_look(s, cfg->chunk_size, &prev, &have_prev)) != 0)
        return rc;
    ppx_identity_make_pending(&now, ppx_pipeline_canonical(cfg->pipeline), ppx__format_name(cfg),
                              cfg->quality, cfg->seed, cfg->limits.max_pixels, 0, PPX_FNV1A_INIT,
                              s->plan.chunk_size);
    if (cfg->outdir)
        rc = open_journal(s, &now);
    else
        ppx_stats_init(&s->plan.resume.stats);
    /* A new run (never --resume): no chunk is done, and their count is not known. */
    free(s->plan.resume.done);
    s->plan.resume.done = NULL;
    if (!rc && ppx__stream_start(s)) {
        ppx_log(PPX_LOG_ERR, "cannot start the walk's thread");
        rc = PPX_ENOMEM;
    }
    return rc;
}

/* 1 when OUTDIR holds an earlier run's identity (or cannot be looked at):
 * the run is then refused, and whether --resume would finish that run
 * depends on the listing, so it lists first to say which (or to say why
 * OUTDIR cannot be used). */
static int earlier_run(run_state *s)
{
    if (!s->cfg->outdir)
        return 0;
    ppx_err e;
    ppx_err_clear(&e);
    ppx_run_identity id;
    int have = open_outdir(s, 0, &e) != 0 ||
               (s->io.jdir >= 0 && ppx_journal_read_identity(s->io.jdir, &id, &e) != 0);
    if (s->io.jdir >= 0)
        close(s->io.jdir);
    s->io.jdir = -1;
    ppx_outdir_close(&s->io.outdir);
    return have;
}

int ppx__setup_rank0(run_state *s, uint64_t total_workers)
{
    const ppx_run_config *cfg = s->cfg;
    if (ppx__stream_wanted(cfg) && !earlier_run(s))
        return setup_streamed(s, total_workers);
    int rc = check_in_out(cfg);
    if (!rc)
        rc = list_input(s);
    if (rc)
        return rc;
    uint64_t asked =
        cfg->shards ? ppx__plan_shards_size(s->plan.listing.n, cfg->shards) : cfg->chunk_size;
    ppx_run_identity prev, now;
    int have_prev;
    uint64_t listed, listed_hash;
    if ((rc = first_look(s, asked, &prev, &have_prev)) == 0 && have_prev &&
        ppx_identity_pending(&prev, &listed, &listed_hash) && listed == 0)
        have_prev = 0; /* a streamed run stopped before its first chunk: nothing to resume */
    if (rc != 0 ||
        (rc = choose_chunks(s, asked, have_prev && cfg->resume ? &prev : NULL, total_workers)) != 0)
        return rc;
    identity_now(s, s->plan.chunk_size, &now);
    if (have_prev && cfg->resume) {
        char diff[8192];
        if (identity_differs(s, &prev, &now, diff, sizeof diff)) {
            ppx_log(PPX_LOG_ERR,
                    "--resume refused: this run differs from the one in %s: %s. To start over, "
                    "remove %s (or choose an empty OUTDIR)",
                    cfg->outdir, diff, cfg->outdir);
            return PPX_EUSAGE;
        }
    }
    if (cfg->dry_run)
        return 0;
    if (cfg->outdir)
        return open_journal(s, &now);
    ppx_stats_init(&s->plan.resume.stats);
    return 0;
}

void ppx__dry_run_list(run_state *s)
{
    char out[PPX_KEY_MAX], key[PPX_KEY_MAX * 4], name[PPX_KEY_MAX * 4];
    for (size_t i = 0; i < s->plan.listing.n; i++) {
        const char *k = ppx_listing_key(&s->plan.listing, i);
        ppx_escape_name(key, sizeof key, k);
        int named = 0;
        if (s->cfg->outdir && s->cfg->shard)
            named = ppx_shard_path(out, sizeof out, s->cfg->outdir, s->cfg->shard,
                                   i / s->plan.chunk_size, 0) == 0;
        else if (s->cfg->outdir && !(s->plan.prefail && s->plan.prefail[i]))
            named = ppx_output_name(out, sizeof out, k, s->cfg->out_format, NULL) == 0;
        if (s->plan.prefail && s->plan.prefail[i]) {
            ppx_result r;
            ppx__prefail_result(s->plan.prefail[i], &r);
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
    ppx_log(PPX_LOG_INFO, "dry run: %zu images in %llu chunks of %llu, %llu files skipped",
            s->plan.listing.n, (unsigned long long)s->plan.n_chunks,
            (unsigned long long)s->plan.chunk_size, (unsigned long long)s->plan.listing.skipped);
}
