/* Fuzz target for the resume journal's readers, which take files a disk can
 * damage (docs/failure-policy.md): ppx_journal_parse, and through it
 * ppx_stats_deserialize and ppx_failures_unpack, and the identity text of
 * .prepix/run (ppx_identity_chunk_size, ppx_identity_diff). Every input
 * goes to all of them. Properties checked beyond "no crash, no leak, no UB":
 *  - parsing fails only for lack of memory, and what it keeps is
 *    consistent: chunks in range and counted once, images within the
 *    listing, failures inside their chunks;
 *  - statistics and failure lists that parse serialise again and read back
 *    the same (the writer is exact for whatever the reader accepts);
 *  - identity diffs fit their buffer, whatever its size.
 *
 * A mutated record fails its FNV-1a checksum and would never reach the
 * body parsers, so each input is also parsed with its records' checksums
 * recomputed (as PNG fuzzers fix CRCs), and the statistics and failure
 * parsers also read the input directly.
 *
 * Built with clang -fsanitize=fuzzer under the fuzz preset (target
 * fuzz_journal); elsewhere standalone_main.c replays the files of
 * tests/fuzz/journal_corpus as ordinary tests (fuzz.journal.<file>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/stats.h"
#include "sched/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs add nothing the parsers have not seen in smaller ones. */
#define MAX_INPUT (1u << 20)

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_journal: %s\n", what);
    abort();
}

/* The geometry of the seeds: 10 images in chunks of 4 (3 chunks). */
static void parse_checked(const uint8_t *p, size_t n, uint64_t chunk_size)
{
    ppx_resume_state rs;
    uint64_t images = 10, n_chunks = 3;
    if (ppx_resume_state_init(&rs, n_chunks, chunk_size, images))
        goto out;
    int rc = ppx_journal_parse(p, n, &rs);
    if (rc && rc != PPX_ENOMEM)
        fail("ppx_journal_parse failed other than for memory");
    if (rc)
        goto out;
    uint64_t done = 0, expect = 0;
    for (uint64_t c = 0; c < n_chunks; c++) {
        done += rs.done[c];
        if (rs.done[c])
            expect += c == 2 ? 2 : 4;
    }
    if (done != rs.chunks)
        fail("chunks counted other than once");
    if (chunk_size && rs.images != expect)
        fail("images other than the chunks' sizes");
    if (chunk_size && rs.failures.n > rs.images)
        fail("more failures than images");
    for (size_t i = 0; chunk_size && i < rs.failures.n; i++) {
        uint64_t c = rs.failures.v[i].index / chunk_size;
        if (rs.failures.v[i].index >= images || !rs.done[c])
            fail("a failure outside the chunks read");
        if (rs.failures.v[i].code >= 0 || rs.failures.v[i].stage < 0 ||
            rs.failures.v[i].stage >= PPX_STAGE__COUNT)
            fail("a failure with a code or stage no run makes");
    }
out:
    ppx_resume_state_destroy(&rs);
}

/* A copy of p whose records (as far as their framing goes) carry the right
 * checksum, so that mutated bodies reach the record checks. */
static uint8_t *fix_checksums(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return NULL;
    memcpy(c, p, n);
    size_t q = 0;
    while (n - q >= 24) {
        uint64_t len = ppx_get_le64(c + q + 8);
        if (len > n - q - 24)
            break;
        uint64_t h = ppx_fnv1a(PPX_FNV1A_INIT, c + q + 16, (size_t)len);
        for (int i = 0; i < 8; i++)
            c[q + 16 + len + (size_t)i] = (uint8_t)(h >> (8 * i));
        q += 24 + (size_t)len;
    }
    return c;
}

/* What the statistics reader accepts, the writer writes exactly. */
static void stats_roundtrip(const uint8_t *p, size_t n)
{
    ppx_stats s, back;
    size_t used;
    if (ppx_stats_deserialize(p, n, &s, &used))
        return;
    if (used > n)
        fail("stats: used past the end");
    ppx_buf b;
    ppx_buf_init(&b);
    if (ppx_stats_serialize(&s, &b) == 0) {
        if (ppx_stats_deserialize(b.data, b.len, &back, &used) || used != b.len)
            fail("stats: own serialisation does not read back");
        if (!ppx_stats_equal(&s, &back))
            fail("stats: round trip not exact");
    }
    ppx_buf_destroy(&b);
}

static void failures_roundtrip(const uint8_t *p, size_t n)
{
    ppx_failures f = {0}, back = {0};
    size_t used;
    if (ppx_failures_unpack(p, n, &f, &used) == 0) {
        if (used > n)
            fail("failures: used past the end");
        ppx_buf b;
        ppx_buf_init(&b);
        if (ppx_failures_pack(&f, &b) == 0) {
            if (ppx_failures_unpack(b.data, b.len, &back, &used) || used != b.len || back.n != f.n)
                fail("failures: own packing does not read back");
            for (size_t i = 0; i < f.n; i++)
                if (back.v[i].index != f.v[i].index || back.v[i].stage != f.v[i].stage ||
                    back.v[i].code != f.v[i].code || strcmp(back.v[i].msg, f.v[i].msg) != 0)
                    fail("failures: round trip not exact");
        }
        ppx_buf_destroy(&b);
    } else if (f.n != 0) {
        fail("failures: entries kept from a refused list");
    }
    ppx_failures_destroy(&f);
    ppx_failures_destroy(&back);
}

static void identity(const uint8_t *p, size_t n)
{
    static ppx_run_identity a, b;
    size_t len = n < sizeof a.text - 1 ? n : sizeof a.text - 1;
    memcpy(a.text, p, len);
    a.text[len] = '\0';
    uint64_t cs = ppx_identity_chunk_size(&a);
    if (cs) {
        char line[40];
        snprintf(line, sizeof line, "chunk_size=%llu", (unsigned long long)cs);
        if (!strstr(a.text, line))
            fail("identity: a chunk size the text does not hold");
    }
    ppx_identity_make(&b, "resize 64", "png", 90, 0, 100, 0xabc, 10, 4);
    static const size_t caps[] = {0, 1, 2, 17, 200, 8192};
    static char out[8192 + 16];
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        memset(out, 'Z', sizeof out);
        if ((unsigned)ppx_identity_diff(&a, &b, out, caps[i]) > 1)
            fail("identity: diff is not 0 or 1");
        if (caps[i] && memchr(out, '\0', caps[i]) == NULL)
            fail("identity: diff text not terminated within its buffer");
        if (out[caps[i]] != 'Z')
            fail("identity: diff wrote past its buffer");
    }
    if (ppx_identity_diff(&a, &a, out, sizeof out) != 0)
        fail("identity: differs from itself");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    parse_checked(data, size, 4);
    parse_checked(data, size, 0);
    uint8_t *fixed = fix_checksums(data, size);
    if (fixed) {
        parse_checked(fixed, size, 4);
        free(fixed);
    }
    stats_roundtrip(data, size);
    failures_roundtrip(data, size);
    /* A record's statistics start 32 bytes in (magic, length, chunk, count). */
    if (size > 32)
        stats_roundtrip(data + 32, size - 32);
    identity(data, size);
    return 0;
}
