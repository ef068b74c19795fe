#include "sched/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prepix/fsafe.h"
#include "prepix/io.h"
#include "prepix/json.h"

/* Version 2: records hold sparse statistics (format "PXS2"). Version 3:
 * records may end in the chunk's fingerprints. Version 1 and 2 journals are
 * still read (see ppx_identity_diff; their chunks have no fingerprints), and
 * a prepix that knows only an older version refuses a newer journal, naming
 * the journal version, instead of redoing its chunks. */
#define IDENTITY_VERSION "3"

void ppx_identity_make(ppx_run_identity *id, const char *pipeline, const char *format, int quality,
                       uint64_t seed, uint64_t max_pixels, uint64_t listing_hash, uint64_t images,
                       uint64_t chunk_size)
{
    snprintf(id->text, sizeof id->text,
             "version=" IDENTITY_VERSION "\npipeline=%s\nformat=%s\nquality=%d\nseed=%llu\n"
             "max_pixels=%llu\nlisting=%016llx\nimages=%llu\nchunk_size=%llu\n",
             pipeline, format, quality, (unsigned long long)seed, (unsigned long long)max_pixels,
             (unsigned long long)listing_hash, (unsigned long long)images,
             (unsigned long long)chunk_size);
}

void ppx_identity_add_coco(ppx_run_identity *id, uint64_t digest)
{
    size_t l = strlen(id->text);
    snprintf(id->text + l, sizeof id->text - l, "coco=%016llx\n", (unsigned long long)digest);
}

void ppx_identity_make_pending(ppx_run_identity *id, const char *pipeline, const char *format,
                               int quality, uint64_t seed, uint64_t max_pixels, uint64_t listed,
                               uint64_t listed_hash, uint64_t chunk_size)
{
    snprintf(id->text, sizeof id->text,
             "version=" IDENTITY_VERSION "\npipeline=%s\nformat=%s\nquality=%d\nseed=%llu\n"
             "max_pixels=%llu\nlisting=pending\nimages=pending\nchunk_size=%llu\n"
             "listed=%llu\nlisted_hash=%016llx\n",
             pipeline, format, quality, (unsigned long long)seed, (unsigned long long)max_pixels,
             (unsigned long long)chunk_size, (unsigned long long)listed,
             (unsigned long long)listed_hash);
}

/* Value of key in an identity text, into out. */
static int ident_get(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - kl - 1), p + kl + 1);
            return 1;
        }
        p += len + (nl ? 1 : 0);
    }
    out[0] = '\0';
    return 0;
}

/* A decimal number as ppx_identity_make writes it: digits only, no sign,
 * no leading zero, no overflow. 0 or -1. The identity file is input too: a
 * damaged "chunk_size=-1" must not become 2^64 - 1 through strtoull. */
static int parse_dec(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    if (!*s || (s[0] == '0' && s[1]))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}

static uint64_t ident_u64(const ppx_run_identity *id, const char *key)
{
    char v[64];
    uint64_t x;
    return ident_get(id->text, key, v, sizeof v) && parse_dec(v, &x) == 0 ? x : 0;
}

int ppx_identity_pending(const ppx_run_identity *id, uint64_t *listed, uint64_t *hash)
{
    char v[64];
    *listed = *hash = 0;
    if (!ident_get(id->text, "listing", v, sizeof v) || strcmp(v, "pending") != 0)
        return 0;
    *listed = ident_u64(id, "listed");
    char *end = NULL;
    if (ident_get(id->text, "listed_hash", v, sizeof v) && strlen(v) == 16) {
        unsigned long long h = strtoull(v, &end, 16);
        if (end && *end == '\0')
            *hash = h;
    }
    return 1;
}

uint64_t ppx_identity_chunk_size(const ppx_run_identity *id)
{
    return ident_u64(id, "chunk_size");
}

int ppx_identity_diff(const ppx_run_identity *a, const ppx_run_identity *b, char *out, size_t cap)
{
    /* chunk_size too: the caller takes it from the journal, so it differs
     * only when the journal's value is damaged (unreadable as a number),
     * and chunk ids under another chunk size would name other images. */
    static const char *const keys[] = {"version",    "pipeline", "format", "quality",    "seed",
                                       "max_pixels", "listing",  "images", "chunk_size", "coco"};
    static const char *const names[] = {"journal version",
                                        "pipeline",
                                        "output format",
                                        "quality",
                                        "seed",
                                        "--max-pixels",
                                        "input listing",
                                        "input listing size",
                                        "chunk size",
                                        "--coco annotation file (its contents)"};
    if (cap)
        out[0] = '\0';
    int diff = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char va[4096], vb[4096];
        ident_get(a->text, keys[i], va, sizeof va);
        ident_get(b->text, keys[i], vb, sizeof vb);
        /* Version 1 journals differ only in their records' format, which
         * ppx_journal_load still reads. */
        if (i == 0 && (strcmp(va, "1") == 0 || strcmp(va, "2") == 0) &&
            strcmp(vb, IDENTITY_VERSION) == 0)
            continue;
        if (strcmp(va, vb) != 0) {
            /* The journal's text is untrusted (and a pipeline may hold
             * anything): shown escaped, never obeyed by a terminal. */
            char ea[1024], eb[1024];
            ppx_escape_name(ea, sizeof ea, va);
            ppx_escape_name(eb, sizeof eb, vb);
            size_t l = cap ? strlen(out) : 0;
            if (l + 1 < cap)
                snprintf(out + l, cap - l, "%s%s (journal \"%s\", now \"%s\")", diff ? "; " : "",
                         names[i], ea, eb);
            diff = 1;
        }
    }
    return diff;
}

int ppx_journal_read_identity(int jdir, ppx_run_identity *id, ppx_err *err)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = ppx_read_at(jdir, "run", sizeof id->text - 1, &b, err);
    if (rc == 0) {
        memcpy(id->text, b.data, b.len);
        id->text[b.len] = '\0';
        if (memchr(b.data, '\0', b.len))
            rc = ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_JOB,
                             ".prepix/run holds a NUL byte: not written by prepix");
    }
    ppx_buf_destroy(&b);
    return rc == 1 ? 0 : rc == 0 ? 1 : rc;
}

int ppx_journal_write_identity(int jdir, const ppx_run_identity *id, ppx_err *err)
{
    ppx_write_opts o = {.mode = 0600, .sync = 1};
    int rc = ppx_write_beneath(jdir, NULL, "run", id->text, strlen(id->text), &o, err);
    if (rc && err)
        err->stage = PPX_STAGE_JOB;
    return rc;
}

/* Record: magic u64, body length u64, body, FNV-1a(body) u64.
 * Body: chunk u64, count u64, statistics (ppx_stats_serialize), failures
 * (ppx_failures_pack), and from version 3, when the run fingerprints its
 * images, the fingerprints of the chunk's images (ppx_prints_pack). The framing is the same in
 * every version (scripts and tests read chunk ids from it); what changed from version 1 is the
 * statistics, which carry their own format tag (sparse "PXS2", before it
 * fixed "PPXS1") and are read in either format, so version 1 journals
 * resume. A prepix that knows only version 1 refuses a version 2 journal
 * (.prepix/run says so), and even without that check would stop at the
 * first record whose statistics it cannot read: never a misread. */
#define REC_MAGIC 0x4a585050ULL /* "PPXJ" */
/* A journal file larger than this is not one prepix wrote (a record is
 * about a kilobyte per chunk): refused rather than read into memory. */
#define JOURNAL_MAX_BYTES (1ULL << 32)

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ppx_resume_state_init(ppx_resume_state *rs, uint64_t n_chunks, uint64_t chunk_size,
                          uint64_t images)
{
    memset(rs, 0, sizeof *rs);
    ppx_stats_init(&rs->stats);
    rs->next_attempt = 1;
    if (chunk_size &&
        (images + chunk_size - 1 < images || (images + chunk_size - 1) / chunk_size != n_chunks))
        return PPX_EINVAL;
    rs->n_chunks = n_chunks;
    rs->chunk_size = chunk_size;
    rs->n_images = images;
    /* One byte per chunk: n_chunks comes from the listing, not the journal. */
    if (n_chunks > SIZE_MAX || !(rs->done = calloc(n_chunks ? (size_t)n_chunks : 1, 1)))
        return PPX_ENOMEM;
    return 0;
}

/* Checks one record's body (its checksum matched) and folds it into rs:
 * 0, 1 when it is not a record this run can have written (ignored, its
 * chunk redone), or PPX_ENOMEM. */
static int apply_record(const uint8_t *body, uint64_t len, ppx_resume_state *rs)
{
    uint64_t chunk = ppx_get_le64(body), count = ppx_get_le64(body + 8), first = 0;
    if (chunk >= rs->n_chunks)
        return 1;
    if (rs->chunk_size) {
        /* The chunk's exact size: a record of fewer images must not mark
         * the others done. chunk < n_chunks keeps first below n_images. */
        first = chunk * rs->chunk_size;
        uint64_t left = rs->n_images - first;
        if (count != (left < rs->chunk_size ? left : rs->chunk_size))
            return 1;
    }
    ppx_stats st;
    ppx_failures fl = {0};
    ppx_prints pr = {0};
    size_t used1, used2, used3 = 0;
    int rc = 1;
    if (ppx_stats_deserialize(body + 16, (size_t)len - 16, &st, &used1))
        goto out;
    int frc = ppx_failures_unpack(body + 16 + used1, (size_t)len - 16 - used1, &fl, &used2);
    if (frc) {
        rc = frc == PPX_ENOMEM ? frc : 1;
        goto out;
    }
    /* Fingerprints follow when the run took them: one per image that was
     * done (not more than the chunk's images, each inside the chunk). */
    int printed = 16 + used1 + used2 < len;
    if (printed) {
        frc = ppx_prints_unpack(body + 16 + used1 + used2, (size_t)len - 16 - used1 - used2, &pr,
                                &used3);
        if (frc) {
            rc = frc == PPX_ENOMEM ? frc : 1;
            goto out;
        }
    }
    if (16 + used1 + used2 + used3 != len || fl.n > count || pr.n > count)
        goto out;
    for (size_t i = 0; i < fl.n; i++)
        if (rs->chunk_size && (fl.v[i].index < first || fl.v[i].index - first >= count))
            goto out;
    for (size_t i = 0; i < pr.n; i++)
        if (rs->chunk_size && (pr.v[i].index < first || pr.v[i].index - first >= count))
            goto out;
    if (rs->done[chunk]) {
        rs->duplicates++;
    } else {
        if (ppx_failures_extend(&rs->failures, &fl) || ppx_prints_extend(&rs->prints, &pr)) {
            rc = PPX_ENOMEM;
            goto out;
        }
        rs->unprinted_chunks += !printed;
        rs->done[chunk] = 1;
        rs->chunks++;
        rs->images += count;
        ppx_stats_merge(&rs->stats, &st);
    }
    rc = 0;
out:
    ppx_failures_destroy(&fl);
    ppx_prints_destroy(&pr);
    return rc;
}

/* Offset of the next place at or after q that starts like a record, or n. */
static size_t next_magic(const uint8_t *p, size_t n, size_t q)
{
    for (; q + 8 <= n; q++) {
        uint64_t m = ppx_get_le64(p + q);
        if (m == REC_MAGIC)
            return q;
    }
    return n;
}

int ppx_journal_parse(const uint8_t *p, size_t n, ppx_resume_state *rs)
{
    /* Checksumming every candidate of a file full of magic numbers would
     * take quadratic time; a whole file, even a damaged one, hashes each
     * record about once. Past this budget, the rest of the file is redone. */
    uint64_t budget = 4 * (uint64_t)n + 4096;
    size_t q = 0;
    while (n - q >= 24) {
        uint64_t magic = ppx_get_le64(p + q), len = ppx_get_le64(p + q + 8);
        if (magic == REC_MAGIC && len >= 16 && len <= n - q - 24) {
            if (len > budget) {
                rs->ignored++;
                break;
            }
            budget -= len;
            const uint8_t *body = p + q + 16;
            if (ppx_fnv1a(PPX_FNV1A_INIT, body, (size_t)len) == ppx_get_le64(body + len)) {
                int rc = apply_record(body, len, rs);
                if (rc < 0)
                    return rc;
                rs->ignored += (uint64_t)rc;
                q += 24 + (size_t)len;
                continue;
            }
        }
        /* Not a good record: damage, or the tail a kill cut short. The
         * records after damage are still good: go on at the next magic
         * number (a false start fails its checksum). A stretch at the end
         * that claims more bytes than the file holds is what a kill leaves
         * and is not counted as damage. */
        size_t next = next_magic(p, n, q + 1);
        if (next < n || (magic == REC_MAGIC && len <= n - q - 24))
            rs->ignored++;
        q = next;
    }
    return 0;
}

/* Reads one journal file into rs. */
static int parse_file(int jdir, const char *name, ppx_resume_state *rs, ppx_err *err)
{
    ppx_buf b;
    ppx_buf_init(&b);
    int rc = ppx_read_at(jdir, name, JOURNAL_MAX_BYTES, &b, err);
    if (rc == 0 && (rc = ppx_journal_parse(b.data, b.len, rs)) != 0)
        rc = ppx_err_set(err, rc, PPX_STAGE_JOB, "out of memory reading .prepix/%s", name);
    ppx_buf_destroy(&b);
    return rc == 1 ? 0 : rc; /* vanished: nothing to read */
}

/* "journal-A-R.bin" with 1 <= A <= PPX_JOURNAL_MAX_ATTEMPT and 0 <= R < 2^24,
 * digits only: names another program (or user) made are not ours, and an
 * attempt number near INT_MAX must never overflow into a planted name. */
static int journal_name(const char *name, int *attempt, int *rank)
{
    const char *p = name;
    if (strncmp(p, "journal-", 8) != 0)
        return 0;
    p += 8;
    long v[2];
    for (int k = 0; k < 2; k++) {
        if (*p < '0' || *p > '9')
            return 0;
        v[k] = 0;
        while (*p >= '0' && *p <= '9') {
            v[k] = v[k] * 10 + (*p++ - '0');
            if (v[k] > (k ? (1L << 24) : PPX_JOURNAL_MAX_ATTEMPT))
                return 0;
        }
        if (*p++ != (k ? '.' : '-'))
            return 0;
    }
    if (strcmp(p, "bin") != 0 || v[0] < 1)
        return 0;
    *attempt = (int)v[0];
    *rank = (int)v[1];
    return 1;
}

int ppx_journal_load(int jdir, uint64_t n_chunks, ppx_resume_state *rs, ppx_err *err)
{
    /* The chunk geometry comes from .prepix/run, which the caller compared
     * with this run (so its chunk size and image count are this run's):
     * each record's count must be its chunk's exact size. */
    ppx_run_identity id;
    int have = ppx_journal_read_identity(jdir, &id, err);
    if (have < 0) {
        memset(rs, 0, sizeof *rs);
        return have;
    }
    uint64_t chunk_size = have ? ppx_identity_chunk_size(&id) : 0;
    uint64_t images = have ? ident_u64(&id, "images") : 0;
    int rc = ppx_resume_state_init(rs, n_chunks, chunk_size, images);
    if (rc == PPX_EINVAL)
        return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_JOB,
                           ".prepix/run: %llu images in chunks of %llu are not %llu chunks: the "
                           "file is damaged; remove OUTDIR to start over",
                           (unsigned long long)images, (unsigned long long)chunk_size,
                           (unsigned long long)n_chunks);
    if (rc)
        return ppx_err_set(err, rc, PPX_STAGE_JOB, "out of memory");
    int dfd = fcntl(jdir, F_DUPFD_CLOEXEC, 0);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot list .prepix: %s", strerror(errno));
    }
    rewinddir(d);
    /* Read the files in a fixed order, so the kept copy of any duplicate is
     * always the same. */
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int attempt, rank;
        if (!journal_name(e->d_name, &attempt, &rank))
            continue;
        if (attempt >= rs->next_attempt)
            rs->next_attempt = attempt + 1;
        char **nv = realloc(names, (nn + 1) * sizeof *nv);
        if (!nv || !(nv[nn] = strdup(e->d_name))) {
            names = nv ? nv : names;
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
            break;
        }
        names = nv;
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof *names, cmp_names);
    for (size_t i = 0; i < nn; i++) {
        if (!rc)
            rc = parse_file(jdir, names[i], rs, err);
        free(names[i]);
    }
    free(names);
    if (!rc && rs->next_attempt > PPX_JOURNAL_MAX_ATTEMPT)
        rc = ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB,
                         "the journal holds %d attempts, the most there can be: start over "
                         "in a new OUTDIR",
                         PPX_JOURNAL_MAX_ATTEMPT);
    return rc;
}

void ppx_resume_state_destroy(ppx_resume_state *rs)
{
    free(rs->done);
    ppx_failures_destroy(&rs->failures);
    ppx_prints_destroy(&rs->prints);
    memset(rs, 0, sizeof *rs);
}

int ppx_journal_open(ppx_journal *j, int jdir, int attempt, int rank, ppx_err *err)
{
    char name[64];
    ppx_buf_init(&j->rec);
    j->fd = -1;
    snprintf(name, sizeof name, "journal-%d-%d.bin", attempt, rank);
    /* A new file, never an existing one or a link: each attempt and rank
     * writes its own, and the attempt number is one no file had. */
    j->fd = ppx_private_file_open(jdir, name, PPX_PRIVATE_NEW);
    if (j->fd < 0) {
        int e = -j->fd;
        j->fd = -1;
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot create journal .prepix/%s: %s",
                           name, strerror(e));
    }
    return 0;
}

int ppx_journal_add(ppx_journal *j, uint64_t chunk, uint64_t count, const ppx_stats *s,
                    const ppx_failures *f, const ppx_prints *p, ppx_err *err)
{
    ppx_buf *r = &j->rec;
    size_t start = r->len; /* records wait here, back to back, for the commit */
    int rc = ppx_put_u64(r, REC_MAGIC) || ppx_put_u64(r, 0) || ppx_put_u64(r, chunk) ||
             ppx_put_u64(r, count) || ppx_stats_serialize(s, r) || ppx_failures_pack(f, r) ||
             (p && ppx_prints_pack(p, r));
    if (rc) {
        r->len = start;
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
    uint64_t len = r->len - start - 16;
    for (int i = 0; i < 8; i++)
        r->data[start + 8 + i] = (uint8_t)(len >> (8 * i));
    if (ppx_put_u64(r, ppx_fnv1a(PPX_FNV1A_INIT, r->data + start + 16, len))) {
        r->len = start;
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
    return 0;
}

int ppx_journal_write_records(int fd, ppx_buf *r, ppx_err *err)
{
    if (r->len == 0)
        return 0;
    /* One write: O_APPEND keeps records whole even if a kill cuts the file
     * (a record cut short is ignored and its chunk redone). */
    size_t n = r->len;
    r->len = 0;
    ssize_t w = write(fd, r->data, n);
    if (w != (ssize_t)n)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot append to the journal: %s",
                           w < 0 ? strerror(errno) : "short write");
    if (fdatasync(fd) != 0)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot sync the journal: %s",
                           strerror(errno));
    return 0;
}

int ppx_journal_commit(ppx_journal *j, ppx_err *err)
{
    return ppx_journal_write_records(j->fd, &j->rec, err);
}

int ppx_journal_append(ppx_journal *j, uint64_t chunk, uint64_t count, const ppx_stats *s,
                       const ppx_failures *f, ppx_err *err)
{
    int rc = ppx_journal_add(j, chunk, count, s, f, NULL, err);
    return rc ? rc : ppx_journal_commit(j, err);
}

void ppx_journal_close(ppx_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    ppx_buf_destroy(&j->rec);
}
