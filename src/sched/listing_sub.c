/* Pages and chips in the listing: each TIFF entry replaced by the keys of
 * its pages or chips (prepix/subimage.h), read from the file's directories
 * only. docs/scheduling.md says why rank 0 does this rather than the
 * workers. */
#include "sched/listing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/fsafe.h"
#include "prepix/io.h"

typedef struct {
    ppx_listing *t; /* the new listing */
    const char *file;
    size_t file_len;
    const ppx_sub_opts *o;
} add_state;

static int add_part(void *arg, uint32_t page, uint32_t x, uint32_t y, ppx_err *err)
{
    add_state *a = arg;
    char key[PPX_KEY_MAX];
    if (ppx_subkey_format(key, sizeof key, a->file, a->file_len, a->o, page, x, y))
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "key too long");
    return ppx_listing_add(a->t, key, strlen(key)) ? PPX_ENOMEM : 0;
}

/* The folder a key is read below and the key there: INPUT's (root_fd), a
 * split's, or none for a list (then *path is the path to open). */
static int open_entry(const ppx_listing *l, int root_fd, ppx_dircache *dirs,
                      const char *const *names, const char *const *paths, const char *key)
{
    ppx_err e;
    char path[8192];
    if (l->n_splits) {
        const char *slash = strchr(key, '/');
        for (int k = 0; slash && k < l->n_splits; k++)
            if (strncmp(names[k], key, (size_t)(slash - key)) == 0 &&
                names[k][slash - key] == '\0') {
                if (ppx_path_join(path, sizeof path, paths[k], slash + 1))
                    return -1;
                return ppx_open_input_at(AT_FDCWD, path, l->follow_symlinks, &e);
            }
        return -1;
    }
    if (root_fd >= 0)
        return ppx_open_beneath(root_fd, dirs, key, l->follow_symlinks, &e);
    if (ppx_path_join(path, sizeof path, l->root, key))
        return -1;
    return ppx_open_input_at(AT_FDCWD, path, l->follow_symlinks, &e);
}

/* Adds the parts of the file key (open as fd, taken) to t: 0 when it was
 * cut, 1 when it was not (it stays one entry, which the worker fails with
 * the same reason), or PPX_ENOMEM. */
static int add_parts(ppx_listing *t, int fd, const char *key, const ppx_sub_opts *o,
                     const ppx_limits *lim)
{
    struct stat st;
    int rc = 1;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 8)
        goto out;
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        goto out;
    size_t before = t->n, arena = t->arena_len;
    uint64_t hash = t->hash;
    add_state a = {t, key, strlen(key), o};
    ppx_err e;
    ppx_err_clear(&e);
    rc = ppx_sub_expand(p, (size_t)st.st_size, lim, o, add_part, &a, &e);
    if (rc == PPX_ENOMEM)
        goto out;
    if (rc) {
        /* Cut part way (a directory broken after the first pages): none of
         * it stays; the plain entry fails whole. */
        t->n = before;
        t->arena_len = arena;
        t->hash = hash;
        rc = 1;
    }
out:
    if (p != MAP_FAILED)
        munmap(p, (size_t)st.st_size);
    close(fd);
    return rc;
}

static int is_tiff_key(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot && (strcasecmp(dot, ".tif") == 0 || strcasecmp(dot, ".tiff") == 0);
}

/* The folder walked, reopened by its name for reading headers: it must still
 * be that folder, or its files would be cut from another tree's headers
 * (and read from another's bytes). The descriptor, or a code with err set. */
static int open_root(const ppx_listing *l, ppx_err *err)
{
    int fd = ppx_list_open_at(AT_FDCWD, l->root, 1, 1);
    if (fd < 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot open INPUT %s: %s", l->root,
                           strerror(-fd));
    if (l->root_id.ino && !ppx_fd_is(fd, &l->root_id)) {
        close(fd);
        return ppx_err_set(err, PPX_ECHANGED, PPX_STAGE_INPUT,
                           "INPUT %s is not the folder that was listed (replaced meanwhile)",
                           l->root);
    }
    return fd;
}

int ppx_listing_expand(ppx_listing *l, const ppx_sub_opts *o, const ppx_limits *lim,
                       const char *const *split_names, const char *const *split_paths, ppx_err *err)
{
    ppx_listing t;
    memset(&t, 0, sizeof t);
    t.hash = PPX_FNV1A_INIT;
    int rc = 0, root_fd = -1;
    ppx_dircache dirs;
    ppx_dircache_init(&dirs);
    if (l->mem && !(t.mem = calloc(1, sizeof *t.mem)))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    if (!l->is_list && !l->n_splits && (root_fd = open_root(l, err)) < 0) {
        ppx_dircache_destroy(&dirs);
        free(t.mem);
        return root_fd;
    }
    size_t e = 0;
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (l->stop && *l->stop) {
            rc = ppx_err_set(err, PPX_ECANCELED, PPX_STAGE_INPUT, "stopped");
            break;
        }
        const char *key = ppx_listing_key(l, i);
        int is_err = e < l->n_walk_errors && l->walk_errors[e].index == i;
        const ppx_member *m = ppx_listing_member(l, i);
        int cut = 1;
        if (!is_err && !m && is_tiff_key(key)) {
            int fd = open_entry(l, root_fd, &dirs, split_names, split_paths, key);
            cut = fd < 0 ? 1 : add_parts(&t, fd, key, o, lim);
        }
        if (cut < 0) {
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
            break;
        }
        if (cut == 0)
            continue;
        /* Kept as it is: not a TIFF, a member, a walk error, or a file that
         * could not be cut. */
        if (ppx_listing_add(&t, key, strlen(key))) {
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
            break;
        }
        if (m)
            t.mem[t.n - 1] = *m;
        if (is_err) {
            if (ppx_array_grow((void **)&t.walk_errors, &t.walk_errors_cap, t.n_walk_errors,
                               sizeof *t.walk_errors, 16)) {
                rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
                break;
            }
            t.walk_errors[t.n_walk_errors] = l->walk_errors[e++];
            t.walk_errors[t.n_walk_errors++].index = t.n - 1;
        }
    }
    if (root_fd >= 0)
        close(root_fd);
    ppx_dircache_destroy(&dirs);
    if (rc) {
        free(t.arena);
        free(t.off);
        free(t.mem);
        free(t.walk_errors);
        return rc;
    }
    free(l->arena);
    free(l->off);
    free(l->mem);
    free(l->walk_errors);
    l->arena = t.arena;
    l->arena_len = t.arena_len;
    l->arena_cap = t.arena_cap;
    l->off = t.off;
    l->n = t.n;
    l->cap = t.cap;
    l->mem = t.mem;
    l->walk_errors = t.walk_errors;
    l->n_walk_errors = t.n_walk_errors;
    l->walk_errors_cap = t.walk_errors_cap;
    /* The chip size and edge rule are not all in the keys (chips of 256 at
     * stride 512 have the keys of chips of 512): they are in the listing's
     * identity, so that --resume never mixes two cuttings. */
    char id[160];
    int n = snprintf(id, sizeof id, "sub %d %u-%u %ux%u %u,%u %d %d %.17g", o->pages, o->page_first,
                     o->page_last, o->chip_w, o->chip_h, o->stride_x, o->stride_y, (int)o->edge,
                     o->has_nodata, o->has_nodata ? o->nodata : 0.0);
    l->hash = ppx_fnv1a(t.hash, id, (size_t)n);
    return 0;
}
