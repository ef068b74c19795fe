/* File input and atomic output, safe for untrusted trees. */
#ifndef PREPIX_IO_H
#define PREPIX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"

/* Reads a whole regular file into b (b->len = its size). Never blocks on a
 * FIFO or device: opens non-blocking and refuses anything but a regular file
 * (PPX_ESPECIAL), symlink loops (PPX_ELOOP), files over max_bytes
 * (PPX_ELIMIT). Errors at stage INPUT (the name) or READ (the contents). */
int ppx_file_read(const char *path, uint64_t max_bytes, ppx_buf *b, ppx_err *err);

/* Writes data to path atomically: a temporary file in the same folder
 * (".NAME.ppxtmp"), then rename(2). Creates missing parent folders. Errors
 * (stage WRITE): PPX_EOUTPUT when the output location itself is unusable
 * (no space, read-only, permission, I/O error: fatal for a run), PPX_EIO
 * for problems of this one file. */
int ppx_file_write_atomic(const char *path, const void *data, size_t len, ppx_err *err);

/* mkdir -p. 0 or PPX_EOUTPUT. */
int ppx_mkdirs(const char *path, ppx_err *err);

/* Joins a and b with one '/', into out (cap bytes). 0 or PPX_EINVAL if too long. */
int ppx_path_join(char *out, size_t cap, const char *a, const char *b);

/* 1 if name ends in .jpg .jpeg .tif .tiff .png (any case). */
int ppx_is_image_name(const char *name);

#endif
