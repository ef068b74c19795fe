/* The plan of a run (plan.h): chunks, the cut of the listing, the messages
 * between ranks, the outcome. No MPI call and no run state here. */
#include "sched/plan.h"

#include <stdlib.h>
#include <string.h>

void ppx__chunk_free(chunk *c)
{
    if (!c)
        return;
    ppx_buf_destroy(&c->keys);
    ppx_buf_destroy(&c->inputs);
    ppx_buf_destroy(&c->in_errs);
    ppx_buf_destroy(&c->outputs);
    ppx_buf_destroy(&c->sides);
    ppx_buf_destroy(&c->annots);
    free(c->span);
    free(c->key_off);
    free(c->prefail);
    free(c->label);
    free(c->in_off);
    free(c->in_len);
    free(c->in_code);
    free(c->in_mode);
    ppx_failures_destroy(&c->fails);
    ppx_prints_destroy(&c->prints);
    free(c);
}

chunk *ppx__chunk_new(uint64_t id, uint64_t first, uint64_t count)
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
    c->span = calloc(count ? count : 1, sizeof *c->span);
    ppx_stats_init(&c->stats);
    if (!c->key_off || !c->prefail || !c->label || !c->span) {
        ppx__chunk_free(c);
        return NULL;
    }
    return c;
}

const char *ppx__chunk_key(const chunk *c, uint64_t i)
{
    return (const char *)c->keys.data + c->key_off[i];
}

uint64_t ppx__plan_shards_size(uint64_t n, uint64_t k)
{
    uint64_t up = (n + k - 1) / k;
    if (up <= 1)
        return 1;
    return (n + up - 1) / up < k ? n / k : up;
}

/* The last chunks end the job unevenly (one rank still busy while the others
 * have nothing), and that tail is about one chunk long; a chunk costs only a
 * request and a journal record. Large jobs get larger chunks so that rank 0
 * keeps up with their requests. */
static void auto_bounds(uint64_t total_workers, uint64_t *per, uint64_t *lo, uint64_t *hi)
{
    uint64_t w = total_workers ? total_workers : 1;
    *per = 32 * w; /* 32 chunks per worker: the size is n / per */
    *lo = (w + PPX_PLAN_WORKERS_PER_IMAGE - 1) / PPX_PLAN_WORKERS_PER_IMAGE;
    *hi = *lo > PPX_PLAN_CHUNK_MAX ? *lo : PPX_PLAN_CHUNK_MAX;
}

uint64_t ppx__plan_auto_chunk_size(uint64_t n, uint64_t total_workers)
{
    uint64_t per, lo, hi;
    auto_bounds(total_workers, &per, &lo, &hi);
    uint64_t cs = n / per + (n % per != 0);
    return cs < lo ? lo : cs > hi ? hi : cs;
}

uint64_t ppx__plan_auto_chunk_sure(uint64_t total_workers)
{
    uint64_t per, lo, hi;
    auto_bounds(total_workers, &per, &lo, &hi);
    /* ceil(n / per) >= hi for every n > per x (hi - 1) */
    return lo == hi ? 0 : per * (hi - 1);
}

uint64_t ppx__plan_n_chunks(uint64_t n, uint64_t chunk_size)
{
    return (n + chunk_size - 1) / chunk_size;
}

void ppx__plan_range(uint64_t n, uint64_t chunk_size, uint64_t id, uint64_t *first, uint64_t *count)
{
    *first = id * chunk_size;
    uint64_t end = *first + chunk_size;
    if (end > n)
        end = n;
    *count = end > *first ? end - *first : 0;
}

uint32_t ppx__plan_walk_prefail(const ppx_walk_error *w)
{
    return w->problem   ? PREFAIL_ARCHIVE | (uint32_t)w->problem << 8
           : w->archive ? PREFAIL_ARC_OPEN | (uint32_t)w->errno_value << 8
                        : PREFAIL_WALK | (uint32_t)w->errno_value << 8;
}

void ppx__plan_mark_walk_errors(const ppx_listing *l, uint32_t *prefail)
{
    for (size_t k = 0; k < l->n_walk_errors; k++)
        prefail[l->walk_errors[k].index] = ppx__plan_walk_prefail(&l->walk_errors[k]);
}

int ppx__plan_outcome(int fatal, int stopped, uint64_t failed, size_t n_fails)
{
    return fatal                 ? PPX_RUN_FATAL
           : stopped             ? PPX_RUN_STOPPED
           : (failed || n_fails) ? PPX_RUN_FAILURES
                                 : PPX_RUN_DONE;
}

int ppx__plan_setup_outcome(int rc)
{
    return rc == 0               ? PPX_RUN_DONE
           : rc == PPX_EUSAGE    ? PPX_RUN_REFUSED
           : rc == PPX_ECANCELED ? PPX_RUN_STOPPED
                                 : PPX_RUN_FATAL;
}

int ppx__pack_assign_head(ppx_buf *b, int kind, int stop, uint64_t id, uint64_t first,
                          uint64_t count)
{
    return ppx_put_u64(b, (uint64_t)kind) || ppx_put_u64(b, (uint64_t)stop) || ppx_put_u64(b, id) ||
                   ppx_put_u64(b, first) || ppx_put_u64(b, count)
               ? PPX_ENOMEM
               : 0;
}

/* The companions a member carries in its archive (part_mask's roles). */
static int put_parts(ppx_buf *b, const ppx_span *sp)
{
    for (int q = 0; q < PPX_SPAN_PARTS; q++)
        if ((sp->part_mask & (1u << q)) &&
            (ppx_put_u64(b, sp->part_off[q]) || ppx_put_u64(b, sp->part_size[q])))
            return PPX_ENOMEM;
    return 0;
}

int ppx__pack_assign_entry(ppx_buf *b, const char *key, uint32_t prefail, int64_t label,
                           const ppx_span *sp)
{
    size_t kl = strlen(key);
    return ppx_put_u64(b, kl) || ppx_buf_append(b, key, kl) || ppx_put_u64(b, prefail) ||
                   ppx_put_u64(b, (uint64_t)label) || ppx_put_u64(b, sp->arc_len) ||
                   ppx_put_u64(b, sp->off) || ppx_put_u64(b, sp->size) ||
                   ppx_put_u64(b, sp->arc.id.dev) || ppx_put_u64(b, sp->arc.id.ino) ||
                   ppx_put_u64(b, sp->arc.id.mode) || ppx_put_u64(b, sp->arc.follow) ||
                   ppx_put_u64(b, sp->part_mask) || put_parts(b, sp)
               ? PPX_ENOMEM
               : 0;
}

/* The least an image takes in an assignment: its key's length and eleven
 * more words. A count beyond what the message can hold is refused before
 * the chunk's arrays are allocated for it. */
#define ASSIGN_ENTRY_MIN (12 * 8)

/* A block of a message (its length, then its bytes) appended to to. */
static int read_block(ppx_rd *r, ppx_buf *to)
{
    uint64_t len = ppx_get_u64(r);
    const uint8_t *d = ppx_get_bytes(r, len);
    return r->bad || ppx_buf_append(to, d, len) ? -1 : 0;
}

chunk *ppx__unpack_assign(ppx_buf *msg, int bytes, int *kind, int *stop)
{
    const uint8_t *p = msg->data;
    *kind = *stop = 0;
    if (!p)
        return NULL; /* nothing received */
    ppx_rd r = {p, p + msg->len, 0};
    *kind = (int)ppx_get_u64(&r);
    *stop = (int)ppx_get_u64(&r);
    uint64_t id = ppx_get_u64(&r), first = ppx_get_u64(&r), count = ppx_get_u64(&r);
    if (r.bad || *kind != ASSIGN_CHUNK || count > (size_t)(r.end - r.p) / ASSIGN_ENTRY_MIN)
        return NULL;
    chunk *c = ppx__chunk_new(id, first, count);
    if (!c)
        return NULL;
    if (bytes) {
        c->in_off = calloc(count ? count : 1, sizeof *c->in_off);
        c->in_len = calloc(count ? count : 1, sizeof *c->in_len);
        c->in_code = calloc(count ? count : 1, sizeof *c->in_code);
        c->in_mode = calloc(count ? count : 1, sizeof *c->in_mode);
        if (!c->in_off || !c->in_len || !c->in_code || !c->in_mode)
            goto bad;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t kl = ppx_get_u64(&r);
        const uint8_t *k = ppx_get_bytes(&r, kl);
        c->prefail[i] = (uint32_t)ppx_get_u64(&r);
        c->label[i] = (int64_t)ppx_get_u64(&r);
        uint64_t al = ppx_get_u64(&r);
        c->span[i].off = ppx_get_u64(&r);
        c->span[i].size = ppx_get_u64(&r);
        c->span[i].arc.id.dev = ppx_get_u64(&r);
        c->span[i].arc.id.ino = ppx_get_u64(&r);
        c->span[i].arc.id.mode = (uint32_t)ppx_get_u64(&r);
        c->span[i].arc.follow = ppx_get_u64(&r) != 0;
        uint64_t mask = ppx_get_u64(&r);
        if (mask >> PPX_SPAN_PARTS)
            goto bad;
        c->span[i].part_mask = (uint32_t)mask;
        for (int q = 0; q < PPX_SPAN_PARTS; q++)
            if (mask & (1u << q)) {
                c->span[i].part_off[q] = ppx_get_u64(&r);
                c->span[i].part_size[q] = ppx_get_u64(&r);
            }
        /* Another rank may be another host, where a network file system's
         * device numbers differ: the inode is what it can check. */
        c->span[i].arc.dev_known = 0;
        /* A key is a path: no NUL inside, an archive's name a part of it. */
        if (r.bad || al > kl || memchr(k, 0, kl))
            goto bad;
        c->span[i].arc_len = (uint32_t)al;
        c->key_off[i] = c->keys.len;
        if (ppx_buf_append(&c->keys, k, kl) || ppx_buf_append(&c->keys, "", 1))
            goto bad;
        if (!bytes)
            continue;
        int64_t code = (int64_t)ppx_get_u64(&r);
        if (code) {
            uint64_t stage = ppx_get_u64(&r), ml = ppx_get_u64(&r);
            const uint8_t *m = ppx_get_bytes(&r, ml);
            /* A code that is no PPX_E code (one that would read as 0 in 32
             * bits would make the error text's offset an image's bytes). */
            if (r.bad || code > 0 || code < INT32_MIN)
                goto bad;
            /* The error text in in_errs (NUL-terminated); stage in in_len. */
            c->in_code[i] = (int32_t)code;
            c->in_len[i] = stage;
            c->in_off[i] = c->in_errs.len;
            if (ppx_buf_append(&c->in_errs, m, ml) || ppx_buf_append(&c->in_errs, "", 1))
                goto bad;
        } else {
            c->in_mode[i] = (uint32_t)ppx_get_u64(&r);
            uint64_t len = ppx_get_u64(&r);
            const uint8_t *d = ppx_get_bytes(&r, len);
            if (r.bad)
                goto bad;
            c->in_off[i] = (uint64_t)(d - p); /* within the message, which the chunk keeps */
            c->in_len[i] = len;
        }
    }
    /* The sidecars, then the COCO slices (a message without them has none). */
    if (read_block(&r, &c->sides) || (r.p < r.end && read_block(&r, &c->annots)))
        goto bad;
    if (bytes) {
        /* The images' bytes stay where they arrived: the chunk takes the
         * message, so a rank holds a chunk's bytes once, not twice. */
        c->inputs = *msg;
        ppx_buf_init(msg);
    }
    return c;
bad:
    ppx__chunk_free(c);
    return NULL;
}

/* One rank's end message (prepix/buf.h's encoding). */
int ppx__pack_end(int fatal, int stopped, const ppx_stats *acc, const ppx_rank_info *me,
                  const ppx_failures *fails, const ppx_prints *prints, ppx_buf *out)
{
    return ppx_put_u64(out, (uint64_t)fatal) || ppx_put_u64(out, (uint64_t)stopped) ||
                   ppx_stats_serialize(acc, out) || ppx_rank_info_pack(me, out) ||
                   ppx_failures_pack(fails, out) || ppx_prints_pack(prints, out)
               ? PPX_ENOMEM
               : 0;
}

int ppx__unpack_end(const uint8_t *p, size_t n, int all[2], ppx_stats *total, ppx_rank_info *ri,
                    ppx_failures *fails, ppx_prints *prints)
{
    ppx_rd r = {p, p + n, 0};
    uint64_t fatal = ppx_get_u64(&r), stopped = ppx_get_u64(&r);
    if (r.bad || fatal > 1 || stopped > 1)
        return PPX_ECORRUPT;
    ppx_stats st;
    size_t used = 0;
    int rc = ppx_stats_deserialize(r.p, (size_t)(r.end - r.p), &st, &used);
    if (rc)
        return rc;
    r.p += used;
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
    all[0] |= (int)fatal;
    all[1] |= (int)stopped;
    return 0;
}

int ppx__pack_chunk_result(ppx_buf *b, uint64_t id, uint64_t count, const ppx_stats *st,
                           const ppx_failures *fl, const ppx_buf *outputs, ppx_buf *scratch)
{
    scratch->len = 0;
    int rc = ppx_put_u64(b, id) || ppx_put_u64(b, count) || ppx_stats_serialize(st, scratch) ||
             ppx_put_u64(b, scratch->len) || ppx_buf_append(b, scratch->data, scratch->len);
    scratch->len = 0;
    rc = rc || ppx_failures_pack(fl, scratch) || ppx_put_u64(b, scratch->len) ||
         ppx_buf_append(b, scratch->data, scratch->len) ||
         ppx_buf_append(b, outputs->data, outputs->len);
    return rc ? PPX_ENOMEM : 0;
}

int ppx__unpack_chunk_result(const uint8_t *p, size_t n, ppx_chunk_result *cr)
{
    /* Everything but the statistics, which the parse writes whole on
     * success: zeroing their 148 KB too, for every chunk rank 0 serves
     * with the bytes transport, was a pass over memory for nothing. */
    cr->id = cr->count = 0;
    memset(&cr->fails, 0, sizeof cr->fails);
    memset(&cr->outputs, 0, sizeof cr->outputs);
    ppx_rd r = {p, p + n, 0};
    cr->id = ppx_get_u64(&r);
    cr->count = ppx_get_u64(&r);
    uint64_t stats_len = ppx_get_u64(&r);
    const uint8_t *sp = ppx_get_bytes(&r, stats_len);
    uint64_t fails_len = ppx_get_u64(&r);
    const uint8_t *fp = ppx_get_bytes(&r, fails_len);
    if (r.bad || ppx_stats_deserialize(sp, stats_len, &cr->stats, NULL) ||
        ppx_failures_unpack(fp, fails_len, &cr->fails, NULL)) {
        ppx_failures_destroy(&cr->fails);
        return PPX_ECORRUPT;
    }
    cr->outputs.data = (uint8_t *)r.p;
    cr->outputs.len = (size_t)(r.end - r.p);
    return 0;
}

int ppx__pack_out_rec(ppx_buf *b, uint64_t index, int64_t label, int format, const uint8_t *data,
                      uint64_t len, const uint64_t *part_len, uint32_t in_w, uint32_t in_h,
                      uint32_t mode, const ppx_img_stats *st, const ppx_fingerprint *fp)
{
    if (ppx_put_u64(b, index) || ppx_put_u64(b, (uint64_t)label) ||
        ppx_put_u64(b, (uint64_t)format) || ppx_put_u64(b, len) || ppx_buf_append(b, data, len))
        return PPX_ENOMEM;
    for (int k = 0; k < PPX_SPAN_PARTS; k++)
        if (ppx_put_u64(b, part_len[k]))
            return PPX_ENOMEM;
    return ppx_put_u64(b, in_w) || ppx_put_u64(b, in_h) || ppx_put_u64(b, mode) ||
                   ppx_img_stats_pack(st, b) || ppx_fingerprint_pack(fp, b)
               ? PPX_ENOMEM
               : 0;
}

static int cmp_recs(const void *a, const void *b)
{
    uint64_t x = ((const ppx_out_rec *)a)->it.index, y = ((const ppx_out_rec *)b)->it.index;
    return (x > y) - (x < y);
}
/* The records of outputs (possibly from another rank: untrusted), sorted by
 * index into *vp; indices must lie in [lo, hi). 0, or PPX_EMPI when
 * malformed, PPX_ENOMEM. */
int ppx__parse_outputs(const ppx_buf *outputs, uint64_t lo, uint64_t hi, ppx_out_rec **vp,
                       size_t *np)
{
    size_t n = 0, cap = 0;
    ppx_out_rec *v = NULL;
    ppx_rd r = {outputs->data, outputs->data + outputs->len, 0};
    while (r.p < r.end) {
        if (ppx_array_grow((void **)&v, &cap, n, sizeof *v, 64)) {
            free(v);
            return PPX_ENOMEM;
        }
        ppx_out_rec *o = &v[n];
        memset(o, 0, sizeof *o);
        o->it.index = ppx_get_u64(&r);
        o->it.label = (int64_t)ppx_get_u64(&r);
        o->it.format = (int)ppx_get_u64(&r);
        o->it.len = ppx_get_u64(&r);
        o->it.data = ppx_get_bytes(&r, o->it.len);
        /* The companions are the output's last bytes (untrusted: checked). */
        uint64_t parts = 0;
        for (int k = 0; k < PPX_SPAN_PARTS; k++) {
            o->it.part_len[k] = ppx_get_u64(&r);
            parts += o->it.part_len[k] <= o->it.len ? o->it.part_len[k] : o->it.len + 1;
        }
        if (parts > o->it.len)
            r.bad = 1;
        else
            o->it.len -= parts;
        o->in_w = (uint32_t)ppx_get_u64(&r);
        o->in_h = (uint32_t)ppx_get_u64(&r);
        o->mode = (uint32_t)ppx_get_u64(&r);
        if (ppx_img_stats_unpack(&r, &o->img) || ppx_fingerprint_unpack(&r, &o->fp) || r.bad ||
            o->it.index < lo || o->it.index >= hi) {
            free(v);
            return PPX_EMPI;
        }
        n++;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_recs);
    *vp = v;
    *np = n;
    return 0;
}
