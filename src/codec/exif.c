/* A minimal, strictly bounded EXIF (TIFF structure) reader. Only IFD0 is
 * visited: Orientation lives there, and following the EXIF sub-IFD or the
 * thumbnail IFD would only add attack surface. */
#include "codec/exif.h"

#include <string.h>

#include "prepix/error.h"

#define TIFF_HEADER_BYTES 8
#define IFD_ENTRY_BYTES 12
#define TAG_ORIENTATION 0x0112
/* EXIF (TIFF) field types that can hold a small integer. */
#define TYPE_BYTE 1
#define TYPE_SHORT 3
#define TYPE_LONG 4
#define TYPE_SBYTE 6
#define TYPE_SSHORT 8
#define TYPE_SLONG 9

static uint32_t rd16(const uint8_t *p, int big_endian)
{
    return big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big_endian)
{
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int ppx__exif_orientation(const uint8_t *p, size_t n, int *orientation)
{
    static const uint8_t sig[6] = {'E', 'x', 'i', 'f', 0, 0};
    if (n < sizeof sig || memcmp(p, sig, sizeof sig) != 0)
        return PPX_EFORMAT;
    /* Offsets inside EXIF are relative to the TIFF header that follows the signature. */
    const uint8_t *t = p + sizeof sig;
    size_t tn = n - sizeof sig;
    if (tn < TIFF_HEADER_BYTES)
        return PPX_ECORRUPT;
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return PPX_ECORRUPT;
    if (rd16(t + 2, be) != 42)
        return PPX_ECORRUPT;
    uint32_t ifd = rd32(t + 4, be);
    /* The IFD may not overlap the header, and its entry count must be readable. */
    if (ifd < TIFF_HEADER_BYTES || ifd > tn || tn - ifd < 2)
        return PPX_ECORRUPT;
    uint32_t count = rd16(t + ifd, be);
    /* Division instead of count * 12 + ifd: no arithmetic that could wrap. */
    if (count > (tn - ifd - 2) / IFD_ENTRY_BYTES)
        return PPX_ECORRUPT;
    int found = 1;
    const uint8_t *e = t + ifd + 2;
    for (uint32_t i = 0; i < count; i++, e += IFD_ENTRY_BYTES) {
        if (rd16(e, be) != TAG_ORIENTATION)
            continue;
        uint32_t type = rd16(e + 2, be), values = rd32(e + 4, be);
        /* The standard says one SHORT; writers also use LONG (seen in the
         * wild), SLONG (gdk-pixbuf's test file, which Pillow reads as 6),
         * SSHORT, BYTE and SBYTE. One value of any of them fits in the 4-byte
         * value field, left-justified, so no offset has to be followed.
         * Signed values are read as such: -6 is not 6. */
        int64_t v = 0;
        if (values == 1) {
            switch (type) {
            case TYPE_BYTE:
                v = e[8];
                break;
            case TYPE_SBYTE:
                v = (int8_t)e[8];
                break;
            case TYPE_SHORT:
                v = rd16(e + 8, be);
                break;
            case TYPE_SSHORT:
                v = (int16_t)rd16(e + 8, be);
                break;
            case TYPE_LONG:
                v = rd32(e + 8, be);
                break;
            case TYPE_SLONG:
                v = (int32_t)rd32(e + 8, be);
                break;
            default:
                break;
            }
        }
        if (v >= 1 && v <= 8)
            found = (int)v;
        break;
    }
    *orientation = found;
    return 0;
}
