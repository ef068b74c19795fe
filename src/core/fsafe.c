#include "prepix/fsafe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *file_kind(mode_t m);

void ppx_dircache_init(ppx_dircache *c)
{
    c->root = -1;
    c->fd = -1;
    c->rel[0] = '\0';
}

void ppx_dircache_destroy(ppx_dircache *c)
{
    if (c->fd >= 0)
        close(c->fd);
    ppx_dircache_init(c);
}

void ppx_key_normalize(char *key)
{
    char *w = key;
    const char *r = key;
    if (*r == '/')
        *w++ = *r++;
    while (*r) {
        while (*r == '/')
            r++;
        if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
            r++;
            continue;
        }
        const char *end = strchr(r, '/');
        size_t n = end ? (size_t)(end - r) : strlen(r);
        if (n == 0)
            break;
        if (w > key && w[-1] != '/')
            *w++ = '/';
        memmove(w, r, n);
        w += n;
        r += n;
    }
    *w = '\0';
}

int ppx_key_resolve(char *rel, ppx_err *err)
{
    ppx_key_normalize(rel);
    /* w never passes r: components are copied down, each after a '/' when
     * one precedes it. */
    char *w = rel;
    for (char *r = rel; *r;) {
        char *end = strchr(r, '/');
        size_t n = end ? (size_t)(end - r) : strlen(r);
        if (n == 2 && r[0] == '.' && r[1] == '.') {
            if (w == rel)
                return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                                   "output name with '..' above its top: it would lie outside "
                                   "OUTDIR");
            while (w > rel && w[-1] != '/') /* drop the last component written */
                w--;
            if (w > rel)
                w--; /* and its '/' */
        } else {
            if (w > rel)
                *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r += n + (end ? 1 : 0);
    }
    *w = '\0';
    return 0;
}

int ppx_key_check(const char *rel, ppx_err *err)
{
    if (rel[0] == '\0')
        return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT, "empty output name");
    if (rel[0] == '/')
        return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                           "absolute output name: it would lie outside OUTDIR");
    for (const char *p = rel;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.'))
            return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                               "output name with an empty or '.' component");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                               "output name with '..': it would lie outside OUTDIR");
        if (n > NAME_MAX)
            return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                               "output name has a component of %zu bytes (the limit is %d)", n,
                               NAME_MAX);
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int output_code(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EIO:
        return PPX_EOUTPUT;
    case ENAMETOOLONG:
        return PPX_ENAMETOOLONG;
    case ELOOP:
    case ENOTDIR:
        return PPX_EUNSAFE;
    default:
        return PPX_EIO;
    }
}

/* Opens one component below dirfd as a folder, never through a link. */
static int open_component(int dirfd, const char *name, int create, int stage, ppx_err *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
            return ppx_err_set(err, output_code(errno), stage, "cannot create folder %s: %s", name,
                               strerror(errno));
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ELOOP || e == ENOTDIR)
        return ppx_err_set(err, PPX_EUNSAFE, stage,
                           "%s is a symbolic link or not a folder (never followed)", name);
    if (e == ENOENT)
        return ppx_err_set(err, PPX_ENOENT, stage, "no folder %s", name);
    return ppx_err_set(err, stage == PPX_STAGE_WRITE ? output_code(e) : PPX_EIO, stage,
                       "cannot open folder %s: %s", name, strerror(e));
}

int ppx_dir_open_beneath(int root, const char *rel, int create, ppx_err *err)
{
    int stage = create ? PPX_STAGE_WRITE : PPX_STAGE_INPUT;
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return ppx_err_set(err, PPX_EIO, stage, "dup: %s", strerror(errno));
    char name[NAME_MAX + 1];
    for (const char *p = rel ? rel : ""; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > NAME_MAX) {
            close(fd);
            return ppx_err_set(err, PPX_ENAMETOOLONG, stage, "folder name of %zu bytes", n);
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p += n + (end ? 1 : 0);
        if (n == 0 || strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            close(fd);
            return ppx_err_set(err, PPX_EUNSAFE, stage, "path with '..'");
        }
        int next = open_component(fd, name, create, stage, err);
        close(fd);
        if (next < 0)
            return next;
        fd = next;
    }
    return fd;
}

/* Splits rel into its folder (copied into dir) and its last component. */
static const char *split(const char *rel, char *dir, size_t cap)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        dir[0] = '\0';
        return rel;
    }
    snprintf(dir, cap, "%.*s", (int)(slash - rel), rel);
    return slash + 1;
}

/* The folder of rel below root, through the cache when it holds it. The
 * descriptor returned belongs to the cache (or to the caller when cache is
 * NULL: *owned set). */
static int cached_dir(int root, ppx_dircache *cache, const char *dir, int create, int *owned,
                      ppx_err *err)
{
    *owned = 0;
    if (cache && cache->fd >= 0 && cache->root == root && strcmp(cache->rel, dir) == 0)
        return cache->fd;
    int fd = ppx_dir_open_beneath(root, dir, create, err);
    if (fd < 0 || !cache || strlen(dir) >= sizeof cache->rel) {
        *owned = fd >= 0;
        return fd;
    }
    if (cache->fd >= 0)
        close(cache->fd);
    cache->fd = fd;
    cache->root = root;
    snprintf(cache->rel, sizeof cache->rel, "%s", dir);
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Temporary names: ".ppx-PPPPPPPP-RRRRRRRR.tmp", the writer's pid and 32
 * random bits in hex: fixed length, unpredictable, and a rank can find those
 * of a worker that died mid-write. */
#define TEMP_LEN 26

static int is_hex(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

int ppx_is_temp_name(const char *name)
{
    return strlen(name) == TEMP_LEN && strncmp(name, ".ppx-", 5) == 0 && is_hex(name + 5, 8) &&
           name[13] == '-' && is_hex(name + 14, 8) && strcmp(name + 22, ".tmp") == 0;
}

int ppx_remove_temps_of(int dirfd, uint32_t pid)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, ".ppx-%08x-", (unsigned)pid);
    int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return 0;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (ppx_is_temp_name(e->d_name) && strncmp(e->d_name, prefix, 14) == 0 &&
            unlinkat(dirfd, e->d_name, 0) == 0)
            n++;
    closedir(d);
    return n;
}

static uint64_t sweep(int dfd, int depth)
{
    uint64_t n = 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || depth >= 256)
                continue;
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                n += sweep(sub, depth + 1);
            if (e->d_type == DT_DIR)
                continue;
        }
        if (ppx_is_temp_name(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

uint64_t ppx_sweep_temps(int root)
{
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? 0 : sweep(fd, 0);
}

_Static_assert(sizeof(((ppx_atomic *)0)->tmp) == TEMP_LEN + 1,
               "ppx_atomic's tmp holds a temporary name");

/* Creates a fresh temporary file in dirfd: fixed-length random name, never
 * an existing file or link. Returns the descriptor; name gets its name. */
static int create_temp(int dirfd, char name[TEMP_LEN + 1], uint32_t mode)
{
    for (int tries = 0; tries < 16; tries++) {
        uint32_t r;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        snprintf(name, TEMP_LEN + 1, ".ppx-%08x-%08x.tmp", (unsigned)getpid(), (unsigned)r);
        int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

#ifdef PPX_TEST_HOOKS
/* Test-only: whether PPX_TEST_FAULT holds "FAULT:NAME" with shown ending
 * in NAME. */
static int test_fault(const char *fault, const char *shown)
{
    const char *f = getenv("PPX_TEST_FAULT");
    const char *k = f ? strstr(f, fault) : NULL;
    if (!k || k[strlen(fault)] != ':')
        return 0;
    k += strlen(fault) + 1;
    size_t n = strcspn(k, ","), l = strlen(shown);
    return n <= l && strncmp(shown + l - n, k, n) == 0;
}
#endif

/* The temporary file of f in folder dirfd (closed by abort when owned), for
 * final name base, shown as shown in messages. */
static int atomic_in(int dirfd, int owned, const char *base, const char *shown,
                     const ppx_write_opts *opt, ppx_atomic *f, ppx_err *err)
{
    memset(f, 0, sizeof *f);
    f->dirfd = dirfd;
    f->owned = owned;
    f->base = base;
    f->shown = shown;
    if (opt)
        f->opt = *opt;
    f->fd = create_temp(dirfd, f->tmp, f->opt.mode ? f->opt.mode & 0777 : 0644);
    if (f->fd < 0) {
        int rc = ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE,
                             "cannot create a temporary file for %s: %s", shown, strerror(errno));
        f->tmp[0] = '\0';
        ppx_atomic_abort(f);
        return rc;
    }
    return 0;
}

int ppx_atomic_open(int root, ppx_dircache *cache, const char *rel, const ppx_write_opts *opt,
                    ppx_atomic *f, ppx_err *err)
{
    char dir[PPX_PATH_MAX];
    f->fd = f->dirfd = -1;
    if (strlen(rel) >= sizeof dir)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_WRITE, "output path too long");
    int rc = ppx_key_check(rel, err);
    if (rc) {
        err->stage = PPX_STAGE_WRITE;
        return rc;
    }
    const char *base = split(rel, dir, sizeof dir);
    int owned;
    int dfd = cached_dir(root, cache, dir, 1, &owned, err);
    if (dfd < 0)
        return dfd;
    return atomic_in(dfd, owned, base, rel, opt, f, err);
}

int ppx_atomic_write(ppx_atomic *f, const void *data, size_t len, ppx_err *err)
{
#ifdef PPX_TEST_HOOKS
    /* PPX_TEST_FAULT="outfull:NAME": the disk is full once an output whose
     * name ends in NAME passes 1 MiB (an output written in pieces fails in
     * the middle). */
    if (f->written + len > (1u << 20) && test_fault("outfull", f->shown)) {
        errno = ENOSPC;
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_WRITE, "cannot write %s: %s", f->shown,
                           strerror(errno));
    }
#endif
    f->written += len;
    if (write_all(f->fd, data, len) != 0)
        return ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE, "cannot write %s: %s",
                           f->shown, strerror(errno));
    return 0;
}

void ppx_atomic_abort(ppx_atomic *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->dirfd >= 0 && f->tmp[0])
        unlinkat(f->dirfd, f->tmp, 0);
    if (f->dirfd >= 0 && f->owned)
        close(f->dirfd);
    f->fd = f->dirfd = -1;
}

int ppx_atomic_commit(ppx_atomic *f, ppx_err *err)
{
    int rc = 0, fd = f->fd;
    const char *shown = f->shown;
    f->fd = -1;
    if (f->opt.sync && fdatasync(fd) != 0) {
        rc = ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE, "cannot write %s: %s", shown,
                         strerror(errno));
        close(fd);
        goto fail;
    }
    if (close(fd) != 0) {
        rc = ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE, "cannot write %s: %s", shown,
                         strerror(errno));
        goto fail;
    }
    if (f->opt.keep) {
        struct stat st;
        if (fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (uint64_t)st.st_dev == f->opt.keep->dev && (uint64_t)st.st_ino == f->opt.keep->ino) {
            rc = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_WRITE,
                             "the output %s is the input itself; inputs are never replaced", shown);
            goto fail;
        }
    }
#ifdef PPX_TEST_HOOKS
    /* PPX_TEST_FAULT="killrename:NAME" kills the writer with SIGKILL after
     * the temporary file of an output whose name ends in NAME is written,
     * before its rename (a worker killed by the OOM killer at the worst time). */
    if (test_fault("killrename", shown))
        raise(SIGKILL);
#endif
    if (renameat(f->dirfd, f->tmp, f->dirfd, f->base) != 0) {
        rc = ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE, "cannot rename to %s: %s", shown,
                         strerror(errno));
        goto fail;
    }
    f->tmp[0] = '\0'; /* renamed: nothing for abort to remove */
    if (f->opt.sync && fsync(f->dirfd) != 0)
        rc = ppx_err_set(err, output_code(errno), PPX_STAGE_WRITE,
                         "cannot sync the folder of %s: %s", shown, strerror(errno));
fail:
    ppx_atomic_abort(f);
    return rc;
}

/* data into f, then f committed (or aborted on failure). */
static int write_commit(ppx_atomic *f, const void *data, size_t len, ppx_err *err)
{
    int rc = ppx_atomic_write(f, data, len, err);
    if (rc) {
        ppx_atomic_abort(f);
        return rc;
    }
    return ppx_atomic_commit(f, err);
}

int ppx_write_beneath(int root, ppx_dircache *cache, const char *rel, const void *data, size_t len,
                      const ppx_write_opts *opt, ppx_err *err)
{
    ppx_atomic f;
    int rc = ppx_atomic_open(root, cache, rel, opt, &f, err);
    return rc ? rc : write_commit(&f, data, len, err);
}

int ppx_open_beneath(int root, ppx_dircache *cache, const char *rel, int follow_last, ppx_err *err)
{
    char dir[PPX_PATH_MAX];
    if (strlen(rel) >= sizeof dir)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "path too long");
    const char *base = split(rel, dir, sizeof dir);
    if (base[0] == '\0' || strcmp(base, "..") == 0)
        return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT, "not a file name");
    int owned;
    int dfd = cached_dir(root, cache, dir, 0, &owned, err);
    if (dfd < 0)
        return dfd;
    int fd = ppx_open_input_at(dfd, base, follow_last, err);
    if (owned)
        close(dfd);
    return fd;
}

int ppx_fd_is(int fd, const ppx_file_id *id)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (uint64_t)st.st_dev == id->dev && (uint64_t)st.st_ino == id->ino;
}

int ppx_list_open_at(int dfd, const char *name, int dir, int follow_last)
{
    int fd = openat(dfd, name,
                    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (dir ? O_DIRECTORY : 0) |
                        (follow_last ? 0 : O_NOFOLLOW));
    return fd >= 0 ? fd : -errno;
}

int ppx_private_file_open(int dirfd, const char *name, int how)
{
    int flags = how == PPX_PRIVATE_LOCK ? O_RDWR | O_CREAT | O_NONBLOCK
                                        : O_WRONLY | O_CREAT | O_EXCL | O_APPEND;
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : -errno;
}

int ppx_open_input_at(int dfd, const char *name, int follow_last, ppx_err *err)
{
    int fd = openat(dfd, name,
                    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
    if (fd >= 0)
        return fd;
    int e = errno;
    struct stat st;
    if (e == ENXIO && fstatat(dfd, name, &st, follow_last ? 0 : AT_SYMLINK_NOFOLLOW) == 0)
        /* a socket, or a device with no driver: open(2) says ENXIO */
        return ppx_err_set(err, PPX_ESPECIAL, PPX_STAGE_INPUT, "is %s, not a regular file",
                           file_kind(st.st_mode));
    if (e == ELOOP)
        return ppx_err_set(err, PPX_ELOOP, PPX_STAGE_INPUT,
                           follow_last ? "symbolic link loop" : PPX_MSG_LINK_NOT_FOLLOWED);
    if (e == ENOENT)
        return ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT,
                           "no such file (vanished, or a dangling symbolic link)");
    if (e == ENAMETOOLONG)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "file name too long");
    return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot open: %s", strerror(e));
}

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

int ppx_fd_read_all(int fd, uint64_t max_bytes, ppx_buf *b, ppx_file_id *id, ppx_err *err)
{
    b->len = 0;
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ppx_err_set(err, PPX_ESPECIAL, PPX_STAGE_INPUT, "is %s, not a regular file",
                         file_kind(st.st_mode));
        goto out;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        rc = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_INPUT,
                         "file of %lld bytes is over the limit of %llu", (long long)st.st_size,
                         (unsigned long long)max_bytes);
        goto out;
    }
    if (id)
        *id = (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
    /* Back to blocking reads for a regular file (a network file system may
     * honour O_NONBLOCK and answer EAGAIN mid-file). */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_READ, "cannot clear O_NONBLOCK: %s",
                         strerror(errno));
        goto out;
    }
    size_t want = (size_t)st.st_size + 1; /* +1 sees a file that grew */
    if (ppx_buf_reserve(b, want)) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_READ, "cannot allocate %zu bytes", want);
        goto out;
    }
    /* A large file (an annotation file, a list) on huge pages: on the
     * machines we measure, reading 510 MB into 4 KB pages cost 1.4 s, and
     * the first pass over them 0.7 s more (0.97 s and 0.03 s on huge
     * pages). */
    if (want >= (16u << 20))
        ppx_advise_huge(b->data, b->cap);
    for (;;) {
        if (b->len == b->cap && ppx_buf_reserve(b, b->cap * 2)) {
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_READ, "out of memory");
            goto out;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_READ, "read error: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
        if (b->len > max_bytes) {
            rc = ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_READ, "file grew over the size limit");
            goto out;
        }
    }
out:
    close(fd);
    return rc;
}

int ppx_read_beneath(int root, ppx_dircache *cache, const char *rel, int follow_last,
                     uint64_t max_bytes, ppx_buf *b, ppx_file_id *id, ppx_err *err)
{
    b->len = 0;
    int fd = ppx_open_beneath(root, cache, rel, follow_last, err);
    if (fd < 0)
        return fd;
    return ppx_fd_read_all(fd, max_bytes, b, id, err);
}

/* mkdir -p for a path the user named. */
static int mkdirs(const char *path, ppx_err *err)
{
    char tmp[PPX_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "OUTDIR path too long");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot create folder %s: %s", tmp,
                               strerror(errno));
        if (c == '\0')
            return 0;
        *p = c;
    }
}

int ppx_outdir_open(ppx_outdir *o, const char *path, int create, ppx_err *err)
{
    o->fd = -1;
    snprintf(o->path, sizeof o->path, "%s", path);
    if (create) {
        int rc = mkdirs(path, err);
        if (rc)
            return rc;
    }
    o->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->fd < 0) {
        if (errno == ENOENT && !create)
            return PPX_ENOENT;
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot open OUTDIR %s: %s", path,
                           strerror(errno));
    }
    struct stat st;
    if (fstat(o->fd, &st) != 0) {
        int e = errno;
        ppx_outdir_close(o);
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot stat OUTDIR %s: %s", path,
                           strerror(e));
    }
    o->dev = (uint64_t)st.st_dev;
    o->ino = (uint64_t)st.st_ino;
    return 0;
}

void ppx_outdir_close(ppx_outdir *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
}

int ppx_outdir_check(const ppx_outdir *o, ppx_err *err)
{
    struct stat st;
    if (stat(o->path, &st) != 0)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB,
                           "OUTDIR %s vanished during the run (%s); its outputs are lost", o->path,
                           strerror(errno));
    if ((uint64_t)st.st_dev != o->dev || (uint64_t)st.st_ino != o->ino)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB,
                           "OUTDIR %s was replaced by another folder during the run; its "
                           "outputs are lost",
                           o->path);
    return 0;
}

/* ppx_private_dir_open (create) and ppx_private_dir_find (!create). */
static int open_private(int root, const char *name, int create, ppx_err *err)
{
    if (create && mkdirat(root, name, 0700) != 0 && errno != EEXIST)
        return ppx_err_set(err, output_code(errno) == PPX_EOUTPUT ? PPX_EOUTPUT : PPX_EIO,
                           PPX_STAGE_JOB, "cannot create %s: %s", name, strerror(errno));
    int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !create)
        return PPX_ENOENT;
    if (fd < 0)
        return ppx_err_set(err, errno == ELOOP || errno == ENOTDIR ? PPX_EUNSAFE : PPX_EIO,
                           PPX_STAGE_JOB, "cannot open %s: %s (it must be a real folder)", name,
                           strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot stat %s: %s", name, strerror(errno));
    else if (st.st_uid != geteuid())
        rc = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_JOB,
                         "%s is owned by user %u, not by user %u who runs prepix: it must be "
                         "private to that user; remove it",
                         name, (unsigned)st.st_uid, (unsigned)geteuid());
    else if (st.st_mode & 022)
        rc = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_JOB,
                         "%s is writable by group or others (mode %04o): it must be private to "
                         "user %u; remove it",
                         name, (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
    else if (create && (st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0)
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot make %s private (mode 0700): %s",
                         name, strerror(errno));
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int ppx_private_dir_open(int root, const char *name, ppx_err *err)
{
    return open_private(root, name, 1, err);
}

int ppx_private_dir_find(int root, const char *name, ppx_err *err)
{
    return open_private(root, name, 0, err);
}

int ppx_read_at(int dirfd, const char *name, uint64_t max_bytes, ppx_buf *b, ppx_err *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return ppx_err_set(err, errno == ELOOP ? PPX_EUNSAFE : PPX_EIO, PPX_STAGE_JOB,
                           "cannot read %s: %s", name,
                           errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    }
    int rc = ppx_fd_read_all(fd, max_bytes, b, NULL, err);
    if (rc) {
        char msg[PPX_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return ppx_err_set(err, rc, PPX_STAGE_JOB, "cannot read %s: %s", name, msg);
    }
    return 0;
}

/* Writes a report to one of the process's own standard streams. */
static int write_stream(int fd, const char *name, const void *data, size_t len, ppx_err *err)
{
    if (write_all(fd, data, len) != 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot write to %s: %s", name,
                           strerror(errno));
    return 0;
}

/* /dev/null by its exact name: opened without following a link and without
 * blocking, and written only if the descriptor is the null device (char 1:3),
 * so nothing swapped in at that name can receive the report. */
static int write_null(const void *data, size_t len, ppx_err *err)
{
    int fd = open("/dev/null", O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot open /dev/null: %s",
                           strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot stat /dev/null: %s", strerror(errno));
    else if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
        rc = ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_JOB,
                         "/dev/null is %s, not the null device: refused", file_kind(st.st_mode));
    else if (write_all(fd, data, len) != 0)
        rc =
            ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot write /dev/null: %s", strerror(errno));
    close(fd);
    return rc;
}

/* Refuses to replace what lies at base unless it is a regular file or a
 * link (which the rename replaces, never follows) or nothing. The entry is
 * looked at through a descriptor opened O_PATH | O_NOFOLLOW: that opens no
 * device, blocks on no FIFO and follows no link. Nothing is ever written
 * through it: the report goes into a new temporary file that is renamed over
 * base, so an entry swapped in after this look is replaced, not written. */
static int check_report_target(int dfd, const char *base, const char *path, ppx_err *err)
{
    int fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot open %s: %s", path,
                           strerror(errno));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        rc = ppx_err_set(err, S_ISDIR(st.st_mode) ? PPX_EIO : PPX_ESPECIAL, PPX_STAGE_JOB,
                         "%s is %s: a report is written to a regular file (or '-' for "
                         "stdout), never into a FIFO, device or socket",
                         path, file_kind(st.st_mode));
    close(fd);
    return rc;
}

int ppx_report_file_write(const char *path, const void *data, size_t len, ppx_err *err)
{
    char dir[PPX_PATH_MAX];
    if (strlen(path) >= sizeof dir)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_JOB, "path too long");
    /* The exceptions, by their exact names ("/dev//stdout" too): the
     * process's own streams, as "-" is, and the null device. */
    snprintf(dir, sizeof dir, "%s", path);
    ppx_key_normalize(dir);
    if (strcmp(path, "-") == 0 || strcmp(dir, "/dev/stdout") == 0)
        return write_stream(STDOUT_FILENO, "stdout", data, len, err);
    if (strcmp(dir, "/dev/stderr") == 0)
        return write_stream(STDERR_FILENO, "stderr", data, len, err);
    if (strcmp(dir, "/dev/null") == 0)
        return write_null(data, len, err);
    const char *base = split(path, dir, sizeof dir);
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "%s is not a file name", path);
    int dfd = open(path[0] == '/' && dir[0] == '\0' ? "/"
                   : dir[0]                         ? dir
                                                    : ".",
                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot open the folder of %s: %s", path,
                           strerror(errno));
    ppx_atomic f;
    int rc = check_report_target(dfd, base, path, err);
    if (!rc && (rc = atomic_in(dfd, 0, base, path, NULL, &f, err)) == 0)
        rc = write_commit(&f, data, len, err);
    close(dfd);
    return rc;
}
