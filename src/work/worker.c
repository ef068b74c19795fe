/* The per-image job in the pool: a task's bytes on the pool's pipe, the
 * worker function that runs ppx_job_run on them, and the result record that
 * comes back. The pool carries these bytes without reading them. */
#include "work/job.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* A task on the pipe: this head, then in_path, key and (has_out) out_path,
 * each ending in a NUL. */
typedef struct {
    uint64_t m_off, m_size; /* an archive member's bytes (arc_len > 0) */
    uint32_t arc_len, has_out;
    ppx_arc_ident arc;
    uint32_t part_mask, pad; /* the member's companions (ppx_span) */
    uint64_t part_off[PPX_SPAN_PARTS], part_size[PPX_SPAN_PARTS];
} task_head;

int ppx__task_pack(uint8_t *out, size_t cap, size_t *len, const char *in_path, const ppx_span *span,
                   const char *key, const char *out_path, ppx_err *err)
{
    task_head h;
    memset(&h, 0, sizeof h);
    if (span) {
        h.m_off = span->off;
        h.m_size = span->size;
        h.arc_len = span->arc_len;
        h.arc = span->arc;
        h.part_mask = span->part_mask;
        memcpy(h.part_off, span->part_off, sizeof h.part_off);
        memcpy(h.part_size, span->part_size, sizeof h.part_size);
    }
    h.has_out = out_path != NULL;
    const char *s[3] = {in_path, key, out_path ? out_path : ""};
    size_t n = sizeof h;
    if (cap < n)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_JOB, "task too long");
    memcpy(out, &h, sizeof h);
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(s[k]) + 1;
        if (l > cap - n)
            return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_JOB, "task too long");
        memcpy(out + n, s[k], l);
        n += l;
    }
    *len = n;
    return 0;
}

int ppx__task_unpack(const uint8_t *data, size_t len, ppx_span *span, ppx_task *t, ppx_err *err)
{
    task_head h;
    if (len < sizeof h)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WORKER, "malformed task (%zu bytes)", len);
    memcpy(&h, data, sizeof h);
    const char *s[3];
    size_t n = sizeof h;
    for (int k = 0; k < 3; k++) {
        const uint8_t *end = n < len ? memchr(data + n, '\0', len - n) : NULL;
        if (!end)
            return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_WORKER, "malformed task (%zu bytes)",
                               len);
        s[k] = (const char *)data + n;
        n = (size_t)(end - data) + 1;
    }
    *span = (ppx_span){h.m_off, h.m_size, h.arc_len, h.arc, h.part_mask, {0}, {0}};
    memcpy(span->part_off, h.part_off, sizeof span->part_off);
    memcpy(span->part_size, h.part_size, sizeof span->part_size);
    t->in_path = s[0];
    t->key = s[1];
    t->out_path = h.has_out ? s[2] : NULL;
    t->span = h.arc_len ? span : NULL;
    t->input = NULL;
    return 0;
}

int ppx_work_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                    const ppx_span *span, const char *key, const char *out_path,
                    const uint8_t *input, size_t len, ppx_err *err)
{
    /* Three paths at most PPX_PATH_MAX each: a task that can wait in a busy
     * worker's pipe (PPX_POOL_QUEUE_MAX). */
    uint8_t buf[sizeof(task_head) + 3 * PPX_PATH_MAX];
    _Static_assert(sizeof buf <= PPX_POOL_QUEUE_MAX, "a task of paths must be queueable");
    size_t n = 0;
    int rc = ppx__task_pack(buf, sizeof buf, &n, in_path, span, key, out_path, err);
    if (rc)
        return rc;
    ppx_pool_task t = {id, tag, buf, n, input, input ? len : 0};
    return ppx_pool_submit(p, &t, err);
}

void ppx__result_unpack(const ppx_pool_result *pr, const uint8_t *reply, ppx_result *r,
                        const uint8_t **payload)
{
    memset(r, 0, sizeof *r);
    *payload = NULL;
    if (pr->status) {
        /* The pool lost the worker on this image, or the worker refused it. */
        r->status = pr->status;
        r->err = pr->err;
        r->worker_pid = pr->worker_pid;
        r->busy_s = pr->busy_s;
    } else if (reply && pr->len >= sizeof *r) {
        memcpy(r, reply, sizeof *r);
        /* A worker decodes untrusted input: its strings are cut to their
         * arrays before anyone prints or copies them. */
        r->err.msg[sizeof r->err.msg - 1] = '\0';
        if (r->out_len == pr->len - sizeof *r)
            *payload = r->out_len ? reply + sizeof *r : NULL;
    }
    if (!pr->status && !(reply && pr->len >= sizeof *r && r->out_len == pr->len - sizeof *r)) {
        memset(r, 0, sizeof *r);
        r->status = ppx_err_set(&r->err, PPX_EINTERNAL, PPX_STAGE_WORKER,
                                "malformed result from the worker (%llu bytes)",
                                (unsigned long long)pr->len);
    }
    r->id = pr->id;
    r->tag = pr->tag;
}

typedef struct {
    ppx_work_cb cb;
    void *arg;
} adapter;

static void on_pool_result(void *arg, const ppx_pool_result *pr, const uint8_t *reply)
{
    const adapter *a = arg;
    ppx_result r;
    const uint8_t *payload;
    ppx__result_unpack(pr, reply, &r, &payload);
    a->cb(a->arg, &r, payload);
}

int ppx_work_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_work_cb cb, void *arg, ppx_err *err)
{
    adapter a = {cb, arg};
    return ppx_pool_wait(p, timeout_ms, wake_fd, on_pool_result, &a, err);
}

/* ---- the pool's worker function ------------------------------------------ */

/* A worker's state: the job's buffers and the result it sends back. */
typedef struct {
    ppx_job_ctx c;
    ppx_result r;
} worker_state;

static void *worker_start(const void *arg)
{
    (void)arg;
    /* Keep large blocks (libjpeg's coefficient buffers, pixel buffers) in
     * the heap between images instead of mmap/munmap for each: the kernel
     * would fault in and zero them anew every time (7% of a thumbnail run). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    worker_state *w = malloc(sizeof *w);
    if (w && ppx_job_ctx_init(&w->c)) {
        ppx_job_ctx_destroy(&w->c);
        free(w);
        w = NULL;
    }
    return w;
}

static void worker_run(void *state, const void *arg, const ppx_pool_task *pt, ppx_pool_reply *out)
{
    worker_state *w = state;
    ppx_result *r = &w->r;
    ppx_span span;
    ppx_task t;
    memset(r, 0, sizeof *r);
    r->id = pt->id;
    r->tag = pt->tag;
    r->status = ppx__task_unpack(pt->data, pt->len, &span, &t, &r->err);
    *out = (ppx_pool_reply){r, sizeof *r, NULL, 0};
    if (r->status)
        return;
    /* The input's bytes (bytes transport), seen as a buffer without a copy. */
    ppx_buf input = {(uint8_t *)pt->bulk, pt->bulk_len, pt->bulk_len};
    ppx_job_run(arg, &w->c, t.in_path, t.span, t.key, t.out_path, pt->bulk ? &input : NULL, r);
    out->body = w->c.out.data;
    out->body_len = r->out_len;
}

/* Big buffers go back to the heap, where the next image's decoder can
 * reuse them, instead of each staying at its own maximum. */
static void worker_idle(void *state)
{
    worker_state *w = state;
    ppx_job_ctx_trim(&w->c, PPX_JOB_KEEP_MAX);
}

ppx_worker_fn ppx_job_worker(const ppx_job_config *cfg)
{
    return (ppx_worker_fn){worker_start, worker_run, worker_idle, cfg, PPX_JOB_KEEP_MAX, "image"};
}
