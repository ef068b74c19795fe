/* GeoTIFF tags between libtiff and ppx_geotiff (tiff_geo.c). */
#ifndef PPX_CODEC_TIFF_GEO_H
#define PPX_CODEC_TIFF_GEO_H

#include <tiffio.h>

#include "prepix/codec.h"

/* The GeoTIFF tags of tif's current directory into g (present 0: none). */
void ppx__tiff_geo_read(TIFF *tif, ppx_geotiff *g);
/* Sets g's tags on tif (being written), registering them first. 1, or 0
 * when libtiff refused one. */
int ppx__tiff_geo_write(TIFF *tif, const ppx_geotiff *g);

#endif
