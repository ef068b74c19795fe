/* src/core/fsafe.c on the error paths a working system seldom takes: each
 * case makes one system call fail (tests/syscall_fault.h) and checks that the
 * failure is reported as such, never taken for success or for a result read
 * from memory that the failed call did not fill. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "prepix/buf.h"
#include "prepix/fsafe.h"
#include "syscall_fault.h"

/* Each case's folder: made before its child runs, removed after. */
static char dir[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs fn in a child, with a fresh folder below /tmp in dir. */
static int in_child(int (*fn)(void))
{
    snprintf(dir, sizeof dir, "/tmp/ppx-unit-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    int rc = ppx_test_forked(fn);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static int open_root(void)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* fstat fails on .prepix: the error says so (EIO), and names no owner: the
 * struct the call did not fill is never read. */
static int private_dir_stat_fails_child(void)
{
    int root = open_root();
    CHECK(root >= 0);
    ppx_test_fault f[3];
    int n = 0;
#ifdef __NR_fstat
    f[n++] = (ppx_test_fault){__NR_fstat, -1, 0, EIO};
#endif
#ifdef __NR_newfstatat
    f[n++] = (ppx_test_fault){__NR_newfstatat, -1, 0, EIO};
#endif
#ifdef __NR_statx
    f[n++] = (ppx_test_fault){__NR_statx, -1, 0, EIO};
#endif
    if (ppx_test_fail_syscalls(f, n) != 0)
        return PPX_SKIP;
    ppx_err e;
    ppx_err_clear(&e);
    int fd = ppx_private_dir_open(root, ".prepix", &e);
    CHECK_EQ_INT(fd, PPX_EIO);
    CHECK(strstr(e.msg, "cannot stat .prepix") != NULL);
    CHECK(strstr(e.msg, "owned by") == NULL);
    return 0;
}

static int private_dir_stat_fails(void)
{
    return in_child(private_dir_stat_fails_child);
}

/* An existing .prepix of ours, mode 0755: it must become 0700, and when the
 * fchmod fails the folder is refused, not used as it is. */
static int private_dir_chmod_fails_child(void)
{
    char sub[80];
    int root = open_root();
    CHECK(root >= 0);
    snprintf(sub, sizeof sub, "%s/.prepix", dir);
    CHECK(mkdir(sub, 0755) == 0 && chmod(sub, 0755) == 0);
    ppx_test_fault f[] = {{__NR_fchmod, -1, 0, EPERM}};
    if (ppx_test_fail_syscalls(f, 1) != 0)
        return PPX_SKIP;
    ppx_err e;
    ppx_err_clear(&e);
    int fd = ppx_private_dir_open(root, ".prepix", &e);
    CHECK_EQ_INT(fd, PPX_EIO);
    CHECK(strstr(e.msg, ".prepix") != NULL && strstr(e.msg, "0700") != NULL);
    CHECK(strstr(e.msg, strerror(EPERM)) != NULL);
    return 0;
}

static int private_dir_chmod_fails(void)
{
    return in_child(private_dir_chmod_fails_child);
}

/* A regular file opened O_NONBLOCK (as every input is) is read only after
 * O_NONBLOCK is cleared; when F_SETFL fails, the read fails and says why. */
static int read_all_setfl_fails_child(void)
{
    char path[80];
    int root = open_root();
    CHECK(root >= 0);
    snprintf(path, sizeof path, "%s/a.jpg", dir);
    FILE *w = fopen(path, "w");
    CHECK(w != NULL);
    fputs("some bytes", w);
    CHECK(fclose(w) == 0);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(fd >= 0);
    ppx_test_fault f[] = {{__NR_fcntl, 1, F_SETFL, EIO}};
    if (ppx_test_fail_syscalls(f, 1) != 0)
        return PPX_SKIP;
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    ppx_err_clear(&e);
    CHECK_EQ_INT(ppx_fd_read_all(fd, 1 << 20, &b, NULL, &e), PPX_EIO);
    CHECK(strstr(e.msg, "O_NONBLOCK") != NULL);
    ppx_buf_destroy(&b);
    return 0;
}

static int read_all_setfl_fails(void)
{
    return in_child(read_all_setfl_fails_child);
}

/* The first look at an existing .prepix: checked on its descriptor before
 * anything in it is read, and nothing created or changed. */
static int private_dir_find_child(void)
{
    char sub[80], other[80];
    int root = open_root();
    CHECK(root >= 0);
    ppx_err e;
    ppx_err_clear(&e);
    snprintf(sub, sizeof sub, "%s/.prepix", dir);
    CHECK_EQ_INT(ppx_private_dir_find(root, ".prepix", &e), PPX_ENOENT);
    struct stat st;
    CHECK(stat(sub, &st) != 0); /* not created */
    CHECK(mkdir(sub, 0755) == 0 && chmod(sub, 0755) == 0);
    int fd = ppx_private_dir_find(root, ".prepix", &e);
    CHECK(fd >= 0);
    close(fd);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 07777) == 0755); /* not changed */
    CHECK(chmod(sub, 0777) == 0);
    CHECK_EQ_INT(ppx_private_dir_find(root, ".prepix", &e), PPX_EUNSAFE);
    CHECK(strstr(e.msg, "writable by group or others (mode 0777)") != NULL);
    CHECK(rmdir(sub) == 0);
    snprintf(other, sizeof other, "%s/real", dir);
    CHECK(mkdir(other, 0700) == 0 && symlink(other, sub) == 0);
    CHECK_EQ_INT(ppx_private_dir_find(root, ".prepix", &e), PPX_EUNSAFE);
    CHECK(strstr(e.msg, "real folder") != NULL);
    close(root);
    return 0;
}

static int private_dir_find(void)
{
    return in_child(private_dir_find_child);
}

PPX_TEST_MAIN(TEST(private_dir_stat_fails), TEST(private_dir_chmod_fails),
              TEST(read_all_setfl_fails), TEST(private_dir_find))
