/* The geometry record: composing the affine maps of the ops (prepix/geom.h). */
#include "prepix/geom.h"

#include <math.h>

void ppx_geom_identity(ppx_geom *g, uint32_t w, uint32_t h)
{
    *g = (ppx_geom){.m = {1, 0, 0, 0, 1, 0}, .w = w, .h = h};
}

/* g := a o g, a given as a 2x3 matrix. */
static void then(ppx_geom *g, const double a[6], uint32_t w, uint32_t h)
{
    const double *m = g->m;
    double r[6] = {a[0] * m[0] + a[1] * m[3],        a[0] * m[1] + a[1] * m[4],
                   a[0] * m[2] + a[1] * m[5] + a[2], a[3] * m[0] + a[4] * m[3],
                   a[3] * m[1] + a[4] * m[4],        a[3] * m[2] + a[4] * m[5] + a[5]};
    for (int i = 0; i < 6; i++)
        g->m[i] = r[i] + 0.0; /* no -0 in the record */
    g->w = w;
    g->h = h;
}

void ppx_geom_then_scale(ppx_geom *g, double sx, double sy, double tx, double ty, uint32_t w,
                         uint32_t h)
{
    const double a[6] = {sx, 0, tx, 0, sy, ty};
    then(g, a, w, h);
}

void ppx_geom_then_crop(ppx_geom *g, int64_t x, int64_t y, uint32_t w, uint32_t h)
{
    ppx_geom_then_scale(g, 1, 1, -(double)x, -(double)y, w, h);
}

void ppx_geom_then_resize(ppx_geom *g, uint32_t w2, uint32_t h2)
{
    if (g->w == 0 || g->h == 0)
        return;
    ppx_geom_then_scale(g, (double)w2 / g->w, (double)h2 / g->h, 0, 0, w2, h2);
}

void ppx_geom_then_orient(ppx_geom *g, int o)
{
    double W = g->w, H = g->h;
    /* The maps of ppx_op_orient: its output pixel (x, y) reads the input
     * pixel named there, so the input square at (sx, sy) lands where
     * these put it (a mirror of a pixel index i is W - 1 - i, of a
     * coordinate W - x). */
    double a[6];
    uint32_t w = g->w, h = g->h;
    switch (o) {
    case 2: /* mirror left-right */
        a[0] = -1, a[1] = 0, a[2] = W, a[3] = 0, a[4] = 1, a[5] = 0;
        break;
    case 3: /* rotate 180 */
        a[0] = -1, a[1] = 0, a[2] = W, a[3] = 0, a[4] = -1, a[5] = H;
        break;
    case 4: /* mirror top-bottom */
        a[0] = 1, a[1] = 0, a[2] = 0, a[3] = 0, a[4] = -1, a[5] = H;
        break;
    case 5: /* transpose */
        a[0] = 0, a[1] = 1, a[2] = 0, a[3] = 1, a[4] = 0, a[5] = 0;
        w = g->h, h = g->w;
        break;
    case 6: /* rotate 90 clockwise */
        a[0] = 0, a[1] = -1, a[2] = H, a[3] = 1, a[4] = 0, a[5] = 0;
        w = g->h, h = g->w;
        break;
    case 7: /* transverse */
        a[0] = 0, a[1] = -1, a[2] = H, a[3] = -1, a[4] = 0, a[5] = W;
        w = g->h, h = g->w;
        break;
    case 8: /* rotate 90 counter-clockwise */
        a[0] = 0, a[1] = 1, a[2] = 0, a[3] = -1, a[4] = 0, a[5] = W;
        w = g->h, h = g->w;
        break;
    default:
        return;
    }
    then(g, a, w, h);
}

void ppx_geom_then(ppx_geom *g, const ppx_geom *next)
{
    then(g, next->m, next->w, next->h);
}

void ppx_geom_apply(const ppx_geom *g, double x, double y, double *ox, double *oy)
{
    *ox = g->m[0] * x + g->m[1] * y + g->m[2];
    *oy = g->m[3] * x + g->m[4] * y + g->m[5];
}

int ppx_geom_inverse(const ppx_geom *g, double inv[6])
{
    const double *m = g->m;
    double det = m[0] * m[4] - m[1] * m[3];
    if (!(fabs(det) > 0) || !isfinite(det))
        return -1;
    inv[0] = m[4] / det;
    inv[1] = -m[1] / det;
    inv[3] = -m[3] / det;
    inv[4] = m[0] / det;
    inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
    inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
    return 0;
}

double ppx_geom_area_scale(const ppx_geom *g)
{
    return fabs(g->m[0] * g->m[4] - g->m[1] * g->m[3]);
}
