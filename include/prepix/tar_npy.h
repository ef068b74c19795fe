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
#include "prepix/image.h"

/* The shape of the photos of an npy shard (H, W, C) and their sample type,
 * as the pipeline decides it; rasters keep their own type and bands
 * (ppx_npy_layout). */
typedef struct {
    uint32_t w, h, c;
    int f32; /* float32 after normalize, else uint8 */
} ppx_npy_shape;

/* The layout of one image's rows in an npy shard: its sample type and band
 * count in one int (what a shard item's format holds for npy). A shard
 * holds images of one layout. */
static inline int ppx_npy_layout(ppx_sample t, unsigned bands)
{
    return (int)((unsigned)t | bands << 8);
}
static inline ppx_sample ppx_npy_layout_type(int layout)
{
    return (ppx_sample)((unsigned)layout & 0xff);
}
static inline unsigned ppx_npy_layout_bands(int layout)
{
    return (unsigned)layout >> 8;
}
/* numpy's descr of samples of type t in this host's byte order ("|u1",
 * "<u2", "<i4", "<f4", ...), or NULL for a value that is no ppx_sample. */
const char *ppx_npy_descr(ppx_sample t);

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
