/* Groups of duplicates among fingerprinted images (docs/duplicates.md).
 *
 * Pure: no I/O, no MPI; rank 0 calls it once after the pass, on every
 * fingerprint of the run (resumed chunks included), so the groups depend
 * only on the listing and the pixels, never on -np, -w or --resume. */
#ifndef PREPIX_DEDUP_H
#define PREPIX_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"
#include "prepix/fingerprint.h"

/* The default --dup-distance: measured precision and recall in docs/duplicates.md. */
#define PPX_DUP_DISTANCE_DEFAULT 4
/* The largest distance accepted: at 32 of 64 bits, unrelated images are as near as
 * random ones. */
#define PPX_DUP_DISTANCE_MAX 32

/* members[first .. first + n) are positions in the fingerprint array, in
 * listing order; the first is the member kept. */
typedef struct {
    size_t first, n;
} ppx_dup_group;

typedef struct {
    size_t *members;
    ppx_dup_group *exact; /* the same pixels: same exact fingerprint */
    size_t n_exact;
    ppx_dup_group *near; /* within the distance of their kept member, and not all the same pixels */
    size_t n_near;
    /* drop[i] = 1 when image i is not the kept member of the near group (or
     * exact group) it belongs to: what a deduplicated dataset leaves out. */
    uint8_t *drop;
    size_t n_drop;
    /* How the near search went: bands of the multi-index, fingerprints compared. */
    int bands;
    uint64_t compared;
} ppx_dups;

/* Finds the groups among v[0..n), which must be sorted by index (listing order):
 *  - exact groups: images with the same exact fingerprint;
 *  - near groups: images are first joined when their phashes differ in at most
 *    `distance` bits (a multi-index over bands of the hash, so no pairs are
 *    compared that share no band within reach); then, in each set so joined
 *    and in listing order, an image joins the first earlier kept image within
 *    `distance`, or is kept itself. Every member of a near group is thus
 *    within `distance` of the kept one, the first in listing order. Groups
 *    whose members all have the same pixels are exact groups only.
 * Groups are ordered by their kept member. distance 0..PPX_DUP_DISTANCE_MAX.
 * 0, PPX_EINVAL (distance, or more than 2^32 - 1 images) or PPX_ENOMEM; *out
 * is written in every case and must be given to ppx_dups_destroy. */
PPX_MUST_USE int ppx_dups_find(const ppx_print *v, size_t n, int distance, ppx_dups *out);
void ppx_dups_destroy(ppx_dups *d);

#endif
