/* Exact results of the pixel ops (all but resize) on tiny synthetic
 * images, 1/2/3/4 channels, 8 and 16 bits, degenerate sizes. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "prepix/ops.h"

/* A w x h image with `c` channels whose samples are given row by row. */
static int make8(ppx_image *img, uint32_t w, uint32_t h, unsigned c, const uint8_t *v)
{
    ppx_image_init(img);
    if (ppx_image_alloc(img, w, h, c, PPX_U8, NULL, NULL))
        return -1;
    memcpy(img->data, v, (size_t)w * h * c);
    return 0;
}

static int make16(ppx_image *img, uint32_t w, uint32_t h, unsigned c, const uint16_t *v)
{
    ppx_image_init(img);
    if (ppx_image_alloc(img, w, h, c, PPX_U16, NULL, NULL))
        return -1;
    memcpy(img->data, v, (size_t)w * h * c * 2);
    return 0;
}

static int same8(const ppx_image *img, uint32_t w, uint32_t h, unsigned c, const uint8_t *v)
{
    if (img->width != w || img->height != h || img->channels != c || img->type != PPX_U8) {
        fprintf(stderr, "got %ux%u c%u t%d, want %ux%u c%u\n", img->width, img->height,
                img->channels, (int)img->type, w, h, c);
        return 0;
    }
    for (uint32_t y = 0; y < h; y++)
        for (size_t i = 0; i < (size_t)w * c; i++)
            if (ppx_image_row(img, y)[i] != v[y * w * c + i]) {
                fprintf(stderr, "row %u sample %zu: %u != %u\n", y, i, ppx_image_row(img, y)[i],
                        v[y * w * c + i]);
                return 0;
            }
    return 1;
}

static uint16_t at16(const ppx_image *img, uint32_t x, uint32_t y, unsigned c)
{
    uint16_t v;
    memcpy(&v, ppx_image_row(img, y) + ((size_t)x * img->channels + c) * 2, 2);
    return v;
}

/* 3x2 gray: a b c / d e f */
static const uint8_t g32[] = {1, 2, 3, 4, 5, 6};

static int flip_3x2(void)
{
    ppx_image s, d;
    CHECK(make8(&s, 3, 2, 1, g32) == 0);
    ppx_image_init(&d);
    s.orientation = 6;
    CHECK(ppx_op_flip(&s, &d, 0, NULL, NULL) == 0);
    CHECK(same8(&d, 3, 2, 1, (const uint8_t[]){3, 2, 1, 6, 5, 4}));
    CHECK_EQ_INT(d.orientation, 6); /* metadata kept for a later autorotate */
    CHECK(ppx_op_flip(&s, &d, 1, NULL, NULL) == 0);
    CHECK(same8(&d, 3, 2, 1, (const uint8_t[]){4, 5, 6, 1, 2, 3}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int rotate_3x2(void)
{
    ppx_image s, d;
    CHECK(make8(&s, 3, 2, 1, g32) == 0);
    ppx_image_init(&d);
    /* Clockwise 90: the left column, read bottom-up, becomes the top row. */
    CHECK(ppx_op_rotate(&s, &d, 90, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 3, 1, (const uint8_t[]){4, 1, 5, 2, 6, 3}));
    CHECK(ppx_op_rotate(&s, &d, 180, NULL, NULL) == 0);
    CHECK(same8(&d, 3, 2, 1, (const uint8_t[]){6, 5, 4, 3, 2, 1}));
    CHECK(ppx_op_rotate(&s, &d, 270, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 3, 1, (const uint8_t[]){3, 6, 2, 5, 1, 4}));
    ppx_err e;
    CHECK_EQ_INT(ppx_op_rotate(&s, &d, 45, NULL, &e), PPX_EINVAL);
    CHECK_EQ_INT(e.stage, PPX_STAGE_TRANSFORM);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* EXIF orientations on a 3x2 RGB image: each stored layout is what a camera
 * writes for an upright scene; autorotate must give the scene back. */
static int autorotate_all_8(void)
{
    /* Upright scene, 3 wide, 2 high: pixel value = 10*y + x + 1 (gray, RGB
     * copies). */
    const uint8_t up[] = {1, 2, 3, 11, 12, 13};
    /* Stored frames for orientations 1..8 (w x h), from the EXIF spec:
     * the 0th row/column of the stored image is the scene's ... side. */
    static const struct {
        uint32_t w, h;
        uint8_t v[6];
    } st[9] = {
        {0, 0, {0}},
        {3, 2, {1, 2, 3, 11, 12, 13}}, /* 1 top-left */
        {3, 2, {3, 2, 1, 13, 12, 11}}, /* 2 top-right: mirrored */
        {3, 2, {13, 12, 11, 3, 2, 1}}, /* 3 bottom-right: rotated 180 */
        {3, 2, {11, 12, 13, 1, 2, 3}}, /* 4 bottom-left: flipped */
        {2, 3, {1, 11, 2, 12, 3, 13}}, /* 5 left-top: transposed */
        {2, 3, {3, 13, 2, 12, 1, 11}}, /* 6 right-top: needs 90 cw */
        {2, 3, {13, 3, 12, 2, 11, 1}}, /* 7 right-bottom: transverse */
        {2, 3, {11, 1, 12, 2, 13, 3}}, /* 8 left-bottom: needs 90 ccw */
    };
    for (int o = 1; o <= 8; o++) {
        for (unsigned c = 1; c <= 4; c++) {
            uint8_t buf[24];
            for (int i = 0; i < 6; i++)
                for (unsigned k = 0; k < c; k++)
                    buf[i * c + k] = (uint8_t)(st[o].v[i] + 100 * k);
            ppx_image s, d;
            CHECK(make8(&s, st[o].w, st[o].h, c, buf) == 0);
            s.orientation = o;
            ppx_image_init(&d);
            CHECK(ppx_op_autorotate(&s, &d, NULL, NULL) == 0);
            uint8_t want[24];
            for (int i = 0; i < 6; i++)
                for (unsigned k = 0; k < c; k++)
                    want[i * c + k] = (uint8_t)(up[i] + 100 * k);
            if (!same8(&d, 3, 2, c, want)) {
                fprintf(stderr, "orientation %d, %u channels\n", o, c);
                return 1;
            }
            CHECK_EQ_INT(d.orientation, 1);
            ppx_image_destroy(&s);
            ppx_image_destroy(&d);
        }
    }
    return 0;
}

/* Transposing orientations go through 64x64 blocks: check a size that is
 * not a multiple of the block, in 16 bits, against the definition. */
static int autorotate_blocks_16bit(void)
{
    const uint32_t w = 131, h = 70;
    ppx_image s, d;
    ppx_image_init(&s);
    ppx_image_init(&d);
    CHECK(ppx_image_alloc(&s, w, h, 3, PPX_U16, NULL, NULL) == 0);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (unsigned c = 0; c < 3; c++) {
                uint16_t v = (uint16_t)(y * 300 + x + c * 20000);
                memcpy(ppx_image_row(&s, y) + (x * 3 + c) * 2, &v, 2);
            }
    for (int o = 5; o <= 8; o++) {
        s.orientation = o;
        CHECK(ppx_op_autorotate(&s, &d, NULL, NULL) == 0);
        CHECK(d.width == h && d.height == w);
        for (uint32_t y = 0; y < d.height; y++)
            for (uint32_t x = 0; x < d.width; x++) {
                uint32_t sx = o == 5 || o == 6 ? y : w - 1 - y;
                uint32_t sy = o == 5 || o == 8 ? x : h - 1 - x;
                for (unsigned c = 0; c < 3; c++)
                    if (at16(&d, x, y, c) != at16(&s, sx, sy, c)) {
                        fprintf(stderr, "o %d at %u,%u\n", o, x, y);
                        return 1;
                    }
            }
    }
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int crop_inside(void)
{
    ppx_image s, d;
    CHECK(make8(&s, 3, 2, 1, g32) == 0);
    ppx_image_init(&d);
    CHECK(ppx_op_extract(&s, &d, 1, 0, 2, 2, NULL, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 2, 1, (const uint8_t[]){2, 3, 5, 6}));
    CHECK(ppx_op_extract(&s, &d, 2, 1, 1, 1, NULL, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 1, (const uint8_t[]){6}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* A box partly or wholly outside the image is filled with zeros (Pillow's
 * crop, torchvision's F.crop). */
static int crop_outside_zeros(void)
{
    ppx_image s, d;
    CHECK(make8(&s, 3, 2, 1, g32) == 0);
    ppx_image_init(&d);
    CHECK(ppx_op_extract(&s, &d, -1, -1, 5, 4, NULL, NULL, NULL) == 0);
    CHECK(same8(&d, 5, 4, 1,
                (const uint8_t[]){0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0}));
    CHECK(ppx_op_extract(&s, &d, 10, 10, 2, 1, NULL, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 1, 1, (const uint8_t[]){0, 0}));
    CHECK(ppx_op_extract(&s, &d, 2, 1, 3, 1, NULL, NULL, NULL) == 0);
    CHECK(same8(&d, 3, 1, 1, (const uint8_t[]){6, 0, 0}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* center-crop larger than the image pads with zeros, left/top padding
 * (crop - size) // 2; smaller crops round as torchvision. */
static int center_crop_pad_and_round(void)
{
    ppx_image s, d;
    CHECK(make8(&s, 3, 2, 1, g32) == 0);
    ppx_image_init(&d);
    CHECK(ppx_op_center_crop(&s, &d, 6, 3, NULL, NULL) == 0);
    CHECK(same8(&d, 6, 3, 1,
                (const uint8_t[]){0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0}));
    /* 3 -> 2: offset round(0.5) = 0. */
    CHECK(ppx_op_center_crop(&s, &d, 2, 1, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 1, 1, (const uint8_t[]){1, 2}));
    /* 3 -> 1 with 2 -> 1: round(1.0) = 1, round(0.5) = 0. */
    CHECK(ppx_op_center_crop(&s, &d, 1, 1, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 1, (const uint8_t[]){2}));
    /* One side padded, the other cropped. */
    CHECK(ppx_op_center_crop(&s, &d, 1, 4, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 4, 1, (const uint8_t[]){0, 2, 5, 0}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int pad_colors(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    const uint8_t red[4] = {255, 0, 0, 255};
    /* RGB: colour as given. */
    CHECK(make8(&s, 1, 1, 3, (const uint8_t[]){9, 8, 7}) == 0);
    CHECK(ppx_op_pad(&s, &d, 3, 1, red, NULL, NULL) == 0);
    CHECK(same8(&d, 3, 1, 3, (const uint8_t[]){255, 0, 0, 9, 8, 7, 255, 0, 0}));
    ppx_image_destroy(&s);
    /* Gray + alpha: luma of red (76) and the colour's alpha. */
    CHECK(make8(&s, 1, 1, 2, (const uint8_t[]){9, 10}) == 0);
    CHECK(ppx_op_pad(&s, &d, 2, 1, red, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 1, 2, (const uint8_t[]){9, 10, 76, 255}));
    ppx_image_destroy(&s);
    /* 16-bit RGBA: values scaled by 257. */
    CHECK(make16(&s, 1, 1, 4, (const uint16_t[]){1, 2, 3, 4}) == 0);
    const uint8_t c[4] = {1, 2, 3, 128};
    CHECK(ppx_op_pad(&s, &d, 1, 2, c, NULL, NULL) == 0);
    CHECK(d.width == 1 && d.height == 2 && d.type == PPX_U16);
    CHECK(at16(&d, 0, 0, 0) == 1 && at16(&d, 0, 0, 3) == 4);
    CHECK(at16(&d, 0, 1, 0) == 257 && at16(&d, 0, 1, 1) == 514 && at16(&d, 0, 1, 2) == 771);
    CHECK(at16(&d, 0, 1, 3) == 128 * 257);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* BT.601 luma with Pillow's integer weights. */
static int grayscale_bt601(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 4, 1, 3, (const uint8_t[]){255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}) ==
          0);
    CHECK(ppx_op_grayscale(&s, &d, NULL, NULL) == 0);
    /* (255 * w + 32768) >> 16 for w = 19595, 38470, 7471: 76, 150, 29 */
    CHECK(same8(&d, 4, 1, 1, (const uint8_t[]){76, 150, 29, 255}));
    ppx_image_destroy(&s);
    /* RGBA keeps its alpha. */
    CHECK(make8(&s, 1, 1, 4, (const uint8_t[]){10, 20, 30, 40}) == 0);
    CHECK(ppx_op_grayscale(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 2, (const uint8_t[]){18, 40})); /* 17.98 */
    ppx_image_destroy(&s);
    /* 16-bit, including the extreme that must not overflow 32 bits. */
    CHECK(make16(&s, 2, 1, 3, (const uint16_t[]){65535, 65535, 65535, 1000, 2000, 3000}) == 0);
    CHECK(ppx_op_grayscale(&s, &d, NULL, NULL) == 0);
    CHECK(d.channels == 1 && d.type == PPX_U16);
    CHECK_EQ_INT(at16(&d, 0, 0, 0), 65535);
    CHECK_EQ_INT(at16(&d, 1, 0, 0), 1815); /* 299 + 1174 + 342 = 1815 */
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int rgb_channels(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 2, 1, 1, (const uint8_t[]){7, 9}) == 0);
    CHECK(ppx_op_rgb(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 1, 3, (const uint8_t[]){7, 7, 7, 9, 9, 9}));
    ppx_image_destroy(&s);
    CHECK(make8(&s, 1, 1, 2, (const uint8_t[]){7, 200}) == 0);
    CHECK(ppx_op_rgb(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 3, (const uint8_t[]){7, 7, 7}));
    ppx_image_destroy(&s);
    CHECK(make8(&s, 1, 1, 4, (const uint8_t[]){1, 2, 3, 4}) == 0);
    CHECK(ppx_op_rgb(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 3, (const uint8_t[]){1, 2, 3}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int to8bit_rounding(void)
{
    const uint16_t v[] = {0, 128, 129, 257, 385, 386, 65535, 65407, 65406};
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make16(&s, 9, 1, 1, v) == 0);
    CHECK(ppx_op_to_8bit(&s, &d, NULL, NULL) == 0);
    /* round(v / 257): 128/257 = 0.498, 129/257 = 0.502, 385/257 = 1.498 ... */
    CHECK(same8(&d, 9, 1, 1, (const uint8_t[]){0, 0, 1, 1, 1, 2, 255, 255, 254}));
    ppx_image_destroy(&s);
    /* 8-bit input is copied. */
    CHECK(make8(&s, 2, 1, 1, (const uint8_t[]){3, 250}) == 0);
    CHECK(ppx_op_to_8bit(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 1, 1, (const uint8_t[]){3, 250}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Pillow's ImageOps.equalize on a known histogram: values 10 x4, 20 x2,
 * 30 x2 (8 pixels). step = (8 - 2) // 255 = 0: identity (too few pixels).
 * With 1024 pixels: 10 x512, 20 x256, 30 x256: step = 768 // 255 = 3,
 * lut[10] = 1 // 3 = 0, lut[20] = (1 + 512) // 3 = 171, lut[30] = (1 + 768)
 * // 3 = 256 -> 255. */
static int equalize_known(void)
{
    uint8_t v[1024];
    for (int i = 0; i < 1024; i++)
        v[i] = i < 512 ? 10 : i < 768 ? 20 : 30;
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 32, 32, 1, v) == 0);
    CHECK(ppx_op_equalize(&s, &d, NULL, NULL) == 0);
    CHECK(d.data[0] == 0 && d.data[600] == 171 && d.data[1000] == 255);
    ppx_image_destroy(&s);
    CHECK(make8(&s, 8, 1, 1, (const uint8_t[]){10, 10, 10, 10, 20, 20, 30, 30}) == 0);
    CHECK(ppx_op_equalize(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 8, 1, 1, (const uint8_t[]){10, 10, 10, 10, 20, 20, 30, 30}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Alpha is not equalised; each colour channel has its own table; 16-bit
 * uses 65536 bins. */
static int equalize_channels_16bit(void)
{
    uint16_t v[2048 * 2];
    for (int i = 0; i < 2048; i++) {
        v[2 * i] = (uint16_t)(i < 1024 ? 1000 : 2000);
        v[2 * i + 1] = (uint16_t)(i < 1024 ? 5 : 9); /* alpha */
    }
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make16(&s, 64, 32, 2, v) == 0);
    /* 2048 pixels, two levels: step = 1024 // 65535 = 0 -> identity. */
    CHECK(ppx_op_equalize(&s, &d, NULL, NULL) == 0);
    CHECK(at16(&d, 0, 0, 0) == 1000 && at16(&d, 0, 31, 0) == 2000);
    CHECK(at16(&d, 0, 0, 1) == 5 && at16(&d, 0, 31, 1) == 9);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    /* 8-bit RGBA: channels independent, alpha kept. */
    uint8_t c[1024 * 4];
    for (int i = 0; i < 1024; i++) {
        c[4 * i + 0] = i < 512 ? 10 : i < 768 ? 20 : 30;
        c[4 * i + 1] = 77; /* one level: identity */
        c[4 * i + 2] = i < 768 ? 30 : 20;
        c[4 * i + 3] = (uint8_t)i;
    }
    CHECK(make8(&s, 32, 32, 4, c) == 0);
    CHECK(ppx_op_equalize(&s, &d, NULL, NULL) == 0);
    const uint8_t *p = d.data;
    CHECK(p[0] == 0 && p[1] == 77 && p[3] == 0);
    CHECK(p[600 * 4] == 171 && p[1000 * 4] == 255 && p[1000 * 4 + 3] == (uint8_t)1000);
    /* Channel 2: 20 x256 then 30 x768: step = 256 // 255 = 1; lut[20] = 0,
     * lut[30] = (0 + 256) // 1 = 256 -> 255. */
    CHECK(p[2] == 255 && p[1000 * 4 + 2] == 0);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Rasters: (x - mean) / std on sample values, one value a band for any
 * band count, x rounded to float32 first; NaN passes through. */
static int normalize_raster(void)
{
    ppx_image s, d;
    ppx_image_init(&s);
    ppx_image_init(&d);
    enum { B = 7 };
    CHECK(ppx_image_alloc(&s, 1, 1, B, PPX_I32, NULL, NULL) == 0);
    s.plain_bands = 1;
    const int32_t v[B] = {16777217, -16777219, 0, 1, -1, 2147483647, -2147483647 - 1};
    memcpy(s.data, v, sizeof v);
    float mean[B], std[B];
    for (int i = 0; i < B; i++) {
        mean[i] = 0.25f * (float)i - 1.0f;
        std[i] = 1.5f + (float)i;
    }
    CHECK(ppx_op_normalize(&s, &d, mean, std, B, NULL, NULL) == 0);
    CHECK(d.type == PPX_F32 && d.channels == B && d.plain_bands);
    for (int i = 0; i < B; i++)
        CHECK(((const float *)(void *)d.data)[i] == ((float)v[i] - mean[i]) / std[i]);
    /* A count that is neither 1 nor the bands fails the image. */
    ppx_err e;
    CHECK_EQ_INT(ppx_op_normalize(&s, &d, mean, std, 3, NULL, &e), PPX_EINVAL);
    CHECK(strstr(e.msg, "3 mean/std values for an image of 7 bands") != NULL);
    /* float32, one value for all: NaN stays NaN, infinities stay infinite. */
    CHECK(ppx_image_alloc(&s, 3, 1, 1, PPX_F32, NULL, NULL) == 0);
    const float f[3] = {NAN, INFINITY, -2.5f};
    memcpy(s.data, f, sizeof f);
    const float m = 0.5f, sd = 2.0f;
    CHECK(ppx_op_normalize(&s, &d, &m, &sd, 1, NULL, NULL) == 0);
    const float *o = (const float *)(void *)d.data;
    CHECK(isnan(o[0]) && isinf(o[1]) && o[1] > 0 && o[2] == -1.5f);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

static int normalize_values(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 2, 1, 3, (const uint8_t[]){0, 128, 255, 51, 102, 153}) == 0);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    CHECK(ppx_op_normalize(&s, &d, mean, std, 3, NULL, NULL) == 0);
    CHECK(d.type == PPX_F32 && d.channels == 3 && d.width == 2);
    const float *f = (const float *)d.data;
    /* torchvision's float32 arithmetic, step by step. */
    for (int i = 0; i < 6; i++) {
        float x = (float)s.data[i] / 255.0f;
        float want = (x - mean[i % 3]) / std[i % 3];
        CHECK(f[i] == want);
    }
    CHECK(fabsf(f[0] - (-2.117904f)) < 1e-5f);
    /* One value for every channel; 16-bit divides by 65535. */
    ppx_image_destroy(&s);
    CHECK(make16(&s, 1, 1, 2, (const uint16_t[]){65535, 0}) == 0);
    const float half = 0.5f;
    CHECK(ppx_op_normalize(&s, &d, &half, &half, 1, NULL, NULL) == 0);
    f = (const float *)d.data;
    CHECK(f[0] == 1.0f && f[1] == -1.0f);
    /* Count mismatch is an error for this image. */
    ppx_err e;
    CHECK_EQ_INT(ppx_op_normalize(&s, &d, mean, std, 3, NULL, &e), PPX_EINVAL);
    CHECK(strstr(e.msg, "3 mean/std values") != NULL);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* 1x1 and 1xN images through every geometric op. */
static int degenerate_sizes(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 1, 1, 3, (const uint8_t[]){1, 2, 3}) == 0);
    for (int o = 1; o <= 8; o++) {
        CHECK(ppx_op_orient(&s, &d, o, NULL, NULL) == 0);
        CHECK(same8(&d, 1, 1, 3, (const uint8_t[]){1, 2, 3}));
    }
    CHECK(ppx_op_center_crop(&s, &d, 1, 1, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 1, 3, (const uint8_t[]){1, 2, 3}));
    CHECK(ppx_op_center_crop(&s, &d, 2, 2, NULL, NULL) == 0);
    CHECK(same8(&d, 2, 2, 3, (const uint8_t[]){1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    ppx_image_destroy(&s);
    /* 1x5 column. */
    CHECK(make8(&s, 1, 5, 1, (const uint8_t[]){1, 2, 3, 4, 5}) == 0);
    CHECK(ppx_op_rotate(&s, &d, 90, NULL, NULL) == 0);
    CHECK(same8(&d, 5, 1, 1, (const uint8_t[]){5, 4, 3, 2, 1}));
    CHECK(ppx_op_flip(&s, &d, 1, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 5, 1, (const uint8_t[]){5, 4, 3, 2, 1}));
    CHECK(ppx_op_flip(&s, &d, 0, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 5, 1, (const uint8_t[]){1, 2, 3, 4, 5}));
    CHECK(ppx_op_center_crop(&s, &d, 1, 2, NULL, NULL) == 0); /* round(1.5) = 2 */
    CHECK(same8(&d, 1, 2, 1, (const uint8_t[]){3, 4}));
    CHECK(ppx_op_equalize(&s, &d, NULL, NULL) == 0);
    CHECK(ppx_op_grayscale(&s, &d, NULL, NULL) == 0);
    CHECK(same8(&d, 1, 5, 1, (const uint8_t[]){1, 2, 3, 4, 5}));
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Ops that compute on samples refuse float images with a message. */
static int float_refused(void)
{
    ppx_image s, d;
    ppx_image_init(&s);
    ppx_image_init(&d);
    CHECK(ppx_image_alloc(&s, 2, 2, 3, PPX_F32, NULL, NULL) == 0);
    ppx_err e;
    CHECK_EQ_INT(ppx_op_grayscale(&s, &d, NULL, &e), PPX_EUNSUPPORTED);
    CHECK(strstr(e.msg, "grayscale") != NULL);
    /* Geometry and resize work on any sample type: a constant stays it. */
    for (int i = 0; i < 12; i++)
        ((float *)(void *)s.data)[i] = -1.5f;
    CHECK_EQ_INT(ppx_op_resize(NULL, &s, &d, 3, 5, PPX_FILTER_LANCZOS3, NULL, &e), 0);
    CHECK_EQ_INT(d.type, PPX_F32);
    for (int i = 0; i < 3 * 5 * 3; i++)
        CHECK(fabsf(((float *)(void *)d.data)[i] + 1.5f) < 1e-6f);
    CHECK(ppx_op_flip(&s, &d, 0, NULL, NULL) == 0);
    /* Integers round and clamp to their type: lanczos overshoots a step. */
    CHECK(ppx_image_alloc(&s, 16, 1, 1, PPX_I16, NULL, NULL) == 0);
    int16_t step[16];
    for (int i = 0; i < 16; i++)
        step[i] = (int16_t)(i < 8 ? -32768 : 32767);
    memcpy(s.data, step, sizeof step);
    CHECK_EQ_INT(ppx_op_resize(NULL, &s, &d, 33, 1, PPX_FILTER_LANCZOS3, NULL, &e), 0);
    CHECK_EQ_INT(d.type, PPX_I16);
    const int16_t *o = (const int16_t *)(void *)d.data;
    /* Both ends saturate (the ringing past them is clamped, not wrapped). */
    CHECK_EQ_INT(o[0], -32768);
    CHECK_EQ_INT(o[32], 32767);
    for (int i = 1; i < 33; i++)
        CHECK(i < 16 ? o[i] <= 0 : o[i] >= -32768);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* The destination is checked against limits before it is allocated. */
static int limits_checked(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(make8(&s, 1, 1, 1, (const uint8_t[]){1}) == 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 100;
    ppx_err e;
    CHECK_EQ_INT(ppx_op_center_crop(&s, &d, 11, 10, &l, &e), PPX_ELIMIT);
    CHECK_EQ_INT(e.stage, PPX_STAGE_TRANSFORM);
    CHECK(d.data == NULL);
    CHECK(ppx_op_center_crop(&s, &d, 10, 10, &l, &e) == 0);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

PPX_TEST_MAIN(TEST(flip_3x2), TEST(rotate_3x2), TEST(autorotate_all_8),
              TEST(autorotate_blocks_16bit), TEST(crop_inside), TEST(crop_outside_zeros),
              TEST(center_crop_pad_and_round), TEST(pad_colors), TEST(grayscale_bt601),
              TEST(rgb_channels), TEST(to8bit_rounding), TEST(equalize_known),
              TEST(equalize_channels_16bit), TEST(normalize_values), TEST(normalize_raster),
              TEST(degenerate_sizes), TEST(float_refused), TEST(limits_checked))
