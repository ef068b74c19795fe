#include "prepix/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "prepix/error.h"

void ppx_buf_init(ppx_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ppx_buf_destroy(ppx_buf *b)
{
    if (!b)
        return;
    free(b->data);
    ppx_buf_init(b);
}

int ppx_buf_reserve(ppx_buf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n) {
        if (cap > SIZE_MAX / 2) {
            cap = n;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return PPX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ppx_buf_printf(ppx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PPX_EINVAL;
    /* +1: vsnprintf writes a NUL, which len does not count. */
    if ((size_t)n + 1 > SIZE_MAX - b->len || ppx_buf_reserve(b, b->len + (size_t)n + 1))
        return PPX_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ppx_put_u64(ppx_buf *b, uint64_t v)
{
    uint8_t le[8];
    ppx_set_le64(le, v);
    return ppx_buf_append(b, le, 8);
}

int ppx_put_u32(ppx_buf *b, uint32_t v)
{
    uint8_t le[4];
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return ppx_buf_append(b, le, 4);
}

int ppx_buf_append(ppx_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return PPX_ENOMEM;
    int rc = ppx_buf_reserve(b, b->len + n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void ppx_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + n) & ~(huge - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

int ppx_array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    if (c < *cap || c > SIZE_MAX / elem)
        return PPX_ENOMEM;
    void *nv = realloc(*v, c * elem);
    if (!nv)
        return PPX_ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

/* The bytes that no POSIX shell treats specially anywhere in a word (those
 * of Python's shlex.quote). `~` and `#` at a word's start, globs, braces,
 * `!` and everything outside ASCII are quoted. */
static int shell_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("_@%+=:,./-", c));
}

int ppx_buf_shell_word(ppx_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && shell_plain((unsigned char)s[i]))
        i++;
    if (n && i == n)
        return ppx_buf_append(b, s, n);
    /* Inside single quotes every byte is literal but ' itself, which ends
     * the quotes, is written escaped, and reopens them: '\''. */
    int rc = ppx_buf_append(b, "'", 1);
    for (const char *p = s; !rc && *p; p++)
        rc = *p == '\'' ? ppx_buf_append(b, "'\\''", 4) : ppx_buf_append(b, p, 1);
    return rc ? rc : ppx_buf_append(b, "'", 1);
}
