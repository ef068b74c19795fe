/* The byte formats of shards, and nothing else: POSIX ustar archive members
 * (WebDataset) and NPY array headers. Pure functions on memory buffers; the
 * caller writes the result atomically. Which images go into which shard, and
 * the files around them (labels, index.csv), is the scheduler's shard
 * assembly: src/sched/shards.c. */
#ifndef PREPIX_TAR_NPY_H
#define PREPIX_TAR_NPY_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"

/* The shape of the images of an npy shard (H, W, C) and its sample type. */
typedef struct {
    uint32_t w, h, c;
    int f32; /* float32 after normalize, else uint8 */
} ppx_npy_shape;

/* Appends one regular-file member to a tar archive held in *tar: a ustar
 * header (mode 0644, uid/gid 0, mtime 0, so archives are reproducible) and
 * the data padded to 512 bytes. name must fit ustar's 100-byte name field.
 * Returns 0, PPX_EINVAL (name too long) or PPX_ENOMEM. */
PPX_MUST_USE int ppx_tar_add(ppx_buf *tar, const char *name, const void *data, size_t len);

/* Ends the archive: two zero blocks. */
PPX_MUST_USE int ppx_tar_end(ppx_buf *tar);

/* Appends an NPY (format 1.0) header for a C-order array of dtype descr
 * ("|u1", "<f4", "<i8") and the given shape; the data follows. The header is
 * padded so that the data starts at a multiple of 64 bytes. */
PPX_MUST_USE int ppx_npy_header(ppx_buf *b, const char *descr, const uint64_t *shape, int ndim);

#endif
