/* The one EXIF fact prepix needs: the orientation tag of IFD0. */
#ifndef PPX_CODEC_EXIF_H
#define PPX_CODEC_EXIF_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

/* Reads the Orientation tag (0x0112) of IFD0 from the payload of a JPEG
 * APP1 segment, p[0..n) starting with "Exif\0\0" (the marker and length
 * bytes excluded). The bytes are untrusted: every offset and count is
 * checked against n before it is followed, and no memory is allocated.
 * The tag is read as one value of type SHORT, LONG, SSHORT, SLONG, BYTE or
 * SBYTE, in either byte order. On success writes *orientation: 1..8, or 1
 * when the tag is absent, of another type or count, or holds a value outside
 * 1..8 (a broken tag must not rotate pixels; the codec has no channel for
 * warnings, so this is silent). Returns 0,
 * PPX_EFORMAT when p is not an EXIF payload, or PPX_ECORRUPT when the TIFF
 * structure is malformed (bad byte order or magic, IFD offset out of range,
 * an entry count that runs past the end); *orientation is then untouched.
 * Safe in workers: no globals. */
PPX_MUST_USE int ppx__exif_orientation(const uint8_t *p, size_t n, int *orientation);

#endif
