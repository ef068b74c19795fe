/* Chunks (fixed ranges of the sorted listing) and a rank's queue of them.
 * May change: sched_queue only (the chunks in it). Calls plan.c. */
#include "sched/queue.h"

#include <errno.h>

#include <string.h>

void ppx__prefail_result(uint32_t why, ppx_result *r)
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
    case PREFAIL_SAME_MEMBER:
        r->status =
            ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                        "another member of the same name comes earlier in the archive: only "
                        "the first is read");
        break;
    case PREFAIL_UNSAFE:
        r->status = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                                "its output name would lie outside OUTDIR or is no plain path in "
                                "it: a part is '..', '.' or empty (a folder 'x.tar' counts as "
                                "'x'), or it is in OUTDIR/.prepix; rename it, or list it from a "
                                "folder above it");
        break;
    case PREFAIL_TOOLONG:
        r->status = ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                                "its output name has a part longer than a file name may be");
        break;
    case PREFAIL_ARCHIVE:
        r->status = ppx_err_set(err,
                                e == PPX_TAR_UNSAFE    ? PPX_EUNSAFE
                                : e == PPX_TAR_TOOLONG ? PPX_ENAMETOOLONG
                                : e == PPX_TAR_READ    ? PPX_EIO
                                                       : PPX_EFORMAT,
                                PPX_STAGE_INPUT, "%s", ppx_tar_problem_text(e));
        break;
    case PREFAIL_ARC_OPEN:
        if (e == ELOOP)
            r->status = ppx_err_set(err, PPX_ELOOP, PPX_STAGE_INPUT,
                                    "a symbolic link, not followed (--follow-symlinks)");
        else if (e == ENOENT)
            r->status = ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT, "vanished during the walk");
        else
            r->status =
                ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT,
                            "cannot open this archive: %s; its members are left out", strerror(e));
        break;
    default:
        if (e == 0)
            r->status = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                                    "folders nested deeper than the walk goes: left out");
        else if (e == ENAMETOOLONG)
            r->status =
                ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long: left out");
        else if (e == ENOENT)
            r->status = ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT, "vanished during the walk");
        else if (e == ELOOP || e == ENOTDIR)
            r->status = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                                    "replaced by a link during the walk: not followed");
        else
            r->status =
                ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT,
                            "cannot read this folder: %s; its images are left out", strerror(e));
        break;
    }
}

void ppx__enqueue(sched_queue *q, chunk *c)
{
    if (q->queue_tail)
        q->queue_tail->next_in_queue = c;
    else
        q->queue_head = c;
    q->queue_tail = c;
}

void ppx__drop_unstarted(sched_queue *q, int draining)
{
    /* Abandon chunks not started; chunks with images in workers stay until
     * those come back (they are not journaled: --resume redoes them). */
    chunk **pp = &q->queue_head;
    q->queue_tail = NULL;
    while (*pp) {
        chunk *c = *pp;
        if (c->next == 0) {
            *pp = c->next_in_queue;
            ppx__chunk_free(c);
        } else {
            if (!draining)
                c->next = c->count; /* submit nothing more from it */
            q->queue_tail = c;
            pp = &c->next_in_queue;
        }
    }
}

/* Chunks not yet started. */
int ppx__unstarted(const sched_queue *q)
{
    int n = 0;
    for (const chunk *c = q->queue_head; c; c = c->next_in_queue)
        n += c->next < c->count;
    return n;
}

chunk *ppx__find_chunk(sched_queue *q, uint64_t id)
{
    for (chunk *c = q->queue_head; c; c = c->next_in_queue)
        if (c->id == id)
            return c;
    return NULL;
}

/* 1 if an image of these failures was lost with its worker (killed from
 * outside, the OOM killer, a timeout): such a chunk is reported but not
 * journaled, so --resume retries it and a transient death is never final. */
int ppx__has_transient(const ppx_failures *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].stage == PPX_STAGE_WORKER || f->v[i].stage == PPX_STAGE_TIMEOUT)
            return 1;
    return 0;
}

/* Removes chunks whose every image came back. */
void ppx__collect_finished(sched_queue *q)
{
    chunk **pp = &q->queue_head;
    q->queue_tail = NULL;
    while (*pp) {
        chunk *c = *pp;
        if (c->remaining == 0) {
            *pp = c->next_in_queue;
            ppx__chunk_free(c);
        } else {
            q->queue_tail = c;
            pp = &c->next_in_queue;
        }
    }
}
