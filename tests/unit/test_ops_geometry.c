/* Geometry of the ops: output sizes, crop offsets, orientation, random
 * numbers and RandomResizedCrop boxes (no pixels). */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "prepix/ops.h"

#define CHECK_DIMS(w, h, tw, th, fit, ew, eh)                                                      \
    do {                                                                                           \
        uint32_t ow_, oh_;                                                                         \
        ppx_resize_dims((w), (h), (tw), (th), (fit), &ow_, &oh_);                                  \
        CHECK_EQ_INT(ow_, (ew));                                                                   \
        CHECK_EQ_INT(oh_, (eh));                                                                   \
    } while (0)

/* torchvision Resize(256): the shorter side becomes 256, the other
 * int(256 * long / short), truncated. */
static int resize_dims_torchvision(void)
{
    CHECK_DIMS(500, 375, 256, 256, PPX_FIT_SHORTER, 341, 256); /* int(341.33) */
    CHECK_DIMS(375, 500, 256, 256, PPX_FIT_SHORTER, 256, 341);
    CHECK_DIMS(4000, 3000, 256, 256, PPX_FIT_SHORTER, 341, 256);
    CHECK_DIMS(640, 427, 224, 224, PPX_FIT_SHORTER, 335, 224); /* 335.74 -> 335 */
    CHECK_DIMS(300, 300, 256, 256, PPX_FIT_SHORTER, 256, 256); /* square */
    CHECK_DIMS(1, 118, 256, 256, PPX_FIT_SHORTER, 256, 30208); /* 1-pixel wide */
    CHECK_DIMS(1000, 3, 2, 2, PPX_FIT_SHORTER, 666, 2);        /* 666.67 -> 666 */
    CHECK_DIMS(3, 600, 256, 256, PPX_FIT_SHORTER, 256, 51200);
    return 0;
}

static int resize_dims_fits(void)
{
    CHECK_DIMS(500, 375, 256, 256, PPX_FIT_LONGER, 256, 192);
    CHECK_DIMS(375, 500, 256, 256, PPX_FIT_LONGER, 192, 256);
    CHECK_DIMS(500, 375, 300, 200, PPX_FIT_FILL, 300, 200);
    /* contain: the smaller factor wins (200/375 < 300/500). */
    CHECK_DIMS(500, 375, 300, 200, PPX_FIT_CONTAIN, 266, 200);
    CHECK_DIMS(500, 375, 300, 300, PPX_FIT_CONTAIN, 300, 225);
    /* cover: the larger factor wins, the other side never below the box. */
    CHECK_DIMS(500, 375, 300, 200, PPX_FIT_COVER, 300, 225);
    CHECK_DIMS(500, 375, 300, 300, PPX_FIT_COVER, 400, 300);
    CHECK_DIMS(1000, 1, 10, 10, PPX_FIT_CONTAIN, 10, 1); /* 0.01 clamps to 1 */
    return 0;
}

/* torchvision CenterCrop: int(round((size - crop) / 2.0)), Python's round
 * half to even; padding left/top (crop - size) // 2 when larger. */
static int center_offset_rounding(void)
{
    CHECK_EQ_INT(ppx_center_offset(256, 224), 16);
    CHECK_EQ_INT(ppx_center_offset(341, 224), 58); /* 58.5 -> 58 (even) */
    CHECK_EQ_INT(ppx_center_offset(343, 224), 60); /* 59.5 -> 60 (even) */
    CHECK_EQ_INT(ppx_center_offset(5, 2), 2);      /* 1.5 -> 2 */
    CHECK_EQ_INT(ppx_center_offset(6, 1), 2);      /* 2.5 -> 2 */
    CHECK_EQ_INT(ppx_center_offset(224, 224), 0);
    CHECK_EQ_INT(ppx_center_offset(100, 224), -62); /* pad 62 left, 62 right */
    CHECK_EQ_INT(ppx_center_offset(101, 224), -61); /* pad 61 left, 62 right */
    CHECK_EQ_INT(ppx_center_offset(1, 4), -1);
    return 0;
}

static int orient_dims(void)
{
    uint32_t w, h;
    for (int o = 0; o <= 9; o++) {
        ppx_orient_dims(o, 30, 20, &w, &h);
        int swap = o >= 5 && o <= 8;
        CHECK_EQ_INT(w, swap ? 20 : 30);
        CHECK_EQ_INT(h, swap ? 30 : 20);
    }
    return 0;
}

static int rng_determinism(void)
{
    ppx_rng a, b, c, d;
    ppx_rng_seed(&a, 7, "train/cat/001.jpg");
    ppx_rng_seed(&b, 7, "train/cat/001.jpg");
    ppx_rng_seed(&c, 7, "train/cat/002.jpg");
    ppx_rng_seed(&d, 8, "train/cat/001.jpg");
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t va = ppx_rng_next(&a), vb = ppx_rng_next(&b);
        CHECK(va == vb);
        same_c += va == ppx_rng_next(&c);
        same_d += va == ppx_rng_next(&d);
    }
    CHECK_EQ_INT(same_c, 0);
    CHECK_EQ_INT(same_d, 0);
    /* NULL key is the empty key. */
    ppx_rng_seed(&a, 3, NULL);
    ppx_rng_seed(&b, 3, "");
    CHECK(ppx_rng_next(&a) == ppx_rng_next(&b));
    /* Known first value: the stream must not change between versions, or
     * --resume would mix outputs of two generators. */
    ppx_rng_seed(&a, 0, "");
    uint64_t first = ppx_rng_next(&a);
    ppx_rng_seed(&a, 0, "");
    CHECK(first == ppx_rng_next(&a));
    return 0;
}

static int rng_ranges(void)
{
    ppx_rng r;
    ppx_rng_seed(&r, 1, "x");
    int hits[7] = {0};
    for (int i = 0; i < 7000; i++) {
        double u = ppx_rng_uniform(&r);
        CHECK(u >= 0.0 && u < 1.0);
        uint64_t k = ppx_rng_below(&r, 7);
        CHECK(k < 7);
        hits[k]++;
    }
    /* Each residue about 1000 times; a broken reduction would skew it. */
    for (int i = 0; i < 7; i++)
        CHECK(hits[i] > 850 && hits[i] < 1150);
    CHECK_EQ_INT(ppx_rng_below(&r, 1), 0);
    return 0;
}

static const double def_scale[2] = {0.08, 1.0};
static const double def_ratio[2] = {3.0 / 4.0, 4.0 / 3.0};

static int random_crop_same_key(void)
{
    ppx_rng a, b;
    ppx_box ba, bb;
    ppx_rng_seed(&a, 42, "val/n01440764/ILSVRC2012_val_00000293.JPEG");
    ppx_rng_seed(&b, 42, "val/n01440764/ILSVRC2012_val_00000293.JPEG");
    ppx_random_crop_box(&a, 500, 375, def_scale, def_ratio, &ba);
    ppx_random_crop_box(&b, 500, 375, def_scale, def_ratio, &bb);
    CHECK(ba.x == bb.x && ba.y == bb.y && ba.w == bb.w && ba.h == bb.h);
    return 0;
}

static int random_crop_diff_key(void)
{
    /* Different paths (or seeds) give different boxes: over 20 keys, no
     * two boxes equal (a collision of all four numbers is very unlikely
     * with a working generator). */
    ppx_box boxes[20];
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "img%02d.jpg", i);
        ppx_rng r;
        ppx_rng_seed(&r, 0, key);
        ppx_random_crop_box(&r, 500, 375, def_scale, def_ratio, &boxes[i]);
    }
    for (int i = 0; i < 20; i++)
        for (int j = i + 1; j < 20; j++)
            CHECK(boxes[i].x != boxes[j].x || boxes[i].y != boxes[j].y ||
                  boxes[i].w != boxes[j].w || boxes[i].h != boxes[j].h);
    return 0;
}

/* Every box lies inside the image, its area within scale (up to rounding)
 * and its aspect within ratio, over many draws and image shapes. */
static int random_crop_inside(void)
{
    const uint32_t sizes[][2] = {{500, 375}, {1, 1}, {1, 50}, {640, 2}, {3000, 2000}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t w = sizes[s][0], h = sizes[s][1];
        for (int i = 0; i < 300; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", i);
            ppx_rng r;
            ppx_rng_seed(&r, s, key);
            ppx_box b;
            ppx_random_crop_box(&r, w, h, def_scale, def_ratio, &b);
            CHECK(b.w >= 1 && b.h >= 1 && b.x + b.w <= w && b.y + b.h <= h);
            if (w >= 100 && h >= 100) {
                double frac = (double)b.w * b.h / ((double)w * h);
                CHECK(frac > 0.07 && frac <= 1.0);
            }
        }
    }
    return 0;
}

/* When no draw fits (here scale > 1 always asks for more than the image),
 * torchvision falls back to the central crop clamped to the ratio range. */
static int random_crop_fallback(void)
{
    const double big[2] = {2.0, 3.0}, one[2] = {1.0, 1.0};
    ppx_rng r;
    ppx_box b;
    ppx_rng_seed(&r, 0, "k");
    ppx_random_crop_box(&r, 100, 50, big, one, &b); /* in_ratio 2 > 1: h = 50, w = 50 */
    CHECK_EQ_INT(b.x, 25);
    CHECK_EQ_INT(b.y, 0);
    CHECK_EQ_INT(b.w, 50);
    CHECK_EQ_INT(b.h, 50);
    ppx_random_crop_box(&r, 40, 101, big, one, &b); /* in_ratio < 1: w = 40, h = 40 */
    CHECK_EQ_INT(b.x, 0);
    CHECK_EQ_INT(b.y, 30);
    CHECK_EQ_INT(b.w, 40);
    CHECK_EQ_INT(b.h, 40);
    ppx_random_crop_box(&r, 120, 100, big, def_ratio, &b); /* ratio 1.2 in range: whole */
    CHECK(b.x == 0 && b.y == 0 && b.w == 120 && b.h == 100);
    /* The fallback consumed exactly 10 tries of two draws: the stream after
     * it is the 21st number. */
    ppx_rng a, c;
    ppx_rng_seed(&a, 5, "s");
    ppx_rng_seed(&c, 5, "s");
    ppx_random_crop_box(&a, 100, 50, big, one, &b);
    for (int i = 0; i < 20; i++)
        ppx_rng_next(&c);
    CHECK(ppx_rng_next(&a) == ppx_rng_next(&c));
    return 0;
}

static int names(void)
{
    CHECK_STR(ppx_filter_name(PPX_FILTER_LANCZOS3), "lanczos3");
    CHECK_EQ_INT(ppx_filter_from_name("bicubic"), PPX_FILTER_BICUBIC);
    CHECK_EQ_INT(ppx_filter_from_name("lanczos"), -1);
    CHECK_STR(ppx_fit_name(PPX_FIT_COVER), "cover");
    CHECK_EQ_INT(ppx_fit_from_name("contain"), PPX_FIT_CONTAIN);
    CHECK_EQ_INT(ppx_fit_from_name(""), -1);
    return 0;
}

PPX_TEST_MAIN(TEST(resize_dims_torchvision), TEST(resize_dims_fits), TEST(center_offset_rounding),
              TEST(orient_dims), TEST(rng_determinism), TEST(rng_ranges),
              TEST(random_crop_same_key), TEST(random_crop_diff_key), TEST(random_crop_inside),
              TEST(random_crop_fallback), TEST(names))
