#include "prepix/image.h"

#include <stdlib.h>
#include <string.h>

const char *ppx_colorspace_name(ppx_colorspace cs)
{
    switch (cs) {
    case PPX_CS_GRAY:
        return "gray";
    case PPX_CS_RGB:
        return "rgb";
    case PPX_CS_YCBCR:
        return "ycbcr";
    case PPX_CS_CMYK:
        return "cmyk";
    case PPX_CS_YCCK:
        return "ycck";
    case PPX_CS_PALETTE:
        return "palette";
    case PPX_CS_MINISWHITE:
        return "miniswhite";
    default:
        return "unknown";
    }
}

const char *ppx_sample_name(ppx_sample t)
{
    switch (t) {
    case PPX_U8:
        return "uint8";
    case PPX_U16:
        return "uint16";
    case PPX_U32:
        return "uint32";
    case PPX_I8:
        return "int8";
    case PPX_I16:
        return "int16";
    case PPX_I32:
        return "int32";
    case PPX_F32:
        return "float32";
    default:
        return "unknown";
    }
}

int ppx_sample_from_name(const char *name)
{
    static const ppx_sample all[] = {PPX_U8, PPX_U16, PPX_U32, PPX_I8, PPX_I16, PPX_I32, PPX_F32};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, ppx_sample_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

void ppx_image_init(ppx_image *img)
{
    memset(img, 0, sizeof *img);
    img->orientation = 1;
}

void ppx_image_destroy(ppx_image *img)
{
    if (!img)
        return;
    free(img->data);
    ppx_image_init(img);
}

int ppx_image_alloc(ppx_image *img, uint32_t w, uint32_t h, unsigned channels, ppx_sample type,
                    const ppx_limits *l, ppx_err *err)
{
    if (channels < 1 || channels > PPX_MAX_BANDS || ppx_sample_size(type) == 0 ||
        strcmp(ppx_sample_name(type), "unknown") == 0)
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_TRANSFORM,
                           "bad channel count %u or sample type %d", channels, (int)type);
    ppx_limits unlimited;
    if (!l) {
        ppx_limits_default(&unlimited);
        unlimited.max_pixels = UINT64_MAX;
        unlimited.max_width = UINT32_MAX;
        unlimited.max_height = UINT32_MAX;
        unlimited.max_alloc = SIZE_MAX;
        l = &unlimited;
    }
    size_t bytes;
    int rc = ppx_limits_check(l, w, h, channels, (unsigned)ppx_sample_size(type), &bytes, err);
    if (rc) {
        if (err)
            err->stage = PPX_STAGE_TRANSFORM;
        return rc;
    }
    if (bytes > img->cap) {
        /* No realloc: the old contents are not needed, and free+malloc avoids a copy. */
        free(img->data);
        img->data = malloc(bytes);
        if (!img->data) {
            img->cap = 0;
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_TRANSFORM,
                               "cannot allocate %zu bytes for a %ux%u image", bytes, w, h);
        }
        img->cap = bytes;
    }
    img->width = w;
    img->height = h;
    img->channels = channels;
    img->type = type;
    img->stride = (size_t)w * channels * ppx_sample_size(type);
    img->orientation = 1;
    img->alpha_associated = 0;
    img->source_cs = PPX_CS_UNKNOWN;
    img->plain_bands = 0;
    return 0;
}

void ppx_image_copy_meta(ppx_image *dst, const ppx_image *src)
{
    dst->orientation = src->orientation;
    dst->alpha_associated = src->alpha_associated;
    dst->source_cs = src->source_cs;
    dst->plain_bands = src->plain_bands;
}
