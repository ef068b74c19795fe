/* The input listing: the sorted, deterministic list of images of a run. */
#ifndef PPX_SCHED_LISTING_H
#define PPX_SCHED_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/error.h"

/* Keys (paths relative to INPUT) are shorter than this. */
#define PPX_KEY_MAX 4096

/* An entry the walk met and could not open or read (a folder "NAME/"). */
typedef struct {
    uint64_t index; /* its place in the listing */
    int errno_value;
} ppx_walk_error;

typedef struct {
    char *arena; /* NUL-terminated keys (paths relative to root), back to back */
    size_t arena_len, arena_cap;
    uint64_t *off; /* offset of key i in arena */
    size_t n, cap;
    uint64_t skipped;            /* files left out because their name is not an image's */
    uint64_t hash;               /* FNV-1a of every key in order: identifies the listing */
    char root[4096];             /* INPUT folder, or the folder of the @LIST file */
    int is_list;                 /* from @LIST: keys are paths named on purpose */
    ppx_walk_error *walk_errors; /* in listing order */
    size_t n_walk_errors, walk_errors_cap;
} ppx_listing;

/* Lists INPUT: a folder walked depth-first with each folder's entries in
 * byte order, each subfolder opened from its parent's descriptor with
 * O_NOFOLLOW (symlinked folders are not followed; entries named like images
 * that are not regular files are listed, so that they fail one by one; an
 * entry that cannot be opened or read is listed as a walk error), or "@FILE",
 * one path a line relative to FILE's folder (normalised; NUL bytes, lines
 * over PPX_KEY_MAX and read errors are errors). 0 or a negative code (stage
 * INPUT) when INPUT itself cannot be read: PPX_EUSAGE for a malformed list. */
PPX_MUST_USE int ppx_listing_build(const char *input, ppx_listing *l, ppx_err *err);
void ppx_listing_destroy(ppx_listing *l);

static inline const char *ppx_listing_key(const ppx_listing *l, size_t i)
{
    return l->arena + l->off[i];
}

/* Appends one key (used by the walk and by tests). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_listing_add(ppx_listing *l, const char *key, size_t len);

#endif
