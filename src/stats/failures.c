#include "prepix/failures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/buf.h"

int ppx_failures_add(ppx_failures *f, uint64_t index, int stage, int code, const char *msg)
{
    if (ppx_array_grow((void **)&f->v, &f->cap, f->n, sizeof *f->v, 16))
        return PPX_ENOMEM;
    ppx_failure *e = &f->v[f->n++];
    e->index = index;
    e->stage = stage;
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    return 0;
}

int ppx_failures_extend(ppx_failures *dst, const ppx_failures *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const ppx_failure *e = &src->v[i];
        int rc = ppx_failures_add(dst, e->index, e->stage, e->code, e->msg);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_failure(const void *a, const void *b)
{
    uint64_t x = ((const ppx_failure *)a)->index, y = ((const ppx_failure *)b)->index;
    return x < y ? -1 : x > y;
}

void ppx_failures_sort(ppx_failures *f)
{
    if (f->n)
        qsort(f->v, f->n, sizeof *f->v, cmp_failure);
}

void ppx_failures_destroy(ppx_failures *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

int ppx_failures_pack(const ppx_failures *f, ppx_buf *o)
{
    int rc = ppx_put_u64(o, f->n);
    for (size_t i = 0; i < f->n && !rc; i++) {
        const ppx_failure *e = &f->v[i];
        size_t ml = strlen(e->msg);
        rc = ppx_put_u64(o, e->index) || ppx_put_u64(o, (uint64_t)(int64_t)e->stage) ||
             ppx_put_u64(o, (uint64_t)(int64_t)e->code) || ppx_put_u64(o, ml) ||
             ppx_buf_append(o, e->msg, ml);
    }
    return rc ? PPX_ENOMEM : 0;
}

/* Entries are appended to f only when the whole buffer parses: a damaged
 * buffer adds nothing. Every field is checked, so that a journal a disk
 * damaged can never put a stage or code into a report that no run makes. */
int ppx_failures_unpack(const uint8_t *p, size_t n, ppx_failures *f, size_t *used)
{
    const size_t n0 = f->n;
    const uint8_t *q = p, *end = p + n;
    int rc = 0;
    if (n < 8)
        return PPX_ECORRUPT;
    uint64_t count = ppx_get_le64(q);
    q += 8;
    /* Each entry takes 32 bytes at least: a count the bytes cannot hold is
     * damage, refused before any work. */
    if (count > (n - 8) / 32)
        return PPX_ECORRUPT;
    for (uint64_t i = 0; i < count; i++) {
        if (end - q < 32) {
            rc = PPX_ECORRUPT;
            goto out;
        }
        uint64_t index = ppx_get_le64(q), stage = ppx_get_le64(q + 8), code = ppx_get_le64(q + 16),
                 ml = ppx_get_le64(q + 24);
        q += 32;
        /* Codes are negative PPX_E* values, stages those ppx_stage_name knows. */
        if (stage >= PPX_STAGE__COUNT || (int64_t)code >= 0 || (int64_t)code < INT32_MIN ||
            ml >= PPX_ERR_MSG_MAX || (uint64_t)(end - q) < ml) {
            rc = PPX_ECORRUPT;
            goto out;
        }
        char msg[PPX_ERR_MSG_MAX];
        memcpy(msg, q, ml);
        msg[ml] = '\0';
        q += ml;
        if (ppx_failures_add(f, index, (int)stage, (int)(int64_t)code, msg)) {
            rc = PPX_ENOMEM;
            goto out;
        }
    }
    if (used)
        *used = (size_t)(q - p);
out:
    if (rc)
        f->n = n0;
    return rc;
}
