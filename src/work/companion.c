/* Companions: the masks and maps of an image, given its geometry and
 * nothing else. Label maps keep their values (nearest neighbour, palettes
 * kept, padding with the role's fill), other maps take the image's filters;
 * neither gets colour ops or counts in the statistics. */
#include "work/companion.h"

#include <stdio.h>
#include <string.h>

#include "work/job.h"
#include "prepix/io.h"
#include "prepix/ops.h"
#include "prepix/archive.h"

void ppx_comp_ctx_init(ppx_comp_ctx *c)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < PPX_ROLES_MAX; k++) {
        ppx_dircache_init(&c->in_dirs[k]);
        ppx_dircache_init(&c->out_dirs[k]);
        ppx_buf_init(&c->out[k]);
    }
    ppx_buf_init(&c->in);
    ppx_image_init(&c->img);
}

void ppx_comp_ctx_destroy(ppx_comp_ctx *c)
{
    for (int k = 0; k < PPX_ROLES_MAX; k++) {
        ppx_dircache_destroy(&c->in_dirs[k]);
        ppx_dircache_destroy(&c->out_dirs[k]);
        ppx_buf_destroy(&c->out[k]);
    }
    ppx_buf_destroy(&c->in);
    ppx_image_destroy(&c->img);
}

void ppx_comp_ctx_trim(ppx_comp_ctx *c, size_t keep)
{
    for (int k = 0; k < PPX_ROLES_MAX; k++)
        if (c->out[k].cap > keep)
            ppx_buf_destroy(&c->out[k]);
    if (c->in.cap > keep)
        ppx_buf_destroy(&c->in);
    if (c->img.cap > keep)
        ppx_image_destroy(&c->img);
}

/* The extensions a companion may have, in the order they are tried: the
 * first file that exists is the companion. */
static const char *const comp_exts[] = {"png", "PNG", "tif",  "TIF",  "tiff", "TIFF",
                                        "jpg", "JPG", "jpeg", "JPEG", "webp", "WEBP"};

/* Reads role k's companion of key into c->in: 0, PPX_ENOENT when no file
 * with any of the extensions exists, or another code (err set). */
static int read_companion(const ppx_companions *cs, ppx_comp_ctx *c, int k,
                          const ppx_comp_image *im, char *found, size_t cap, ppx_err *err)
{
    const char *key = im->key;
    while (key[0] == '/')
        key++;
    const char *slash = strrchr(key, '/');
    const char *dot = strrchr(key, '.');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - key) : strlen(key);
    for (size_t i = 0; i < sizeof comp_exts / sizeof comp_exts[0]; i++) {
        if (snprintf(found, cap, "%.*s.%s", (int)stem, key, comp_exts[i]) >= (int)cap)
            return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT,
                               "companion %s: name too long", cs->spec[k].role);
        /* Read through the one descriptor opened here, beneath the role's
         * tree as inputs are: what is read is what was opened, never a
         * file swapped in between a check and the read. */
        int rc = ppx_read_beneath(cs->root[k], &c->in_dirs[k], found, im->follow_symlinks,
                                  im->max_file_bytes, &c->in, NULL, err);
        if (rc != PPX_ENOENT)
            return rc;
    }
    snprintf(found, cap, "%.*s.png", (int)stem, key);
    return PPX_ENOENT;
}

/* npy shards: a companion as rows of one channel, back to back. */
static int raw_rows(ppx_comp_ctx *c, int k, const ppx_image *img, const ppx_comp_image *im,
                    ppx_err *err)
{
    if (img->channels != 1 || (img->type != PPX_U8 && img->type != PPX_U16))
        return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE,
                           "an npy shard holds one channel of 8 or 16 bits a map, not %u "
                           "channels of %d bytes",
                           img->channels, (int)img->type);
    if (img->width != im->npy_w || img->height != im->npy_h)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_ENCODE,
                           "the pipeline made it %ux%u; the shard holds %ux%u", img->width,
                           img->height, im->npy_w, im->npy_h);
    size_t row = (size_t)img->width * img->type;
    ppx_buf *b = &c->out[k];
    b->len = 0;
    if (ppx_buf_reserve(b, row * img->height))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE, "out of memory");
    for (uint32_t y = 0; y < img->height; y++)
        memcpy(b->data + (size_t)y * row, ppx_image_row(img, y), row);
    b->len = row * img->height;
    return 0;
}

/* npy shards: a missing optional companion's row of the shard, all fill
 * (8-bit unless the fill needs 16). */
static int fill_rows(ppx_comp_ctx *c, int k, const ppx_comp_image *im, uint16_t fill, ppx_err *err)
{
    size_t n = (size_t)im->npy_w * im->npy_h, each = fill > 255 ? 2 : 1;
    ppx_buf *b = &c->out[k];
    b->len = 0;
    if (ppx_buf_reserve(b, n * each))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_ENCODE, "out of memory");
    if (each == 1)
        memset(b->data, fill, n);
    else
        for (size_t i = 0; i < n; i++)
            memcpy(b->data + 2 * i, &fill, 2);
    b->len = n * each;
    c->present[k] = 1;
    return 0;
}

static int make_one(const ppx_companions *cs, ppx_comp_ctx *c, int k, const ppx_pipeline *pl,
                    ppx_pipeline_ctx *pctx, const ppx_limits *limits, const ppx_comp_image *im,
                    ppx_err *err)
{
    const ppx_companion_spec *sp = &cs->spec[k];
    char rel[4096];
    c->present[k] = 0;
    c->out[k].len = 0;
    int rc;
    if (im->part_mask & (1u << k)) {
        snprintf(rel, sizeof rel, "member .%s.*", sp->role);
        rc = im->read_part(im->read_arg, k, &c->in, err);
    } else if (cs->root[k] >= 0) {
        rc = read_companion(cs, c, k, im, rel, sizeof rel, err);
    } else {
        rc = PPX_ENOENT;
    }
    if (rc == PPX_ENOENT) {
        if (sp->optional) {
            ppx_err_clear(err);
            return im->npy_w ? fill_rows(c, k, im, sp->fill, err) : 0;
        }
        if (cs->root[k] < 0)
            return ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT,
                               "companion %s: the sample has no member KEY.%s.<image "
                               "extension>; --with %s,optional allows that",
                               sp->role, sp->role, sp->role);
        return ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT,
                           "companion %s: no %s/%s (nor another image extension); "
                           "--with %s=...,optional allows that",
                           sp->role, sp->dir, rel, sp->role);
    }
    if (rc) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        return ppx_err_set(err, rc, err->stage, "companion %s (%s): %.200s", sp->role, rel, why);
    }
    ppx_decode_opts dopt = {.limits = limits,
                            .palette = sp->kind == PPX_COMP_LABEL ? &c->pal : NULL};
    ppx_info info;
    c->pal.n = 0;
    rc = ppx_codec_decode(c->in.data, c->in.len, &dopt, &c->img, &info, err);
    if (rc) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        return ppx_err_set(err, rc, PPX_STAGE_DECODE, "companion %s (%s): %.200s", sp->role, rel,
                           why);
    }
    if (c->img.width != im->width || c->img.height != im->height)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT,
                           "companion %s (%s) is %ux%u, its image %ux%u as stored%s", sp->role, rel,
                           c->img.width, c->img.height, im->width, im->height,
                           im->orientation >= 5 && im->orientation <= 8
                               ? " (EXIF orientation turns the image: the companion must be "
                                 "in its stored frame)"
                               : "");
    ppx_geometry_opts g = {
        .nearest = sp->kind == PPX_COMP_LABEL, .fill = sp->fill, .orientation = im->orientation};
    ppx_image *res;
    rc = ppx_pipeline_run_geometry(pl, pctx, &c->img, im->seed, im->key, &g, &res, err);
    if (rc)
        return rc;
    if (im->npy_w) {
        rc = raw_rows(c, k, res, im, err);
        if (rc) {
            char why[sizeof err->msg];
            memcpy(why, err->msg, sizeof why);
            return ppx_err_set(err, rc, PPX_STAGE_ENCODE, "companion %s: %.300s", sp->role, why);
        }
        c->present[k] = 1;
        return 0;
    }
    ppx_encode_opts eo;
    ppx_format f = im->out_format == PPX_FMT_TIFF ? PPX_FMT_TIFF : PPX_FMT_PNG;
    ppx_encode_opts_default(&eo, f);
    eo.palette = c->pal.n ? &c->pal : NULL;
    eo.png_rle = sp->kind == PPX_COMP_LABEL;
    rc = ppx_codec_encode(res, &eo, &c->out[k], err);
    if (rc)
        return rc;
    c->present[k] = 1;
    return 0;
}

int ppx_companions_make(const ppx_companions *cs, ppx_comp_ctx *c, const ppx_pipeline *pl,
                        ppx_pipeline_ctx *pctx, const ppx_limits *limits, const ppx_comp_image *im,
                        ppx_err *err)
{
    for (int k = 0; k < cs->n; k++) {
        int rc = make_one(cs, c, k, pl, pctx, limits, im, err);
        if (rc)
            return rc;
    }
    return 0;
}

int ppx_companion_out_name(char *out, size_t cap, const char *role, const char *out_name,
                           ppx_format fmt, ppx_err *err)
{
    char joined[4096];
    if (snprintf(joined, sizeof joined, "%s/%s", role, out_name) >= (int)sizeof joined)
        return ppx_err_set(err, PPX_ENAMETOOLONG, PPX_STAGE_INPUT, "output name too long");
    return ppx_output_name(out, cap, joined, fmt == PPX_FMT_TIFF ? PPX_FMT_TIFF : PPX_FMT_PNG, err);
}

/* ---- --with ROLE=DIR[,kind=label|image][,fill=V][,optional] ---- */

static int role_ok(const char *r, size_t n)
{
    if (n == 0 || n > PPX_ROLE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    /* KEY.ROLE.png must not read as an image of its own nor a class. */
    char probe[PPX_ROLE_MAX + 3];
    snprintf(probe, sizeof probe, "x.%.*s", (int)n, r);
    return !ppx_is_image_name(probe) && !(n == 3 && strncmp(r, "cls", 3) == 0) &&
           !ppx_is_tar_name(probe);
}

/* One option after DIR: 1 when it was one (and is set in *out), 0 when the
 * text is not an option (it belongs to DIR), a negative code when it is a
 * bad one. */
static int parse_opt(const char *o, size_t n, ppx_companion_spec *out, ppx_err *err)
{
    if (n == 8 && strncmp(o, "optional", 8) == 0) {
        out->optional = 1;
        return 1;
    }
    if (n > 5 && strncmp(o, "kind=", 5) == 0) {
        if (n == 10 && strncmp(o + 5, "label", 5) == 0)
            out->kind = PPX_COMP_LABEL;
        else if (n == 10 && strncmp(o + 5, "image", 5) == 0)
            out->kind = PPX_COMP_IMAGE;
        else
            return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB,
                               "--with: kind=%.*s; expected kind=label or kind=image", (int)(n - 5),
                               o + 5);
        return 1;
    }
    if (n > 5 && strncmp(o, "fill=", 5) == 0) {
        unsigned long v = 0;
        size_t i = 5;
        for (; i < n && o[i] >= '0' && o[i] <= '9' && v <= 65535; i++)
            v = v * 10 + (unsigned long)(o[i] - '0');
        if (i != n || v > 65535)
            return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB,
                               "--with: fill=%.*s; expected a whole number 0..65535", (int)(n - 5),
                               o + 5);
        out->fill = (uint16_t)v;
        return 1;
    }
    return 0;
}

int ppx_companion_parse(const char *arg, ppx_companion_spec *out, ppx_err *err)
{
    ppx_companion_spec s = {.kind = PPX_COMP_LABEL};
    /* ROLE alone (or ROLE,options): archive members KEY.ROLE.* only. */
    size_t rl = strcspn(arg, "=,");
    if (arg[rl] != '=' && role_ok(arg, rl)) {
        memcpy(s.role, arg, rl);
        s.role[rl] = '\0';
        for (const char *o = arg + rl; *o == ',';) {
            size_t n = strcspn(o + 1, ",");
            int rc = parse_opt(o + 1, n, &s, err);
            if (rc <= 0)
                return rc < 0 ? rc
                              : ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB,
                                            "--with %s: unknown option %.*s", arg, (int)n, o + 1);
            o += 1 + n;
        }
        *out = s;
        return 0;
    }
    const char *eq = strchr(arg, '=');
    if (!eq || !role_ok(arg, (size_t)(eq - arg)))
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB,
                           "--with %s: expected ROLE[=DIR][,kind=label|image][,fill=V][,optional] "
                           "with ROLE 1..%d letters, digits, '_' or '-' (not an image "
                           "extension, cls or tar)",
                           arg, PPX_ROLE_MAX);
    memcpy(s.role, arg, (size_t)(eq - arg));
    s.role[eq - arg] = '\0';
    /* Options are read from the end, so that a folder name may hold commas. */
    size_t dir_len = strlen(eq + 1);
    const char *dir = eq + 1;
    for (;;) {
        const char *comma = NULL;
        for (size_t i = dir_len; i-- > 0;)
            if (dir[i] == ',') {
                comma = dir + i;
                break;
            }
        if (!comma)
            break;
        int rc = parse_opt(comma + 1, dir_len - (size_t)(comma + 1 - dir), &s, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        dir_len = (size_t)(comma - dir);
    }
    if (dir_len == 0)
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB, "--with %s: no folder after %s=", arg,
                           s.role);
    if (dir_len >= sizeof s.dir)
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_JOB, "--with %s: folder name too long",
                           s.role);
    memcpy(s.dir, dir, dir_len);
    s.dir[dir_len] = '\0';
    *out = s;
    return 0;
}
