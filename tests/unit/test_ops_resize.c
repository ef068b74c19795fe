/* Resize on synthetic images: values known from Pillow, invariants that
 * hold for every filter, 8/16-bit and 1..4 channel paths, degenerate
 * sizes, alpha, buffer reuse. Real photos against Pillow: tests/corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/ops_impl.h"
#include "prepix/ops.h"

static const ppx_filter all_filters[] = {PPX_FILTER_NEAREST, PPX_FILTER_BILINEAR,
                                         PPX_FILTER_BICUBIC, PPX_FILTER_LANCZOS3};

static int row8(ppx_image *img, uint32_t w, uint32_t h, unsigned c, const uint8_t *v)
{
    ppx_image_init(img);
    if (ppx_image_alloc(img, w, h, c, PPX_U8, NULL, NULL))
        return -1;
    memcpy(img->data, v, (size_t)w * h * c);
    return 0;
}

/* Deterministic "photo-like" content: smooth gradients plus a hash. */
static void fill_pattern(ppx_image *img, unsigned seed)
{
    for (uint32_t y = 0; y < img->height; y++)
        for (uint32_t x = 0; x < img->width; x++)
            for (unsigned c = 0; c < img->channels; c++) {
                uint32_t hsh = (x * 73856093u) ^ (y * 19349663u) ^ (c * 83492791u) ^ seed;
                hsh = (hsh ^ (hsh >> 13)) * 0x5bd1e995u;
                uint32_t v8 =
                    ((x * 255 / (img->width + 1)) + (y * 97 / (img->height + 1)) + (hsh >> 27)) &
                    255;
                size_t i = (size_t)x * img->channels + c;
                if (img->type == PPX_U8)
                    ppx_image_row(img, y)[i] = (uint8_t)v8;
                else
                    ((uint16_t *)ppx_image_row(img, y))[i] = (uint16_t)(v8 * 257 + (hsh & 255));
            }
}

/* Values Pillow 9.4 gives for [0 100 200 100] (see test comments). */
static int pillow_known_values(void)
{
    static const struct {
        ppx_filter f;
        uint32_t w;
        uint8_t want[7];
    } cases[] = {
        {PPX_FILTER_BILINEAR, 2, {71, 143}},
        {PPX_FILTER_BICUBIC, 2, {66, 150}},
        {PPX_FILTER_LANCZOS3, 2, {68, 153}},
        {PPX_FILTER_NEAREST, 2, {100, 100}},
        {PPX_FILTER_BILINEAR, 7, {0, 36, 93, 150, 193, 136, 100}},
        {PPX_FILTER_BICUBIC, 7, {0, 26, 92, 163, 199, 134, 92}},
        {PPX_FILTER_LANCZOS3, 7, {0, 20, 88, 179, 196, 136, 85}},
        {PPX_FILTER_NEAREST, 7, {0, 0, 100, 100, 200, 100, 100}},
    };
    ppx_image s, d, sv;
    CHECK(row8(&s, 4, 1, 1, (const uint8_t[]){0, 100, 200, 100}) == 0);
    CHECK(row8(&sv, 1, 4, 1, (const uint8_t[]){0, 100, 200, 100}) == 0);
    ppx_image_init(&d);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(ppx_op_resize(NULL, &s, &d, cases[i].w, 1, cases[i].f, NULL, NULL) == 0);
        for (uint32_t x = 0; x < cases[i].w; x++)
            if (d.data[x] != cases[i].want[x]) {
                fprintf(stderr, "%s w=%u x=%u: %u != %u\n", ppx_filter_name(cases[i].f), cases[i].w,
                        x, d.data[x], cases[i].want[x]);
                return 1;
            }
        /* The vertical pass gives the same numbers on the transposed input. */
        CHECK(ppx_op_resize(NULL, &sv, &d, 1, cases[i].w, cases[i].f, NULL, NULL) == 0);
        for (uint32_t y = 0; y < cases[i].w; y++)
            CHECK_EQ_INT(d.data[y], cases[i].want[y]);
    }
    /* Shrinking 4 -> 3 vertically (Pillow: 30 150 130 for bilinear). */
    CHECK(ppx_op_resize(NULL, &sv, &d, 1, 3, PPX_FILTER_BILINEAR, NULL, NULL) == 0);
    CHECK(d.data[0] == 30 && d.data[1] == 150 && d.data[2] == 130);
    ppx_image_destroy(&s);
    ppx_image_destroy(&sv);
    ppx_image_destroy(&d);
    return 0;
}

/* A constant image stays exactly constant for every filter, size, channel
 * count and depth: coefficients are normalised and the rounding is right. */
static int constant_stays_constant(void)
{
    const uint32_t sizes[][4] = {{37, 23, 5, 3},  {37, 23, 200, 151}, {1, 1, 17, 9},
                                 {16, 16, 1, 1},  {300, 7, 31, 70},   {5, 400, 5, 13},
                                 {64, 64, 64, 13}};
    ppx_image s, d;
    ppx_image_init(&s);
    ppx_image_init(&d);
    for (int type = 1; type <= 2; type++)
        for (unsigned c = 1; c <= 4; c++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
                for (int f = 0; f < 4; f++) {
                    CHECK(ppx_image_alloc(&s, sizes[z][0], sizes[z][1], c, (ppx_sample)type, NULL,
                                          NULL) == 0);
                    uint16_t v16[4] = {0, 65535, 12345, 65535};
                    uint8_t v8[4] = {0, 255, 77, 255};
                    for (uint32_t y = 0; y < s.height; y++)
                        for (uint32_t x = 0; x < s.width; x++)
                            for (unsigned k = 0; k < c; k++) {
                                size_t i = (size_t)x * c + k;
                                if (type == 1)
                                    ppx_image_row(&s, y)[i] = v8[k];
                                else
                                    ((uint16_t *)ppx_image_row(&s, y))[i] = v16[k];
                            }
                    CHECK(ppx_op_resize(NULL, &s, &d, sizes[z][2], sizes[z][3], all_filters[f],
                                        NULL, NULL) == 0);
                    CHECK(d.width == sizes[z][2] && d.height == sizes[z][3] && d.channels == c);
                    for (uint32_t y = 0; y < d.height; y++)
                        for (uint32_t x = 0; x < d.width; x++)
                            for (unsigned k = 0; k < c; k++) {
                                size_t i = (size_t)x * c + k;
                                unsigned got = type == 1 ? ppx_image_row(&d, y)[i]
                                                         : ((uint16_t *)ppx_image_row(&d, y))[i];
                                unsigned want = type == 1 ? v8[k] : v16[k];
                                if (got != want) {
                                    fprintf(stderr, "type %d c %u size %zu filter %d: %u != %u\n",
                                            type, c, z, f, got, want);
                                    return 1;
                                }
                            }
                }
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Same size: an exact copy, whatever the filter. One axis unchanged: only
 * the other pass runs, and the unchanged axis is not smoothed. */
static int identity_and_single_pass(void)
{
    ppx_image s, d, t;
    ppx_image_init(&s);
    ppx_image_init(&d);
    ppx_image_init(&t);
    CHECK(ppx_image_alloc(&s, 45, 31, 3, PPX_U8, NULL, NULL) == 0);
    fill_pattern(&s, 1);
    for (int f = 0; f < 4; f++) {
        CHECK(ppx_op_resize(NULL, &s, &d, 45, 31, all_filters[f], NULL, NULL) == 0);
        CHECK(memcmp(s.data, d.data, 45 * 31 * 3) == 0);
        /* Width only: each output row depends on its own input row alone. */
        CHECK(ppx_op_resize(NULL, &s, &d, 20, 31, all_filters[f], NULL, NULL) == 0);
        ppx_image row;
        ppx_image_init(&row);
        CHECK(ppx_image_alloc(&row, 45, 1, 3, PPX_U8, NULL, NULL) == 0);
        memcpy(row.data, ppx_image_row(&s, 17), 45 * 3);
        CHECK(ppx_op_resize(NULL, &row, &t, 20, 1, all_filters[f], NULL, NULL) == 0);
        CHECK(memcmp(t.data, ppx_image_row(&d, 17), 20 * 3) == 0);
        ppx_image_destroy(&row);
    }
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    ppx_image_destroy(&t);
    return 0;
}

/* The 16-bit path (float sums) agrees with the 8-bit path (Pillow's fixed
 * point) on the same content to within one 8-bit step, for every channel
 * count and filter, shrinking and enlarging. */
static int depth16_matches_8(void)
{
    ppx_image s8, s16, d8, d16;
    ppx_image_init(&s8);
    ppx_image_init(&s16);
    ppx_image_init(&d8);
    ppx_image_init(&d16);
    const uint32_t to[][2] = {{23, 17}, {130, 90}, {61, 3}};
    for (unsigned c = 1; c <= 4; c++) {
        CHECK(ppx_image_alloc(&s8, 61, 47, c, PPX_U8, NULL, NULL) == 0);
        fill_pattern(&s8, 7);
        if (c == 2 || c == 4) /* opaque alpha, so the paths compare colour */
            for (size_t i = c - 1; i < (size_t)61 * 47 * c; i += c)
                s8.data[i] = 255;
        CHECK(ppx_image_alloc(&s16, 61, 47, c, PPX_U16, NULL, NULL) == 0);
        for (size_t i = 0; i < (size_t)61 * 47 * c; i++)
            ((uint16_t *)s16.data)[i] = (uint16_t)(s8.data[i] * 257);
        for (size_t z = 0; z < 3; z++)
            for (int f = 1; f < 4; f++) {
                CHECK(ppx_op_resize(NULL, &s8, &d8, to[z][0], to[z][1], all_filters[f], NULL,
                                    NULL) == 0);
                CHECK(ppx_op_resize(NULL, &s16, &d16, to[z][0], to[z][1], all_filters[f], NULL,
                                    NULL) == 0);
                CHECK(d16.type == PPX_U16);
                for (size_t i = 0; i < (size_t)to[z][0] * to[z][1] * c; i++) {
                    int a = d8.data[i], b = (((uint16_t *)d16.data)[i] + 128) / 257;
                    if (abs(a - b) > 1) {
                        fprintf(stderr, "c %u size %zu filter %d sample %zu: %d vs %d\n", c, z, f,
                                i, a, b);
                        return 1;
                    }
                }
            }
    }
    ppx_image_destroy(&s8);
    ppx_image_destroy(&s16);
    ppx_image_destroy(&d8);
    ppx_image_destroy(&d16);
    return 0;
}

/* Lanczos and bicubic overshoot at a hard edge; results clamp to the
 * sample range instead of wrapping (0 | max step, enlarged 4 -> 13). */
static int overshoot_clamps(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    /* Pillow 9.4: the ringing below 0 and above 255 is clamped. */
    const uint8_t want[13] = {12, 2, 0, 0, 0, 39, 128, 216, 255, 255, 255, 253, 243};
    CHECK(row8(&s, 4, 1, 1, (const uint8_t[]){0, 0, 255, 255}) == 0);
    CHECK(ppx_op_resize(NULL, &s, &d, 13, 1, PPX_FILTER_LANCZOS3, NULL, NULL) == 0);
    CHECK(memcmp(d.data, want, 13) == 0);
    ppx_image_destroy(&s);
    /* 16-bit: the same shape; a wrapped negative sum would put a bright
     * value among the dark ones and the reverse. */
    CHECK(ppx_image_alloc(&s, 4, 1, 1, PPX_U16, NULL, NULL) == 0);
    const uint16_t v[4] = {0, 0, 65535, 65535};
    memcpy(s.data, v, sizeof v);
    CHECK(ppx_op_resize(NULL, &s, &d, 13, 1, PPX_FILTER_LANCZOS3, NULL, NULL) == 0);
    const uint16_t *o = (const uint16_t *)d.data;
    for (int i = 0; i < 13; i++) {
        int w8 = (o[i] + 128) / 257;
        CHECK(w8 >= want[i] - 1 && w8 <= want[i] + 1);
    }
    CHECK(o[2] == 0 && o[3] == 0 && o[8] == 65535 && o[9] == 65535);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* 1x1, 1xN and Nx1 in both directions, all filters. */
static int degenerate_sizes(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    CHECK(row8(&s, 1, 1, 3, (const uint8_t[]){10, 20, 30}) == 0);
    for (int f = 0; f < 4; f++) {
        CHECK(ppx_op_resize(NULL, &s, &d, 7, 5, all_filters[f], NULL, NULL) == 0);
        for (size_t i = 0; i < 35; i++)
            CHECK(d.data[3 * i] == 10 && d.data[3 * i + 1] == 20 && d.data[3 * i + 2] == 30);
    }
    ppx_image_destroy(&s);
    CHECK(row8(&s, 1, 6, 1, (const uint8_t[]){0, 50, 100, 150, 200, 250}) == 0);
    for (int f = 0; f < 4; f++) {
        CHECK(ppx_op_resize(NULL, &s, &d, 1, 1, all_filters[f], NULL, NULL) == 0);
        CHECK(d.width == 1 && d.height == 1);
        CHECK(d.data[0] >= 100 && d.data[0] <= 150); /* centre of the ramp */
        CHECK(ppx_op_resize(NULL, &s, &d, 3, 12, all_filters[f], NULL, NULL) == 0);
        for (uint32_t y = 0; y < 12; y++) /* each row constant */
            CHECK(d.data[y * 3] == d.data[y * 3 + 1] && d.data[y * 3] == d.data[y * 3 + 2]);
        CHECK(ppx_op_resize(NULL, &s, &d, 1, 2, all_filters[f], NULL, NULL) == 0);
        CHECK(d.data[0] < d.data[1]);
    }
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* Alpha is resampled premultiplied: a fully transparent pixel's colour
 * never leaks into its neighbours (the red under alpha 0 stays invisible).
 * Values from Pillow 9.4 (RGBA -> RGBa, resize, -> RGBA). */
static int alpha_premultiplied(void)
{
    ppx_image s, d;
    ppx_image_init(&d);
    uint8_t px[8 * 4];
    for (int i = 0; i < 8; i++) {
        int transparent = i >= 4;
        px[4 * i + 0] = transparent ? 255 : 0;
        px[4 * i + 1] = transparent ? 0 : 200;
        px[4 * i + 2] = 0;
        px[4 * i + 3] = transparent ? 0 : 255;
    }
    CHECK(row8(&s, 8, 1, 4, px) == 0);
    static const uint8_t want[3][12] = {
        {0, 200, 0, 255, 0, 199, 0, 128, 0, 0, 0, 0}, /* bilinear */
        {0, 209, 0, 255, 0, 200, 0, 127, 0, 0, 0, 0}, /* bicubic */
        {0, 218, 0, 255, 0, 200, 0, 127, 0, 0, 0, 0}, /* lanczos3 */
    };
    for (int f = 1; f < 4; f++) {
        CHECK(ppx_op_resize(NULL, &s, &d, 3, 1, all_filters[f], NULL, NULL) == 0);
        CHECK(memcmp(d.data, want[f - 1], 12) == 0);
    }
    /* Gray + alpha the same way. */
    ppx_image_destroy(&s);
    uint8_t ga[8 * 2];
    for (int i = 0; i < 8; i++) {
        ga[2 * i] = i >= 4 ? 255 : 40;
        ga[2 * i + 1] = i >= 4 ? 0 : 255;
    }
    CHECK(row8(&s, 8, 1, 2, ga) == 0);
    CHECK(ppx_op_resize(NULL, &s, &d, 3, 1, PPX_FILTER_BILINEAR, NULL, NULL) == 0);
    CHECK(d.data[1] == 255 && d.data[0] == 40);
    CHECK(d.data[3] > 0 && d.data[2] >= 39 && d.data[2] <= 41);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* resized_crop reads only the box: equal to resizing a copy of the box. */
static int resized_crop_is_view(void)
{
    ppx_image s, box, d1, d2;
    ppx_image_init(&s);
    ppx_image_init(&box);
    ppx_image_init(&d1);
    ppx_image_init(&d2);
    CHECK(ppx_image_alloc(&s, 80, 60, 3, PPX_U8, NULL, NULL) == 0);
    fill_pattern(&s, 3);
    ppx_box b = {13, 7, 41, 33};
    CHECK(ppx_op_extract(&s, &box, b.x, b.y, b.w, b.h, NULL, NULL, NULL) == 0);
    for (int f = 0; f < 4; f++) {
        CHECK(ppx_op_resized_crop(NULL, &s, &b, &d1, 24, 24, all_filters[f], NULL, NULL) == 0);
        CHECK(ppx_op_resize(NULL, &box, &d2, 24, 24, all_filters[f], NULL, NULL) == 0);
        CHECK(memcmp(d1.data, d2.data, 24 * 24 * 3) == 0);
    }
    ppx_box outside = {70, 0, 11, 5};
    ppx_err e;
    CHECK_EQ_INT(ppx_op_resized_crop(NULL, &s, &outside, &d1, 4, 4, PPX_FILTER_BILINEAR, NULL, &e),
                 PPX_EINVAL);
    ppx_image_destroy(&s);
    ppx_image_destroy(&box);
    ppx_image_destroy(&d1);
    ppx_image_destroy(&d2);
    return 0;
}

/* A resizer reused across sizes and filters gives what a fresh one gives
 * (the cached coefficient tables are invalidated correctly), and stops
 * allocating once warm. */
static int resizer_reuse(void)
{
    ppx_resizer *rs = NULL;
    CHECK(ppx_resizer_new(&rs) == 0);
    ppx_image a, b, d1, d2;
    ppx_image_init(&a);
    ppx_image_init(&b);
    ppx_image_init(&d1);
    ppx_image_init(&d2);
    CHECK(ppx_image_alloc(&a, 90, 70, 3, PPX_U8, NULL, NULL) == 0);
    CHECK(ppx_image_alloc(&b, 70, 90, 3, PPX_U16, NULL, NULL) == 0);
    fill_pattern(&a, 5);
    fill_pattern(&b, 6);
    const struct {
        const ppx_image *src;
        uint32_t w, h;
        ppx_filter f;
    } seq[] = {{&a, 30, 20, PPX_FILTER_LANCZOS3}, {&b, 30, 20, PPX_FILTER_LANCZOS3},
               {&a, 30, 20, PPX_FILTER_BILINEAR}, {&a, 20, 30, PPX_FILTER_LANCZOS3},
               {&b, 140, 20, PPX_FILTER_BICUBIC}, {&a, 30, 20, PPX_FILTER_LANCZOS3}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        CHECK(ppx_op_resize(rs, seq[i].src, &d1, seq[i].w, seq[i].h, seq[i].f, NULL, NULL) == 0);
        CHECK(ppx_op_resize(NULL, seq[i].src, &d2, seq[i].w, seq[i].h, seq[i].f, NULL, NULL) == 0);
        CHECK(memcmp(d1.data, d2.data, (size_t)seq[i].w * seq[i].h * 3 * seq[i].src->type) == 0);
    }
    /* Warm: the same resize again keeps the destination buffer. */
    uint8_t *before = d1.data;
    CHECK(ppx_op_resize(rs, &a, &d1, 30, 20, PPX_FILTER_LANCZOS3, NULL, NULL) == 0);
    CHECK(d1.data == before);
    ppx_resizer_free(&rs);
    CHECK(rs == NULL);
    ppx_resizer_free(&rs); /* NULL is fine */
    ppx_image_destroy(&a);
    ppx_image_destroy(&b);
    ppx_image_destroy(&d1);
    ppx_image_destroy(&d2);
    return 0;
}

/* Limits apply to the output and to the intermediate image. */
static int limits_checked(void)
{
    ppx_image s, d;
    ppx_image_init(&s);
    ppx_image_init(&d);
    CHECK(ppx_image_alloc(&s, 1, 2000, 1, PPX_U8, NULL, NULL) == 0);
    memset(s.data, 9, 2000);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 100000;
    ppx_err e;
    CHECK_EQ_INT(ppx_op_resize(NULL, &s, &d, 1000, 1000, PPX_FILTER_BILINEAR, &l, &e), PPX_ELIMIT);
    /* Output 2000x1 is fine, but the horizontal pass would first make a
     * 2000 x 2000 intermediate. */
    CHECK_EQ_INT(ppx_op_resize(NULL, &s, &d, 2000, 1, PPX_FILTER_LANCZOS3, &l, &e), PPX_ELIMIT);
    CHECK(strstr(e.msg, "intermediate") != NULL);
    CHECK(ppx_op_resize(NULL, &s, &d, 50, 1, PPX_FILTER_LANCZOS3, &l, &e) == 0);
    CHECK(d.data[0] == 9 && d.data[49] == 9);
    ppx_image_destroy(&s);
    ppx_image_destroy(&d);
    return 0;
}

/* resize_window gives exactly the bytes of resize then center-crop, for
 * every filter (nearest too: a label map's companion takes the window),
 * every channel count (alpha premultiplied included), both depths, shrinking
 * and enlarging, odd windows at every offset parity. */
static int window_equals_resize_then_crop(void)
{
    static const uint32_t sizes[][6] = {
        /* src w, h, resized w, h, window w, h */
        {97, 61, 40, 25, 24, 24}, {64, 48, 299, 224, 224, 224}, {300, 200, 37, 29, 37, 1},
        {13, 11, 31, 7, 3, 5},    {200, 150, 96, 72, 80, 71},
    };
    ppx_resizer *rs;
    CHECK_EQ_INT(ppx_resizer_new(&rs), 0);
    ppx_image src, full, crop, win;
    ppx_image_init(&src);
    ppx_image_init(&full);
    ppx_image_init(&crop);
    ppx_image_init(&win);
    ppx_err e;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (unsigned c = 1; c <= 4; c++)
            for (int t = 0; t < 2; t++)
                for (int f = 0; f < 4; f++) {
                    const uint32_t *z = sizes[k];
                    ppx_sample type = t ? PPX_U16 : PPX_U8;
                    CHECK_EQ_INT(ppx_image_alloc(&src, z[0], z[1], c, type, NULL, &e), 0);
                    fill_pattern(&src, (unsigned)(k * 31 + c));
                    ppx_filter filter = all_filters[f];
                    CHECK_EQ_INT(ppx_op_resize(rs, &src, &full, z[2], z[3], filter, NULL, &e), 0);
                    CHECK_EQ_INT(ppx_op_center_crop(&full, &crop, z[4], z[5], NULL, &e), 0);
                    ppx_box box = {(uint32_t)ppx_center_offset(z[2], z[4]),
                                   (uint32_t)ppx_center_offset(z[3], z[5]), z[4], z[5]};
                    CHECK_EQ_INT(
                        ppx_op_resize_window(rs, &src, &win, z[2], z[3], &box, filter, NULL, &e),
                        0);
                    CHECK_EQ_INT(win.width, crop.width);
                    CHECK_EQ_INT(win.height, crop.height);
                    for (uint32_t y = 0; y < win.height; y++)
                        CHECK(memcmp(ppx_image_row(&win, y), ppx_image_row(&crop, y),
                                     (size_t)win.width * c * ppx_sample_size(type)) == 0);
                }
    /* Not a window of a two-pass resize: refused, not wrong. */
    ppx_box all = {0, 0, 97, 10};
    CHECK_EQ_INT(ppx_image_alloc(&src, 97, 61, 3, PPX_U8, NULL, &e), 0);
    CHECK_EQ_INT(ppx_op_resize_window(rs, &src, &win, 97, 30, &all, PPX_FILTER_BILINEAR, NULL, &e),
                 PPX_EINVAL);
    ppx_image_destroy(&src);
    ppx_image_destroy(&full);
    ppx_image_destroy(&crop);
    ppx_image_destroy(&win);
    ppx_resizer_free(&rs);
    return 0;
}

/* 1 if two coefficient tables are the same numbers. */
static int same_table(const ppx__resize_axis *a, const ppx__resize_axis *b)
{
    size_t nk = (size_t)a->out * (size_t)a->ksize;
    return a->in == b->in && a->out == b->out && a->ksize == b->ksize &&
           memcmp(a->lo, b->lo, a->out * sizeof *a->lo) == 0 &&
           memcmp(a->n, b->n, a->out * sizeof *a->n) == 0 &&
           memcmp(a->ik, b->ik, nk * sizeof *a->ik) == 0 &&
           memcmp(a->fk, b->fk, nk * sizeof *a->fk) == 0;
}

/* Every table the cache hands out, found or computed, equals the one a new resizer computes,
 * through a sequence that hits, misses and evicts (more keys than slots, revisited), and a
 * table looked up again after others were computed into reused slots is still intact. */
static int table_cache_equals_fresh(void)
{
    static const uint32_t sizes[][2] = {{500, 341}, {375, 256}, {500, 384}, {333, 256}, {500, 256},
                                        {400, 256}, {640, 224}, {427, 224}, {97, 40},   {13, 31},
                                        {1, 7},     {7, 1},     {4352, 455}};
    ppx_resizer *rs;
    CHECK_EQ_INT(ppx_resizer_new(&rs), 0);
    ppx__resize_cache_stats st;
    ppx__resizer_cache_stats(rs, &st);
    CHECK(st.slots >= 3 && st.slots < 3 * 13);
    ppx_err e;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int f = PPX_FILTER_BILINEAR; f <= PPX_FILTER_LANCZOS3; f++) {
                /* Round 1 walks the keys backwards: other slots are the least recent. */
                size_t k = round == 1 ? sizeof sizes / sizeof sizes[0] - 1 - i : i;
                ppx__resize_axis got, want;
                CHECK_EQ_INT(
                    ppx__resizer_axis(rs, sizes[k][0], sizes[k][1], (ppx_filter)f, &got, &e), 0);
                ppx_resizer *fresh;
                CHECK_EQ_INT(ppx_resizer_new(&fresh), 0);
                CHECK_EQ_INT(
                    ppx__resizer_axis(fresh, sizes[k][0], sizes[k][1], (ppx_filter)f, &want, &e),
                    0);
                CHECK(same_table(&got, &want));
                /* The same key at once: a hit, the same memory. */
                ppx__resize_axis again;
                CHECK_EQ_INT(
                    ppx__resizer_axis(rs, sizes[k][0], sizes[k][1], (ppx_filter)f, &again, &e), 0);
                CHECK(again.ik == got.ik && same_table(&again, &want));
                ppx_resizer_free(&fresh);
            }
    ppx__resizer_cache_stats(rs, &st);
    CHECK(st.hits >= 3 * 13 * 3);
    CHECK(st.misses >= 13 * 3); /* 39 keys through fewer slots: evictions */
    ppx_resizer_free(&rs);
    return 0;
}

/* The cache never holds more than its slots, nor more bytes than its bound once a table
 * larger than the bound is replaced, and ppx_resizer_trim drops large tables. */
static int table_cache_bounded(void)
{
    ppx_resizer *rs;
    CHECK_EQ_INT(ppx_resizer_new(&rs), 0);
    ppx__resize_cache_stats st;
    ppx__resize_axis ax;
    ppx_err e;
    for (uint32_t out = 10; out < 210; out++) {
        CHECK_EQ_INT(ppx__resizer_axis(rs, 1000, out, PPX_FILTER_LANCZOS3, &ax, &e), 0);
        ppx__resizer_cache_stats(rs, &st);
        CHECK(st.tables <= st.slots);
        CHECK(st.bytes <= st.bytes_max);
    }
    CHECK_EQ_INT(st.tables, st.slots);
    CHECK_EQ_INT(st.misses, 200);
    /* 300000 -> 3 with Lanczos: 3 x 600001 taps, 14 MB of coefficients, over the bound. */
    CHECK_EQ_INT(ppx__resizer_axis(rs, 300000, 3, PPX_FILTER_LANCZOS3, &ax, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK(st.bytes > st.bytes_max);
    CHECK_EQ_INT(st.tables, 1); /* every other table was dropped to make room */
    /* The next table replaces it: back under the bound. */
    CHECK_EQ_INT(ppx__resizer_axis(rs, 500, 341, PPX_FILTER_LANCZOS3, &ax, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK(st.bytes <= st.bytes_max);
    /* Trim drops what is larger than it keeps, and keeps the rest. */
    /* 40000 -> 3: 3 x 80001 taps, 1.9 MB, under the bound. */
    CHECK_EQ_INT(ppx__resizer_axis(rs, 40000, 3, PPX_FILTER_LANCZOS3, &ax, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.tables, 2);
    CHECK(st.bytes > (size_t)1 << 20);
    ppx_resizer_trim(rs, (size_t)1 << 20);
    ppx__resizer_cache_stats(rs, &st);
    CHECK(st.bytes <= (size_t)1 << 20);
    CHECK_EQ_INT(st.tables, 1);
    uint64_t hits = st.hits;
    CHECK_EQ_INT(ppx__resizer_axis(rs, 500, 341, PPX_FILTER_LANCZOS3, &ax, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.hits, hits + 1);
    ppx_resizer_free(&rs);
    return 0;
}

/* Least recently used first: with every slot full, a table looked up again survives the
 * next miss and the one not looked up longest is evicted. Resizing an image uses two tables
 * and keeps both. */
static int table_cache_evicts_lru(void)
{
    ppx_resizer *rs;
    CHECK_EQ_INT(ppx_resizer_new(&rs), 0);
    ppx__resize_cache_stats st;
    ppx__resizer_cache_stats(rs, &st);
    ppx__resize_axis ax;
    ppx_err e;
    uint32_t slots = st.slots;
    for (uint32_t i = 0; i < slots; i++)
        CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 10 + i, PPX_FILTER_BILINEAR, &ax, &e), 0);
    CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 10, PPX_FILTER_BILINEAR, &ax, &e), 0); /* hit */
    CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 99, PPX_FILTER_BILINEAR, &ax, &e), 0); /* miss */
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.hits, 1);
    CHECK_EQ_INT(st.misses, slots + 1);
    CHECK_EQ_INT(st.tables, slots);
    CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 10, PPX_FILTER_BILINEAR, &ax, &e), 0); /* kept */
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.hits, 2);
    CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 11, PPX_FILTER_BILINEAR, &ax, &e), 0); /* evicted */
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.misses, slots + 2);
    /* A filter is part of the key. */
    CHECK_EQ_INT(ppx__resizer_axis(rs, 100, 10, PPX_FILTER_BICUBIC, &ax, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.misses, slots + 3);
    /* A 91x47 image to 13x11 needs two new tables; the result equals a fresh resizer's. */
    ppx_image src, d1, d2;
    ppx_image_init(&src);
    ppx_image_init(&d1);
    ppx_image_init(&d2);
    CHECK_EQ_INT(ppx_image_alloc(&src, 91, 47, 3, PPX_U8, NULL, &e), 0);
    fill_pattern(&src, 9);
    CHECK_EQ_INT(ppx_op_resize(rs, &src, &d1, 13, 11, PPX_FILTER_BILINEAR, NULL, &e), 0);
    CHECK_EQ_INT(ppx_op_resize(NULL, &src, &d2, 13, 11, PPX_FILTER_BILINEAR, NULL, &e), 0);
    CHECK(memcmp(d1.data, d2.data, 13 * 11 * 3) == 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.misses, slots + 5);
    CHECK_EQ_INT(ppx_op_resize(rs, &src, &d1, 13, 11, PPX_FILTER_BILINEAR, NULL, &e), 0);
    ppx__resizer_cache_stats(rs, &st);
    CHECK_EQ_INT(st.misses, slots + 5); /* both found */
    ppx_image_destroy(&src);
    ppx_image_destroy(&d1);
    ppx_image_destroy(&d2);
    ppx_resizer_free(&rs);
    return 0;
}

/* The AVX2 passes (where the CPU has them) give the bytes of the portable loops: every
 * channel count, alpha premultiplied included, shrinking and enlarging, rows shorter than a
 * strip or than 16 samples, lengths that are not a multiple of 16, windows at odd offsets,
 * each filter. */
static int simd_equals_portable(void)
{
    static const uint32_t sizes[][4] = {
        /* src w, h, resized w, h */
        {500, 375, 341, 256}, {375, 500, 256, 341}, {97, 61, 40, 25},   {64, 48, 299, 224},
        {300, 200, 37, 29},   {13, 11, 31, 7},      {200, 150, 96, 72}, {5, 40, 3, 17},
        {40, 5, 17, 3},       {33, 300, 2, 255},    {1, 50, 7, 31},     {50, 1, 31, 7},
    };
    ppx_resizer *fast, *port;
    CHECK_EQ_INT(ppx_resizer_new(&fast), 0);
    CHECK_EQ_INT(ppx_resizer_new(&port), 0);
    ppx__resizer_set_portable(port, 1);
    ppx_image src, a, b;
    ppx_image_init(&src);
    ppx_image_init(&a);
    ppx_image_init(&b);
    ppx_err e;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (unsigned c = 1; c <= 4; c++)
            for (int f = 1; f < 4; f++) {
                const uint32_t *z = sizes[k];
                ppx_filter filter = all_filters[f];
                CHECK_EQ_INT(ppx_image_alloc(&src, z[0], z[1], c, PPX_U8, NULL, &e), 0);
                fill_pattern(&src, (unsigned)(k * 7 + c));
                CHECK_EQ_INT(ppx_op_resize(fast, &src, &a, z[2], z[3], filter, NULL, &e), 0);
                CHECK_EQ_INT(ppx_op_resize(port, &src, &b, z[2], z[3], filter, NULL, &e), 0);
                for (uint32_t y = 0; y < a.height; y++)
                    CHECK(memcmp(ppx_image_row(&a, y), ppx_image_row(&b, y), (size_t)a.width * c) ==
                          0);
                /* One pass only. */
                CHECK_EQ_INT(ppx_op_resize(fast, &src, &a, z[2], z[1], filter, NULL, &e), 0);
                CHECK_EQ_INT(ppx_op_resize(port, &src, &b, z[2], z[1], filter, NULL, &e), 0);
                for (uint32_t y = 0; y < a.height; y++)
                    CHECK(memcmp(ppx_image_row(&a, y), ppx_image_row(&b, y), (size_t)a.width * c) ==
                          0);
                CHECK_EQ_INT(ppx_op_resize(fast, &src, &a, z[0], z[3], filter, NULL, &e), 0);
                CHECK_EQ_INT(ppx_op_resize(port, &src, &b, z[0], z[3], filter, NULL, &e), 0);
                for (uint32_t y = 0; y < a.height; y++)
                    CHECK(memcmp(ppx_image_row(&a, y), ppx_image_row(&b, y), (size_t)a.width * c) ==
                          0);
                /* Windows: centred, and at the far corner. */
                if (z[0] == z[2] || z[1] == z[3])
                    continue;
                uint32_t ww = z[2] > 3 ? z[2] * 2 / 3 : 1, wh = z[3] > 3 ? z[3] * 2 / 3 : 1;
                ppx_box boxes[2] = {{(z[2] - ww) / 2, (z[3] - wh) / 2, ww, wh},
                                    {z[2] - ww, z[3] - wh, ww, wh}};
                for (int i = 0; i < 2; i++) {
                    CHECK_EQ_INT(ppx_op_resize_window(fast, &src, &a, z[2], z[3], &boxes[i], filter,
                                                      NULL, &e),
                                 0);
                    CHECK_EQ_INT(ppx_op_resize_window(port, &src, &b, z[2], z[3], &boxes[i], filter,
                                                      NULL, &e),
                                 0);
                    for (uint32_t y = 0; y < a.height; y++)
                        CHECK(memcmp(ppx_image_row(&a, y), ppx_image_row(&b, y),
                                     (size_t)a.width * c) == 0);
                }
            }
    ppx_image_destroy(&src);
    ppx_image_destroy(&a);
    ppx_image_destroy(&b);
    ppx_resizer_free(&fast);
    ppx_resizer_free(&port);
    return 0;
}

PPX_TEST_MAIN(TEST(window_equals_resize_then_crop), TEST(pillow_known_values),
              TEST(constant_stays_constant), TEST(identity_and_single_pass),
              TEST(depth16_matches_8), TEST(overshoot_clamps), TEST(degenerate_sizes),
              TEST(alpha_premultiplied), TEST(resized_crop_is_view), TEST(resizer_reuse),
              TEST(limits_checked), TEST(table_cache_equals_fresh), TEST(table_cache_bounded),
              TEST(table_cache_evicts_lru), TEST(simd_equals_portable))
