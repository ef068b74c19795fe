/* Rank 0 as the chunk source: which chunk next, and the assignment message
 * (keys, labels, pre-known failures and, for --transport bytes, the files' bytes).
 * May change: sched_plan's next_chunk, sched_io's read caches (in_dirs,
 * in_arc). */
#include "sched/run_state.h"

#include <stdio.h>
#include <string.h>

#include "prepix/buf.h"
#include "prepix/io.h"

int ppx__input_path(const ppx_run_config *cfg, const sched_plan *p, const char *key, char *out,
                    size_t cap)
{
    /* SPLIT/REL: the split's folder joined with REL. */
    const char *slash = cfg->n_splits ? strchr(key, '/') : NULL;
    for (int k = 0; slash && k < cfg->n_splits; k++)
        if (strncmp(cfg->split_names[k], key, (size_t)(slash - key)) == 0 &&
            cfg->split_names[k][slash - key] == '\0')
            return ppx_path_join(out, cap, cfg->split_paths[k], slash + 1);
    return ppx_path_join(out, cap, p->root, key);
}

int ppx__image_path(const ppx_run_config *cfg, const sched_plan *p, const char *key,
                    uint32_t arc_len, char *out, size_t cap)
{
    if (!arc_len)
        return ppx__input_path(cfg, p, key, out, cap);
    char arc[PPX_KEY_MAX];
    snprintf(arc, sizeof arc, "%.*s", (int)arc_len, key);
    return ppx__input_path(cfg, p, arc, out, cap);
}

/* The image's span in its archive (arc_len 0 for a plain file). */
static ppx_span span_of(const run_state *s, uint64_t i)
{
    const ppx_member *m = ppx_listing_member(&s->plan.listing, i);
    if (!m)
        return (ppx_span){0};
    ppx_span sp = {m->off, m->size, m->arc_len, *ppx_listing_arc(&s->plan.listing, m), 0, {0}, {0}};
    /* Its companions in the archive, each in its role's slot. */
    for (uint32_t j = 0; j < m->side_n; j++) {
        const ppx_sidecar *sc = &s->plan.listing.sides[m->side_first + j];
        const char *ext = (const char *)s->plan.listing.side_names.data + sc->ext;
        int k = sc->companion ? ppx_listing_companion_role(s->cfg, ext) : -1;
        if (k < 0 || k >= PPX_SPAN_PARTS || (sp.part_mask & (1u << k)))
            continue;
        sp.part_mask |= 1u << k;
        sp.part_off[k] = sc->off;
        sp.part_size[k] = sc->size;
    }
    return sp;
}

/* Tar shards from archive input: the sidecar records of image i (index k in
 * its chunk) into b. */
static int put_sides(const run_state *s, uint64_t i, uint64_t k, ppx_buf *b)
{
    const ppx_member *m = ppx_listing_member(&s->plan.listing, i);
    if (!m || s->cfg->shard != PPX_SHARD_TAR)
        return 0;
    int rc = 0;
    for (uint32_t j = 0; j < m->side_n && !rc; j++) {
        const ppx_sidecar *sc = &s->plan.listing.sides[m->side_first + j];
        if (sc->companion)
            continue; /* transformed by the worker, or left out; never copied as it is */
        const char *ext = (const char *)s->plan.listing.side_names.data + sc->ext;
        size_t el = strlen(ext);
        rc = ppx_put_u64(b, k) || ppx_put_u64(b, sc->off) || ppx_put_u64(b, sc->size) ||
             ppx_put_u64(b, el) || ppx_buf_append(b, ext, el);
    }
    return rc;
}

/* Next chunk id not finished by an earlier attempt, or -1. */
int64_t ppx__take_chunk_id(sched_plan *p)
{
    while (p->next_chunk < p->n_chunks) {
        uint64_t id = p->next_chunk++;
        if (!p->resume.done || !p->resume.done[id])
            return (int64_t)id;
    }
    return -1;
}

static void chunk_range(const run_state *s, uint64_t id, uint64_t *first, uint64_t *count)
{
    ppx__plan_range(s->plan.listing.n, s->plan.chunk_size, id, first, count);
}

/* Builds a chunk from the listing (rank 0's own work). */
chunk *ppx__make_local_chunk(run_state *s, uint64_t id)
{
    uint64_t first, count;
    chunk_range(s, id, &first, &count);
    chunk *c = ppx__chunk_new(id, first, count);
    if (!c)
        return NULL;
    for (uint64_t i = 0; i < count; i++) {
        const char *k = ppx_listing_key(&s->plan.listing, first + i);
        c->key_off[i] = c->keys.len;
        c->prefail[i] = s->plan.prefail ? s->plan.prefail[first + i] : 0;
        c->label[i] = ppx_classes_label(&s->plan.classes, &s->plan.listing, first + i);
        c->span[i] = span_of(s, first + i);
        if (ppx_buf_append(&c->keys, k, strlen(k) + 1) || put_sides(s, first + i, i, &c->sides) ||
            ppx__coco_put_slice(s, first + i, i, &c->annots)) {
            ppx__chunk_free(c);
            return NULL;
        }
    }
    return c;
}

/* Packs an assignment for another rank: the keys, where archive members
 * are, the sidecars of tar shards and, for the bytes transport, each
 * image's bytes (or the reason it could not be read). */
int ppx__pack_assign(run_state *s, int kind, int stop, uint64_t id, ppx_buf *b)
{
    b->len = 0;
    uint64_t first = 0, count = 0;
    if (kind == ASSIGN_CHUNK)
        chunk_range(s, id, &first, &count);
    int rc = ppx__pack_assign_head(b, kind, stop, id, first, count);
    for (uint64_t i = 0; i < count && !rc; i++) {
        const char *k = ppx_listing_key(&s->plan.listing, first + i);
        ppx_span sp = span_of(s, first + i);
        rc = ppx__pack_assign_entry(
            b, k, s->plan.prefail ? s->plan.prefail[first + i] : 0,
            ppx_classes_label(&s->plan.classes, &s->plan.listing, first + i), &sp);
        if (rc || !s->cfg->transport_bytes)
            continue;
        char path[PPX_PATH_MAX];
        ppx_err e;
        ppx_err_clear(&e);
        uint64_t max = s->cfg->limits.max_file_bytes;
        int r = 0;
        if (s->io.in_root < 0 &&
            ppx__image_path(s->cfg, &s->plan, k, sp.arc_len, path, sizeof path))
            r = ppx_err_set(&e, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long");
        ppx_file_id fid = {0, 0, 0};
        r = r ? r
              : ppx_input_read(s->io.in_root, &s->job.splits, &s->io.in_dirs, &s->io.in_arc, path,
                               sp.arc_len ? &sp : NULL, k, s->cfg->follow_symlinks, max,
                               &s->scratch, &fid, &e);
        if (r) {
            size_t ml = strlen(e.msg);
            rc = ppx_put_u64(b, (uint64_t)(int64_t)r) || ppx_put_u64(b, (uint64_t)e.stage) ||
                 ppx_put_u64(b, ml) || ppx_buf_append(b, e.msg, ml);
        } else {
            rc = ppx_put_u64(b, 0) || ppx_put_u64(b, fid.mode) || ppx_put_u64(b, s->scratch.len) ||
                 ppx_buf_append(b, s->scratch.data, s->scratch.len);
        }
    }
    /* The sidecars last, as one block (built where the bytes were read). */
    s->scratch.len = 0;
    for (uint64_t i = 0; i < count && !rc; i++)
        rc = put_sides(s, first + i, i, &s->scratch);
    rc = rc || ppx_put_u64(b, s->scratch.len) || ppx_buf_append(b, s->scratch.data, s->scratch.len);
    /* Then the COCO slices of the chunk's images, as one block. */
    s->scratch.len = 0;
    for (uint64_t i = 0; i < count && !rc && s->plan.coco_image; i++)
        rc = ppx__coco_put_slice(s, first + i, i, &s->scratch);
    rc = rc || ppx_put_u64(b, s->scratch.len) || ppx_buf_append(b, s->scratch.data, s->scratch.len);
    return rc ? PPX_ENOMEM : 0;
}
