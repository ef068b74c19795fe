/* GeoTIFF tags: read from a page, moved with the pixels, written to an
 * output (docs/codecs-tiff-png.md). libtiff does not know these tags: it
 * reads them as anonymous fields (with a harmless "Unknown field" warning)
 * and writes them once they are registered on the handle, as libgeotiff
 * does with TIFFMergeFieldInfo. */
#include "codec/tiff_geo.h"

#include <string.h>

enum {
    TAG_SCALE = 33550,
    TAG_TIE = 33922,
    TAG_MATRIX = 34264,
    TAG_KEYS = 34735,
    TAG_DOUBLES = 34736,
    TAG_ASCII = 34737,
    TAG_NODATA = 42113
};

/* The values of tag (of type `type`) and their count; 0 when absent or of
 * another type. */
static int get_values(TIFF *tif, uint32_t tag, TIFFDataType type, uint32_t *n, void **data)
{
    const TIFFField *f = TIFFFindField(tif, tag, TIFF_ANY);
    if (!f || TIFFFieldDataType(f) != type)
        return 0;
    if (!TIFFFieldPassCount(f)) { /* ASCII as libtiff knows it (GDAL_NODATA) */
        char *s = NULL;
        if (type != TIFF_ASCII || !TIFFGetField(tif, tag, &s) || !s)
            return 0;
        *data = s;
        *n = (uint32_t)strlen(s) + 1;
        return 1;
    }
    if (TIFFFieldReadCount(f) == TIFF_VARIABLE2) {
        uint32_t c = 0;
        if (!TIFFGetField(tif, tag, &c, data))
            return 0;
        *n = c;
    } else {
        uint16_t c = 0;
        if (!TIFFGetField(tif, tag, &c, data))
            return 0;
        *n = c;
    }
    return *data != NULL;
}

static uint32_t get_doubles(TIFF *tif, uint32_t tag, double *out, uint32_t cap)
{
    uint32_t n = 0;
    void *d = NULL;
    if (!get_values(tif, tag, TIFF_DOUBLE, &n, &d) || n > cap)
        return 0;
    memcpy(out, d, (size_t)n * sizeof(double));
    return n;
}

static void get_ascii(TIFF *tif, uint32_t tag, char *out, size_t cap)
{
    uint32_t n = 0;
    void *d = NULL;
    out[0] = '\0';
    if (!get_values(tif, tag, TIFF_ASCII, &n, &d) || n == 0 || n > cap)
        return;
    memcpy(out, d, n);
    out[n - 1] = '\0';
}

void ppx__tiff_geo_read(TIFF *tif, ppx_geotiff *g)
{
    memset(g, 0, sizeof *g);
    g->n_scale = get_doubles(tif, TAG_SCALE, g->scale, 3);
    g->n_ties = get_doubles(tif, TAG_TIE, g->ties, PPX_GEO_MAX_TIES);
    g->n_ties -= g->n_ties % 6;
    g->n_matrix = get_doubles(tif, TAG_MATRIX, g->matrix, 16);
    if (g->n_matrix != 16)
        g->n_matrix = 0;
    g->n_doubles = get_doubles(tif, TAG_DOUBLES, g->doubles, PPX_GEO_MAX_DOUBLES);
    uint32_t n = 0;
    void *d = NULL;
    if (get_values(tif, TAG_KEYS, TIFF_SHORT, &n, &d) && n >= 4 && n <= PPX_GEO_MAX_KEYS) {
        memcpy(g->keys, d, (size_t)n * 2);
        g->n_keys = n;
    }
    get_ascii(tif, TAG_ASCII, g->ascii, sizeof g->ascii);
    get_ascii(tif, TAG_NODATA, g->nodata, sizeof g->nodata);
    g->present = g->n_scale || g->n_ties || g->n_matrix || g->n_keys || g->n_doubles ||
                 g->ascii[0] || g->nodata[0];
}

/* Registers the tags libtiff does not know on this handle. */
static int register_tags(TIFF *tif)
{
    static const TIFFFieldInfo info[] = {
        {TAG_SCALE, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelPixelScaleTag"},
        {TAG_TIE, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelTiepointTag"},
        {TAG_MATRIX, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelTransformationTag"},
        {TAG_KEYS, -1, -1, TIFF_SHORT, FIELD_CUSTOM, 1, 1, "GeoKeyDirectoryTag"},
        {TAG_DOUBLES, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "GeoDoubleParamsTag"},
        {TAG_ASCII, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GeoASCIIParamsTag"},
        {TAG_NODATA, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GDALNoDataValue"},
    };
    for (size_t i = 0; i < sizeof info / sizeof info[0]; i++)
        if (!TIFFFindField(tif, info[i].field_tag, TIFF_ANY) &&
            TIFFMergeFieldInfo(tif, &info[i], 1) != 0)
            return 0;
    return 1;
}

int ppx__tiff_geo_write(TIFF *tif, const ppx_geotiff *g)
{
    if (!g || !g->present)
        return 1;
    if (!register_tags(tif))
        return 0;
    int ok = 1;
    if (g->n_scale)
        ok = ok && TIFFSetField(tif, TAG_SCALE, (int)g->n_scale, g->scale);
    if (g->n_ties)
        ok = ok && TIFFSetField(tif, TAG_TIE, (int)g->n_ties, g->ties);
    if (g->n_matrix)
        ok = ok && TIFFSetField(tif, TAG_MATRIX, (int)g->n_matrix, g->matrix);
    if (g->n_keys)
        ok = ok && TIFFSetField(tif, TAG_KEYS, (int)g->n_keys, g->keys);
    if (g->n_doubles)
        ok = ok && TIFFSetField(tif, TAG_DOUBLES, (int)g->n_doubles, g->doubles);
    if (g->ascii[0])
        ok = ok && TIFFSetField(tif, TAG_ASCII, g->ascii);
    if (g->nodata[0])
        ok = ok && TIFFSetField(tif, TAG_NODATA, g->nodata);
    return ok;
}

/* GTRasterTypeGeoKey (1025) is RasterPixelIsPoint (2). */
static int pixel_is_point(const ppx_geotiff *g)
{
    if (g->n_keys < 4)
        return 0;
    uint32_t n = g->keys[3];
    for (uint32_t k = 0; k < n && 4 + 4 * k + 3 < g->n_keys; k++) {
        const uint16_t *e = g->keys + 4 + 4 * k;
        if (e[0] == 1025 && e[1] == 0 && e[2] == 1)
            return e[3] == 2;
    }
    return 0;
}

/* a then b: (b o a)(p) = b(a(p)). */
static void compose(const double a[6], const double b[6], double out[6])
{
    double r[6] = {b[0] * a[0] + b[1] * a[3],        b[0] * a[1] + b[1] * a[4],
                   b[0] * a[2] + b[1] * a[5] + b[2], b[3] * a[0] + b[4] * a[3],
                   b[3] * a[1] + b[4] * a[4],        b[3] * a[2] + b[4] * a[5] + b[5]};
    memcpy(out, r, sizeof r);
}

void ppx_geotiff_remap(ppx_geotiff *g, const double fwd[6], const double inv[6])
{
    /* In the file's raster coordinates r (pixel centres on the integers
     * for PixelIsPoint, so r = p - c with p the corner coordinates and
     * c = 0.5): new r' -> old r is q(r') = inv(r' + c) - c, and old r ->
     * new r' is fwd(r + c) - c. */
    double c = pixel_is_point(g) ? 0.5 : 0.0;
    const double to_p[6] = {1, 0, c, 0, 1, c}, to_r[6] = {1, 0, -c, 0, 1, -c};
    double q[6], f[6];
    compose(to_p, inv, q);
    compose(q, to_r, q);
    compose(to_p, fwd, f);
    compose(f, to_r, f);
    if (g->n_matrix) {
        /* X = m0 r + m1 s + m3, Y = m4 r + m5 s + m7 (2-D part), composed with q. */
        double *m = g->matrix;
        double a[6] = {m[0], m[1], m[3], m[4], m[5], m[7]}, r[6];
        compose(q, a, r);
        m[0] = r[0], m[1] = r[1], m[3] = r[2], m[4] = r[3], m[5] = r[4], m[7] = r[5];
        return;
    }
    if (g->n_scale >= 2 && g->n_ties == 6) {
        const double sx = g->scale[0], sy = g->scale[1], *t = g->ties;
        /* X = sx r + (Xt - It sx), Y = -sy s + (Yt + Jt sy) */
        double a[6] = {sx, 0, t[3] - t[0] * sx, 0, -sy, t[4] + t[1] * sy}, r[6];
        compose(q, a, r);
        if (q[1] == 0 && q[3] == 0 && q[0] > 0 && q[4] > 0) {
            g->scale[0] = r[0];
            g->scale[1] = -r[4];
            g->ties[0] = g->ties[1] = 0;
            g->ties[3] = r[2];
            g->ties[4] = r[5];
            return;
        }
        /* A flip or a rotation: only a matrix can say it. */
        memset(g->matrix, 0, sizeof g->matrix);
        g->matrix[0] = r[0], g->matrix[1] = r[1], g->matrix[3] = r[2];
        g->matrix[4] = r[3], g->matrix[5] = r[4], g->matrix[7] = r[5];
        g->matrix[11] = t[5], g->matrix[15] = 1;
        g->n_matrix = 16;
        g->n_scale = g->n_ties = 0;
        return;
    }
    /* Ground control points: each raster point moves with the pixels. */
    for (uint32_t k = 0; k + 6 <= g->n_ties; k += 6) {
        double i = g->ties[k], j = g->ties[k + 1];
        g->ties[k] = f[0] * i + f[1] * j + f[2];
        g->ties[k + 1] = f[3] * i + f[4] * j + f[5];
    }
}
