/* A growable byte buffer, reused between images by workers, and the one
 * little-endian encoding that every binary format of prepix is made of. */
#ifndef PREPIX_BUF_H
#define PREPIX_BUF_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
} ppx_buf;

void ppx_buf_init(ppx_buf *b);
/* Frees the memory and re-initialises b. */
void ppx_buf_destroy(ppx_buf *b);
/* Makes room for at least n bytes in total (len is kept). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_buf_reserve(ppx_buf *b, size_t n);

/* Makes room for one more element in the array *v of *cap elements of elem
 * bytes holding n: doubles the capacity (first: first) when n == *cap, with
 * overflow checked. 0 or PPX_ENOMEM (*v and *cap unchanged). */
PPX_MUST_USE int ppx_array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first);
/* Asks the kernel to back the whole 2 MiB pages inside [p, p + n) with
 * huge pages (Linux's MADV_HUGEPAGE; a hint, nothing elsewhere): one page
 * fault per 2 MiB of a large buffer filled once instead of 512. */
void ppx_advise_huge(void *p, size_t n);
/* Appends n bytes. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_buf_append(ppx_buf *b, const void *p, size_t n);
/* Appends printf-formatted text (no NUL). 0, PPX_ENOMEM or PPX_EINVAL (bad format). */
PPX_MUST_USE int ppx_buf_printf(ppx_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends the NUL-terminated s as one word of a POSIX shell command line,
 * so that `sh -c` reads back exactly s: bare when every byte is an ASCII
 * letter, digit or one of _@%+=:,./- (Python's shlex.quote), else in
 * single quotes with each ' written '\''. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_buf_shell_word(ppx_buf *b, const char *s);
/* ---- The one binary encoding ------------------------------------------
 * Every byte layout prepix defines, on disk (journal, statistics, failures,
 * npy labels) and between ranks (every MPI message), is built from these:
 * unsigned integers as little-endian bytes, lengths before the bytes they
 * count. Ranks on machines of different byte order read each other, and a
 * journal written on one node is read on another. */

/* Appends v as 8 little-endian bytes. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_put_u64(ppx_buf *b, uint64_t v);
/* Appends v as 4 little-endian bytes. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_put_u32(ppx_buf *b, uint32_t v);

/* Writes v as 8 little-endian bytes at p (fixed-size messages on the stack). */
static inline void ppx_set_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads 8 little-endian bytes at p (the caller checked that they exist). */
static inline uint64_t ppx_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A reader over untrusted bytes [p, end): each get past the end returns 0
 * (or NULL) and sets bad, so a parser reads every field, then checks bad once. */
typedef struct {
    const uint8_t *p, *end;
    int bad; /* set when a read runs past the end */
} ppx_rd;

static inline uint64_t ppx_get_u64(ppx_rd *r)
{
    if (r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = ppx_get_le64(r->p);
    r->p += 8;
    return v;
}

static inline uint32_t ppx_get_u32(ppx_rd *r)
{
    if (r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

/* The next n bytes, in place, or NULL (bad set) when fewer are left. */
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

#define PPX_FNV1A_INIT 0xcbf29ce484222325ULL
/* FNV-1a over n bytes, continuing from h (start with PPX_FNV1A_INIT). */
static inline uint64_t ppx_fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

#endif
