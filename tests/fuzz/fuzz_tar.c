/* Fuzz target for the archive reader (include/prepix/archive.h, issue 14),
 * which takes tar files from anyone: each input is an archive, put in a
 * memfd and given to
 *  - ppx_tar_list directly, over the whole file and over the file less its
 *    first header (a range of a parent, as an inner tar is read);
 *  - ppx_listing_add_archive on an empty listing, so that the sample
 *    grouping, the sidecars, the .cls reader, names with ".." and tars
 *    inside the tar (one level, and the refusal below it) are covered too;
 *  - ppx_tar_read_member for every listed member (capped), touching each
 *    byte read.
 * Properties checked beyond "no crash, no leak, no UB":
 *  - the lister returns 0 or a PPX_TAR_* problem, never runs past its range
 *    without saying truncated, and reports members in increasing order of
 *    data offset (one header at a time, never backwards);
 *  - listing fails only for lack of memory; every entry that is not a
 *    failure has its bytes and its sidecars' bytes inside the file, its
 *    key under the archive's key, and no ".." or empty part after it.
 *
 * Built with clang -fsanitize=fuzzer under the fuzz preset (target
 * fuzz_tar; tests/fuzz/run_fuzz.sh SECONDS "" tar); elsewhere
 * standalone_main.c replays the files of tests/fuzz/tar_corpus as ordinary
 * tests (fuzz.tar.<file>). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prepix/archive.h"
#include "prepix/buf.h"
#include "sched/listing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs add nothing that smaller ones do not show: the lister holds
 * one header at a time. */
#define MAX_INPUT (1u << 20)
/* Members read back per input: enough to cover the reader, few enough to
 * keep an input of thousands of empty members fast. */
#define MAX_READS 64

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_tar: %s\n", what);
    abort();
}

static int memfd_of(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_tar", MFD_CLOEXEC);
    if (fd < 0)
        fail("memfd_create");
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            fail("write to the memfd");
        done += (size_t)n;
    }
    return fd;
}

typedef struct {
    uint64_t base, size, last_off;
    int past_end, n;
} list_check;

static int on_member(void *arg, const ppx_tar_member *m)
{
    list_check *c = arg;
    if (!m->name)
        fail("member without a name");
    if (m->kind != PPX_MEMBER_FILE && m->kind != PPX_MEMBER_DIR && m->kind != PPX_MEMBER_OTHER)
        fail("member of no kind");
    if (m->kind != PPX_MEMBER_FILE && m->size != 0)
        fail("a member that is not a file has a size");
    if (m->off < c->base || (c->n && m->off < c->last_off))
        fail("member data before its range or before the previous member's");
    if (m->kind == PPX_MEMBER_FILE && (m->size > c->size || m->off - c->base > c->size - m->size))
        c->past_end = 1;
    c->last_off = m->off;
    c->n++;
    return 0;
}

static void list_direct(const uint8_t *data, size_t size, uint64_t base)
{
    if (base > size)
        return;
    int fd = memfd_of(data, size);
    list_check c = {.base = base, .size = size - base};
    int rc = ppx_tar_list(fd, base, size - base, on_member, &c);
    if (rc < 0 || rc >= PPX_TAR_NPROBLEMS)
        fail("ppx_tar_list returned no PPX_TAR_* value");
    if (c.past_end && rc != PPX_TAR_TRUNCATED)
        fail("a member ran past the range and the lister did not say truncated");
    if (rc && !strcmp(ppx_tar_problem_text(rc), "archive problem"))
        fail("a problem without its text");
    close(fd);
}

/* ".." or an empty part: a name that is not a safe relative path. */
static int unsafe_rest(const char *p)
{
    if (!*p)
        return 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 1;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static void list_archive(const uint8_t *data, size_t size)
{
    static const char key[] = "in.tar";
    int fd = memfd_of(data, size);
    /* Kept open for reading members back (the listing closes its own). */
    int rfd = dup(fd);
    if (rfd < 0)
        fail("dup");
    ppx_listing l;
    memset(&l, 0, sizeof l);
    l.hash = PPX_FNV1A_INIT;
    ppx_err err = {0};
    int rc = ppx_listing_add_archive(&l, fd, key, 0, &err);
    if (rc && rc != PPX_ENOMEM)
        fail("listing an archive failed other than for memory");
    size_t w = 0, reads = 0;
    ppx_buf b;
    ppx_buf_init(&b);
    for (size_t i = 0; !rc && i < l.n; i++) {
        const char *k = ppx_listing_key(&l, i);
        if (strncmp(k, key, sizeof key - 1) != 0 || (k[sizeof key - 1] && k[sizeof key - 1] != '/'))
            fail("an entry's key is not under its archive's");
        int failed = w < l.n_walk_errors && l.walk_errors[w].index == i;
        if (failed) {
            int p = l.walk_errors[w].problem;
            if (p <= 0 || p >= PPX_TAR_NPROBLEMS)
                fail("a failure entry without its problem");
            w++;
            continue;
        }
        const ppx_member *m = ppx_listing_member(&l, i);
        if (!m)
            fail("an entry of an archive without its member");
        if (m->arc_len != sizeof key - 1 || m->inner_len > strlen(k))
            fail("member's archive lengths out of its key");
        if (unsafe_rest(k + sizeof key))
            fail("an entry's member name has '..' or an empty part");
        if (m->size > size || m->off > size - m->size)
            fail("an entry's bytes lie past the end of the file");
        if ((uint64_t)m->side_first + m->side_n > l.n_sides)
            fail("sidecars out of range");
        for (uint32_t s = m->side_first; s < m->side_first + m->side_n; s++) {
            const ppx_sidecar *sc = &l.sides[s];
            if (sc->size > size || sc->off > size - sc->size || sc->ext >= l.side_names.len)
                fail("a sidecar lies past the end of the file or of the names");
        }
        if (reads++ < MAX_READS) {
            ppx_err e2 = {0};
            if (ppx_tar_read_member(rfd, m->off, m->size, MAX_INPUT, &b, &e2) == 0) {
                if (b.len != m->size)
                    fail("a member read back at another size");
                unsigned sum = 0;
                for (size_t j = 0; j < b.len; j++)
                    sum += b.data[j];
                if (sum == 1u << 31)
                    fprintf(stderr, "-");
            }
        }
    }
    if (!rc && w != l.n_walk_errors)
        fail("failure entries out of the listing's order");
    ppx_buf_destroy(&b);
    ppx_listing_destroy(&l);
    close(rfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    list_direct(data, size, 0);
    list_direct(data, size, 512);
    list_archive(data, size);
    return 0;
}
