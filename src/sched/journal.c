#include "sched/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prepix/io.h"

int ppx_failures_add(ppx_failures *f, uint64_t index, int stage, int code, const char *msg)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        ppx_failure *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return PPX_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    ppx_failure *e = &f->v[f->n++];
    e->index = index;
    e->stage = stage;
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    return 0;
}

int ppx_failures_extend(ppx_failures *dst, const ppx_failures *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const ppx_failure *e = &src->v[i];
        int rc = ppx_failures_add(dst, e->index, e->stage, e->code, e->msg);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_failure(const void *a, const void *b)
{
    uint64_t x = ((const ppx_failure *)a)->index, y = ((const ppx_failure *)b)->index;
    return x < y ? -1 : x > y;
}

void ppx_failures_sort(ppx_failures *f)
{
    if (f->n)
        qsort(f->v, f->n, sizeof *f->v, cmp_failure);
}

void ppx_failures_destroy(ppx_failures *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

int ppx_failures_pack(const ppx_failures *f, ppx_buf *o)
{
    int rc = ppx_buf_put_le64(o, f->n);
    for (size_t i = 0; i < f->n && !rc; i++) {
        const ppx_failure *e = &f->v[i];
        size_t ml = strlen(e->msg);
        rc = ppx_buf_put_le64(o, e->index) || ppx_buf_put_le64(o, (uint64_t)(int64_t)e->stage) ||
             ppx_buf_put_le64(o, (uint64_t)(int64_t)e->code) || ppx_buf_put_le64(o, ml) ||
             ppx_buf_append(o, e->msg, ml);
    }
    return rc ? PPX_ENOMEM : 0;
}

int ppx_failures_unpack(const uint8_t *p, size_t n, ppx_failures *f, size_t *used)
{
    const uint8_t *q = p, *end = p + n;
    if (n < 8)
        return PPX_ECORRUPT;
    uint64_t count = ppx_get_le64(q);
    q += 8;
    for (uint64_t i = 0; i < count; i++) {
        if (end - q < 32)
            return PPX_ECORRUPT;
        uint64_t index = ppx_get_le64(q), ml = ppx_get_le64(q + 24);
        int stage = (int)(int64_t)ppx_get_le64(q + 8), code = (int)(int64_t)ppx_get_le64(q + 16);
        q += 32;
        if (ml >= PPX_ERR_MSG_MAX || (uint64_t)(end - q) < ml)
            return PPX_ECORRUPT;
        char msg[PPX_ERR_MSG_MAX];
        memcpy(msg, q, ml);
        msg[ml] = '\0';
        q += ml;
        if (ppx_failures_add(f, index, stage, code, msg))
            return PPX_ENOMEM;
    }
    if (used)
        *used = (size_t)(q - p);
    return 0;
}

void ppx_identity_make(ppx_run_identity *id, const char *pipeline, const char *format,
                       int quality, uint64_t seed, uint64_t max_pixels, uint64_t listing_hash,
                       uint64_t images, uint64_t chunk_size)
{
    snprintf(id->text, sizeof id->text,
             "version=1\npipeline=%s\nformat=%s\nquality=%d\nseed=%llu\nmax_pixels=%llu\n"
             "listing=%016llx\nimages=%llu\nchunk_size=%llu\n",
             pipeline, format, quality, (unsigned long long)seed,
             (unsigned long long)max_pixels, (unsigned long long)listing_hash,
             (unsigned long long)images, (unsigned long long)chunk_size);
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

uint64_t ppx_identity_chunk_size(const ppx_run_identity *id)
{
    char v[64];
    return ident_get(id->text, "chunk_size", v, sizeof v) ? strtoull(v, NULL, 10) : 0;
}

int ppx_identity_diff(const ppx_run_identity *a, const ppx_run_identity *b, char *out,
                      size_t cap)
{
    static const char *const keys[] = {"version", "pipeline", "format",  "quality",
                                       "seed",    "max_pixels", "listing", "images"};
    static const char *const names[] = {"journal version", "pipeline",   "output format",
                                        "quality",         "seed",       "--max-pixels",
                                        "input listing",   "input listing size"};
    out[0] = '\0';
    int diff = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char va[4096], vb[4096];
        ident_get(a->text, keys[i], va, sizeof va);
        ident_get(b->text, keys[i], vb, sizeof vb);
        if (strcmp(va, vb) != 0) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s (journal \"%s\", now \"%s\")", diff ? "; " : "",
                     names[i], va, vb);
            diff = 1;
        }
    }
    return diff;
}

static void journal_dir(char *out, size_t cap, const char *outdir)
{
    ppx_path_join(out, cap, outdir, ".prepix");
}

int ppx_journal_read_identity(const char *outdir, ppx_run_identity *id, ppx_err *err)
{
    char dir[4096], path[4200];
    journal_dir(dir, sizeof dir, outdir);
    ppx_path_join(path, sizeof path, dir, "run");
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "cannot read %s: %s", path,
                           strerror(errno));
    }
    size_t n = fread(id->text, 1, sizeof id->text - 1, f);
    id->text[n] = '\0';
    fclose(f);
    return 1;
}

int ppx_journal_write_identity(const char *outdir, const ppx_run_identity *id, ppx_err *err)
{
    char dir[4096], path[4200];
    journal_dir(dir, sizeof dir, outdir);
    int rc = ppx_mkdirs(dir, err);
    if (rc)
        return rc;
    ppx_path_join(path, sizeof path, dir, "run");
    rc = ppx_file_write_atomic(path, id->text, strlen(id->text), err);
    if (rc && err)
        err->stage = PPX_STAGE_JOB;
    return rc;
}

#define REC_MAGIC 0x4a585050u /* "PPXJ" */

/* Record: magic u64, body length u64, body, fnv(body) u64.
 * Body: chunk u64, count u64, stats, failures. */
static int parse_file(const char *path, ppx_resume_state *rs)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    ppx_buf b;
    ppx_buf_init(&b);
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (ppx_buf_append(&b, tmp, n)) {
            fclose(f);
            ppx_buf_destroy(&b);
            return PPX_ENOMEM;
        }
    fclose(f);
    const uint8_t *q = b.data, *end = b.data + b.len;
    while (end - q >= 24) {
        if (ppx_get_le64(q) != REC_MAGIC)
            break;
        uint64_t len = ppx_get_le64(q + 8);
        if (len > (uint64_t)(end - q) - 24 || len < 16)
            break; /* cut short by a kill: the chunk is redone */
        const uint8_t *body = q + 16;
        if (ppx_fnv1a(PPX_FNV1A_INIT, body, len) != ppx_get_le64(body + len))
            break;
        uint64_t chunk = ppx_get_le64(body), count = ppx_get_le64(body + 8);
        ppx_stats st;
        ppx_failures fl = {0};
        size_t used1, used2;
        if (ppx_stats_deserialize(body + 16, len - 16, &st, &used1) ||
            ppx_failures_unpack(body + 16 + used1, len - 16 - used1, &fl, &used2) ||
            chunk >= rs->n_chunks) {
            ppx_failures_destroy(&fl);
            break;
        }
        if (rs->done[chunk]) {
            rs->duplicates++;
        } else {
            rs->done[chunk] = 1;
            rs->chunks++;
            rs->images += count;
            ppx_stats_merge(&rs->stats, &st);
            ppx_failures_extend(&rs->failures, &fl);
        }
        ppx_failures_destroy(&fl);
        q = body + len + 8;
    }
    ppx_buf_destroy(&b);
    return 0;
}

int ppx_journal_load(const char *outdir, uint64_t n_chunks, ppx_resume_state *rs, ppx_err *err)
{
    memset(rs, 0, sizeof *rs);
    ppx_stats_init(&rs->stats);
    rs->n_chunks = n_chunks;
    rs->done = calloc(n_chunks ? n_chunks : 1, 1);
    rs->next_attempt = 1;
    if (!rs->done)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    char dir[4096];
    journal_dir(dir, sizeof dir, outdir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    /* Read the files in a fixed order, so the kept copy of any duplicate is
     * always the same. */
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int attempt, rank;
        if (sscanf(e->d_name, "journal-%d-%d.bin", &attempt, &rank) != 2)
            continue;
        if (attempt >= rs->next_attempt)
            rs->next_attempt = attempt + 1;
        char **nv = realloc(names, (nn + 1) * sizeof *nv);
        if (!nv)
            break;
        names = nv;
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < nn; i++) /* insertion sort: few files */
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        char path[4400];
        ppx_path_join(path, sizeof path, dir, names[i] ? names[i] : "");
        if (!rc && names[i])
            rc = parse_file(path, rs);
        free(names[i]);
    }
    free(names);
    if (rc)
        return ppx_err_set(err, rc, PPX_STAGE_JOB, "cannot read the journal in %s", dir);
    return 0;
}

void ppx_resume_state_destroy(ppx_resume_state *rs)
{
    free(rs->done);
    ppx_failures_destroy(&rs->failures);
    memset(rs, 0, sizeof *rs);
}

int ppx_journal_open(ppx_journal *j, const char *outdir, int attempt, int rank, ppx_err *err)
{
    char dir[4096], path[4200], name[64];
    ppx_buf_init(&j->rec);
    j->fd = -1;
    journal_dir(dir, sizeof dir, outdir);
    int rc = ppx_mkdirs(dir, err);
    if (rc)
        return rc;
    snprintf(name, sizeof name, "journal-%d-%d.bin", attempt, rank);
    ppx_path_join(path, sizeof path, dir, name);
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot open journal %s: %s", path,
                           strerror(errno));
    return 0;
}

int ppx_journal_append(ppx_journal *j, uint64_t chunk, uint64_t count, const ppx_stats *s,
                       const ppx_failures *f, ppx_err *err)
{
    ppx_buf *r = &j->rec;
    r->len = 0;
    int rc = ppx_buf_put_le64(r, REC_MAGIC) || ppx_buf_put_le64(r, 0) || ppx_buf_put_le64(r, chunk) || ppx_buf_put_le64(r, count) ||
             ppx_stats_serialize(s, r) || ppx_failures_pack(f, r);
    if (rc)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    uint64_t len = r->len - 16;
    for (int i = 0; i < 8; i++)
        r->data[8 + i] = (uint8_t)(len >> (8 * i));
    if (ppx_buf_put_le64(r, ppx_fnv1a(PPX_FNV1A_INIT, r->data + 16, len)))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    /* One write: O_APPEND keeps records whole even if a kill cuts the file. */
    ssize_t w = write(j->fd, r->data, r->len);
    if (w != (ssize_t)r->len || fdatasync(j->fd) != 0)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_JOB, "cannot append to the journal: %s",
                           w < 0 ? strerror(errno) : "short write");
    return 0;
}

void ppx_journal_close(ppx_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    ppx_buf_destroy(&j->rec);
}
