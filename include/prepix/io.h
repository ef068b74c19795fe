/* File input and atomic output, safe for untrusted trees. */
#ifndef PREPIX_IO_H
#define PREPIX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/fsafe.h"

/* Reads a whole regular file, named by path (links followed: @LIST lines
 * name files on purpose), into b (b->len = its size). Never blocks on a FIFO
 * or device: opens non-blocking and refuses anything but a regular file
 * (PPX_ESPECIAL), symlink loops (PPX_ELOOP), files over max_bytes
 * (PPX_ELIMIT). id (may be NULL) gets the file's identity. Errors at stage
 * INPUT (the name) or READ (the contents). Inputs below a folder are read
 * with ppx_read_beneath (prepix/fsafe.h) instead. */
PPX_MUST_USE int ppx_file_read(const char *path, uint64_t max_bytes, ppx_buf *b, ppx_file_id *id,
                               ppx_err *err);

/* Joins a and b with one '/', into out (cap bytes). 0 or PPX_EINVAL if too long. */
PPX_MUST_USE int ppx_path_join(char *out, size_t cap, const char *a, const char *b);

/* 1 if name ends in .jpg .jpeg .tif .tiff .png (any case). */
PPX_MUST_USE int ppx_is_image_name(const char *name);

#endif
