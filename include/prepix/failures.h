/* The failures of a run: one entry per image that failed, {index in the
 * listing, stage, code, one-line reason}. Kept by the chunks, journaled,
 * gathered across ranks and reported, so it belongs to the statistics. */
#ifndef PREPIX_FAILURES_H
#define PREPIX_FAILURES_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"

typedef struct {
    uint64_t index; /* position in the listing */
    int32_t stage;
    int32_t code;
    char msg[PPX_ERR_MSG_MAX];
} ppx_failure;

typedef struct {
    ppx_failure *v;
    size_t n, cap;
} ppx_failures;

PPX_MUST_USE int ppx_failures_add(ppx_failures *f, uint64_t index, int stage, int code,
                                  const char *msg);
/* Appends all of src to dst. */
PPX_MUST_USE int ppx_failures_extend(ppx_failures *dst, const ppx_failures *src);
void ppx_failures_sort(ppx_failures *f);
void ppx_failures_destroy(ppx_failures *f);
/* Serialisation for MPI and the journal. Unpack appends the entries of
 * p[0..n) (untrusted) to f, all or none: 0, PPX_ECORRUPT (a length, stage
 * or code out of range) or PPX_ENOMEM; used (may be NULL) gets the bytes read. */
PPX_MUST_USE int ppx_failures_pack(const ppx_failures *f, ppx_buf *out);
PPX_MUST_USE int ppx_failures_unpack(const uint8_t *p, size_t n, ppx_failures *f, size_t *used);

#endif
