#include "sched/listing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepix/archive.h"
#include "prepix/fsafe.h"
#include "prepix/io.h"

#define MAX_DEPTH 256

int ppx_listing_add(ppx_listing *l, const char *key, size_t len)
{
    size_t old_cap = l->cap;
    if (ppx_array_grow((void **)&l->off, &l->cap, l->n, sizeof *l->off, 1024))
        return PPX_ENOMEM;
    if (l->mem && l->cap != old_cap) {
        ppx_member *m = realloc(l->mem, l->cap * sizeof *m);
        if (!m)
            return PPX_ENOMEM;
        memset(m + old_cap, 0, (l->cap - old_cap) * sizeof *m);
        l->mem = m;
    }
    if (l->arena_len + len + 1 > l->arena_cap) {
        size_t cap = l->arena_cap ? l->arena_cap : 65536;
        while (cap < l->arena_len + len + 1)
            cap *= 2;
        char *a = realloc(l->arena, cap);
        if (!a)
            return PPX_ENOMEM;
        l->arena = a;
        l->arena_cap = cap;
    }
    memcpy(l->arena + l->arena_len, key, len);
    l->arena[l->arena_len + len] = '\0';
    l->off[l->n++] = l->arena_len;
    l->arena_len += len + 1;
    l->hash = ppx_fnv1a(l->hash, key, len + 1); /* the NUL separates keys in the hash */
    return 0;
}

#ifdef PPX_TEST_HOOKS
/* Test-only: PPX_TEST_FAULT="stall-listing:N" holds the listing at its Nth
 * step, after printing "prepix: test fault: listing stalled at step N",
 * until a stop is asked for, so that a test signals a listing under way
 * without racing it. */
static void test_stall(const ppx_listing *l)
{
    static long long at = -1; /* read once: a listing takes millions of steps */
    if (at < 0) {
        const char *f = getenv("PPX_TEST_FAULT");
        const char *k = f ? strstr(f, "stall-listing:") : NULL;
        at = k ? strtoll(k + strlen("stall-listing:"), NULL, 10) : 0;
    }
    if (at <= 0 || (uint64_t)at != l->steps || !l->stop)
        return;
    /* The signals blocked between the look at the flag and the wait, so
     * that one coming in between still ends the wait. */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGUSR1);
    sigprocmask(SIG_BLOCK, &stops, &old);
    fprintf(stderr, "prepix: test fault: listing stalled at step %llu\n", (unsigned long long)at);
    while (!*l->stop)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
}
#endif

static int canceled(const ppx_listing *l, ppx_err *err)
{
    return ppx_err_set(err, PPX_ECANCELED, PPX_STAGE_INPUT,
                       "listing stopped by a signal after %zu entries", l->n);
}

int ppx_listing_step(ppx_listing *l, ppx_err *err)
{
    l->steps++;
    if (l->on_step)
        l->on_step(l->hook_arg);
#ifdef PPX_TEST_HOOKS
    test_stall(l);
#endif
    return l->stop && *l->stop ? canceled(l, err) : 0;
}

typedef struct {
    char *name;
    unsigned char type; /* d_type */
} entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* An entry the walk met but could not read: listed with its errno, so it
 * becomes a failure entry (stage input) in its place, and a folder's name
 * (listed as "NAME/") still makes its class. */
int ppx_listing_add_failed(ppx_listing *l, const char *key, int e, int problem)
{
    if (ppx_array_grow((void **)&l->walk_errors, &l->walk_errors_cap, l->n_walk_errors,
                       sizeof *l->walk_errors, 16))
        return PPX_ENOMEM;
    l->walk_errors[l->n_walk_errors++] = (ppx_walk_error){l->n, e, problem, 0};
    return ppx_listing_add(l, key, strlen(key));
}

static int add_failed(ppx_listing *l, const char *key, int e)
{
    return ppx_listing_add_failed(l, key, e, 0);
}

/* An archive met in the walk or named by a list line: listed in place
 * (opened from dfd; a link only with follow_symlinks). A compressed one is a
 * failure entry. */
static int add_archive_at(ppx_listing *l, int dfd, const char *name, const char *key, ppx_err *err)
{
    if (ppx_is_compressed_tar_name(name))
        return ppx_listing_add_failed(l, key, 0, PPX_TAR_COMPRESSED);
    int fd = ppx_list_open_at(dfd, name, 0, l->follow_symlinks);
    if (fd < 0) {
        int rc = add_failed(l, key, -fd);
        if (!rc)
            l->walk_errors[l->n_walk_errors - 1].archive = 1;
        return rc;
    }
    return ppx_listing_add_archive(l, fd, key, l->follow_symlinks, err);
}

/* key = rel/name into a buffer of PPX_KEY_MAX; a key that does not fit is
 * cut (it is only ever shown, as a failure) and 0 returned. */
static int join_key(char *key, const char *rel, const char *name)
{
    int n = snprintf(key, PPX_KEY_MAX, "%s%s%s", rel, rel[0] ? "/" : "", name);
    return n >= 0 && n < PPX_KEY_MAX;
}

/* Reads the entries of folder d into *ents (sorted by name), without the
 * listing's lock for a streamed walk (this touches nothing of l). 0 or
 * PPX_ENOMEM; *read_errno: readdir's error, 0 when the whole folder was read. */
static int read_folder(ppx_listing *l, DIR *d, entry **ents, size_t *n, int *read_errno)
{
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    if (l->release)
        l->release(l->hook_arg);
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            entry *ne = realloc(*ents, cap * sizeof *ne);
            if (!ne) {
                rc = PPX_ENOMEM;
                break;
            }
            *ents = ne;
        }
        if (!((*ents)[*n].name = strdup(de->d_name))) {
            rc = PPX_ENOMEM;
            break;
        }
        (*ents)[*n].type = de->d_type;
        (*n)++;
    }
    *read_errno = rc ? 0 : errno;
    if (*n && !rc)
        qsort(*ents, *n, sizeof **ents, cmp_entry);
    if (l->acquire)
        l->acquire(l->hook_arg);
    return rc;
}

/* Whether the walk descends into entry name of folder dfd (d_type type). */
static int entry_is_dir(int dfd, const char *name, unsigned char type)
{
    if (type != DT_UNKNOWN)
        return type == DT_DIR;
    struct stat sb;
    return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

/* A name the walk lists as an archive (a compressed one as its failure). */
static int is_archive_name(const char *name)
{
    return !ppx_is_image_name(name) && (ppx_is_tar_name(name) || ppx_is_compressed_tar_name(name));
}

int ppx_listing_top_has_archive(const char *input)
{
    int fd = ppx_list_open_at(AT_FDCWD, input, 1, 1);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 1;
    }
    int found = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            found = errno != 0; /* not read whole: whatever was not read may be one */
            break;
        }
        if (is_archive_name(de->d_name) && !entry_is_dir(dirfd(d), de->d_name, de->d_type)) {
            found = 1;
            break;
        }
    }
    closedir(d);
    return found;
}

/* Lists the folder open as dfd (taken: closed here), whose key is rel ("" for INPUT). */
static int walk(ppx_listing *l, int dfd, const char *rel, int depth, ppx_err *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return add_failed(l, rel, e);
    }
    entry *ents = NULL;
    size_t n = 0;
    int read_errno;
    int rc = read_folder(l, d, &ents, &n, &read_errno);
    if (rc)
        goto out;
    if (read_errno) {
        /* Part of the folder could not be read: what was read is listed, and
         * the folder itself is a failure so the loss is never silent. */
        char key[PPX_KEY_MAX];
        snprintf(key, sizeof key, "%s/", rel);
        rc = add_failed(l, key, read_errno);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if ((rc = ppx_listing_step(l, err)) != 0)
            break;
        char key[PPX_KEY_MAX];
        int fits = join_key(key, rel, ents[i].name);
        int is_dir = entry_is_dir(dirfd(d), ents[i].name, ents[i].type);
        if (!fits) {
            rc = add_failed(l, key, ENAMETOOLONG);
            continue;
        }
        if (ppx_is_image_name(ents[i].name))
            rc = ppx_listing_add(l, key, strlen(key));
        else if (!is_dir && is_archive_name(ents[i].name))
            rc = add_archive_at(l, dirfd(d), ents[i].name, key, err);
        else if (!is_dir)
            l->skipped++;
        if (rc || !is_dir)
            continue;
        size_t kl = strlen(key);
        if (depth + 1 >= MAX_DEPTH || kl + 2 >= PPX_KEY_MAX) {
            memcpy(key + kl, "/", 2);
            rc = add_failed(l, key, depth + 1 >= MAX_DEPTH ? ELOOP : ENAMETOOLONG);
            continue;
        }
        /* Never through a link: a folder swapped for one after readdir
         * fails here (ELOOP/ENOTDIR) instead of being walked. */
        int sub = ppx_list_open_at(dirfd(d), ents[i].name, 1, 0);
        if (sub < 0) {
            int e = -sub;
            memcpy(key + kl, "/", 2);
            rc = add_failed(l, key, e);
            continue;
        }
        rc = walk(l, sub, key, depth + 1, err);
    }
out:
    if (rc == PPX_ENOMEM)
        ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory listing %s", rel[0] ? rel : l->root);
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    closedir(d);
    return rc;
}

/* A list read from a pipe (`-i @<(find ...)`) waits for its writer, who may
 * stall. A read blocked there would not return on a signal (the CLI's
 * handlers restart it), so the wait is a poll(), which is never restarted;
 * its timeout covers a signal that came between the look at the flag and the
 * call. 0 once there is something to read (or an error read() will report),
 * or PPX_ECANCELED. */
static int wait_pipe(const ppx_listing *l, int fd, ppx_err *err)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        if (*l->stop)
            return canceled(l, err);
        int r = poll(&p, 1, 1000);
        if (r > 0 || (r < 0 && errno != EINTR))
            return 0;
    }
}

/* A list is one path a line: lines are capped at PPX_KEY_MAX bytes, a NUL is
 * refused (it would cut the line silently), and a read error is an error, never
 * the end of the list. Keys are normalised ("./a//b" is "a/b"), so that two
 * spellings of one file are seen as one. */
static int read_list(ppx_listing *l, const char *file, ppx_err *err)
{
    int fd = ppx_list_open_at(AT_FDCWD, file, 0, 1);
    if (fd < 0)
        return ppx_err_set(err, fd == -ENOENT ? PPX_ENOENT : PPX_EIO, PPX_STAGE_INPUT,
                           "cannot open list %s: %s", file, strerror(-fd));
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        close(fd);
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT,
                           "list %s is not a regular file or a pipe", file);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    char *line = malloc(PPX_KEY_MAX + 1);
    uint8_t buf[65536];
    size_t len = 0;
    uint64_t lineno = 1;
    int rc = line ? 0 : ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
    int pipe_wait = S_ISFIFO(st.st_mode) && l->stop;
    for (int eof = 0; !rc && !eof;) {
        if (pipe_wait && (rc = wait_pipe(l, fd, err)) != 0)
            break;
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot read list %s: %s", file,
                             strerror(errno));
            break;
        }
        eof = got == 0;
        if (eof && len == 0)
            break;
        for (ssize_t i = 0; i < got || (eof && i == 0); i++) {
            int end_of_line = eof || buf[i] == '\n';
            if (!end_of_line) {
                if (buf[i] == '\0') {
                    rc = ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT,
                                     "list %s, line %llu: holds a NUL byte", file,
                                     (unsigned long long)lineno);
                    break;
                }
                if (len == PPX_KEY_MAX - 1) {
                    rc = ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT,
                                     "list %s, line %llu: longer than %d bytes", file,
                                     (unsigned long long)lineno, PPX_KEY_MAX - 1);
                    break;
                }
                line[len++] = (char)buf[i];
                continue;
            }
            if ((rc = ppx_listing_step(l, err)) != 0)
                break;
            while (len > 0 && line[len - 1] == '\r')
                len--;
            line[len] = '\0';
            ppx_key_normalize(line);
            if (line[0] && (ppx_is_tar_name(line) || ppx_is_compressed_tar_name(line))) {
                char path[PPX_KEY_MAX + 4096];
                snprintf(path, sizeof path, "%s%s%s", line[0] == '/' ? "" : l->root,
                         line[0] == '/' ? "" : "/", line);
                if ((rc = add_archive_at(l, AT_FDCWD, path, line, err)) != 0)
                    break;
            } else if (line[0] && (rc = ppx_listing_add(l, line, strlen(line))) != 0) {
                ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory reading %s", file);
                break;
            }
            len = 0;
            lineno++;
        }
    }
    free(line);
    close(fd);
    return rc;
}

/* For an INPUT that is one file: its folder becomes the root; returns its
 * name, the key. */
static const char *root_of_file(ppx_listing *l, const char *input)
{
    const char *slash = strrchr(input, '/');
    snprintf(l->root, sizeof l->root, "%.*s", slash ? (int)(slash - input) : 1,
             slash ? input : ".");
    if (l->root[0] == '\0')
        snprintf(l->root, sizeof l->root, "/");
    return slash ? slash + 1 : input;
}

int ppx_listing_walk_root(ppx_listing *l, int fd, ppx_err *err)
{
    return walk(l, fd, "", 0, err);
}

int ppx_listing_build(const char *input, int follow_symlinks, const volatile sig_atomic_t *stop,
                      ppx_listing *l, ppx_err *err)
{
    memset(l, 0, sizeof *l);
    l->stop = stop;
    l->hash = PPX_FNV1A_INIT;
    l->follow_symlinks = follow_symlinks;
    if (input[0] == '@') {
        const char *file = input + 1;
        const char *slash = strrchr(file, '/');
        if (slash)
            snprintf(l->root, sizeof l->root, "%.*s", (int)(slash - file), file);
        else
            snprintf(l->root, sizeof l->root, ".");
        if (l->root[0] == '\0')
            snprintf(l->root, sizeof l->root, "/");
        l->is_list = 1;
        return read_list(l, file, err);
    }
    /* INPUT itself is named by the user: links in it are followed. */
    int fd = ppx_list_open_at(AT_FDCWD, input, 1, 1);
    if (fd < 0) {
        int e = -fd;
        if (e == ENOTDIR && ppx_is_compressed_tar_name(input))
            return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT, "input %s: %s", input,
                               ppx_tar_problem_text(PPX_TAR_COMPRESSED));
        if (e == ENOTDIR && ppx_is_tar_name(input)) {
            /* One archive: its folder is the root, its name the key. */
            const char *name = root_of_file(l, input);
            int afd = ppx_list_open_at(AT_FDCWD, input, 0, 1);
            if (afd < 0)
                return ppx_err_set(err, afd == -ENOENT ? PPX_ENOENT : PPX_EIO, PPX_STAGE_INPUT,
                                   "input %s: %s", input, strerror(-afd));
            l->is_archive = 1;
            /* Named by the user: read as named, through a link too. */
            return ppx_listing_add_archive(l, afd, name, 1, err);
        }
        if (e == ENOTDIR && ppx_is_image_name(input)) {
            /* One image: a list of one line, its name, in its folder. Read
             * as a list's line is (a link only with --follow-symlinks). */
            const char *name = root_of_file(l, input);
            l->is_list = 1;
            if (ppx_listing_add(l, name, strlen(name)))
                return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
            return 0;
        }
        if (e == ENOTDIR)
            return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT,
                               "input %s is not a folder, an image (.jpg .jpeg .tif .tiff .png "
                               ".webp) or a .tar archive (use @LIST for a list of files)",
                               input);
        return ppx_err_set(err, e == ENOENT ? PPX_ENOENT : PPX_EIO, PPX_STAGE_INPUT, "input %s: %s",
                           input, strerror(e));
    }
    snprintf(l->root, sizeof l->root, "%s", input);
    struct stat st;
    if (fstat(fd, &st) == 0)
        l->root_id = (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
    return walk(l, fd, "", 0, err);
}

int ppx_listing_build_splits(const char *const *names, const char *const *paths, int n,
                             int follow_symlinks, const volatile sig_atomic_t *stop, ppx_listing *l,
                             ppx_err *err)
{
    memset(l, 0, sizeof *l);
    l->stop = stop;
    l->hash = PPX_FNV1A_INIT;
    l->follow_symlinks = follow_symlinks;
    if (n < 1 || n > PPX_SPLITS_MAX)
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT, "1 to %d splits", PPX_SPLITS_MAX);
    snprintf(l->root, sizeof l->root, "%s", paths[0]);
    l->n_splits = n;
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        /* Named by the user, as INPUT is: links in the path are followed. */
        int fd = ppx_list_open_at(AT_FDCWD, paths[k], 1, 1);
        if (fd < 0)
            return ppx_err_set(err,
                               fd == -ENOENT    ? PPX_ENOENT
                               : fd == -ENOTDIR ? PPX_EUSAGE
                                                : PPX_EIO,
                               PPX_STAGE_INPUT, "split %s: %s: %s", names[k], paths[k],
                               fd == -ENOTDIR ? "not a folder" : strerror(-fd));
        struct stat st;
        if (fstat(fd, &st) == 0)
            l->split_ids[k] =
                (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
        rc = walk(l, fd, names[k], 0, err);
    }
    return rc;
}

void ppx_listing_filter(ppx_listing *l, const uint8_t *drop)
{
    size_t m = 0, w = 0, e = 0;
    l->hash = PPX_FNV1A_INIT;
    for (size_t i = 0; i < l->n; i++) {
        int is_err = e < l->n_walk_errors && l->walk_errors[e].index == i;
        if (drop[i]) {
            e += is_err;
            continue;
        }
        if (is_err) {
            l->walk_errors[w] = l->walk_errors[e++];
            l->walk_errors[w++].index = m;
        }
        const char *key = l->arena + l->off[i];
        l->hash = ppx_fnv1a(l->hash, key, strlen(key) + 1);
        l->off[m] = l->off[i];
        if (l->mem)
            l->mem[m] = l->mem[i];
        m++;
    }
    l->excluded += l->n - m;
    l->n = m;
    l->n_walk_errors = w;
}

void ppx_listing_destroy(ppx_listing *l)
{
    free(l->arena);
    free(l->off);
    free(l->walk_errors);
    free(l->mem);
    free(l->arcs);
    free(l->sides);
    ppx_buf_destroy(&l->side_names);
    memset(l, 0, sizeof *l);
}
