/* Image helpers shared by the codec unit tests. */
#ifndef PPX_TEST_IMAGES_H
#define PPX_TEST_IMAGES_H

#include <stdint.h>
#include <string.h>

#include "prepix/image.h"

/* Fills img with a pattern that uses every bit of the samples. 0 or 1. */
static inline int make_image(ppx_image *img, uint32_t w, uint32_t h, unsigned ch, ppx_sample t)
{
    if (ppx_image_alloc(img, w, h, ch, t, NULL, NULL))
        return 1;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *row = ppx_image_row(img, y);
        for (uint32_t i = 0; i < w * ch; i++) {
            uint32_t v = (y * 7919u + i * 104729u) ^ (i * y);
            if (t == PPX_U16)
                ((uint16_t *)(void *)row)[i] = (uint16_t)(v * 2654435761u >> 16);
            else
                row[i] = (uint8_t)(v * 2654435761u >> 24);
        }
    }
    return 0;
}

/* 1 if a and b have the same geometry, type and samples. */
static inline int same_pixels(const ppx_image *a, const ppx_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels ||
        a->type != b->type)
        return 0;
    size_t row = (size_t)a->width * a->channels * ppx_sample_size(a->type);
    for (uint32_t y = 0; y < a->height; y++)
        if (memcmp(ppx_image_row(a, y), ppx_image_row(b, y), row) != 0)
            return 0;
    return 1;
}

#endif
