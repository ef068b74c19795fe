/* Tar archives as input (include/prepix/archive.h): libarchive reads the
 * headers (ustar, GNU and pax, checksums, base-256 numbers); we give it the
 * archive's bytes by pread and seek over member data, and take each member's
 * data offset from the count of bytes it has consumed when it returns the
 * header. Only the tar format and no filter are enabled: nothing here
 * decompresses or runs external programs. */
#include "prepix/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ppx_tar_problem_text(int problem)
{
    switch (problem) {
    case PPX_TAR_TRUNCATED:
        return "archive truncated: it ends inside a header or a member; the members before "
               "that point are read";
    case PPX_TAR_DAMAGED:
        return "archive damaged: a header is not a tar header (bad checksum or number field); "
               "the members before it are read";
    case PPX_TAR_COMPRESSED:
        return "compressed archive: members of a compressed tar cannot be read by offset; "
               "decompress it first (e.g. gunzip, unzstd)";
    case PPX_TAR_NOT_TAR:
        return "named .tar but not a tar archive";
    case PPX_TAR_UNSAFE:
        return "member name with '..' or a leading '/': refused, never written";
    case PPX_TAR_TOO_DEEP:
        return "archive inside an archive inside an archive: only one level is read";
    case PPX_TAR_BAD_CLS:
        return "its sample's .cls member is not a decimal integer";
    case PPX_TAR_READ:
        return "archive could not be read (input/output error)";
    case PPX_TAR_TOOLONG:
        return "archive and member name together are longer than a path may be";
    default:
        return "archive problem";
    }
}

typedef struct {
    int fd;
    uint64_t base, size, pos; /* pos: bytes of the range handed to libarchive */
    int io_error;
    uint8_t buf[64 * 1024];
} source;

static la_ssize_t src_read(struct archive *a, void *arg, const void **out)
{
    source *s = arg;
    uint64_t left = s->size - s->pos;
    size_t n = left < sizeof s->buf ? (size_t)left : sizeof s->buf;
    if (n == 0)
        return 0;
    ssize_t got;
    do
        got = pread(s->fd, s->buf, n, (off_t)(s->base + s->pos));
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        s->io_error = 1;
        archive_set_error(a, errno, "read error");
        return -1;
    }
    if (got == 0) {
        /* The file is shorter than it was (or than the outer header said):
         * libarchive sees the end and says truncated. */
        s->size = s->pos;
        return 0;
    }
    s->pos += (uint64_t)got;
    *out = s->buf;
    return got;
}

static la_int64_t src_skip(struct archive *a, void *arg, la_int64_t request)
{
    (void)a;
    source *s = arg;
    uint64_t left = s->size - s->pos;
    uint64_t n = request < 0 ? 0 : (uint64_t)request;
    if (n > left)
        n = left;
    s->pos += n;
    return (la_int64_t)n;
}

static int compressed_magic(const uint8_t *p, size_t n)
{
    static const struct {
        uint8_t len, magic[6];
    } m[] = {
        {2, {0x1f, 0x8b}},                     /* gzip */
        {2, {0x1f, 0x9d}},                     /* compress */
        {3, {'B', 'Z', 'h'}},                  /* bzip2 */
        {6, {0xfd, '7', 'z', 'X', 'Z', 0x00}}, /* xz */
        {4, {0x28, 0xb5, 0x2f, 0xfd}},         /* zstd */
        {4, {0x04, 0x22, 0x4d, 0x18}},         /* lz4 */
        {4, {'L', 'Z', 'I', 'P'}},             /* lzip */
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (n >= m[i].len && memcmp(p, m[i].magic, m[i].len) == 0)
            return 1;
    return 0;
}

/* A ustar or GNU header's magic ("ustar" at 257): the file meant to be a tar,
 * so a first header that cannot be read is damage, not another format. */
static int tar_magic(const uint8_t *p, ssize_t n)
{
    return n >= 262 && memcmp(p + 257, "ustar", 5) == 0;
}

/* Why libarchive stopped, from where: with less than a header left, the
 * archive was cut; before that, a header was not a header (a bad checksum,
 * a negative size), and when that is the first one, the file is a tar only
 * if it has ustar's magic. libarchive reads ahead of what it has consumed,
 * so the place is what it consumed, not what we handed it. */
static int why_stopped(struct archive *a, const source *s, int first, const uint8_t *head,
                       ssize_t got)
{
    int64_t used = archive_filter_bytes(a, 0);
    uint64_t left = used < 0 || (uint64_t)used > s->size ? 0 : s->size - (uint64_t)used;
    return s->io_error                      ? PPX_TAR_READ
           : first && !tar_magic(head, got) ? PPX_TAR_NOT_TAR
           : left < 512                     ? PPX_TAR_TRUNCATED
                                            : PPX_TAR_DAMAGED;
}

static int member_kind(struct archive_entry *e)
{
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        /* A hard link is a header without data; a sparse file's data is
         * not its bytes in order. Neither is read. */
        if (archive_entry_hardlink(e) || archive_entry_sparse_count(e) > 0)
            return PPX_MEMBER_OTHER;
        return PPX_MEMBER_FILE;
    case AE_IFDIR:
        return PPX_MEMBER_DIR;
    default:
        return PPX_MEMBER_OTHER;
    }
}

int ppx_tar_list(int fd, uint64_t base, uint64_t size, ppx_tar_cb cb, void *arg)
{
    if (size == 0)
        return 0; /* an empty file: an archive of nothing */
    uint8_t head[512];
    ssize_t got;
    do
        got = pread(fd, head, sizeof head, (off_t)base);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return PPX_TAR_READ;
    if (size < (uint64_t)got)
        got = (ssize_t)size;
    if (compressed_magic(head, (size_t)got))
        return PPX_TAR_COMPRESSED;

    source *s = malloc(sizeof *s);
    struct archive *a = s ? archive_read_new() : NULL;
    if (!a) {
        free(s);
        return PPX_TAR_READ;
    }
    *s = (source){.fd = fd, .base = base, .size = size};
    int rc = 0;
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_set_read_callback(a, src_read) != ARCHIVE_OK ||
        archive_read_set_skip_callback(a, src_skip) != ARCHIVE_OK ||
        archive_read_set_callback_data(a, s) != ARCHIVE_OK)
        rc = PPX_TAR_READ;
    else if (archive_read_open1(a) != ARCHIVE_OK)
        rc = why_stopped(a, s, 1, head, got); /* it bids on the first header */
    struct archive_entry *e;
    for (int n = 0; !rc; n++) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = why_stopped(a, s, n == 0, head, got);
            break;
        }
        int64_t at = archive_filter_bytes(a, 0);
        const char *name = archive_entry_pathname(e);
        ppx_tar_member m = {.name = name ? name : "",
                            .off = base + (uint64_t)(at < 0 ? 0 : at),
                            .size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
                                        ? (uint64_t)archive_entry_size(e)
                                        : 0,
                            .kind = member_kind(e)};
        if (m.kind != PPX_MEMBER_FILE)
            m.size = 0;
        m.past_end = m.kind == PPX_MEMBER_FILE && (m.size > size || m.off - base > size - m.size);
        rc = cb(arg, &m);
        if (!rc && m.past_end)
            rc = PPX_TAR_TRUNCATED;
    }
    archive_read_free(a);
    free(s);
    return rc;
}

int ppx_tar_read_member(int fd, uint64_t off, uint64_t size, uint64_t max_bytes, ppx_buf *b,
                        ppx_err *err)
{
    b->len = 0;
    if (max_bytes && size > max_bytes)
        return ppx_err_set(err, PPX_ELIMIT, PPX_STAGE_READ,
                           "member of %llu bytes, over the limit of %llu", (unsigned long long)size,
                           (unsigned long long)max_bytes);
    if (ppx_buf_reserve(b, size ? (size_t)size : 1))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_READ, "out of memory reading a member");
    while (b->len < size) {
        ssize_t got = pread(fd, b->data + b->len, (size_t)(size - b->len), (off_t)(off + b->len));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return ppx_err_set(err, PPX_EIO, PPX_STAGE_READ, "cannot read the archive: %s",
                               strerror(errno));
        if (got == 0)
            return ppx_err_set(
                err, PPX_ETRUNC, PPX_STAGE_READ,
                "the archive ends inside this member (changed since it was listed?)");
        b->len += (size_t)got;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

int ppx_is_tar_name(const char *name)
{
    return ends_with(name, ".tar");
}

int ppx_is_compressed_tar_name(const char *name)
{
    static const char *const ext[] = {".tar.gz", ".tgz",     ".tar.bz2", ".tbz2",  ".tar.xz",
                                      ".txz",    ".tar.zst", ".tar.lz4", ".tar.Z", ".tar.lz"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (ends_with(name, ext[i]))
            return 1;
    return 0;
}

size_t ppx_sample_key(const char *name, const char **ext)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strchr(base, '.');
    if (!dot) {
        *ext = name + strlen(name);
        return strlen(name);
    }
    *ext = dot + 1;
    return (size_t)(dot - name);
}

void ppx_arc_cache_init(ppx_arc_cache *c)
{
    c->fd = -1;
    memset(&c->ident, 0, sizeof c->ident);
    c->name[0] = '\0';
}

void ppx_arc_cache_close(ppx_arc_cache *c)
{
    if (c->fd >= 0)
        close(c->fd);
    ppx_arc_cache_init(c);
}

/* Opens the archive as the listing did and checks it is the listed file. */
static int arc_open(int root, ppx_dircache *dirs, const char *name, const ppx_arc_ident *want,
                    ppx_err *err)
{
    int fd = root >= 0 ? ppx_open_beneath(root, dirs, name, (int)want->follow, err)
                       : ppx_open_input_at(AT_FDCWD, name, (int)want->follow, err);
    if (fd < 0)
        return err->code == PPX_ENOENT || err->code == PPX_ELOOP
                   ? ppx_err_set(err, PPX_ECHANGED, PPX_STAGE_INPUT,
                                 "its archive was listed but is now %s: not read",
                                 err->code == PPX_ENOENT ? "gone" : "a symbolic link")
                   : fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot stat its archive: %s",
                           strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (want->dev_known && (uint64_t)st.st_dev != want->id.dev) ||
        (uint64_t)st.st_ino != want->id.ino) {
        close(fd);
        return ppx_err_set(err, PPX_ECHANGED, PPX_STAGE_INPUT,
                           "its archive is not the file that was listed (replaced after "
                           "listing): not read");
    }
    return fd;
}

int ppx_arc_read(ppx_arc_cache *c, int root, ppx_dircache *dirs, const char *name,
                 const ppx_arc_ident *want, uint64_t off, uint64_t size, uint64_t max_bytes,
                 ppx_buf *b, ppx_err *err)
{
    b->len = 0;
    if (c->fd < 0 || strcmp(c->name, name) != 0 || c->ident.id.dev != want->id.dev ||
        c->ident.id.ino != want->id.ino || c->ident.follow != want->follow ||
        c->ident.dev_known != want->dev_known) {
        ppx_arc_cache_close(c);
        if (strlen(name) >= sizeof c->name)
            return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "archive name too long");
        int fd = arc_open(root, dirs, name, want, err);
        if (fd < 0)
            return fd;
        c->fd = fd;
        c->ident = *want;
        snprintf(c->name, sizeof c->name, "%s", name);
    }
    return ppx_tar_read_member(c->fd, off, size, max_bytes, b, err);
}
