/* Tar archives as input: listing their members by reading headers only, and
 * reading one member's bytes by offset.
 *
 * Only uncompressed tar is read (ustar, GNU and pax, through libarchive):
 * a member is then a fixed range of the archive's bytes, which any rank or
 * worker reads with one pread, and an archive inside an archive (ImageNet's
 * tar of class tars) is a range of its parent. A compressed archive has no
 * such ranges; it is refused with a reason (decompress it first). */
#ifndef PREPIX_ARCHIVE_H
#define PREPIX_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/fsafe.h"

/* Why an archive or a member of one cannot be used. The text of each is
 * fixed (ppx_tar_problem_text), so that every rank words it the same. */
enum {
    PPX_TAR_OK = 0,
    PPX_TAR_TRUNCATED,  /* it ends inside a header or a member */
    PPX_TAR_DAMAGED,    /* a header is not a tar header (checksum, number fields) */
    PPX_TAR_COMPRESSED, /* gzip, bzip2, xz, zstd, ...: no member has a fixed place */
    PPX_TAR_NOT_TAR,    /* named .tar, but not an archive at all */
    PPX_TAR_UNSAFE,     /* a member named with ".." or a leading "/" */
    PPX_TAR_TOO_DEEP,   /* an archive inside an archive inside an archive */
    PPX_TAR_BAD_CLS,    /* the sample's .cls member is not a decimal integer */
    PPX_TAR_READ,       /* the archive could not be read (I/O error) */
    PPX_TAR_TOOLONG,    /* ARCHIVE/MEMBER is longer than a key may be */
    PPX_TAR_NPROBLEMS
};
const char *ppx_tar_problem_text(int problem);

/* What a member is, as the lister reports it. */
enum {
    PPX_MEMBER_FILE = 1, /* a regular file: its bytes are [off, off + size) */
    PPX_MEMBER_DIR,      /* a folder entry (no data) */
    PPX_MEMBER_OTHER     /* a link, device, FIFO or sparse file: never read */
};

typedef struct {
    const char *name; /* as stored (pax and GNU long names applied) */
    uint64_t off;     /* its data's offset in the file (the outer archive's file) */
    uint64_t size;
    int kind;     /* PPX_MEMBER_* */
    int past_end; /* its data would end past the archive's range: the last member reported */
} ppx_tar_member;

/* Called for each member in archive order; non-zero stops the listing and
 * is returned. */
typedef int (*ppx_tar_cb)(void *arg, const ppx_tar_member *m);

/* Lists the tar archive that is the size bytes at offset base of fd (an
 * archive inside an archive is such a range of its parent's file). Reads
 * headers only, seeking over member data. Returns 0 at the archive's end,
 * what cb returned, or a PPX_TAR_* problem (> 0) at the point where the
 * archive stops being readable: the members before it have been reported.
 * A member whose data would end past the range is reported with past_end
 * set (so the caller can name it), and the listing stops there with
 * PPX_TAR_TRUNCATED. A header that cannot be read is PPX_TAR_TRUNCATED when
 * less than a header's bytes were left, PPX_TAR_NOT_TAR in an archive whose
 * first header is neither a tar header nor ustar's, PPX_TAR_DAMAGED
 * otherwise. Memory is bounded
 * whatever the archive holds: one header at a time (libarchive's). */
PPX_MUST_USE int ppx_tar_list(int fd, uint64_t base, uint64_t size, ppx_tar_cb cb, void *arg);

/* Reads the member [off, off + size) of the archive open as fd into b
 * (replacing its contents). A member over max_bytes fails with PPX_ELIMIT,
 * a file shorter than the member with PPX_ETRUNC. Stage READ. */
PPX_MUST_USE int ppx_tar_read_member(int fd, uint64_t off, uint64_t size, uint64_t max_bytes,
                                     ppx_buf *b, ppx_err *err);

/* What the listing saw of an archive file. Every read after listing opens
 * the archive again as the listing did (through a link only if the listing
 * followed one) and must find this file: a regular file with the same inode
 * and, where the device number means the same (dev_known: the listing's own
 * host; a network file system's device number differs from client to
 * client), the same device. Anything else (a file renamed over it, a link
 * to another file, a FIFO) is PPX_ECHANGED and nothing of it is read. */
typedef struct {
    ppx_file_id id; /* dev, ino, st_mode as the listing's fstat saw them */
    uint32_t follow;
    uint32_t dev_known;
} ppx_arc_ident;

/* The archive a reader last opened, kept for its next member: reading an
 * archive's images costs one open, not one per image. */
typedef struct {
    int fd; /* -1: none */
    ppx_arc_ident ident;
    char name[PPX_PATH_MAX];
} ppx_arc_cache;

void ppx_arc_cache_init(ppx_arc_cache *c);
void ppx_arc_cache_close(ppx_arc_cache *c);

/* Reads the member [off, off + size) of the archive `name` into b: name is
 * opened below root (a key: never through a linked folder), or as a path
 * when root is -1, the archive itself through a link only with
 * want->follow, and checked against want before any byte is read. Errors at
 * stage INPUT (opening: PPX_ECHANGED when it is not the listed file) or
 * READ, as ppx_tar_read_member. */
PPX_MUST_USE int ppx_arc_read(ppx_arc_cache *c, int root, ppx_dircache *dirs, const char *name,
                              const ppx_arc_ident *want, uint64_t off, uint64_t size,
                              uint64_t max_bytes, ppx_buf *b, ppx_err *err);

/* Whether a file name names a tar archive (".tar", any case), and whether it
 * names a compressed one (.tar.gz, .tgz, .tar.bz2, .tar.xz, .tar.zst, ...),
 * which is refused. */
PPX_MUST_USE int ppx_is_tar_name(const char *name);
PPX_MUST_USE int ppx_is_compressed_tar_name(const char *name);

/* WebDataset's sample key of a member name: the folder and the base name up
 * to its first dot. Returns the key's length; *ext points after that dot
 * ("" when there is none). */
size_t ppx_sample_key(const char *name, const char **ext);

#endif
