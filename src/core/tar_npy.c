/* The byte formats of shards: tar members and NPY headers (prepix/tar_npy.h). */
#include "prepix/tar_npy.h"

#include <stdio.h>
#include <string.h>

#include "prepix/error.h"

enum { TAR_BLOCK = 512 };

/* Writes v in octal into a field of n bytes: n-1 digits and a NUL. */
static void octal(char *field, size_t n, uint64_t v)
{
    field[n - 1] = '\0';
    for (size_t i = n - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

int ppx_tar_add(ppx_buf *tar, const char *name, const void *data, size_t len)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 100)
        return PPX_EINVAL;
    /* The size field holds 11 octal digits: 8 GiB - 1. */
    if ((uint64_t)len >= (1ULL << 33))
        return PPX_EINVAL;
    size_t pad = (TAR_BLOCK - len % TAR_BLOCK) % TAR_BLOCK;
    if (ppx_buf_reserve(tar, tar->len + TAR_BLOCK + len + pad))
        return PPX_ENOMEM;
    char *h = (char *)tar->data + tar->len;
    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, nl);         /* name[100] */
    octal(h + 100, 8, 0644);     /* mode */
    octal(h + 108, 8, 0);        /* uid */
    octal(h + 116, 8, 0);        /* gid */
    octal(h + 124, 12, len);     /* size */
    octal(h + 136, 12, 0);       /* mtime: fixed, so shards are reproducible */
    h[156] = '0';                /* typeflag: regular file */
    memcpy(h + 257, "ustar", 6); /* magic, NUL-terminated */
    memcpy(h + 263, "00", 2);    /* version */
    /* The checksum is computed with its own field taken as spaces. */
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    octal(h + 148, 7, sum);
    h[155] = ' ';
    tar->len += TAR_BLOCK;
    if (len)
        memcpy(tar->data + tar->len, data, len);
    memset(tar->data + tar->len + len, 0, pad);
    tar->len += len + pad;
    return 0;
}

int ppx_tar_end(ppx_buf *tar)
{
    if (ppx_buf_reserve(tar, tar->len + 2 * TAR_BLOCK))
        return PPX_ENOMEM;
    memset(tar->data + tar->len, 0, 2 * TAR_BLOCK);
    tar->len += 2 * TAR_BLOCK;
    return 0;
}

int ppx_npy_header(ppx_buf *b, const char *descr, const uint64_t *shape, int ndim)
{
    char dict[256];
    int n =
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim && n > 0 && (size_t)n < sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%llu%s", (unsigned long long)shape[i],
                      ndim == 1      ? ","
                      : i + 1 < ndim ? ", "
                                     : "");
    if (n > 0 && (size_t)n < sizeof dict)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n <= 0 || (size_t)n >= sizeof dict)
        return PPX_EINVAL;
    /* magic (6) + version (2) + header length (2) + dict + spaces + '\n' */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    size_t at = b->len;
    if (ppx_buf_reserve(b, at + padded))
        return PPX_ENOMEM;
    uint8_t *p = b->data + at;
    memcpy(p, "\x93NUMPY\x01\x00", 8);
    p[8] = (uint8_t)(hlen & 0xff);
    p[9] = (uint8_t)(hlen >> 8);
    memcpy(p + 10, dict, (size_t)n);
    memset(p + 10 + n, ' ', hlen - (size_t)n - 1);
    p[padded - 1] = '\n';
    b->len = at + padded;
    return 0;
}

const char *ppx_npy_descr(ppx_sample t)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NPY_ORDER ">"
#else
#define NPY_ORDER "<"
#endif
    switch (t) {
    case PPX_U8:
        return "|u1";
    case PPX_I8:
        return "|i1";
    case PPX_U16:
        return NPY_ORDER "u2";
    case PPX_I16:
        return NPY_ORDER "i2";
    case PPX_U32:
        return NPY_ORDER "u4";
    case PPX_I32:
        return NPY_ORDER "i4";
    case PPX_F32:
        return NPY_ORDER "f4";
    }
    return NULL;
#undef NPY_ORDER
}
