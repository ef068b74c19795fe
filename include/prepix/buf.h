/* A growable byte buffer, reused between images by workers. */
#ifndef PREPIX_BUF_H
#define PREPIX_BUF_H

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
int ppx_buf_reserve(ppx_buf *b, size_t n);

/* Makes room for one more element in the array *v of *cap elements of elem
 * bytes holding n: doubles the capacity (first: first) when n == *cap, with
 * overflow checked. 0 or PPX_ENOMEM (*v and *cap unchanged). */
int ppx_array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first);
/* Appends n bytes. 0 or PPX_ENOMEM. */
int ppx_buf_append(ppx_buf *b, const void *p, size_t n);
/* Appends printf-formatted text (no NUL). 0, PPX_ENOMEM or PPX_EINVAL (bad format). */
int ppx_buf_printf(ppx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v as 8 little-endian bytes (portable files: journal, stats). */
int ppx_buf_put_le64(ppx_buf *b, uint64_t v);

/* Reads 8 little-endian bytes. */
static inline uint64_t ppx_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
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
