/* The input listing: the sorted, deterministic list of images of a run. */
#ifndef PPX_SCHED_LISTING_H
#define PPX_SCHED_LISTING_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "prepix/archive.h"
#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/sched.h"
#include "prepix/subimage.h"

/* Keys (paths relative to INPUT) are shorter than this. */
#define PPX_KEY_MAX 4096

/* An entry the walk met and could not open or read (a folder "NAME/"), or
 * an archive (or member) that cannot be used. */
typedef struct {
    uint64_t index;  /* its place in the listing */
    int errno_value; /* the walk's errno, when problem is 0 */
    int problem;     /* PPX_TAR_* (prepix/archive.h), or 0 */
    int archive;     /* an archive that could not be opened (errno_value says why) */
} ppx_walk_error;

/* No .cls member in the sample. */
#define PPX_NO_CLS INT64_MIN

/* Where an archive member's bytes are (entries that are plain files have
 * arc_len 0). The key is ARCHIVE/MEMBER, or OUTER/INNER/MEMBER for a tar
 * inside a tar: its first arc_len bytes name the archive file (as a key),
 * its first inner_len bytes the inner archive (0: none). */
typedef struct {
    uint64_t off, size; /* the member's bytes in the archive file */
    uint32_t arc_len, inner_len;
    int64_t cls;                 /* the sample's .cls value, or PPX_NO_CLS */
    uint32_t side_first, side_n; /* the sample's other members: l->sides[side_first ...] */
    uint32_t arc;                /* the archive file as listed: l->arcs[arc] */
} ppx_member;

/* A sidecar's extension is at most this long: KKKKKKKKK.<ext> must fit the
 * 100 bytes of a ustar member name in a tar shard. */
#define PPX_SIDE_EXT_MAX 80

/* A member of an image's sample that is not an image (WebDataset's .txt,
 * .json, .cls, ...), kept byte for byte in tar shards. */
typedef struct {
    uint64_t off, size;
    uint64_t ext; /* its extension (after the sample key's dot): offset in side_names */
    /* An image KEY.ROLE.EXT beside the sample's own image KEY.EXT: a
     * companion of role ROLE, never a sample of its own, never copied as it
     * is (a --with ROLE transforms it; without one it is left out). */
    int companion;
} ppx_sidecar;

typedef struct {
    char *arena; /* NUL-terminated keys (paths relative to root), back to back */
    size_t arena_len, arena_cap;
    uint64_t *off; /* offset of key i in arena */
    size_t n, cap;
    uint64_t skipped;        /* files left out because their name is not an image's */
    uint64_t excluded;       /* entries left out by --exclude (ppx_listing_filter) */
    uint64_t hash;           /* FNV-1a of every key in order: identifies the listing */
    char root[PPX_PATH_MAX]; /* INPUT folder, or the folder of the @LIST file */
    ppx_file_id root_id;     /* the INPUT folder walked (0: not a walk) */
    int is_list;             /* from @LIST: keys are paths named on purpose */
    int is_archive;          /* INPUT is one archive (root is its folder) */
    /* Named splits: keys are SPLIT/REL, each split's folder walked in turn
     * (root is the first's); classes come from the folder under the split. */
    int n_splits;
    ppx_file_id split_ids[PPX_SPLITS_MAX]; /* each split's folder walked */
    ppx_walk_error *walk_errors;           /* in listing order */
    size_t n_walk_errors, walk_errors_cap;
    int follow_symlinks; /* archives named by a link are opened (as inputs are) */
    /* Archive input: per entry (NULL while no entry came from an archive). */
    ppx_member *mem;
    ppx_sidecar *sides;
    size_t n_sides, sides_cap;
    ppx_buf side_names;  /* NUL-terminated extensions, back to back */
    ppx_arc_ident *arcs; /* each archive file listed: what every later read must find */
    size_t n_arcs, arcs_cap;
    uint64_t archives;      /* archives read, inner ones included */
    uint64_t skipped_other; /* members skipped as links, devices or sparse files (in skipped) */
    uint64_t long_sides;    /* sidecars skipped: extension over PPX_SIDE_EXT_MAX (in skipped) */
    char long_side_first[PPX_KEY_MAX]; /* the first of them */
    uint64_t stray_companions;         /* companions of no --with role (in skipped) */
    char stray_companion_first[PPX_KEY_MAX];
    const volatile sig_atomic_t *stop; /* set: the listing ends (PPX_ECANCELED); may be NULL */
    uint64_t steps;                    /* folder entries, list lines and members met */
    /* Set while a thread walks for a streamed run (sched/stream.c): called on
     * every step, and around the reading of a folder, which touches nothing
     * of the listing (NULL: none). */
    void (*on_step)(void *arg);
    void (*release)(void *arg);
    void (*acquire)(void *arg);
    void *hook_arg;
} ppx_listing;

/* Lists INPUT: a folder walked depth-first with each folder's entries in
 * byte order, each subfolder opened from its parent's descriptor with
 * O_NOFOLLOW (symlinked folders are not followed; entries named like images
 * that are not regular files are listed, so that they fail one by one; an
 * entry that cannot be opened or read is listed as a walk error), or "@FILE",
 * one path a line relative to FILE's folder (normalised; NUL bytes, lines
 * over PPX_KEY_MAX and read errors are errors). 0 or a negative code (stage
 * INPUT) when INPUT itself cannot be read: PPX_EUSAGE for a malformed list.
 * stop (may be NULL) is looked at on every folder entry, list line and
 * archive member, and while a list from a pipe waits for its writer: once it
 * is set (a signal asked to stop) the listing ends with PPX_ECANCELED, *l
 * holding what was listed so far. */
PPX_MUST_USE int ppx_listing_build(const char *input, int follow_symlinks,
                                   const volatile sig_atomic_t *stop, ppx_listing *l, ppx_err *err);
/* Lists named splits: the folder paths[k] walked as INPUT is, its entries
 * keyed names[k]/REL, in the order given (n <= PPX_SPLITS_MAX). 0, or a code
 * with err set as ppx_listing_build's; l must be destroyed in either case. */
PPX_MUST_USE int ppx_listing_build_splits(const char *const *names, const char *const *paths, int n,
                                          int follow_symlinks, const volatile sig_atomic_t *stop,
                                          ppx_listing *l, ppx_err *err);
void ppx_listing_destroy(ppx_listing *l);

static inline const char *ppx_listing_key(const ppx_listing *l, size_t i)
{
    return l->arena + l->off[i];
}

/* One step of the listing (a folder entry, a list line, an archive member),
 * counted in l->steps: 0, or PPX_ECANCELED (message in err) once *l->stop is
 * set. */
PPX_MUST_USE int ppx_listing_step(ppx_listing *l, ppx_err *err);

/* Walks the folder open as fd (taken) into l, as ppx_listing_build walks
 * INPUT; l is prepared by the caller (root, root_id, stop, hash). 0 or a
 * code with err set, as ppx_listing_build. */
PPX_MUST_USE int ppx_listing_walk_root(ppx_listing *l, int fd, ppx_err *err);

/* 1 when the folder INPUT (opened as ppx_listing_build opens it) holds at
 * its top level an entry that its walk would list as an archive, or cannot
 * be opened or read whole; else 0. */
PPX_MUST_USE int ppx_listing_top_has_archive(const char *input);

/* The --with role of a companion sidecar's extension ("seg" of
 * "seg.png"): its index in cfg->with, or -1 when no role has that name. */
PPX_MUST_USE int ppx_listing_companion_role(const ppx_run_config *cfg, const char *ext);

/* Leaves out the entries i with drop[i] set (--exclude): the others keep
 * their order, members and walk errors; the listing's hash is that of the
 * keys kept, and l->excluded counts those left out. */
void ppx_listing_filter(ppx_listing *l, const uint8_t *drop);

/* Appends one key (used by the walk and by tests). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_listing_add(ppx_listing *l, const char *key, size_t len);
/* Appends an entry that fails before any work: errno e of the walk, or an
 * archive problem (PPX_TAR_*). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_listing_add_failed(ppx_listing *l, const char *key, int e, int problem);

/* The member of entry i, or NULL for a plain file. */
static inline const ppx_member *ppx_listing_member(const ppx_listing *l, size_t i)
{
    return l->mem && l->mem[i].arc_len ? &l->mem[i] : NULL;
}

/* Lists the archive open as fd (taken: closed here), whose key is key
 * (listing_tar.c); follow: fd was opened through a link (so must every
 * later read). Its members are appended in archive order; a tar member is
 * listed in turn (one level deep); problems become failure entries. */
PPX_MUST_USE int ppx_listing_add_archive(ppx_listing *l, int fd, const char *key, int follow,
                                         ppx_err *err);

/* Pages and chips (listing_sub.c): replaces each TIFF entry that is a plain
 * file by the keys of its pages or chips, as o asks, read from its
 * directories (mapped; no strip is read); the other entries (other images,
 * archive members, walk errors, files that cannot be cut, which the worker
 * then fails with the reason) stay as they are. Keys of a split are read
 * below split_paths (of split_names; NULL without splits). The listing's
 * hash covers the new keys and o. 0, PPX_ECANCELED (l->stop set) or
 * PPX_ENOMEM, with err set. */
PPX_MUST_USE int ppx_listing_expand(ppx_listing *l, const ppx_sub_opts *o, const ppx_limits *lim,
                                    const char *const *split_names, const char *const *split_paths,
                                    ppx_err *err);

/* The identity entry i's archive had when listed (m: its member). */
static inline const ppx_arc_ident *ppx_listing_arc(const ppx_listing *l, const ppx_member *m)
{
    return &l->arcs[m->arc];
}

#endif
