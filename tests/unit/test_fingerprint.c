/* Fingerprints (src/stats/fingerprint.c): the DCT pHash against values that scipy computed
 * (tests/scenario/test_dedup.py checks whole corpus images), the exact hash's independence
 * of row padding and its dependence on geometry and layout, and the fingerprint records'
 * serialisation, which reads untrusted bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/fingerprint.h"

static ppx_fingerprint fp_of(ppx_fp_ctx *c, const ppx_image *img)
{
    ppx_fingerprint fp;
    ppx_err err;
    memset(&fp, 0, sizeof fp);
    MUST(ppx_fingerprint_compute(c, img, 1, &fp, &err));
    return fp;
}

/* A 32x32 pattern whose hash scipy gave as 8c3285376ee12d5b (imagehash's steps 3-5):
 * numpy.array([[(x*7 + y*13 + (x*y) % 11) % 256 ...]], uint8), dct axis 0 then 1. */
static int phash_scipy_values(void)
{
    uint8_t px[32 * 32];
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            px[y * 32 + x] = (uint8_t)((x * 7 + y * 13 + (x * y) % 11) % 256);
    char hex[17];
    ppx_phash_hex(ppx_phash32(px), hex);
    CHECK_STR(hex, "8c3285376ee12d5b");
    return 0;
}

/* A 64x48 RGB image through every step (grey, Lanczos to 32x32, DCT): imagehash.phash of
 * the same Pillow image is 8012372cb1e63dbf. */
static int phash_rgb_image(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_err err;
    MUST(ppx_image_alloc(&img, 64, 48, 3, PPX_U8, NULL, &err));
    for (uint32_t y = 0; y < 48; y++) {
        uint8_t *p = ppx_image_row(&img, y);
        for (uint32_t x = 0; x < 64; x++, p += 3) {
            p[0] = (uint8_t)((x * 5 + y * 3) % 256);
            p[1] = (uint8_t)((x * x + y) % 256);
            p[2] = (uint8_t)((x ^ y) * 4 % 256);
        }
    }
    ppx_fp_ctx *c;
    MUST(ppx_fp_ctx_new(&c));
    ppx_fingerprint fp = fp_of(c, &img);
    char hex[17];
    ppx_phash_hex(fp.phash, hex);
    CHECK_STR(hex, "8012372cb1e63dbf");
    CHECK_EQ_INT(fp.valid, 1);
    CHECK_EQ_INT(fp.scale, 1);
    ppx_fp_ctx_free(&c);
    CHECK(c == NULL);
    ppx_image_destroy(&img);
    return 0;
}

/* A flat image has no frequencies but DC: one bit, never rounding noise. */
static int phash_flat(void)
{
    uint8_t px[32 * 32];
    memset(px, 77, sizeof px);
    CHECK(ppx_phash32(px) == 0x8000000000000000ULL);
    memset(px, 0, sizeof px);
    CHECK(ppx_phash32(px) == 0);
    return 0;
}

/* The same samples with padded rows hash alike; another geometry, channel layout or depth
 * over the same bytes does not. */
static int exact_layout(void)
{
    ppx_err err;
    ppx_image a, b, c, d;
    ppx_image_init(&a);
    ppx_image_init(&b);
    ppx_image_init(&c);
    ppx_image_init(&d);
    MUST(ppx_image_alloc(&a, 6, 4, 3, PPX_U8, NULL, &err));
    MUST(ppx_image_alloc(&c, 4, 6, 3, PPX_U8, NULL, &err));  /* same bytes, transposed size */
    MUST(ppx_image_alloc(&d, 18, 4, 1, PPX_U8, NULL, &err)); /* same bytes as gray */
    for (uint32_t y = 0; y < 4; y++)
        for (uint32_t x = 0; x < 18; x++)
            ppx_image_row(&a, y)[x] = (uint8_t)(y * 31 + x * 7);
    memcpy(c.data, a.data, 72);
    memcpy(d.data, a.data, 72);
    /* b: a's pixels in rows padded to 32 bytes. */
    b = a;
    b.stride = 32;
    b.data = calloc(4, 32);
    CHECK(b.data);
    for (uint32_t y = 0; y < 4; y++)
        memcpy(b.data + 32 * y, ppx_image_row(&a, y), 18);
    ppx_fp_ctx *ctx;
    MUST(ppx_fp_ctx_new(&ctx));
    ppx_fingerprint fa = fp_of(ctx, &a), fb = fp_of(ctx, &b), fc = fp_of(ctx, &c),
                    fd = fp_of(ctx, &d);
    CHECK(memcmp(fa.exact, fb.exact, PPX_EXACT_BYTES) == 0);
    CHECK(fa.phash == fb.phash);
    CHECK(memcmp(fa.exact, fc.exact, PPX_EXACT_BYTES) != 0);
    CHECK(memcmp(fa.exact, fd.exact, PPX_EXACT_BYTES) != 0);
    /* One sample changed: another exact hash. */
    ppx_image_row(&a, 3)[17] ^= 1;
    ppx_fingerprint fa2 = fp_of(ctx, &a);
    CHECK(memcmp(fa.exact, fa2.exact, PPX_EXACT_BYTES) != 0);
    free(b.data);
    ppx_fp_ctx_free(&ctx);
    ppx_image_destroy(&a);
    ppx_image_destroy(&c);
    ppx_image_destroy(&d);
    return 0;
}

/* Records survive packing; damaged or short bytes are refused whole. */
static int prints_pack(void)
{
    ppx_prints p = {0}, q = {0};
    for (int i = 0; i < 5; i++) {
        ppx_fingerprint fp = {.phash = 0x0123456789abcdefULL * (uint64_t)i,
                              .scale = (uint8_t)(1 << (i % 4)),
                              .valid = 1};
        memset(fp.exact, i, PPX_EXACT_BYTES);
        ppx_geom_identity(&fp.geom, 100, 50);
        ppx_geom_then_resize(&fp.geom, 30 + (uint32_t)i, 7);
        MUST(ppx_prints_add(&p, (uint64_t)(10 - i), &fp));
    }
    /* An image of a run without fingerprints: its geometry record alone. */
    ppx_fingerprint g = {.valid = 0, .scale = 2};
    ppx_geom_identity(&g.geom, 3, 4);
    ppx_geom_then_orient(&g.geom, 6);
    MUST(ppx_prints_add(&p, 11, &g));
    ppx_buf b;
    ppx_buf_init(&b);
    MUST(ppx_prints_pack(&p, &b));
    size_t used = 0;
    CHECK_EQ_INT(ppx_prints_unpack(b.data, b.len, &q, &used), 0);
    CHECK_EQ_INT(used, b.len);
    CHECK_EQ_INT(q.n, 6);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(q.v[i].index, p.v[i].index);
        CHECK_EQ_INT(q.v[i].phash, p.v[i].phash);
        CHECK_EQ_INT(q.v[i].scale, p.v[i].scale);
        CHECK(memcmp(q.v[i].exact, p.v[i].exact, PPX_EXACT_BYTES) == 0);
        CHECK(memcmp(&q.v[i].geom, &p.v[i].geom, sizeof q.v[i].geom) == 0);
    }
    CHECK_EQ_INT(q.v[5].scale, 0); /* no fingerprints: none invented */
    CHECK_EQ_INT(q.v[5].geom.w, 4);
    CHECK(q.v[5].geom.m[1] == -1 && q.v[5].geom.m[2] == 4 && q.v[5].geom.m[3] == 1);
    ppx_prints_sort(&q);
    CHECK_EQ_INT(q.v[0].index, 6);
    CHECK(ppx_prints_find(&q, 11) == &q.v[5] && ppx_prints_find(&q, 5) == NULL);
    ppx_prints_keep_hashed(&q);
    CHECK_EQ_INT(q.n, 5);
    q.n = 6;
    /* Every truncation is refused and leaves q as it was. */
    for (size_t n = 0; n < b.len; n++)
        CHECK_EQ_INT(ppx_prints_unpack(b.data, n, &q, NULL), PPX_ECORRUPT);
    CHECK_EQ_INT(q.n, 6);
    /* A geometry record that is not a number. */
    uint8_t keep[8];
    memcpy(keep, b.data + 16 + 40, 8);
    memset(b.data + 16 + 40, 0xff, 8);
    CHECK_EQ_INT(ppx_prints_unpack(b.data, b.len, &q, NULL), PPX_ECORRUPT);
    memcpy(b.data + 16 + 40, keep, 8);
    /* A scale no decoder uses. */
    b.data[16 + 16] = 3;
    CHECK_EQ_INT(ppx_prints_unpack(b.data, b.len, &q, NULL), PPX_ECORRUPT);
    /* A count far past the bytes allocates nothing. */
    memset(b.data + 8, 0xff, 8);
    CHECK_EQ_INT(ppx_prints_unpack(b.data, b.len, &q, NULL), PPX_ECORRUPT);
    MUST(ppx_prints_extend(&q, &p));
    CHECK_EQ_INT(q.n, 12);
    ppx_buf_destroy(&b);
    ppx_prints_destroy(&p);
    ppx_prints_destroy(&q);
    return 0;
}

PPX_TEST_MAIN(TEST(phash_scipy_values), TEST(phash_rgb_image), TEST(phash_flat), TEST(exact_layout),
              TEST(prints_pack))
