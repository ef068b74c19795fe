/* The geometry record of an output: the affine map from the stored input's
 * pixel coordinates to the output's, and the output's size.
 *
 * Coordinates are continuous with the pixel grid's corners on the integers:
 * pixel (i, j) is the unit square [i, i+1) x [j, j+1), its centre at
 * (i + 0.5, j + 0.5), and an image of W x H pixels spans [0, W] x [0, H]
 * (COCO's convention: a box [x, y, w, h] of whole pixels has integer
 * corners). x runs right, y down. A point (x, y) of the input maps to
 *     x' = m[0] x + m[1] y + m[2],   y' = m[3] x + m[4] y + m[5].
 * Every op of prepix maps pixel squares onto pixel squares this way
 * (orientations, flips and 90-degree rotations permute whole pixels, crops
 * and pads shift by whole pixels, a resize from w to w' scales by w'/w,
 * libjpeg's DCT-scaled decode by 1/2, 1/4 or 1/8), so the record is exact up
 * to rounding of the doubles. Pure computation; safe anywhere. */
#ifndef PREPIX_GEOM_H
#define PREPIX_GEOM_H

#include <stdint.h>

typedef struct {
    double m[6];   /* x' = m0 x + m1 y + m2, y' = m3 x + m4 y + m5 */
    uint32_t w, h; /* the output's size in pixels; 0 x 0: no record */
} ppx_geom;

/* The identity on a w x h image. */
void ppx_geom_identity(ppx_geom *g, uint32_t w, uint32_t h);
/* g followed by (x, y) -> (sx x + tx, sy y + ty), the result w x h. */
void ppx_geom_then_scale(ppx_geom *g, double sx, double sy, double tx, double ty, uint32_t w,
                         uint32_t h);
/* g followed by a crop (or pad, for negative x, y) of the box at (x, y) of
 * w x h pixels. */
void ppx_geom_then_crop(ppx_geom *g, int64_t x, int64_t y, uint32_t w, uint32_t h);
/* g followed by a resize of its w x h output to w2 x h2. */
void ppx_geom_then_resize(ppx_geom *g, uint32_t w2, uint32_t h2);
/* g followed by the EXIF orientation o (1..8; others: none) of its output,
 * as ppx_op_orient applies it (flips are 2 and 4, rotations 3, 6, 8). */
void ppx_geom_then_orient(ppx_geom *g, int o);
/* g followed by next (next's input is g's output). */
void ppx_geom_then(ppx_geom *g, const ppx_geom *next);
/* (x, y) mapped through g. */
void ppx_geom_apply(const ppx_geom *g, double x, double y, double *ox, double *oy);
/* The inverse map (output to input) in inv[6]; 0, or -1 when g is singular. */
int ppx_geom_inverse(const ppx_geom *g, double inv[6]);
/* |determinant|: how areas scale. */
double ppx_geom_area_scale(const ppx_geom *g);

#endif
