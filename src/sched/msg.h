/* Little helpers to pack and unpack messages between ranks. */
#ifndef PPX_SCHED_MSG_H
#define PPX_SCHED_MSG_H

#include <stdint.h>
#include <string.h>

#include "prepix/buf.h"

typedef struct {
    const uint8_t *p, *end;
    int bad; /* set when a read runs past the end */
} ppx_rd;

static inline int ppx_put_u64(ppx_buf *b, uint64_t v)
{
    return ppx_buf_append(b, &v, sizeof v); /* same machine type on all ranks */
}

static inline uint64_t ppx_get_u64(ppx_rd *r)
{
    uint64_t v = 0;
    if (r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static inline const uint8_t *ppx_get_bytes(ppx_rd *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

#endif
