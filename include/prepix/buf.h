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
/* Appends n bytes. 0 or PPX_ENOMEM. */
int ppx_buf_append(ppx_buf *b, const void *p, size_t n);

#endif
