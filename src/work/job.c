#include "work/job.h"

#include "prepix/clock.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prepix/ops.h"

_Static_assert(PPX_SPAN_PARTS == PPX_ROLES_MAX, "a task carries a companion member per role");

int ppx_job_ctx_init(ppx_job_ctx *c)
{
    ppx_dircache_init(&c->in_dirs);
    ppx_dircache_init(&c->out_dirs);
    ppx_arc_cache_init(&c->arc);
    ppx_buf_init(&c->in);
    ppx_buf_init(&c->out);
    ppx_image_init(&c->img);
    ppx_image_init(&c->conv[0]);
    ppx_image_init(&c->conv[1]);
    c->fp = NULL;
    ppx_comp_ctx_init(&c->comp);
    if (!(c->geo = calloc(1, sizeof *c->geo)))
        return PPX_ENOMEM;
    return ppx_pipeline_ctx_new(&c->pctx);
}

void ppx_job_ctx_destroy(ppx_job_ctx *c)
{
    ppx_dircache_destroy(&c->in_dirs);
    ppx_dircache_destroy(&c->out_dirs);
    ppx_arc_cache_close(&c->arc);
    ppx_buf_destroy(&c->in);
    ppx_buf_destroy(&c->out);
    ppx_image_destroy(&c->img);
    ppx_image_destroy(&c->conv[0]);
    ppx_image_destroy(&c->conv[1]);
    ppx_pipeline_ctx_free(&c->pctx);
    ppx_fp_ctx_free(&c->fp);
    ppx_comp_ctx_destroy(&c->comp);
    free(c->geo);
    c->geo = NULL;
}

void ppx_job_ctx_trim(ppx_job_ctx *c, size_t keep)
{
    if (c->in.cap > keep)
        ppx_buf_destroy(&c->in);
    if (c->out.cap > keep)
        ppx_buf_destroy(&c->out);
    ppx_image *imgs[] = {&c->img, &c->conv[0], &c->conv[1]};
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++)
        if (imgs[i]->cap > keep)
            ppx_image_destroy(imgs[i]);
    ppx_pipeline_ctx_trim(c->pctx, keep);
    ppx_fp_ctx_trim(c->fp, keep);
    ppx_comp_ctx_trim(&c->comp, keep);
}

static int ext_names(const char *ext, ppx_format f)
{
    switch (f) {
    case PPX_FMT_JPEG:
        return strcasecmp(ext, "jpg") == 0 || strcasecmp(ext, "jpeg") == 0;
    case PPX_FMT_TIFF:
        return strcasecmp(ext, "tif") == 0 || strcasecmp(ext, "tiff") == 0;
    case PPX_FMT_PNG:
        return strcasecmp(ext, "png") == 0;
    case PPX_FMT_WEBP:
        return strcasecmp(ext, "webp") == 0;
    default:
        return 0;
    }
}

int ppx_output_name(char *out, size_t cap, const char *key, ppx_format fmt, ppx_err *err)
{
    /* A list may hold absolute paths: their output lands under OUTDIR too. */
    while (key[0] == '/')
        key++;
    /* "." and ".." of the key itself are resolved first (a list line
     * "a/../b.jpg" names b.jpg), so that every mapping below works on plain
     * parts and the result is checked as it will be used: a mapping can
     * never make a part that the check did not see. */
    char res[PPX_PATH_MAX];
    if (snprintf(res, sizeof res, "%s", key) >= (int)sizeof res)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "output name too long");
    int rc = ppx_key_resolve(res, err);
    if (rc)
        return rc;
    /* An archive's members go to a folder named by its stem: a folder part
     * "x.tar" (ARCHIVE/MEMBER keys) is "x". */
    char unarc[PPX_PATH_MAX];
    size_t n_un = 0;
    for (const char *p = res; *p && n_un < sizeof unarc - 1;) {
        const char *end = strchr(p, '/');
        if (!end)
            end = p + strlen(p);
        size_t len = (size_t)(end - p);
        if (*end == '/' && len > 4 && strncasecmp(end - 4, ".tar", 4) == 0)
            len -= 4;
        if (len >= sizeof unarc - 1 - n_un)
            len = sizeof unarc - 1 - n_un;
        memcpy(unarc + n_un, p, len);
        n_un += len;
        if (*end == '/' && n_un < sizeof unarc - 1)
            unarc[n_un++] = '/';
        p = *end ? end + 1 : end;
    }
    unarc[n_un] = '\0';
    key = unarc;
    /* A page or chip: FILE#pN@X,Y is named as FILE, its suffix put back
     * before the extension (a#p2@0,512.png). */
    ppx_subkey sk;
    char suffix[64] = ""; /* "#p4294967295@4294967295,4294967295" at most */
    if (ppx_subkey_parse(key, &sk)) {
        snprintf(suffix, sizeof suffix, "%s", key + sk.file_len);
        unarc[sk.file_len] = '\0';
    }
    const char *slash = strrchr(key, '/');
    const char *dot = strrchr(key, '.');
    int n;
    if (!dot || (slash && dot < slash))
        n = snprintf(out, cap, "%s%s", key, suffix);
    else if (fmt == PPX_FMT_UNKNOWN || ext_names(dot + 1, fmt))
        n = snprintf(out, cap, "%.*s%s%s", (int)(dot - key), key, suffix, dot);
    else
        n = snprintf(out, cap, "%.*s%s.%s", (int)(dot - key), key, suffix, ppx_format_ext(fmt));
    if (n < 0 || (size_t)n >= cap)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "output name too long");
    /* The final name, checked after the last mapping: "...tar/x.jpg" is
     * "../x.jpg" here and fails. OUTDIR/.prepix holds the journal. */
    if ((rc = ppx_key_check(out, err)) != 0)
        return rc;
    if (strncmp(out, ".prepix/", 8) == 0)
        return ppx_err_set(err, PPX_EUNSAFE, PPX_STAGE_INPUT,
                           "output name inside OUTDIR/.prepix, which holds the journal");
    return 0;
}

int ppx_split_root(const ppx_split_roots *sr, const char *key, size_t *skip)
{
    const char *slash = strchr(key, '/');
    size_t len = slash ? (size_t)(slash - key) : 0;
    for (int k = 0; k < sr->n && slash; k++)
        if (strncmp(sr->names[k], key, len) == 0 && sr->names[k][len] == '\0') {
            *skip = len + 1;
            return sr->fd[k];
        }
    return -1;
}

int ppx_input_read(int in_root, const ppx_split_roots *sr, ppx_dircache *dirs, ppx_arc_cache *arc,
                   const char *in_path, const ppx_span *span, const char *key, int follow,
                   uint64_t max_bytes, ppx_buf *b, ppx_file_id *id, ppx_err *err)
{
    ppx_span in_split;
    if (sr && sr->n) {
        size_t skip = 0;
        if ((in_root = ppx_split_root(sr, key, &skip)) < 0)
            return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "%s: in no split", key);
        key += skip;
        if (span && span->arc_len) {
            in_split = *span;
            in_split.arc_len -= (uint32_t)skip;
            span = &in_split;
        }
    }
    if (span && span->arc_len) {
        char name[PPX_PATH_MAX];
        if (in_root >= 0)
            snprintf(name, sizeof name, "%.*s", (int)span->arc_len, key);
        /* A member has no identity of its own; --copy-mode gives it its
         * archive's mode. */
        if (id)
            *id = (ppx_file_id){0, 0, span->arc.id.mode};
        return ppx_arc_read(arc, in_root, dirs, in_root >= 0 ? name : in_path, &span->arc,
                            span->off, span->size, max_bytes, b, err);
    }
    int rc;
    if (in_root >= 0) {
        rc = ppx_read_beneath(in_root, dirs, key, follow, max_bytes, b, id, err);
    } else {
        /* A list's line: a link is followed only as --follow-symlinks says,
         * as for a file met in a walk (and an archive named in a list). */
        b->len = 0;
        int fd = ppx_open_input_at(AT_FDCWD, in_path, follow, err);
        rc = fd < 0 ? fd : ppx_fd_read_all(fd, max_bytes, b, id, err);
    }
    /* core says what happened; the job, which follows links as the user
     * asked, names the option that would have followed this one. */
    if (rc == PPX_ELOOP && strcmp(err->msg, PPX_MSG_LINK_NOT_FOLLOWED) == 0)
        ppx_err_set(err, rc, err->stage, "%s (--follow-symlinks)", PPX_MSG_LINK_NOT_FOLLOWED);
    return rc;
}

#ifdef PPX_TEST_HOOKS
/* Test-only fault hook: PPX_TEST_FAULT="crash:NAME,hang:NAME,stop:NAME,writefail:NAME"
 * makes the worker crash (SIGSEGV), hang (after printing "prepix: test fault:
 * hanging on KEY" to stderr), stop before reading the image (after printing
 * "prepix: test fault: stopped on KEY", until the test, having changed the
 * input, writes a byte to the FIFO named by PPX_TEST_FIFO), or fail its
 * write (as if the disk were full) on the image whose key ends in NAME ("*"
 * matches every image).
 * "noop:*" makes workers skip all work, to measure scheduling alone ("hang" still
 * applies). Compiled in only with
 * -DPPX_TEST_HOOKS=ON (the default for development and CI builds; release
 * packages turn it off). */
static int fault(const char *what, const char *key)
{
    const char *spec = getenv("PPX_TEST_FAULT");
    if (!spec)
        return 0;
    size_t wl = strlen(what), kl = strlen(key);
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > wl + 1 && strncmp(p, what, wl) == 0 && p[wl] == ':') {
            size_t nl = len - wl - 1;
            if ((nl == 1 && p[wl + 1] == '*') ||
                (nl <= kl && strncmp(key + kl - nl, p + wl + 1, nl) == 0))
                return 1;
        }
        p += len + (end ? 1 : 0);
    }
    return 0;
}
#define FAULT(what, key) fault(what, key)
#else
#define FAULT(what, key) 0
#endif

/* The test faults that act before an image is read ("hang", "noop",
 * "crash", "stop"); 1: skip the image's work (noop). */
static int test_faults(const char *key)
{
    /* hang before noop, so that a test of scheduling alone ("noop:*") can
     * still hold one image ("hang:KEY") as its event. */
    if (FAULT("hang", key)) {
        /* Announce it, so tests can act once a worker is stuck instead of guessing. */
        dprintf(STDERR_FILENO, "prepix: test fault: hanging on %s\n", key);
        for (;;)
            pause();
    }
    if (FAULT("noop", key))
        return 1;
    if (FAULT("crash", key)) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches it */
        raise(SIGSEGV);
    }

    if (FAULT("stop", key)) {
        /* Blocks until the test, having changed the input, opens the FIFO
         * PPX_TEST_FIFO for writing and writes a byte. */
        dprintf(STDERR_FILENO, "prepix: test fault: stopped on %s\n", key);
        const char *fifo = getenv("PPX_TEST_FIFO");
        int fd = fifo ? open(fifo, O_RDONLY | O_CLOEXEC) : -1; /* ppx-lint: not a path of the run */
        char byte;
        if (fd >= 0 && read(fd, &byte, 1) < 0)
            byte = 0;
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

/* npy shards, photos (8/16-bit gray, RGB, alpha): brings the image to 8
 * bits and the shard's channels, as if the pipeline ended in
 * `to-8bit | rgb` (`| grayscale` for one channel), in c->conv. */
static int npy_photo(const ppx_job_config *cfg, ppx_job_ctx *c, ppx_image **imgp, ppx_err *err)
{
    ppx_image *img = *imgp;
    int rc = 0, k = 0; /* conversions alternate between conv[0] and conv[1] */
    if (img->type == PPX_U16) {
        rc = ppx_op_to_8bit(img, &c->conv[k], &cfg->limits, err);
        img = &c->conv[k];
        k ^= 1;
    }
    if (!rc && img->channels != 3 && !(cfg->npy.c == 1 && img->channels == 1)) {
        rc = ppx_op_rgb(img, &c->conv[k], &cfg->limits, err);
        img = &c->conv[k];
        k ^= 1;
    }
    if (!rc && img->channels != cfg->npy.c) {
        rc = ppx_op_grayscale(img, &c->conv[k], &cfg->limits, err);
        img = &c->conv[k];
    }
    if (!rc)
        *imgp = img;
    return rc;
}

/* npy shards: photos converted by npy_photo; rasters (other sample types,
 * plain bands) keep their type and bands. Measures the image, applies a
 * trailing normalize and leaves the rows back to back in c->out, their
 * layout (ppx_npy_layout) in r->out_format. */
static int npy_payload(const ppx_job_config *cfg, ppx_job_ctx *c, ppx_image *img, ppx_result *r,
                       ppx_err *err)
{
    const int photo = (img->type == PPX_U8 || img->type == PPX_U16) && ppx_image_is_color(img);
    int rc = photo ? npy_photo(cfg, c, &img, err) : 0;
    if (rc)
        return rc;
    if (img->width != cfg->npy.w || img->height != cfg->npy.h)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE,
                           "the pipeline made it %ux%u; this npy shard holds %ux%u images",
                           img->width, img->height, cfg->npy.w, cfg->npy.h);
    if (photo)
        ppx_img_stats_compute(img, &r->st);
    else
        ppx_raster_img_stats_compute(img, &r->st.raster);
    if (ppx_pipeline_has_normalize(cfg->pipeline)) {
        ppx_image *f;
        rc = ppx_pipeline_normalize(cfg->pipeline, c->pctx, img, &f, err);
        if (rc)
            return rc;
        img = f;
    }
    size_t row = (size_t)img->width * img->channels * ppx_sample_size(img->type);
    c->out.len = 0;
    if (ppx_buf_reserve(&c->out, row * img->height))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE, "out of memory");
    for (uint32_t y = 0; y < img->height; y++)
        memcpy(c->out.data + (size_t)y * row, ppx_image_row(img, y), row);
    c->out.len = row * img->height;
    r->out_format = ppx_npy_layout(img->type, img->channels);
    return 0;
}

/* Reads role k's companion member of the image's archive: its span with
 * the member's place, through the archive's listed identity as the image. */
typedef struct {
    const ppx_job_config *cfg;
    ppx_job_ctx *c;
    const char *in_path;
    const ppx_span *span;
    const char *key;
} part_reader;

static int read_part(void *arg, int k, ppx_buf *b, ppx_err *err)
{
    const part_reader *p = arg;
    ppx_span sp = *p->span;
    sp.off = p->span->part_off[k];
    sp.size = p->span->part_size[k];
    return ppx_input_read(p->cfg->in_root, &p->cfg->splits, &p->c->in_dirs, &p->c->arc, p->in_path,
                          &sp, p->key, p->cfg->follow_symlinks, p->cfg->limits.max_file_bytes, b,
                          NULL, err);
}

/* Writes the companions made for an image written as out_name, each to
 * ROLE/<out_name>.png (or .tiff) below OUTDIR. */
static int write_companions(const ppx_job_config *cfg, ppx_job_ctx *c, const char *out_name,
                            const ppx_write_opts *wo, ppx_result *r, ppx_err *err)
{
    for (int k = 0; k < cfg->comp.n; k++) {
        if (!c->comp.present[k])
            continue;
        char name[4096];
        int rc = ppx_companion_out_name(name, sizeof name, cfg->comp.spec[k].role, out_name,
                                        cfg->out_format, err);
        rc = rc ? rc
                : ppx_write_beneath(cfg->out_root, &c->comp.out_dirs[k], name, c->comp.out[k].data,
                                    c->comp.out[k].len, wo, err);
        if (rc)
            return rc;
        r->bytes_written += c->comp.out[k].len;
    }
    return 0;
}

/* ---- pages and chips ------------------------------------------------------ */

/* A part of a file, mapped rather than read: only the pages of the strips
 * or tiles a window touches become resident, so that a chip of a scene of
 * gigabytes costs the memory of a few tiles. */
typedef struct {
    int fd;
    const uint8_t *base;
    size_t len;
} mapped_input;

/* Opens and maps the file a page or chip key names (its first file_len
 * bytes), found as ppx_input_read finds a plain file. */
static int map_input(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                     const char *key, size_t file_len, mapped_input *m, ppx_file_id *id,
                     ppx_err *err)
{
    char fkey[4096];
    if (file_len >= sizeof fkey)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "input name too long");
    memcpy(fkey, key, file_len);
    fkey[file_len] = '\0';
    int root = cfg->in_root, fd;
    const char *rel = fkey;
    if (cfg->splits.n) {
        size_t skip = 0;
        if ((root = ppx_split_root(&cfg->splits, fkey, &skip)) < 0)
            return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "%s: in no split", fkey);
        rel += skip;
    }
    if (root >= 0) {
        fd = ppx_open_beneath(root, &c->in_dirs, rel, cfg->follow_symlinks, err);
    } else {
        /* A list's line: in_path is the key's path, the suffix at its end. */
        char path[4096];
        size_t cut = strlen(key) - file_len, pl = strlen(in_path);
        if (pl < cut || pl - cut >= sizeof path)
            return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "input name too long");
        memcpy(path, in_path, pl - cut);
        path[pl - cut] = '\0';
        fd = ppx_open_input_at(AT_FDCWD, path, cfg->follow_symlinks, err);
    }
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "%s: not a regular file", fkey);
    }
    *id = (ppx_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint32_t)st.st_mode};
    m->fd = fd;
    m->len = (size_t)st.st_size;
    m->base = NULL;
    if (m->len == 0)
        return 0; /* the decoder says what is wrong with an empty file */
    void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "%s: cannot map it", fkey);
    }
    m->base = p;
    return 0;
}

static void unmap_input(mapped_input *m)
{
    if (m->base)
        munmap((void *)(uintptr_t)m->base, m->len);
    if (m->fd >= 0)
        close(m->fd);
    m->base = NULL;
    m->fd = -1;
}

/* Whether every sample of img is v (exactly: a value the type cannot hold
 * makes no nodata chip). */
static int all_nodata(const ppx_image *img, double v)
{
    uint8_t one[4];
    if (ppx_sample_encode(img->type, v, 1, one))
        return 0;
    size_t ss = ppx_sample_size(img->type), n = (size_t)img->width * img->channels;
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *row = ppx_image_row(img, y);
        for (size_t i = 0; i < n; i++)
            if (memcmp(row + i * ss, one, ss) != 0)
                return 0;
    }
    return 1;
}

/* Decodes the page or chip key names into c->img. A file the listing
 * could not cut (a page bomb, too many chips, a broken directory) reaches
 * a worker by its plain key: the same expansion says why, as the one
 * failure of that file. */
static int decode_part(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                       const char *key, ppx_info *info, ppx_file_id *id, ppx_result *r, ppx_geom *g,
                       ppx_err *err)
{
    ppx_subkey sk;
    int is_part = ppx_subkey_parse(key, &sk);
    if (!is_part)
        sk.file_len = strlen(key);
    mapped_input m = {-1, NULL, 0};
    int rc = map_input(cfg, c, in_path, key, sk.file_len, &m, id, err);
    if (rc)
        return rc;
    if (!is_part) {
        rc = ppx_sub_expand(m.base, m.len, &cfg->limits, &cfg->sub, NULL, NULL, err);
        if (rc == 0 && ppx_codec_detect(m.base, m.len) == PPX_FMT_TIFF)
            rc = ppx_err_set(err, PPX_ECHANGED, PPX_STAGE_INPUT,
                             "its pages or chips changed after the listing");
        else if (rc == 0)
            rc = ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_INPUT,
                             "pages and chips are cut from TIFF files only");
        goto out;
    }
    ppx_decode_opts dopt = {.limits = &cfg->limits,
                            .page = sk.page,
                            .win_x = sk.x,
                            .win_y = sk.y,
                            .win_w = sk.has_chip ? cfg->sub.chip_w : 0,
                            .win_h = sk.has_chip ? cfg->sub.chip_h : 0,
                            .fill = cfg->sub.has_nodata ? cfg->sub.nodata : 0,
                            .geo = c->geo};
    rc = ppx_codec_decode(m.base, m.len, &dopt, &c->img, info, err);
    if (rc == 0) {
        ppx_geom_identity(g, info->width, info->height);
        if (sk.has_chip)
            ppx_geom_then_crop(g, sk.x, sk.y, c->img.width, c->img.height);
    }
    if (rc == 0 && sk.has_chip && cfg->sub.has_nodata && all_nodata(&c->img, cfg->sub.nodata))
        r->nodata = 1;
out:
    unmap_input(&m);
    return rc;
}

/* Whether key is read as a page or chip: a page or chip key, or, with
 * --pages or --chips, a plain file the listing would have cut (a TIFF; any
 * image with --chips). Archive members and bytes sent by rank 0 are whole
 * images (docs/pipeline.md). */
static int is_part(const ppx_job_config *cfg, const ppx_buf *input, const ppx_span *span,
                   const char *key)
{
    if (!ppx_sub_active(&cfg->sub) || input || (span && span->arc_len))
        return 0;
    ppx_subkey sk;
    const char *dot = strrchr(key, '.');
    return ppx_subkey_parse(key, &sk) || cfg->sub.chip_w > 0 ||
           (dot && (strcasecmp(dot, ".tif") == 0 || strcasecmp(dot, ".tiff") == 0));
}

/* The exact and perceptual hashes of the decoded input into r->fp. */
static int fingerprint(ppx_job_ctx *c, const ppx_info *info, ppx_result *r, ppx_err *err)
{
    if (!c->fp && ppx_fp_ctx_new(&c->fp))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_DECODE, "out of memory");
    return ppx_fingerprint_compute(c->fp, &c->img, info->scale_denom, &r->fp, err);
}

/* Encodes the pipeline's result into c->out in the output format (the
 * input's for -f same), georeferencing moved with the pixels for a TIFF. */
static int encode_output(const ppx_job_config *cfg, ppx_job_ctx *c, ppx_image *res,
                         const ppx_info *info, ppx_geom *geom, ppx_result *r, ppx_err *err)
{
    ppx_encode_opts eo = cfg->enc;
    eo.format = cfg->out_format != PPX_FMT_UNKNOWN ? cfg->out_format : info->format;
    /* -f same (and tar members) keeps a lossless WebP lossless. */
    if (cfg->out_format == PPX_FMT_UNKNOWN && info->format == PPX_FMT_WEBP)
        eo.webp_lossless = info->lossless;
    if (eo.format == PPX_FMT_TIFF && c->geo->present) {
        /* The georeferencing moves with the pixels: chip, then ops. */
        ppx_geom pg;
        double inv[6];
        ppx_pipeline_last_geom(c->pctx, &pg);
        ppx_geom_then(geom, &pg);
        if (ppx_geom_inverse(geom, inv) == 0) {
            ppx_geotiff_remap(c->geo, geom->m, inv);
            eo.geo = c->geo;
        }
    }
    int rc = ppx_codec_encode(res, &eo, &c->out, err);
    if (rc == 0)
        r->out_format = (int32_t)eo.format;
    return rc;
}

/* Shrink-on-load: the pipeline says how much of the decoded size it needs. */
static void decode_hint(void *arg, const ppx_info *info, uint32_t *min_w, uint32_t *min_h)
{
    ppx_pipeline_decode_hint(arg, info->width, info->height, info->orientation, min_w, min_h);
}

/* Reads (unless input holds its bytes) and decodes a whole file or
 * archive member into c->img. */
static int decode_file(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                       const ppx_span *span, const char *key, const ppx_buf *input, ppx_info *info,
                       ppx_file_id *in_id, ppx_result *r, ppx_geom *geom, ppx_err *err)
{
    const ppx_buf *in = input;
    if (!in) {
        int rc =
            ppx_input_read(cfg->in_root, &cfg->splits, &c->in_dirs, &c->arc, in_path, span, key,
                           cfg->follow_symlinks, cfg->limits.max_file_bytes, &c->in, in_id, err);
        if (rc)
            return rc;
        in = &c->in;
        r->in_mode = in_id->mode;
    }
    r->bytes_read = in->len;
    ppx_decode_opts dopt = {.limits = &cfg->limits,
                            .size_hint = decode_hint,
                            .size_hint_arg = (void *)cfg->pipeline,
                            .geo = c->geo};
    int rc = ppx_codec_decode(in->data, in->len, &dopt, &c->img, info, err);
    if (rc)
        return rc;
    /* Stored -> decoded. libjpeg's DCT-scaled decode maps each 8x8 block onto
     * 8/d pixels (a scale of 1/d, the last partial block included), libwebp's
     * scaler the whole frame onto the decoded size. */
    double sx = 1, sy = 1;
    if (info->scale_denom > 1 && info->format == PPX_FMT_JPEG)
        sx = sy = 1.0 / info->scale_denom;
    else if (info->scale_denom > 1 && info->width && info->height)
        sx = (double)c->img.width / info->width, sy = (double)c->img.height / info->height;
    ppx_geom_identity(geom, info->width, info->height);
    ppx_geom_then_scale(geom, sx, sy, 0, 0, c->img.width, c->img.height);
    return 0;
}

/* The image's companions (--with), made with its geometry into c->comp. */
static int make_companions(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                           const ppx_span *span, const char *key, const ppx_info *info,
                           ppx_err *err)
{
    ppx_comp_image im = {.key = key,
                         .width = info->width,
                         .height = info->height,
                         .orientation = info->orientation,
                         .seed = cfg->seed,
                         .out_format = cfg->out_format,
                         .follow_symlinks = cfg->follow_symlinks,
                         .max_file_bytes = cfg->limits.max_file_bytes,
                         .part_mask = span ? span->part_mask : 0,
                         .read_part = read_part,
                         .npy_w = cfg->npy.c ? cfg->npy.w : 0,
                         .npy_h = cfg->npy.c ? cfg->npy.h : 0};
    part_reader pr = {cfg, c, in_path, span, key};
    im.read_arg = &pr;
    return ppx_companions_make(&cfg->comp, &c->comp, cfg->pipeline, c->pctx, &cfg->limits, &im,
                               err);
}

/* The encoded image (and its companions) written as the file out_name, or,
 * for shards (out_name NULL), left in c->out for the rank: the companions
 * after the image's bytes, in role order. */
static int store_output(const ppx_job_config *cfg, ppx_job_ctx *c, const char *key,
                        const char *out_name, const ppx_file_id *in_id, ppx_result *r, ppx_err *err)
{
    if (out_name) {
        if (FAULT("writefail", key))
            return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_WRITE,
                               "cannot write %s: No space left on device (test fault)", out_name);
        ppx_write_opts wo = {.mode = cfg->copy_mode && in_id->mode ? in_id->mode & 0777 : 0644,
                             .keep = in_id->ino ? in_id : NULL};
        int rc = ppx_write_beneath(cfg->out_root, &c->out_dirs, out_name, c->out.data, c->out.len,
                                   &wo, err);
        return rc ? rc : write_companions(cfg, c, out_name, &wo, r, err);
    }
    /* Shards: the companions follow the image's bytes, in role order. */
    for (int k = 0; k < cfg->comp.n; k++) {
        if (!c->comp.present[k])
            continue;
        if (ppx_buf_append(&c->out, c->comp.out[k].data, c->comp.out[k].len))
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE, "out of memory");
        r->part_len[k] = c->comp.out[k].len;
    }
    r->out_len = c->out.len;
    return 0;
}

void ppx_job_run(const ppx_job_config *cfg, ppx_job_ctx *c, const char *in_path,
                 const ppx_span *span, const char *key, const char *out_name, const ppx_buf *input,
                 ppx_result *r)
{
    double t0 = ppx_now_s();
    uint64_t id = r->id, tag = r->tag;
    memset(r, 0, sizeof *r);
    r->id = id;
    r->tag = tag;
    ppx_err *err = &r->err;
    ppx_err_clear(err);
    int rc = 0;

    if (test_faults(key))
        goto out;

    ppx_file_id in_id = {0, 0, 0};
    ppx_info info;
    ppx_geom geom; /* stored page -> decoded image: a chip's crop, else the identity */
    c->geo->present = 0;
    if (is_part(cfg, input, span, key)) {
        /* A page or chip (or a TIFF the listing could not cut). */
        rc = decode_part(cfg, c, in_path, key, &info, &in_id, r, &geom, err);
        if (rc)
            goto out;
        r->bytes_read = info.unit_bytes; /* what was read of the file: the tiles under it */
        r->in_mode = in_id.mode;
        if (r->nodata)
            goto out; /* all nodata: skipped, counted, nothing written */
    } else if ((rc = decode_file(cfg, c, in_path, span, key, input, &info, &in_id, r, &geom,
                                 err)) != 0) {
        goto out;
    }
    r->in_w = info.width;
    r->in_h = info.height;
    /* Fingerprints of the image as stored (before the pipeline), from the
     * pixels just decoded: shrunk on load when the pipeline allowed it. */
    if (cfg->fingerprint && (rc = fingerprint(c, &info, r, err)) != 0)
        goto out;

    ppx_image *res;
    rc = ppx_pipeline_run(cfg->pipeline, c->pctx, &c->img, cfg->seed, key, &res, err);
    if (rc)
        goto out;
    /* The geometry record: stored (page) -> decoded (a chip, a DCT scale),
     * then the ops. */
    ppx_geom ops_geom;
    r->fp.geom = geom;
    ppx_pipeline_last_geom(c->pctx, &ops_geom);
    ppx_geom_then(&r->fp.geom, &ops_geom);
    if (cfg->npy.c && cfg->write_outputs) {
        rc = npy_payload(cfg, c, res, r, err);
        if (rc)
            goto out;
        r->st.clipped = ppx_pipeline_clipped(c->pctx);
        r->st.narrowed = info.narrowed;
    } else {
        if ((res->type == PPX_U8 || res->type == PPX_U16) && ppx_image_is_color(res))
            ppx_img_stats_compute(res, &r->st);
        else
            ppx_raster_img_stats_compute(res, &r->st.raster);
        r->st.clipped = ppx_pipeline_clipped(c->pctx);
        r->st.narrowed = info.narrowed;
        if (!cfg->write_outputs)
            goto out;
        rc = encode_output(cfg, c, res, &info, &geom, r, err);
        if (rc)
            goto out;
    }
    /* Before anything is written: a companion that fails fails its image. */
    if (cfg->comp.n && (rc = make_companions(cfg, c, in_path, span, key, &info, err)) != 0)
        goto out;
    if ((rc = store_output(cfg, c, key, out_name, &in_id, r, err)) != 0)
        goto out;
    r->bytes_written += c->out.len;
out:
    r->status = rc;
    if (rc && err->code == 0) /* a callee forgot its message: still say something */
        ppx_err_set(err, rc, PPX_STAGE_DECODE, "%s", ppx_strerror(rc));
    r->busy_s = ppx_now_s() - t0;
}
