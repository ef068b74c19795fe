/* Running a parsed pipeline on one image, and what the run loop asks of it
 * before decoding (the shrink-on-load hint). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_impl.h"

struct ppx_pipeline_ctx {
    /* Two images the ops ping-pong between, and one for normalize's output
     * (its input may be either of the two). */
    ppx_image scratch[3];
    ppx_resizer *rs;
    ppx_limits limits;
    int has_limits;
    /* The geometry record of the last run: each op that changes the image's
     * geometry composes its own map into it where it is applied (apply). */
    ppx_geom geom;
    uint64_t clipped; /* samples `scale` clipped in the last run */
};

int ppx_pipeline_length(const ppx_pipeline *pl)
{
    return pl ? pl->n : 0;
}

int ppx_pipeline_has_normalize(const ppx_pipeline *pl)
{
    return pl && pl->n > 0 && pl->ops[pl->n - 1].kind == PPX_OP_NORMALIZE;
}

void ppx_pipeline_output_geometry(const ppx_pipeline *pl, ppx_pipeline_geometry *g)
{
    ppx_pipeline_geometry r = {.f32 = ppx_pipeline_has_normalize(pl)};
    r.fixed = ppx_pipeline_fixed_size(pl, &r.w, &r.h);
    if (!r.fixed)
        r.w = r.h = 0;
    for (int i = 0; pl && i < pl->n; i++)
        if (pl->ops[i].kind == PPX_OP_GRAYSCALE || pl->ops[i].kind == PPX_OP_RGB) {
            r.channels = r.bands = pl->ops[i].kind == PPX_OP_GRAYSCALE ? 1 : 3;
        } else if (pl->ops[i].kind == PPX_OP_BANDS) {
            r.channels = pl->ops[i].nbands == 1 || pl->ops[i].nbands == 3 ? pl->ops[i].nbands : 0;
            r.bands = pl->ops[i].nbands;
        }
    *g = r;
}

int ppx_pipeline_normalize_values(const ppx_pipeline *pl)
{
    return ppx_pipeline_has_normalize(pl) ? (int)pl->ops[pl->n - 1].nvals : 0;
}

int ppx_pipeline_is_random(const ppx_pipeline *pl)
{
    for (int i = 0; pl && i < pl->n; i++) {
        const ppx_op *op = &pl->ops[i];
        if (op->kind == PPX_OP_RANDOM_CROP || (op->kind == PPX_OP_FLIP && op->p > 0 && op->p < 1))
            return 1;
    }
    return 0;
}

int ppx_pipeline_fixed_size(const ppx_pipeline *pl, uint32_t *w, uint32_t *h)
{
    return ppx_pipeline_fixed_size_from(pl, 0, 0, w, h);
}

int ppx_pipeline_fixed_size_from(const ppx_pipeline *pl, uint32_t in_w, uint32_t in_h, uint32_t *w,
                                 uint32_t *h)
{
    int known = in_w > 0 && in_h > 0;
    uint32_t cw = known ? in_w : 0, ch = known ? in_h : 0;
    for (int i = 0; pl && i < pl->n; i++) {
        const ppx_op *op = &pl->ops[i];
        switch (op->kind) {
        case PPX_OP_RESIZE:
            if (op->fit == PPX_FIT_FILL) {
                cw = op->w, ch = op->h, known = 1;
            } else if (known) {
                uint32_t nw, nh;
                ppx_resize_dims(cw, ch, op->w, op->h, op->fit, &nw, &nh);
                cw = nw, ch = nh;
            }
            break;
        case PPX_OP_CENTER_CROP:
        case PPX_OP_CROP:
        case PPX_OP_RANDOM_CROP:
        case PPX_OP_PAD:
            cw = op->w, ch = op->h, known = 1;
            break;
        case PPX_OP_ROTATE:
            if (op->degrees != 180) {
                uint32_t t = cw;
                cw = ch, ch = t;
            }
            break;
        case PPX_OP_AUTOROTATE:
            /* The orientation of each file decides: fixed only if square. */
            if (cw != ch)
                known = 0;
            break;
        default:
            break;
        }
    }
    if (known) {
        *w = cw;
        *h = ch;
    }
    return known;
}

void ppx_pipeline_decode_hint(const ppx_pipeline *pl, uint32_t src_w, uint32_t src_h,
                              int orientation, uint32_t *min_w, uint32_t *min_h)
{
    *min_w = 0;
    *min_h = 0;
    if (!pl || src_w == 0 || src_h == 0)
        return;
    /* Walk to the first resize through ops that commute with scaling
     * (pointwise, or a permutation of whole pixels), tracking whether the
     * axes are swapped relative to the stored frame. Anything else that
     * comes first works in full-resolution pixel coordinates (crops, pad,
     * random-crop) or on the exact pixel values (equalize): no hint. */
    int swap = 0;
    const ppx_op *rs = NULL;
    for (int i = 0; i < pl->n && !rs; i++) {
        const ppx_op *op = &pl->ops[i];
        switch (op->kind) {
        case PPX_OP_AUTOROTATE:
            swap ^= orientation >= 5 && orientation <= 8;
            break;
        case PPX_OP_ROTATE:
            swap ^= op->degrees != 180;
            break;
        case PPX_OP_FLIP:
        case PPX_OP_GRAYSCALE:
        case PPX_OP_RGB:
        case PPX_OP_TO_8BIT:
            break;
        case PPX_OP_RESIZE:
            rs = op;
            break;
        default:
            return;
        }
    }
    /* Nearest neighbour promises samples of the original image. */
    if (!rs || rs->filter == PPX_FILTER_NEAREST || rs->draft == PPX_DRAFT_OFF)
        return;
    uint32_t W = swap ? src_h : src_w, H = swap ? src_w : src_h, ow, oh;
    ppx_resize_dims(W, H, rs->w, rs->h, rs->fit, &ow, &oh);
    /* The decoder picks the smallest of 1/8, 1/4, 1/2 whose size covers the
     * hint, so hinting exactly the size at scale 1/d selects 1/d. A scale is
     * allowed when (a) at least a factor 2 of reduction is left for the
     * resize, as libvips' thumbnail does (the DCT shrink is a block filter,
     * the resize's antialiasing then does the real work), and (b) the resize
     * gives the same output size from the smaller image, so output geometry
     * never depends on the hint. */
    for (uint32_t d = 8; d >= 2; d /= 2) {
        uint32_t sw = (uint32_t)(((uint64_t)W + d - 1) / d);
        uint32_t sh = (uint32_t)(((uint64_t)H + d - 1) / d);
        uint64_t margin = (uint64_t)rs->draft; /* 2 (safe) or 1 (fast) */
        if ((uint64_t)sw < margin * ow || (uint64_t)sh < margin * oh)
            continue;
        uint32_t tw, th;
        ppx_resize_dims(sw, sh, rs->w, rs->h, rs->fit, &tw, &th);
        if (tw != ow || th != oh)
            continue;
        *min_w = swap ? sh : sw;
        *min_h = swap ? sw : sh;
        return;
    }
}

int ppx_pipeline_ctx_new(ppx_pipeline_ctx **out)
{
    ppx_pipeline_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return PPX_ENOMEM;
    for (int i = 0; i < 3; i++)
        ppx_image_init(&ctx->scratch[i]);
    if (ppx_resizer_new(&ctx->rs)) {
        free(ctx);
        return PPX_ENOMEM;
    }
    *out = ctx;
    return 0;
}

void ppx_pipeline_ctx_free(ppx_pipeline_ctx **pctx)
{
    if (!pctx || !*pctx)
        return;
    ppx_pipeline_ctx *ctx = *pctx;
    for (int i = 0; i < 3; i++)
        ppx_image_destroy(&ctx->scratch[i]);
    ppx_resizer_free(&ctx->rs);
    free(ctx);
    *pctx = NULL;
}

void ppx_pipeline_ctx_trim(ppx_pipeline_ctx *ctx, size_t keep)
{
    for (int i = 0; i < 3; i++)
        if (ctx->scratch[i].cap > keep)
            ppx_image_destroy(&ctx->scratch[i]);
    ppx_resizer_trim(ctx->rs, keep);
}

void ppx_pipeline_ctx_set_limits(ppx_pipeline_ctx *ctx, const ppx_limits *l)
{
    ctx->has_limits = l != NULL;
    if (l)
        ctx->limits = *l;
}

/* A companion's own handling of op (g set): crops and pads with its fill,
 * colour ops skipped; *mine = 0 for the geometry it shares with its image. */
static int companion_op(const ppx_op *op, const ppx_image *src, ppx_image *dst,
                        const ppx_geometry_opts *g, const ppx_limits *l, int *mine, int *applied,
                        ppx_err *err)
{
    const uint16_t fill[4] = {g->fill, g->fill, g->fill, g->fill};
    uint32_t w = src->width, h = src->height;
    *mine = 1;
    switch (op->kind) {
    case PPX_OP_CENTER_CROP:
    case PPX_OP_PAD:
        if (op->w == w && op->h == h)
            break;
        return ppx_op_extract(src, dst, ppx_center_offset(w, op->w), ppx_center_offset(h, op->h),
                              op->w, op->h, fill, l, err);
    case PPX_OP_CROP:
        if (op->x == 0 && op->y == 0 && op->w == w && op->h == h)
            break;
        return ppx_op_extract(src, dst, op->x, op->y, op->w, op->h, fill, l, err);
    case PPX_OP_GRAYSCALE:
    case PPX_OP_RGB:
    case PPX_OP_TO_8BIT:
    case PPX_OP_EQUALIZE:
    case PPX_OP_NORMALIZE:
        break;
    default:
        *mine = 0;
        return 0;
    }
    *applied = 0;
    return 0;
}

/* Colour ops have no meaning for plain bands: refused, never skipped. */
static int colour_refused(const ppx_op *op, const ppx_image *src, ppx_err *err)
{
    const char *name = op->kind == PPX_OP_GRAYSCALE  ? "grayscale"
                       : op->kind == PPX_OP_RGB      ? "rgb"
                       : op->kind == PPX_OP_TO_8BIT  ? "to-8bit"
                       : op->kind == PPX_OP_EQUALIZE ? "equalize"
                                                     : NULL;
    if (!name)
        return 0;
    return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_TRANSFORM,
                       "%s works on gray, RGB and alpha, not on %u plain bands: select "
                       "colour bands first (`bands 4,3,2`)",
                       name, src->channels);
}

/* Applies one op from src into dst. *applied is 0 when the op leaves the
 * image as it is (nothing written), so that no-ops cost no copy. */
static int apply(const ppx_op *op, ppx_pipeline_ctx *ctx, const ppx_image *src, ppx_image *dst,
                 ppx_rng *rng, const ppx_geometry_opts *g, int *applied, ppx_err *err)
{
    const ppx_limits *l = ctx->has_limits ? &ctx->limits : NULL;
    uint32_t w = src->width, h = src->height, ow, oh;
    ppx_filter filter = g && g->nearest ? PPX_FILTER_NEAREST : op->filter;
    *applied = 1;
    int mine = 0;
    if (g) {
        int rc = companion_op(op, src, dst, g, l, &mine, applied, err);
        if (mine)
            return rc;
    }
    int rc = src->plain_bands ? colour_refused(op, src, err) : 0;
    if (rc)
        return rc;
    switch (op->kind) {
    case PPX_OP_AUTOROTATE:
        if (src->orientation >= 2 && src->orientation <= 8) {
            ppx_geom_then_orient(&ctx->geom, src->orientation);
            return ppx_op_autorotate(src, dst, l, err);
        }
        break;
    case PPX_OP_RESIZE:
        ppx_resize_dims(w, h, op->w, op->h, op->fit, &ow, &oh);
        if (ow != w || oh != h) {
            ppx_geom_then_resize(&ctx->geom, ow, oh);
            return ppx_op_resize(ctx->rs, src, dst, ow, oh, filter, l, err);
        }
        break;
    case PPX_OP_CENTER_CROP:
        if (op->w != w || op->h != h) {
            ppx_geom_then_crop(&ctx->geom, ppx_center_offset(w, op->w), ppx_center_offset(h, op->h),
                               op->w, op->h);
            return ppx_op_center_crop(src, dst, op->w, op->h, l, err);
        }
        break;
    case PPX_OP_CROP:
        if (op->x != 0 || op->y != 0 || op->w != w || op->h != h) {
            ppx_geom_then_crop(&ctx->geom, op->x, op->y, op->w, op->h);
            return ppx_op_extract(src, dst, op->x, op->y, op->w, op->h, NULL, l, err);
        }
        break;
    case PPX_OP_RANDOM_CROP: {
        ppx_box box;
        ppx_random_crop_box(rng, w, h, op->scale, op->ratio, &box);
        ppx_geom_then_crop(&ctx->geom, box.x, box.y, box.w, box.h);
        ppx_geom_then_resize(&ctx->geom, op->w, op->h);
        return ppx_op_resized_crop(ctx->rs, src, &box, dst, op->w, op->h, filter, l, err);
    }
    case PPX_OP_PAD:
        if (op->w != w || op->h != h) {
            ppx_geom_then_crop(&ctx->geom, ppx_center_offset(w, op->w), ppx_center_offset(h, op->h),
                               op->w, op->h);
            return ppx_op_pad(src, dst, op->w, op->h, op->color, l, err);
        }
        break;
    case PPX_OP_FLIP:
        /* Draw only for a real coin toss; p = 0 or 1 leaves the stream alone. */
        if (op->p >= 1.0 || (op->p > 0.0 && ppx_rng_uniform(rng) < op->p)) {
            ppx_geom_then_orient(&ctx->geom, op->vertical ? 4 : 2);
            return ppx_op_flip(src, dst, op->vertical, l, err);
        }
        break;
    case PPX_OP_ROTATE:
        ppx_geom_then_orient(&ctx->geom, op->degrees == 90 ? 6 : op->degrees == 180 ? 3 : 8);
        return ppx_op_rotate(src, dst, op->degrees, l, err);
    case PPX_OP_GRAYSCALE:
        if (src->channels > 2)
            return ppx_op_grayscale(src, dst, l, err);
        break;
    case PPX_OP_RGB:
        if (src->channels != 3)
            return ppx_op_rgb(src, dst, l, err);
        break;
    case PPX_OP_TO_8BIT:
        if (src->type != PPX_U8)
            return ppx_op_to_8bit(src, dst, l, err);
        break;
    case PPX_OP_EQUALIZE:
        return ppx_op_equalize(src, dst, l, err);
    case PPX_OP_NORMALIZE:
        return ppx_op_normalize(src, dst, op->mean, op->std, op->nvals, l, err);
    case PPX_OP_BANDS:
        return ppx_op_bands(src, dst, op->bands, op->nbands, l, err);
    case PPX_OP_SCALE: {
        uint64_t clip = 0;
        int src_rc = ppx_op_scale(src, dst, op->lo, op->hi, op->to, &clip, l, err);
        ctx->clipped += clip;
        return src_rc;
    }
    default:
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_TRANSFORM, "unknown op kind %d",
                           (int)op->kind);
    }
    *applied = 0;
    return 0;
}

/* `resize` then `center-crop` that lies inside the resized image (the
 * thumbnail pattern): only the kept window is computed, with the same bytes
 * as the two ops (ppx_op_resize_window). *applied = 0 when the pair does not
 * qualify and nothing was done. */
static int resize_then_crop(const ppx_op *rs, const ppx_op *cc, ppx_filter filter,
                            ppx_pipeline_ctx *ctx, const ppx_image *src, ppx_image *dst,
                            int *applied, ppx_err *err)
{
    *applied = 0;
    if (rs->kind != PPX_OP_RESIZE || cc->kind != PPX_OP_CENTER_CROP ||
        (src->type != PPX_U8 && src->type != PPX_U16) || !ppx_image_is_color(src))
        return 0;
    uint32_t ow, oh;
    ppx_resize_dims(src->width, src->height, rs->w, rs->h, rs->fit, &ow, &oh);
    if (ow == src->width || oh == src->height || cc->w > ow || cc->h > oh)
        return 0;
    ppx_box box = {.x = (uint32_t)ppx_center_offset(ow, cc->w),
                   .y = (uint32_t)ppx_center_offset(oh, cc->h),
                   .w = cc->w,
                   .h = cc->h};
    const ppx_limits *l = ctx->has_limits ? &ctx->limits : NULL;
    *applied = 1;
    ppx_geom_then_resize(&ctx->geom, ow, oh);
    ppx_geom_then_crop(&ctx->geom, box.x, box.y, box.w, box.h);
    return ppx_op_resize_window(ctx->rs, src, dst, ow, oh, &box, filter, l, err);
}

static int run_ops(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, ppx_image *img, uint64_t seed,
                   const char *key, const ppx_geometry_opts *g, ppx_image **out, ppx_err *err)
{
    int n = ppx_pipeline_length(pl) - ppx_pipeline_has_normalize(pl);
    ppx_image *cur = img;
    int next = 0;
    ppx_rng rng;
    ppx_rng_seed(&rng, seed, key);
    ppx_geom_identity(&ctx->geom, img->width, img->height);
    for (int i = 0; i < n; i++) {
        int applied = 0;
        ppx_image *dst = &ctx->scratch[next];
        /* The fused pair gives the same bytes as the two ops, so a
         * companion takes it too: a label map with nearest neighbour (its
         * crop lies inside the resized map, so no fill is involved). */
        ppx_filter f = g && g->nearest ? PPX_FILTER_NEAREST : pl->ops[i].filter;
        int rc = i + 1 < n ? resize_then_crop(&pl->ops[i], &pl->ops[i + 1], f, ctx, cur, dst,
                                              &applied, err)
                           : 0;
        if (rc)
            return rc;
        if (applied) { /* the two ops were done as one */
            cur = dst;
            next ^= 1;
            i++;
            continue;
        }
        rc = apply(&pl->ops[i], ctx, cur, dst, &rng, g, &applied, err);
        if (rc)
            return rc;
        if (applied) {
            cur = dst;
            next ^= 1;
        }
    }
    *out = cur;
    return 0;
}

int ppx_pipeline_run(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, ppx_image *img, uint64_t seed,
                     const char *key, ppx_image **out, ppx_err *err)
{
    ctx->clipped = 0;
    return run_ops(pl, ctx, img, seed, key, NULL, out, err);
}

uint64_t ppx_pipeline_clipped(const ppx_pipeline_ctx *ctx)
{
    return ctx->clipped;
}

int ppx_pipeline_run_geometry(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, ppx_image *img,
                              uint64_t seed, const char *key, const ppx_geometry_opts *g,
                              ppx_image **out, ppx_err *err)
{
    /* The geometry record stays the image's (ppx_pipeline_last_geom). */
    ppx_geom keep = ctx->geom;
    uint64_t clipped = ctx->clipped;
    img->orientation = g->orientation;
    int rc = run_ops(pl, ctx, img, seed, key, g, out, err);
    ctx->geom = keep;
    ctx->clipped = clipped; /* a companion's clipping is not the image's */
    return rc;
}

void ppx_pipeline_last_geom(const ppx_pipeline_ctx *ctx, ppx_geom *g)
{
    *g = ctx->geom;
}

int ppx_pipeline_normalize(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, const ppx_image *in,
                           ppx_image **out, ppx_err *err)
{
    if (!ppx_pipeline_has_normalize(pl))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "normalize: the pipeline has no normalize op");
    const ppx_op *op = &pl->ops[pl->n - 1];
    int rc = ppx_op_normalize(in, &ctx->scratch[2], op->mean, op->std, op->nvals,
                              ctx->has_limits ? &ctx->limits : NULL, err);
    if (rc)
        return rc;
    *out = &ctx->scratch[2];
    return 0;
}

int ppx_draft_from_name(const char *s)
{
    if (strcmp(s, "safe") == 0)
        return PPX_DRAFT_SAFE;
    if (strcmp(s, "fast") == 0)
        return PPX_DRAFT_FAST;
    if (strcmp(s, "off") == 0)
        return PPX_DRAFT_OFF;
    return -1;
}

const char *ppx_draft_name(int d)
{
    return d == PPX_DRAFT_FAST ? "fast" : d == PPX_DRAFT_OFF ? "off" : "safe";
}
