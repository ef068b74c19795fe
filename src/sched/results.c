/* One image's outcome into its chunk; a finished chunk's outputs written
 * (shards, bytes transport), made durable and journaled; images to workers.
 * May change: sched_intake (counters, statistics, failures, fingerprints, the
 * journal), sched_io (outputs, shards, the read caches), sched_queue (the
 * chunks' progress), sched_peer (rank > 0's results in flight), sched_stop
 * (through stop.c). Reads sched_plan. */
#include "sched/run_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/buf.h"

static void finish_chunk(run_state *s, chunk *c);

/* A worker killed between writing its temporary file and the rename leaves
 * it behind: the rank removes it (named by the worker's pid). */
static void remove_lost_temps(run_state *s, const chunk *c, uint64_t i, const ppx_result *r)
{
    char name[PPX_KEY_MAX];
    if (r->worker_pid <= 0 || s->io.outdir.fd < 0 || s->cfg->shard ||
        ppx_output_name(name, sizeof name, ppx__chunk_key(c, i), s->cfg->out_format, NULL))
        return;
    char *slash = strrchr(name, '/');
    if (slash)
        *slash = '\0';
    int dfd = ppx_dir_open_beneath(s->io.outdir.fd, slash ? name : "", 0, NULL);
    if (dfd >= 0) {
        /* Best effort: what is left, --resume sweeps (ppx_sweep_temps). */
        ppx_ignore(ppx_remove_temps_of(dfd, (uint32_t)r->worker_pid));
        close(dfd);
    }
}

/* Folds one image's outcome into its chunk. */
void ppx__record(run_state *s, chunk *c, uint64_t i, const ppx_result *r, const uint8_t *payload)
{
    ppx_stats *st = &c->stats;
    st->total++;
    st->bytes_read += r->bytes_read;
    s->in.bytes_read += r->bytes_read;
    s->in.busy_s += r->busy_s;
    s->in.done++;
    /* Outputs that come back as bytes (shards, per-image outputs of the
     * bytes transport) are counted where they are written, once written:
     * the image's statistics travel with its bytes, and an image whose
     * shard member cannot be completed (a sidecar) is a failure, not ok. */
    if (r->status == 0 && r->nodata) {
        st->nodata++; /* a chip all of --nodata: nothing written, nothing measured */
    } else if (r->status == 0) {
        uint32_t mode = r->in_mode ? r->in_mode : c->in_mode ? c->in_mode[i] : 0;
        if (!payload) {
            st->ok++;
            st->bytes_written += r->bytes_written;
            ppx_stats_add_image(st, (r->st.channels || r->st.raster.type) ? &r->st : NULL, r->in_w,
                                r->in_h);
            if (ppx_fingerprint_any(&r->fp) && ppx_prints_add(&c->prints, c->first + i, &r->fp)) {
                ppx_err e;
                ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory keeping fingerprints");
                ppx__set_fatal(&s->stop, &e);
            }
        } else if (ppx__pack_out_rec(&c->outputs, c->first + i, c->label[i], r->out_format, payload,
                                     r->out_len, r->part_len, r->in_w, r->in_h, mode, &r->st,
                                     &r->fp)) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory holding outputs");
            ppx__set_fatal(&s->stop, &e);
        }
    } else if (r->status == PPX_EOUTPUT) {
        /* The output location is unusable (full, read-only): every further
         * image would fail the same way. Stop the job (exit 1). */
        ppx_err e = r->err;
        ppx__set_fatal(&s->stop, &e);
    } else {
        st->failed++;
        s->in.failed++;
        if (ppx_failures_add(&c->fails, c->first + i, r->err.stage, r->status, r->err.msg)) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory recording a failure");
            ppx__set_fatal(&s->stop, &e); /* never counted yet missing from the report */
        }
        if (r->err.stage == PPX_STAGE_WORKER || r->err.stage == PPX_STAGE_TIMEOUT)
            remove_lost_temps(s, c, i, r);
    }
    if (--c->remaining == 0)
        finish_chunk(s, c);
}

void ppx__on_result(void *arg, const ppx_result *r, const uint8_t *payload)
{
    run_state *s = arg;
    chunk *c = ppx__find_chunk(&s->queue, r->tag);
    if (!c || r->id < c->first || r->id >= c->first + c->count)
        return; /* cannot happen: tags are chunk ids we hold */
    ppx__record(s, c, r->id - c->first, r, payload);
}

/* The input's identity, for an output written by rank 0 (bytes transport):
 * the output must not replace it. */
static int input_identity(const run_state *s, uint64_t index, ppx_file_id *id)
{
    char in[PPX_PATH_MAX];
    struct stat st;
    if (ppx_listing_member(&s->plan.listing, index) ||
        ppx__input_path(s->cfg, &s->plan, ppx_listing_key(&s->plan.listing, index), in,
                        sizeof in) ||
        stat(in, &st) != 0)
        return -1;
    *id = (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
    return 0;
}

/* A finished image whose output came back as bytes (see chunk.outputs). */
static ppx_out_rec *find_rec(ppx_out_rec *v, size_t n, uint64_t index)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].it.index == index)
            return &v[mid];
        if (v[mid].it.index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* An image that was done but cannot be written: a failure of its own. */
static int fail_rec(run_state *s, ppx_out_rec *o, ppx_stats *st, ppx_failures *fl,
                    const ppx_err *why, ppx_err *e)
{
    o->failed = 1;
    st->failed++;
    s->in.failed++;
    if (ppx_failures_add(fl, o->it.index, why->stage, why->code, why->msg))
        return ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    return 0;
}

/* Tar shards from archive input: the bytes of the sidecars of chunk id's
 * images that are in v (c, or rebuilt from the listing on rank 0), as
 * records of (listing index, extension length, extension, length, bytes)
 * for ppx_shard_write. Each is read through its archive's listed identity;
 * one that cannot be read (the archive changed or was replaced after
 * listing, a sidecar over the size limit) fails its image alone. */
static int load_sides(run_state *s, const chunk *c, uint64_t id, ppx_out_rec *v, size_t n,
                      ppx_buf *out, ppx_stats *st, ppx_failures *fl, ppx_err *e)
{
    chunk *own = NULL;
    if (!c && s->rank == 0 && s->plan.listing.mem)
        c = own = ppx__make_local_chunk(s, id);
    if (!c || !c->sides.len) {
        ppx__chunk_free(own);
        return 0;
    }
    ppx_rd r = {c->sides.data, c->sides.data + c->sides.len, 0};
    int rc = 0;
    size_t image_start = 0; /* where the current image's sidecars begin in out */
    uint64_t image = UINT64_MAX;
    while (!rc && r.p < r.end) {
        uint64_t k = ppx_get_u64(&r), off = ppx_get_u64(&r), size = ppx_get_u64(&r);
        uint64_t el = ppx_get_u64(&r);
        const uint8_t *ext = ppx_get_bytes(&r, el);
        if (r.bad || k >= c->count || !c->span[k].arc_len) {
            rc = ppx_err_set(e, PPX_EINTERNAL, PPX_STAGE_WRITE, "malformed sidecar records");
            break;
        }
        ppx_out_rec *o = find_rec(v, n, c->first + k);
        if (!o || o->failed)
            continue; /* its image failed: nothing of it is written */
        if (c->first + k != image) {
            image = c->first + k;
            image_start = out->len;
        }
        char path[PPX_PATH_MAX], arc[PPX_KEY_MAX];
        const char *key = ppx__chunk_key(c, k);
        int root = s->io.in_root;
        size_t skip = 0;
        if (s->job.splits.n && (root = ppx_split_root(&s->job.splits, key, &skip)) < 0)
            skip = 0; /* in no split: read below no folder, it fails as such */
        snprintf(arc, sizeof arc, "%.*s", (int)(c->span[k].arc_len - skip), key + skip);
        ppx_err why;
        ppx_err_clear(&why);
        int got = root < 0 && ppx__image_path(s->cfg, &s->plan, key, c->span[k].arc_len, path,
                                              sizeof path)
                      ? ppx_err_set(&why, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long")
                      : ppx_arc_read(&s->io.in_arc, root, &s->io.in_dirs, root >= 0 ? arc : path,
                                     &c->span[k].arc, off, size, s->cfg->limits.max_file_bytes,
                                     &s->scratch, &why);
        if (got) {
            char msg[PPX_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", why.msg);
            ppx_err_set(&why, got, PPX_STAGE_INPUT, "its sidecar .%.*s: %s",
                        (int)(el > 40 ? 40 : el), (const char *)ext, msg);
            out->len = image_start; /* the sidecars of it read so far */
            rc = fail_rec(s, o, st, fl, &why, e);
            continue;
        }
        rc = ppx_put_u64(out, c->first + k) || ppx_put_u64(out, el) ||
                     ppx_buf_append(out, ext, el) || ppx_put_u64(out, s->scratch.len) ||
                     ppx_buf_append(out, s->scratch.data, s->scratch.len)
                 ? ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory")
                 : 0;
    }
    ppx__chunk_free(own);
    return rc;
}

/* npy shards hold one sample type and band count: the layout of the
 * shard's first image written (listing order, so the same for any -np and
 * -w). An image of another layout fails, naming both and the ops that
 * convert. */
static int npy_one_layout(run_state *s, uint64_t id, ppx_out_rec *v, size_t n, ppx_stats *st,
                          ppx_failures *fl, ppx_err *e)
{
    size_t first = 0;
    while (first < n && v[first].failed)
        first++;
    int rc = 0;
    for (size_t i = first + 1; i < n && !rc; i++) {
        int a = v[first].it.format, b = v[i].it.format;
        if (v[i].failed || b == a)
            continue;
        ppx_err why;
        ppx_err_set(&why, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                    "its npy rows are %s with %u band%s, but shard %llu holds %s with %u "
                    "(its first image): an npy shard holds one sample type and band count "
                    "(select bands with `bands`, convert with `scale` or `to-8bit`)",
                    ppx_sample_name(ppx_npy_layout_type(b)), ppx_npy_layout_bands(b),
                    ppx_npy_layout_bands(b) == 1 ? "" : "s", (unsigned long long)id,
                    ppx_sample_name(ppx_npy_layout_type(a)), ppx_npy_layout_bands(a));
        rc = fail_rec(s, &v[i], st, fl, &why, e);
    }
    return rc;
}

/* A shard: its images' sidecars read, then the shard of the images that
 * are still whole, then each of those counted as ok. With --copy-mode a
 * shard gets the permission bits all its inputs share (the most
 * restrictive: a 0600 image never lands in a 0644 shard). */
static int write_shard(run_state *s, const chunk *c, uint64_t id, ppx_out_rec *v, size_t n,
                       ppx_stats *st, ppx_failures *fl, ppx_prints *pr, ppx_err *e)
{
    ppx_buf sides;
    ppx_buf_init(&sides);
    ppx_shard_item *items = malloc((n ? n : 1) * sizeof *items);
    ppx_buf annots;
    ppx_buf_init(&annots);
    int rc = items ? load_sides(s, c, id, v, n, &sides, st, fl, e)
                   : ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_WRITE, "out of memory");
    if (!rc && s->cfg->shard == PPX_SHARD_NPY)
        rc = npy_one_layout(s, id, v, n, st, fl, e);
    rc = rc ? rc : ppx__coco_samples(s, c, v, n, &annots, e);
    size_t m = 0;
    uint32_t mode = 0777;
    for (size_t i = 0; i < n && !rc; i++)
        if (!v[i].failed) {
            items[m++] = v[i].it;
            mode &= v[i].mode ? v[i].mode : 0644;
        }
    rc = rc ? rc
            : ppx_shard_write(s->io.outdir.fd, s->cfg->shard, &s->job.npy, id, items, m,
                              s->cfg->copy_mode && m ? mode & 0777 : 0644, &sides, &annots,
                              s->cfg->with, s->cfg->n_with, &s->io.shard_buf, e);
    for (size_t i = 0; i < n && !rc; i++)
        if (!v[i].failed) {
            st->ok++;
            st->bytes_written += v[i].it.len;
            for (int k = 0; k < PPX_ROLES_MAX; k++)
                st->bytes_written += v[i].it.part_len[k];
            ppx_stats_add_image(st, (v[i].img.channels || v[i].img.raster.type) ? &v[i].img : NULL,
                                v[i].in_w, v[i].in_h);
            if (ppx_fingerprint_any(&v[i].fp) && ppx_prints_add(pr, v[i].it.index, &v[i].fp))
                rc = ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
        }
    free(items);
    ppx_buf_destroy(&sides);
    ppx_buf_destroy(&annots);
    return rc;
}

/* Per-image outputs of the bytes transport, each written by rank 0. */
static int write_files(run_state *s, ppx_out_rec *v, size_t n, ppx_stats *st, ppx_failures *fl,
                       ppx_prints *pr, ppx_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const ppx_out_rec *o = &v[i];
        char out[PPX_KEY_MAX];
        ppx_file_id in_id;
        int have_id = input_identity(s, o->it.index, &in_id) == 0;
        uint32_t mode = o->mode ? o->mode : have_id ? in_id.mode : 0;
        ppx_write_opts wo = {.mode = s->cfg->copy_mode && mode ? mode & 0777 : 0644,
                             .keep = have_id ? &in_id : NULL};
        ppx_err ie;
        ppx_err_clear(&ie);
        int rc = ppx_output_name(out, sizeof out, ppx_listing_key(&s->plan.listing, o->it.index),
                                 s->cfg->out_format, &ie);
        if (!rc)
            rc = ppx_write_beneath(s->io.outdir.fd, &s->io.out_dirs, out, o->it.data, o->it.len,
                                   &wo, &ie);
        if (rc == PPX_EOUTPUT) {
            *e = ie;
            return rc;
        }
        if (rc) {
            st->failed++;
            if (ppx_failures_add(fl, o->it.index, ie.stage, rc, ie.msg))
                return ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            continue;
        }
        st->ok++;
        st->bytes_written += o->it.len;
        ppx_stats_add_image(st, (o->img.channels || o->img.raster.type) ? &o->img : NULL, o->in_w,
                            o->in_h);
        if (ppx_fingerprint_any(&o->fp) && ppx_prints_add(pr, o->it.index, &o->fp))
            return ppx_err_set(e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
    return 0;
}

/* Writes a finished chunk's outputs that came back as bytes: its shard,
 * or each image's file (bytes transport), counting each image written as
 * ok into st and each that could not be written as a failure into fl.
 * Returns 0, or a code when the run must stop (OUTDIR unusable, malformed
 * records). */
int ppx__write_outputs(run_state *s, const chunk *c, uint64_t id, const ppx_buf *outputs,
                       ppx_stats *st, ppx_failures *fl, ppx_prints *pr, ppx_err *e)
{
    ppx_out_rec *v = NULL;
    size_t n = 0;
    /* A chunk's own images, or (another rank's chunk, on rank 0) any listed. */
    int rc = c ? ppx__parse_outputs(outputs, c->first, c->first + c->count, &v, &n)
               : ppx__parse_outputs(outputs, 0, s->plan.listing.n, &v, &n);
    if (rc)
        return ppx_err_set(e, rc, PPX_STAGE_JOB,
                           rc == PPX_ENOMEM ? "out of memory" : "malformed chunk outputs");
    rc = s->cfg->shard ? write_shard(s, c, id, v, n, st, fl, pr, e)
                       : write_files(s, v, n, st, fl, pr, e);
    free(v);
    return rc;
}

/* Records a finished chunk for the next commit. */
static void journal_chunk(run_state *s, uint64_t id, uint64_t count, const ppx_stats *st,
                          const ppx_failures *fl, const ppx_prints *pr)
{
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx_journal_add(&s->in.journal, id, count, st, fl, pr, &e)) {
        ppx__set_fatal(&s->stop, &e);
        return;
    }
    if (s->in.pending_since == 0)
        s->in.pending_since = ppx_now_s();
}

/* Durable resume: the outputs of a chunk reach stable storage before its
 * journal record does (the record itself is fdatasync'ed), so --resume after
 * a node crash or power loss never skips a chunk whose files are empty. The
 * committer thread (commit.h) syncs OUTDIR then writes the records it was
 * handed, all of whose outputs were renamed before the hand-off. */
void ppx__commit_journal(run_state *s, int now)
{
    if (!s->in.journal_open)
        return;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_committer_failed(&s->in.committer, &e);
    if (!rc && s->in.journal.rec.len &&
        (now || ppx_now_s() - s->in.pending_since >= JOURNAL_GROUP_S)) {
        rc = ppx_committer_offer(&s->in.committer, &s->in.journal.rec, &e);
        if (rc == 1)
            s->in.pending_since = 0;
        rc = rc < 0 ? rc : 0;
    }
    if (rc)
        ppx__set_fatal(&s->stop, &e);
}

void ppx__commit_journal_all(run_state *s)
{
    if (!s->in.journal_open)
        return;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_committer_wait(&s->in.committer, &e);
    if (!rc && s->in.journal.rec.len) {
        rc = ppx_committer_offer(&s->in.committer, &s->in.journal.rec, &e);
        rc = rc < 0 ? rc : ppx_committer_wait(&s->in.committer, &e);
        s->in.pending_since = 0;
    }
    if (rc)
        ppx__set_fatal(&s->stop, &e);
}

/* Writes the outputs that came back from another rank (bytes transport) and
 * journals that chunk. Runs on rank 0. */
int ppx__store_remote_chunk(run_state *s, const uint8_t *p, size_t n)
{
    ppx_chunk_result cr;
    ppx_prints pr = {0};
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx__unpack_chunk_result(p, n, &cr)) {
        ppx_err_set(&e, PPX_EMPI, PPX_STAGE_JOB, "malformed chunk result from a rank");
        ppx__set_fatal(&s->stop, &e);
        return -1;
    }
    if (ppx__write_outputs(s, NULL, cr.id, &cr.outputs, &cr.stats, &cr.fails, &pr, &e) ||
        ppx_outdir_check(&s->io.outdir, &e)) {
        ppx__set_fatal(&s->stop, &e);
        ppx_failures_destroy(&cr.fails);
        ppx_prints_destroy(&pr);
        return -1;
    }
    if (s->in.journal_open && !ppx__has_transient(&cr.fails))
        journal_chunk(s, cr.id, cr.count, &cr.stats, &cr.fails, &pr);
    ppx_stats_merge(&s->in.acc, &cr.stats);
    if (ppx_failures_extend(&s->in.fails, &cr.fails) || ppx_prints_extend(&s->in.prints, &pr)) {
        /* Counted but not listed would be a report that lies: stop. */
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory keeping failures");
        ppx__set_fatal(&s->stop, &e);
    }
    ppx_failures_destroy(&cr.fails);
    ppx_prints_destroy(&pr);
    return 0;
}

static void finish_chunk(run_state *s, chunk *c)
{
    if (s->stop.fatal)
        return; /* not journaled: the run ends with exit 1 */
    if (s->peer.lost0)
        return; /* rank 0 is silent: the run ends with exit 4 (res_buf may be MPI's) */
    if (ppx__is_bytes_remote(s)) {
        /* Send stats, failures and outputs to rank 0, which writes and
         * journals them. One send in flight: wait for the previous, for what
         * is left of --rank-timeout since it was posted (rank 0 takes it
         * between two turns of its loop; a stopped rank 0 never does). */
        if (s->peer.res_pending) {
            double limit = ppx__peer_limit(s),
                   waited = ppx_wire_look(&s->peer.watch) - s->peer.res_sent;
            int rc = MPI_CHECK(s, ppx_wire_wait(&s->peer.res_ws,
                                                limit > 0 ? fmax(limit - waited, 1e-9) : 0,
                                                &s->peer.watch));
            s->peer.res_pending = 0;
            if (rc > 0) {
                s->peer.abandoned = 1;
                ppx__lose_rank0(s, limit, " (chunk results wait to be taken)");
            }
            if (rc)
                return;
        }
        ppx_buf *b = &s->peer.res_buf;
        b->len = 0;
        ppx_buf tmp;
        ppx_buf_init(&tmp);
        int rc =
            ppx__pack_chunk_result(b, c->id, c->count, &c->stats, &c->fails, &c->outputs, &tmp);
        ppx_buf_destroy(&tmp);
        if (rc) {
            ppx_err e;
            ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            ppx__set_fatal(&s->stop, &e);
            return;
        }
        if (MPI_CHECK(s, ppx_wire_isend(&s->peer.res_ws, b->data, b->len, 0, TAG_CHUNKRES,
                                        s->comm)) == 0) {
            s->peer.res_pending = 1;
            s->peer.res_sent = ppx_wire_look(&s->peer.watch);
            ppx__test_stop(s->rank, "result");
        }
        return;
    }
    ppx_err e;
    ppx_err_clear(&e);
    if (s->cfg->shard && s->cfg->outdir &&
        ppx__write_outputs(s, c, c->id, &c->outputs, &c->stats, &c->fails, &c->prints, &e)) {
        ppx__set_fatal(&s->stop, &e);
        return;
    }
    /* A chunk is journaled as done only while OUTDIR is still the folder
     * its outputs went to (a deleted or replaced OUTDIR ends the run), and
     * only once its outputs are on stable storage (ppx__commit_journal). */
    if (s->io.outdir.fd >= 0 && ppx_outdir_check(&s->io.outdir, &e)) {
        ppx__set_fatal(&s->stop, &e);
        return;
    }
    if (s->in.journal_open && !ppx__has_transient(&c->fails))
        journal_chunk(s, c->id, c->count, &c->stats, &c->fails, &c->prints);
    if (s->stop.fatal)
        return;
    ppx_stats_merge(&s->in.acc, &c->stats);
    if (ppx_failures_extend(&s->in.fails, &c->fails) ||
        ppx_prints_extend(&s->in.prints, &c->prints)) {
        ppx_err_set(&e, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory recording failures");
        ppx__set_fatal(&s->stop, &e);
    }
}

/* Hands images to workers: one each, and a second (paths only) to wait in
 * a busy worker's pipe so it never idles until we wake (see ppx_pool_slots). */
void ppx__feed(run_state *s)
{
    char in[PPX_PATH_MAX], out[PPX_PATH_MAX];
    int with_payload = ppx__is_bytes_remote(s);
    int may = !s->stop.stopping || s->stop.draining;
    for (chunk *c = s->queue.queue_head; c && may; c = c->next_in_queue) {
        while (c->next < c->count && ppx_pool_slots(s->pool, with_payload) > 0 && may) {
            uint64_t i = c->next++;
            const char *key = ppx__chunk_key(c, i);
            ppx_err e;
            ppx_err_clear(&e);
            const uint8_t *input = NULL;
            size_t len = 0;
            int rc = 0;
            if (c->prefail[i]) {
                ppx_result r;
                ppx__prefail_result(c->prefail[i], &r);
                ppx__record(s, c, i, &r, NULL);
                continue;
            }
            if (ppx__is_bytes_remote(s)) {
                if (c->in_code[i]) {
                    /* Rank 0 could not read it: a failure without a worker. */
                    ppx_result r;
                    memset(&r, 0, sizeof r);
                    r.status = c->in_code[i];
                    ppx_err_set(&r.err, c->in_code[i], (int)c->in_len[i], "%s",
                                (const char *)c->in_errs.data + c->in_off[i]);
                    ppx__record(s, c, i, &r, NULL);
                    continue;
                }
                input = c->inputs.data + c->in_off[i];
                len = c->in_len[i];
                rc = ppx_work_submit(s->pool, c->first + i, c->id, key, NULL, key, NULL,
                                     input ? input : (const uint8_t *)"", len, &e);
            } else {
                int per_image = s->cfg->outdir && !s->cfg->shard;
                ppx_result r;
                memset(&r, 0, sizeof r);
                if (ppx__image_path(s->cfg, &s->plan, key, c->span[i].arc_len, in, sizeof in))
                    r.status =
                        ppx_err_set(&r.err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long");
                else if (per_image)
                    r.status = ppx_output_name(out, sizeof out, key, s->cfg->out_format, &r.err);
                if (r.status) {
                    ppx__record(s, c, i, &r, NULL);
                    continue;
                }
                rc = ppx_work_submit(s->pool, c->first + i, c->id, in,
                                     c->span[i].arc_len ? &c->span[i] : NULL, key,
                                     per_image ? out : NULL, NULL, 0, &e);
            }
            if (rc)
                ppx__set_fatal(&s->stop, &e);
        }
    }
}
