#include "prepix/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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
    return "not a regular file";
}

int ppx_file_read(const char *path, uint64_t max_bytes, ppx_buf *b, ppx_err *err)
{
    b->len = 0;
    /* O_NONBLOCK: opening a FIFO with no writer must not hang the worker. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return ppx_err_set(err, PPX_ELOOP, PPX_STAGE_INPUT, "symbolic link loop");
        if (e == ENOENT)
            return ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT,
                               "no such file (vanished, or a dangling symbolic link)");
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot open: %s", strerror(e));
    }
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
    /* Back to blocking reads for a regular file. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t want = (size_t)st.st_size + 1; /* +1 sees a file that grew */
    if (ppx_buf_reserve(b, want)) {
        rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_READ, "cannot allocate %zu bytes", want);
        goto out;
    }
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

static int output_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EACCES:
    case EPERM:
    case EIO:
        return PPX_EOUTPUT;
    default:
        return PPX_EIO;
    }
}

int ppx_mkdirs(const char *path, ppx_err *err)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_WRITE, "path too long");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return ppx_err_set(err, output_errno(errno), PPX_STAGE_WRITE,
                               "cannot create folder %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return ppx_err_set(err, output_errno(errno), PPX_STAGE_WRITE,
                           "cannot create folder %s: %s", tmp, strerror(errno));
    return 0;
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

int ppx_file_write_atomic(const char *path, const void *data, size_t len, ppx_err *err)
{
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if (snprintf(tmp, sizeof tmp, "%.*s.%s.ppxtmp", (int)dirlen, path, base) >= (int)sizeof tmp)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_WRITE, "output path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT && dirlen > 1) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)dirlen - 1, path);
        int rc = ppx_mkdirs(dir, err);
        if (rc)
            return rc;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return ppx_err_set(err, output_errno(errno), PPX_STAGE_WRITE, "cannot create %s: %s", tmp,
                           strerror(errno));
    if (write_all(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ppx_err_set(err, output_errno(e), PPX_STAGE_WRITE, "cannot write %s: %s", tmp,
                           strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return ppx_err_set(err, output_errno(e), PPX_STAGE_WRITE, "cannot write %s: %s", tmp,
                           strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ppx_err_set(err, output_errno(e), PPX_STAGE_WRITE, "cannot rename to %s: %s",
                           path, strerror(e));
    }
    return 0;
}

int ppx_path_join(char *out, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    int n = (la == 0 || b[0] == '/') ? snprintf(out, cap, "%s", b)
                                     : snprintf(out, cap, "%.*s/%s", (int)la, a, b);
    return (n < 0 || (size_t)n >= cap) ? PPX_EINVAL : 0;
}

int ppx_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return 0;
    static const char *const exts[] = {".jpg", ".jpeg", ".tif", ".tiff", ".png"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}
