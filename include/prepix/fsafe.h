/* Every path prepix creates, writes or reads below a folder it was given,
 * resolved from that folder's descriptor and never through a symbolic link
 * that another user could have planted (docs/security.md).
 *
 * The threat model is the one tar and rsync face: another local user who can
 * write into INPUT, OUTDIR or /tmp, and races between checking a path and
 * using it. So paths are never resolved twice: a folder is opened once
 * (O_DIRECTORY | O_NOFOLLOW, component by component) and everything below it
 * is reached with openat/mkdirat/renameat from its descriptor; temporary
 * files are created O_EXCL | O_NOFOLLOW under unpredictable names. */
#ifndef PREPIX_FSAFE_H
#define PREPIX_FSAFE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prepix/buf.h"
#include "prepix/error.h"

/* The message of PPX_ELOOP for a link that was not to be followed: the
 * caller that knows which option would follow it may say so. */
#define PPX_MSG_LINK_NOT_FOLLOWED "a symbolic link, not followed"

/* The last folder a process resolved below a root, kept open: outputs and
 * inputs come in listing order, so consecutive files share their folder and
 * resolving it costs nothing after the first. Caller-owned; one per process
 * (a forked worker has its own copy: call ppx_dircache_init in the child). */
typedef struct {
    int root; /* the descriptor the cached folder was resolved from */
    int fd;   /* -1: empty */
    char rel[PPX_PATH_MAX];
} ppx_dircache;

void ppx_dircache_init(ppx_dircache *c);
void ppx_dircache_destroy(ppx_dircache *c);

/* Normalises a relative or absolute key in place: "a//b" -> "a/b",
 * "./a/./b" -> "a/b", trailing slashes dropped. ".." is kept (see
 * ppx_key_check). So two spellings of one file get one key. */
void ppx_key_normalize(char *key);

/* Resolves "." and ".." in a relative name by its text, in place ("a/../b"
 * is "b"), for naming outputs: 0, or PPX_EUNSAFE when ".." climbs above the
 * top (the name would lie outside its root). */
PPX_MUST_USE int ppx_key_resolve(char *rel, ppx_err *err);

/* 1 if name is one of ppx_write_beneath's temporary names
 * (".ppx-PPPPPPPP-RRRRRRRR.tmp": the writer's pid, 32 random bits). */
PPX_MUST_USE int ppx_is_temp_name(const char *name);

/* Removes, in folder dirfd, the temporary files process pid left (a worker
 * killed between writing and renaming). Returns how many. */
PPX_MUST_USE int ppx_remove_temps_of(int dirfd, uint32_t pid);

/* Removes the temporary files a killed run left below root (folders never
 * entered through links). Returns how many. */
uint64_t ppx_sweep_temps(int root);

/* Checks that a relative name stays below its root by its text: not empty,
 * not absolute, no "." or ".." component, no empty component, no component
 * longer than NAME_MAX. 0, PPX_EUNSAFE or PPX_ENAMETOOLONG, with a message
 * at stage INPUT. */
PPX_MUST_USE int ppx_key_check(const char *rel, ppx_err *err);

/* Opens folder rel below root (rel "" or NULL: root itself, dup'ed), never
 * following a symbolic link on the way (O_DIRECTORY | O_NOFOLLOW per
 * component). create: missing folders are made with mode 0755 (minus the
 * umask). Returns a descriptor owned by the caller, or a negative code
 * (stage WRITE when create, else INPUT): PPX_EUNSAFE for a link or a
 * non-folder on the way. */
PPX_MUST_USE int ppx_dir_open_beneath(int root, const char *rel, int create, ppx_err *err);

/* The identity of a file: so an output never replaces its own input. */
typedef struct {
    uint64_t dev, ino;
    uint32_t mode; /* st_mode of the input, for --copy-mode */
} ppx_file_id;

/* Whether the open fd is the file id names (device and inode): a path
 * reopened by its name after listing must still be what was listed. */
int ppx_fd_is(int fd, const ppx_file_id *id);

/* How ppx_write_beneath writes. */
typedef struct {
    uint32_t mode;           /* permission bits of the new file (0: 0644); the umask applies */
    int sync;                /* fdatasync the file before the rename, fsync its folder after */
    const ppx_file_id *keep; /* NULL, or a file the output must not replace */
} ppx_write_opts;

/* Writes data to rel below root atomically: a temporary file
 * ".ppx-PPPPPPPP-RRRRRRRR.tmp" in the same folder (fixed length, random, created
 * O_EXCL | O_NOFOLLOW with the final mode), then renameat(2) over the final
 * name, which replaces a link there instead of writing through it. Missing
 * folders are created; folders are never entered through links. cache may be
 * NULL. Errors at stage WRITE: PPX_EOUTPUT when the output location itself is
 * unusable (no space, read-only file system, quota, I/O error: fatal for a
 * run), PPX_EUNSAFE (a link or non-folder on the way, or the output would be
 * its own input), PPX_ENAMETOOLONG, PPX_EIO for other problems of this file. */
PPX_MUST_USE int ppx_write_beneath(int root, ppx_dircache *cache, const char *rel, const void *data,
                                   size_t len, const ppx_write_opts *opt, ppx_err *err);

/* A file being written as ppx_write_beneath writes one, in steps, for an
 * output made a piece at a time: ppx_atomic_open creates the temporary
 * file, ppx_atomic_write appends, ppx_atomic_commit renames it over the
 * final name (and ends f), ppx_atomic_abort removes it. Errors as
 * ppx_write_beneath's; after a failed open or commit there is nothing to
 * abort (aborting again is harmless). rel must outlive f. */
typedef struct {
    int dirfd, owned, fd;
    char tmp[27];             /* the temporary name (".ppx-PPPPPPPP-RRRRRRRR.tmp") */
    const char *base, *shown; /* the final name in dirfd; the name in messages */
    ppx_write_opts opt;
    uint64_t written; /* bytes so far */
} ppx_atomic;

PPX_MUST_USE int ppx_atomic_open(int root, ppx_dircache *cache, const char *rel,
                                 const ppx_write_opts *opt, ppx_atomic *f, ppx_err *err);
PPX_MUST_USE int ppx_atomic_write(ppx_atomic *f, const void *data, size_t len, ppx_err *err);
PPX_MUST_USE int ppx_atomic_commit(ppx_atomic *f, ppx_err *err);
void ppx_atomic_abort(ppx_atomic *f);

/* Opens file rel below root for reading: folders on the way are never links;
 * the file itself is opened O_NOFOLLOW unless follow_last. Non-blocking open
 * (a FIFO never hangs). Returns a descriptor or a negative code at stage
 * INPUT (PPX_ENOENT, PPX_ELOOP for a link not followed, PPX_EUNSAFE, PPX_EIO). */
PPX_MUST_USE int ppx_open_beneath(int root, ppx_dircache *cache, const char *rel, int follow_last,
                                  ppx_err *err);

/* Opens name in folder dfd (AT_FDCWD: a path) for reading, non-blocking (a
 * FIFO never hangs), the last component O_NOFOLLOW unless follow_last. The
 * descriptor, or a negative code at stage INPUT: PPX_ELOOP (a loop, or a
 * link not followed), PPX_ENOENT, PPX_ENAMETOOLONG, PPX_ESPECIAL (a socket),
 * PPX_EIO. */
PPX_MUST_USE int ppx_open_input_at(int dfd, const char *name, int follow_last, ppx_err *err);

/* Opens name in folder dfd (AT_FDCWD: a path) as the listing does: a folder
 * (dir) or a file to read, never blocking (a FIFO never hangs), the last
 * component through a link only with follow_last. The descriptor, or
 * -errno: the listing keeps the errno of what it could not open, so that
 * each such entry fails with its own reason. */
PPX_MUST_USE int ppx_list_open_at(int dfd, const char *name, int dir, int follow_last);

/* Opens a file of prepix's own in a private folder (OUTDIR/.prepix), never
 * through a link, mode 0600: PPX_PRIVATE_LOCK opens or creates it for
 * reading and writing; PPX_PRIVATE_NEW creates a new one (never an existing
 * file) for appending. The descriptor, or -errno. */
enum { PPX_PRIVATE_LOCK = 1, PPX_PRIVATE_NEW };
PPX_MUST_USE int ppx_private_file_open(int dirfd, const char *name, int how);

/* Reads a whole regular file from an open descriptor (taking ownership: it is
 * closed) into b, checking its type with fstat before any read: PPX_ESPECIAL
 * for FIFOs, devices, sockets, folders (nothing is read from them), PPX_ELIMIT
 * over max_bytes, PPX_EIO on read errors. id, if not NULL, gets the file's
 * identity. Stage INPUT or READ. */
PPX_MUST_USE int ppx_fd_read_all(int fd, uint64_t max_bytes, ppx_buf *b, ppx_file_id *id,
                                 ppx_err *err);

/* ppx_open_beneath + ppx_fd_read_all: what a worker does with an input. */
PPX_MUST_USE int ppx_read_beneath(int root, ppx_dircache *cache, const char *rel, int follow_last,
                                  uint64_t max_bytes, ppx_buf *b, ppx_file_id *id, ppx_err *err);

/* OUTDIR, opened once. */
typedef struct {
    int fd; /* -1: not open */
    uint64_t dev, ino;
    char path[PPX_PATH_MAX];
} ppx_outdir;

/* Opens (create: after making it and its missing parents) the folder path,
 * which the user named, so links in it are followed. Returns 0, or PPX_ENOENT
 * when it does not exist and !create, or PPX_EOUTPUT. */
PPX_MUST_USE int ppx_outdir_open(ppx_outdir *o, const char *path, int create, ppx_err *err);
void ppx_outdir_close(ppx_outdir *o);
/* Checks that path still names the folder opened (same device and inode): a
 * run whose OUTDIR was deleted or replaced must not report success.
 * 0 or PPX_EOUTPUT (stage JOB) naming it. */
PPX_MUST_USE int ppx_outdir_check(const ppx_outdir *o, ppx_err *err);

/* Opens (making it 0700 if missing) the folder name below root that must be
 * private to this user: a real folder (not a link) owned by the effective
 * user and writable by nobody else; its mode is then set to 0700. Returns a
 * descriptor or PPX_EUNSAFE (stage JOB) naming what is wrong. */
PPX_MUST_USE int ppx_private_dir_open(int root, const char *name, ppx_err *err);

/* Opens the folder name below root if it exists, with the checks of
 * ppx_private_dir_open (a real folder, owned by the effective user, writable
 * by no one else) made on the opened descriptor before anything in it is
 * read; creates and changes nothing. Returns a descriptor, PPX_ENOENT (no
 * message) when there is none, or PPX_EUNSAFE / PPX_EIO (stage JOB) naming
 * what is wrong. */
PPX_MUST_USE int ppx_private_dir_find(int root, const char *name, ppx_err *err);

/* Reads file name in folder dirfd: opened O_NOFOLLOW | O_NONBLOCK, required
 * regular, at most max_bytes. 0, 1 when absent (ENOENT), or a negative code
 * at stage JOB. */
PPX_MUST_USE int ppx_read_at(int dirfd, const char *name, uint64_t max_bytes, ppx_buf *b,
                             ppx_err *err);

/* Writes a report the user named: a missing or regular file is replaced
 * atomically through a temporary file created O_EXCL | O_NOFOLLOW next to it,
 * and so is a symbolic link, whoever owns it (the rename replaces it; it is
 * never followed). A FIFO, socket, device or folder at path is refused
 * (PPX_ESPECIAL, PPX_EIO for a folder) without being opened for writing.
 * The exceptions, by their exact names: "-" and "/dev/stdout" are this
 * process's stdout, "/dev/stderr" its stderr, and "/dev/null" is written
 * only after fstat on a descriptor opened O_NOFOLLOW | O_NONBLOCK shows the
 * null device. 0 or a negative code with a message naming path (stage JOB). */
PPX_MUST_USE int ppx_report_file_write(const char *path, const void *data, size_t len,
                                       ppx_err *err);

#endif
