/* Archives in the listing: each image member of a tar is an entry keyed
 * ARCHIVE/MEMBER, in archive order, with where its bytes are; the other
 * members of its WebDataset sample (same folder and name up to the first
 * dot, consecutive in the archive) ride along as sidecars; a tar member is
 * listed in turn (ImageNet's tar of class tars), one level deep. */
#include "sched/listing.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/archive.h"
#include "prepix/fsafe.h"
#include "prepix/io.h"

/* A sample holding more members than this is cut into several (each image
 * keeps the sidecars met with it): memory per sample stays bounded. */
#define SAMPLE_MAX 256
/* A .cls member is a small decimal number. */
#define CLS_MAX 32

typedef struct {
    uint64_t off, size;
    size_t name; /* offset in names */
} gmember;

typedef struct {
    ppx_listing *l;
    int fd;
    uint64_t end;    /* where this archive's range ends in the file */
    const char *key; /* this archive's key */
    uint32_t arc_len, inner_len;
    uint32_t arc; /* the file's identity: l->arcs[arc] */
    int depth;
    ppx_err *err;
    int rc;        /* PPX_ENOMEM or another fatal code, or 0 */
    int cut_named; /* the member the archive ends inside is a failure entry */
    /* the sample being gathered */
    gmember g[SAMPLE_MAX];
    size_t gn;
    ppx_buf names;
    char sample[PPX_KEY_MAX];
    size_t sample_len;
} lister;

static int grow_mem(ppx_listing *l)
{
    if (l->mem)
        return 0;
    l->mem = calloc(l->cap ? l->cap : 1, sizeof *l->mem);
    return l->mem ? 0 : PPX_ENOMEM;
}

/* key = prefix/name into out (PPX_KEY_MAX): 0, or -1 when it does not fit. */
static int join(char *out, const char *prefix, const char *name)
{
    int n = snprintf(out, PPX_KEY_MAX, "%s/%s", prefix, name);
    return n >= 0 && n < PPX_KEY_MAX ? 0 : -1;
}

static int add_entry(lister *t, const char *key, const ppx_member *m)
{
    ppx_listing *l = t->l;
    int rc = grow_mem(l);
    rc = rc ? rc : ppx_listing_add(l, key, strlen(key));
    if (rc)
        return rc;
    l->mem[l->n - 1] = *m;
    return 0;
}

static int add_failed(lister *t, const char *name, int problem)
{
    char key[PPX_KEY_MAX];
    if (!name)
        snprintf(key, sizeof key, "%s", t->key);
    else if (join(key, t->key, name))
        snprintf(key, sizeof key, "%s/...", t->key);
    return ppx_listing_add_failed(t->l, key, 0, problem);
}

/* KEY.ROLE.EXT with an image EXT and ROLE a name (letters, digits, '_',
 * '-'): an image that belongs to the sample's image KEY.EXT. */
static int companion_ext(const char *name, const char *ext)
{
    const char *dot = strrchr(ext, '.');
    if (!dot || dot == ext || !ppx_is_image_name(name))
        return 0;
    for (const char *p = ext; p < dot; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int add_side(ppx_listing *l, const gmember *m, const char *ext, int companion)
{
    size_t el = strlen(ext) + 1;
    if (ppx_array_grow((void **)&l->sides, &l->sides_cap, l->n_sides, sizeof *l->sides, 64))
        return PPX_ENOMEM;
    size_t at = l->side_names.len;
    if (ppx_buf_append(&l->side_names, ext, el))
        return PPX_ENOMEM;
    l->sides[l->n_sides++] = (ppx_sidecar){m->off, m->size, at, companion};
    return 0;
}

/* A .cls member's value: decimal, optionally signed, surrounded by blanks. */
static int read_cls(int fd, const gmember *m, int64_t *out)
{
    char b[CLS_MAX + 1];
    if (m->size > CLS_MAX)
        return -1;
    ssize_t got = pread(fd, b, (size_t)m->size, (off_t)m->off);
    if (got != (ssize_t)m->size)
        return -1;
    b[got] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (errno || end == b)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Lists the gathered sample: its images as entries (the first one gets the
 * sidecars), or, when it holds none, its members as skipped. */
static int flush(lister *t)
{
    ppx_listing *l = t->l;
    size_t images = 0, own = 0; /* images, and those that are no companion */
    for (size_t i = 0; i < t->gn; i++) {
        const char *name = (const char *)t->names.data + t->g[i].name, *ext;
        ppx_sample_key(name, &ext);
        images += ppx_is_image_name(name) != 0;
        own += ppx_is_image_name(name) && !companion_ext(name, ext);
    }
    int rc = 0;
    if (!images) {
        l->skipped += t->gn;
        goto out;
    }
    ppx_member m = {
        .arc_len = t->arc_len, .inner_len = t->inner_len, .cls = PPX_NO_CLS, .arc = t->arc};
    m.side_first = (uint32_t)l->n_sides;
    int bad_cls = 0;
    for (size_t i = 0; i < t->gn && !rc; i++) {
        const char *name = (const char *)t->names.data + t->g[i].name;
        const char *ext;
        ppx_sample_key(name, &ext);
        /* Beside an image of the sample, KEY.ROLE.png is its companion. */
        int comp = own && companion_ext(name, ext);
        if (ppx_is_image_name(name) && !comp)
            continue;
        if (strlen(ext) > PPX_SIDE_EXT_MAX) {
            /* KKKKKKKKK.<ext> would not fit a ustar name: left out, said. */
            l->skipped++;
            if (l->long_sides++ == 0 && join(l->long_side_first, t->key, name))
                snprintf(l->long_side_first, sizeof l->long_side_first, "%s/...", t->key);
            continue;
        }
        if (strcmp(ext, "cls") == 0 && read_cls(t->fd, &t->g[i], &m.cls))
            bad_cls = 1;
        rc = add_side(l, &t->g[i], ext, comp);
    }
    m.side_n = (uint32_t)(l->n_sides - m.side_first);
    for (size_t i = 0; i < t->gn && !rc; i++) {
        const char *name = (const char *)t->names.data + t->g[i].name, *ext;
        ppx_sample_key(name, &ext);
        if (!ppx_is_image_name(name) || (own && companion_ext(name, ext)))
            continue;
        char key[PPX_KEY_MAX];
        if (join(key, t->key, name))
            rc = add_failed(t, NULL, PPX_TAR_TOOLONG);
        else if (bad_cls)
            rc = ppx_listing_add_failed(l, key, 0, PPX_TAR_BAD_CLS);
        else {
            m.off = t->g[i].off;
            m.size = t->g[i].size;
            rc = add_entry(t, key, &m);
            m.side_n = 0; /* the sidecars go with the sample's first image */
        }
    }
out:
    t->gn = 0;
    t->names.len = 0;
    t->sample_len = 0;
    return rc;
}

/* ".." as a component, or a leading "/": never a key. */
static int unsafe_name(const char *name)
{
    if (name[0] == '/')
        return 1;
    for (const char *p = name; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    return 0;
}

static int list_range(ppx_listing *l, int fd, uint32_t arc, const char *key, uint64_t base,
                      uint64_t size, uint32_t arc_len, uint32_t inner_len, int depth, ppx_err *err);

static int on_member(void *arg, const ppx_tar_member *m)
{
    lister *t = arg;
    ppx_listing *l = t->l;
    if ((t->rc = ppx_listing_step(l, t->err)) != 0)
        return -1;
    if (m->kind == PPX_MEMBER_DIR)
        return 0;
    if (m->kind == PPX_MEMBER_OTHER) {
        l->skipped++;
        l->skipped_other++;
        return 0;
    }
    char name[PPX_KEY_MAX];
    if (snprintf(name, sizeof name, "%s", m->name) >= (int)sizeof name) {
        /* Cut, it would lose its extension and pass for a non-image. */
        if (!ppx_is_image_name(m->name) && !ppx_is_tar_name(m->name) &&
            !ppx_is_compressed_tar_name(m->name)) {
            l->skipped++;
            return 0;
        }
        t->rc = flush(t);
        if (!t->rc)
            t->rc = add_failed(t, NULL, PPX_TAR_TOOLONG);
        return t->rc ? -1 : 0;
    }
    if (unsafe_name(name)) {
        t->rc = flush(t);
        if (!t->rc)
            t->rc = add_failed(t, name, PPX_TAR_UNSAFE);
        return t->rc ? -1 : 0;
    }
    ppx_key_normalize(name);
    if (ppx_is_tar_name(name) || ppx_is_compressed_tar_name(name)) {
        if ((t->rc = flush(t)) != 0)
            return -1;
        char key[PPX_KEY_MAX];
        if (join(key, t->key, name))
            t->rc = add_failed(t, NULL, PPX_TAR_TOOLONG);
        else if (ppx_is_compressed_tar_name(name))
            t->rc = ppx_listing_add_failed(l, key, 0, PPX_TAR_COMPRESSED);
        else if (t->depth >= 1)
            t->rc = ppx_listing_add_failed(l, key, 0, PPX_TAR_TOO_DEEP);
        else
            /* An inner tar cut short is read as far as its parent goes, so
             * that the member it ends inside is named there. */
            t->rc =
                list_range(l, t->fd, t->arc, key, m->off, m->past_end ? t->end - m->off : m->size,
                           t->arc_len, (uint32_t)strlen(key), t->depth + 1, t->err);
        return t->rc ? -1 : 0;
    }
    if (m->past_end) {
        /* Its bytes are not all there, and the listing stops after it: it
         * is the failure that says so, under its own name. */
        t->cut_named = 1;
        return (t->rc = flush(t)) ? -1 : (t->rc = add_failed(t, name, PPX_TAR_TRUNCATED)) ? -1 : 0;
    }
    const char *ext;
    size_t kl = ppx_sample_key(name, &ext);
    if (t->gn == SAMPLE_MAX || kl != t->sample_len || memcmp(name, t->sample, kl) != 0) {
        if ((t->rc = flush(t)) != 0)
            return -1;
        memcpy(t->sample, name, kl);
        t->sample_len = kl;
    }
    t->g[t->gn] = (gmember){m->off, m->size, t->names.len};
    if (ppx_buf_append(&t->names, name, strlen(name) + 1)) {
        t->rc = PPX_ENOMEM;
        return -1;
    }
    t->gn++;
    return 0;
}

static int list_range(ppx_listing *l, int fd, uint32_t arc, const char *key, uint64_t base,
                      uint64_t size, uint32_t arc_len, uint32_t inner_len, int depth, ppx_err *err)
{
    lister *t = calloc(1, sizeof *t);
    if (!t)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory listing %s", key);
    *t = (lister){.l = l,
                  .fd = fd,
                  .end = base + size,
                  .key = key,
                  .arc_len = arc_len,
                  .inner_len = inner_len,
                  .arc = arc,
                  .depth = depth,
                  .err = err};
    ppx_buf_init(&t->names);
    l->archives++;
    int problem = ppx_tar_list(fd, base, size, on_member, t);
    int rc = t->rc;
    if (!rc)
        rc = flush(t);
    if (!rc && problem > 0 && !(problem == PPX_TAR_TRUNCATED && t->cut_named)) {
        /* A member past the end is named; any other problem is the archive's. */
        rc = add_failed(t, NULL, problem);
    }
    if (rc == PPX_ENOMEM)
        ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory listing %s", key);
    ppx_buf_destroy(&t->names);
    free(t);
    return rc;
}

int ppx_listing_add_archive(ppx_listing *l, int fd, const char *key, int follow, ppx_err *err)
{
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0)
        rc = ppx_listing_add_failed(l, key, errno, 0);
    else if (!S_ISREG(st.st_mode))
        rc = ppx_listing_add_failed(l, key, 0, PPX_TAR_NOT_TAR);
    else if (ppx_array_grow((void **)&l->arcs, &l->arcs_cap, l->n_arcs, sizeof *l->arcs, 16) ||
             l->n_arcs >= UINT32_MAX)
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory listing %s", key);
    else {
        /* Every later read of its members must find this very file. */
        l->arcs[l->n_arcs] = (ppx_arc_ident){
            {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode}, follow != 0, 1};
        rc = list_range(l, fd, (uint32_t)l->n_arcs++, key, 0, (uint64_t)st.st_size,
                        (uint32_t)strlen(key), 0, 0, err);
    }
    close(fd);
    return rc;
}

/* The role of a companion member's extension ("seg" of "seg.png"): the
 * index of the --with role of that name, or -1. */
int ppx_listing_companion_role(const ppx_run_config *cfg, const char *ext)
{
    const char *dot = strrchr(ext, '.');
    size_t n = dot ? (size_t)(dot - ext) : 0;
    for (int k = 0; k < cfg->n_with; k++)
        if (strlen(cfg->with[k].role) == n && strncmp(cfg->with[k].role, ext, n) == 0)
            return k;
    return -1;
}
