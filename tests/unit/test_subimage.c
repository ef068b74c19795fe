/* Pages and chips (prepix/subimage.h): the keys, their output names, the
 * chip corners of each edge rule and the limits, on TIFFs made here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/codec.h"
#include "prepix/subimage.h"
#include "work/job.h"

static int keys_parse(void)
{
    ppx_subkey k;
    CHECK(ppx_subkey_parse("a/b.tif@512,0", &k));
    CHECK(k.has_chip && !k.has_page && k.x == 512 && k.y == 0 && k.file_len == 7);
    CHECK(ppx_subkey_parse("a/B.TIFF#p3@0,1024", &k));
    CHECK(k.has_chip && k.has_page && k.page == 3 && k.y == 1024 && k.file_len == 8);
    CHECK(ppx_subkey_parse("x@2.tif#p12", &k) && k.page == 12 && k.file_len == 7);
    /* Not ours: no TIFF name before the suffix, leading zeros, a number too large, no
     * suffix at all, or a plain name that looks like one. */
    CHECK(!ppx_subkey_parse("a/b.jpg@1,2", &k));
    CHECK(!ppx_subkey_parse("a/b.tif@01,2", &k));
    CHECK(!ppx_subkey_parse("a/b.tif@4294967296,2", &k));
    CHECK(!ppx_subkey_parse("a/b.tif", &k));
    CHECK(!ppx_subkey_parse("a/b@1,2.tif", &k));
    CHECK(!ppx_subkey_parse("a/b.tif#p", &k));
    ppx_sub_opts o;
    ppx_sub_opts_init(&o);
    o.pages = 1;
    o.chip_w = 4;
    char out[64];
    CHECK_EQ_INT(ppx_subkey_format(out, sizeof out, "s.tif", 5, &o, 2, 8, 16), 0);
    CHECK_STR(out, "s.tif#p2@8,16");
    CHECK_EQ_INT(ppx_subkey_format(out, 8, "s.tif", 5, &o, 2, 8, 16), PPX_ENAMETOOLONG);
    return 0;
}

static int keys_output_names(void)
{
    static const struct {
        const char *key;
        ppx_format fmt;
        const char *want;
    } c[] = {
        {"d/s.tif@512,0", PPX_FMT_PNG, "d/s@512,0.png"},
        {"d/s.tif@512,0", PPX_FMT_UNKNOWN, "d/s@512,0.tif"},
        {"d/s.TIFF#p3", PPX_FMT_TIFF, "d/s#p3.TIFF"},
        {"a.tar/s.tif#p1@0,0", PPX_FMT_JPEG, "a/s#p1@0,0.jpg"},
        {"/abs/s.tif@1,1", PPX_FMT_PNG, "abs/s@1,1.png"},
        {"d/x.tif@1,2.tif", PPX_FMT_PNG, "d/x.tif@1,2.png"}, /* not a chip key */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char out[256];
        ppx_err e;
        ppx_err_clear(&e);
        CHECK_EQ_INT(ppx_output_name(out, sizeof out, c[i].key, c[i].fmt, &e), 0);
        CHECK_STR(out, c[i].want);
    }
    /* The one final check sees the suffixed name: "..tif#p0" is a name, ".." before it is not. */
    char out[256];
    ppx_err e;
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "../s.tif@0,0", PPX_FMT_PNG, &e), PPX_EUNSAFE);
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, ".prepix/s.tif#p0", PPX_FMT_PNG, &e),
                 PPX_EUNSAFE);
    return 0;
}

/* A w x h gray TIFF of `pages` pages, in b. */
static int make_tiff(ppx_buf *b, uint32_t w, uint32_t h, int pages)
{
    ppx_buf one;
    ppx_buf_init(&one);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    if (ppx_image_alloc(&img, w, h, 1, PPX_U8, NULL, &e))
        return -1;
    memset(img.data, 7, (size_t)w * h);
    ppx_encode_opts eo;
    ppx_encode_opts_default(&eo, PPX_FMT_TIFF);
    int rc = ppx_codec_encode(&img, &eo, &one, &e);
    ppx_image_destroy(&img);
    if (rc || pages != 1) {
        ppx_buf_destroy(&one);
        return rc ? rc : -1;
    }
    *b = one;
    return 0;
}

typedef struct {
    int n;
    uint32_t x[64], y[64];
} corners;

static int collect(void *arg, uint32_t page, uint32_t x, uint32_t y, ppx_err *err)
{
    (void)page;
    (void)err;
    corners *c = arg;
    if (c->n < 64) {
        c->x[c->n] = x;
        c->y[c->n] = y;
    }
    c->n++;
    return 0;
}

static int chips_corners(void)
{
    ppx_buf b;
    MUST(make_tiff(&b, 10, 7, 1));
    ppx_sub_opts o;
    ppx_sub_opts_init(&o);
    o.chip_w = o.chip_h = 4;
    o.stride_x = o.stride_y = 3;
    ppx_err e;
    /* drop: 0, 3, 6 across (6 + 4 = 10), 0, 3 down (3 + 4 = 7) */
    corners c = {0};
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), 0);
    CHECK_EQ_INT(c.n, 6);
    CHECK(c.x[2] == 6 && c.y[2] == 0 && c.x[3] == 0 && c.y[3] == 3);
    /* pad: every multiple of 3 below the side: 0, 3, 6, 9 across, 0, 3, 6 down */
    o.edge = PPX_EDGE_PAD;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), 0);
    CHECK_EQ_INT(c.n, 12);
    /* shift at stride 4: 0, 4, then 6 (10 - 4) across; 0, 3 (7 - 4) down */
    o.edge = PPX_EDGE_SHIFT;
    o.stride_x = o.stride_y = 4;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), 0);
    CHECK_EQ_INT(c.n, 6);
    CHECK(c.x[0] == 0 && c.x[1] == 4 && c.x[2] == 6 && c.y[3] == 3);
    /* A chip larger than the page: none with drop (an error: the file fails whole), one
     * with shift. */
    o.chip_w = o.chip_h = 16;
    o.edge = PPX_EDGE_DROP;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), PPX_EINVAL);
    CHECK_EQ_INT(c.n, 0);
    o.edge = PPX_EDGE_SHIFT;
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), 0);
    CHECK_EQ_INT(c.n, 1);
    /* Over --max-chips: an error before any chip is given. */
    o.chip_w = o.chip_h = 1;
    o.stride_x = o.stride_y = 1;
    o.max_chips = 69;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), PPX_ELIMIT);
    CHECK_EQ_INT(c.n, 0);
    CHECK(strstr(e.msg, "--max-chips") != NULL);
    o.max_chips = 70;
    CHECK_EQ_INT(ppx_sub_expand(b.data, b.len, NULL, &o, collect, &c, &e), 0);
    CHECK_EQ_INT(c.n, 70);
    ppx_buf_destroy(&b);
    return 0;
}

static int options_parse(void)
{
    ppx_sub_opts o;
    ppx_sub_opts_init(&o);
    char why[200];
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "pages", "2-5", why, sizeof why), 0);
    CHECK(o.pages && o.page_first == 2 && o.page_last == 5);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "pages", "5-2", why, sizeof why), PPX_EUSAGE);
    CHECK(strstr(why, "--pages 5-2") != NULL);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "chips", "512", why, sizeof why), 0);
    CHECK(o.chip_w == 512 && o.chip_h == 512);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "chip-stride", "256,128", why, sizeof why), 0);
    CHECK(o.stride_x == 256 && o.stride_y == 128);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "nodata", "-9999.5", why, sizeof why), 0);
    CHECK(o.has_nodata && o.nodata == -9999.5);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "nodata", "nan", why, sizeof why), PPX_EUSAGE);
    CHECK_EQ_INT(ppx_sub_parse_option(&o, "seed", "1", why, sizeof why), 1);
    CHECK_EQ_INT(ppx_sub_finish(&o, why, sizeof why), 0);
    ppx_sub_opts z;
    memset(&z, 0, sizeof z); /* zeroed, as a configuration is: the defaults follow */
    CHECK_EQ_INT(ppx_sub_parse_option(&z, "nodata", "0", why, sizeof why), 0);
    CHECK_EQ_INT(ppx_sub_finish(&z, why, sizeof why), PPX_EUSAGE);
    memset(&z, 0, sizeof z);
    CHECK_EQ_INT(ppx_sub_parse_option(&z, "chips", "8x4", why, sizeof why), 0);
    CHECK_EQ_INT(ppx_sub_finish(&z, why, sizeof why), 0);
    CHECK(z.stride_x == 8 && z.stride_y == 4 && z.max_pages == PPX_SUB_MAX_PAGES &&
          z.max_chips == PPX_SUB_MAX_CHIPS);
    return 0;
}

static int sample_encode(void)
{
    uint8_t b[4];
    uint16_t u16;
    CHECK_EQ_INT(ppx_sample_encode(PPX_U16, 70000, 0, b), 0);
    memcpy(&u16, b, 2);
    CHECK_EQ_INT(u16, 65535);
    CHECK_EQ_INT(ppx_sample_encode(PPX_U16, 70000, 1, b), -1);
    CHECK_EQ_INT(ppx_sample_encode(PPX_U8, 2.5, 1, b), -1);
    CHECK_EQ_INT(ppx_sample_encode(PPX_I16, -9999, 1, b), 0);
    int16_t i16;
    memcpy(&i16, b, 2);
    CHECK_EQ_INT(i16, -9999);
    float f;
    CHECK_EQ_INT(ppx_sample_encode(PPX_F32, -3.25, 1, b), 0);
    memcpy(&f, b, 4);
    CHECK(f == -3.25f);
    CHECK_EQ_INT(ppx_sample_encode(PPX_F32, 0.1, 1, b), -1); /* not a float32 value */
    return 0;
}

PPX_TEST_MAIN(TEST(keys_parse), TEST(keys_output_names), TEST(chips_corners), TEST(options_parse),
              TEST(sample_encode))
