/* The COCO reader and writer (prepix/coco.h) on small files: RLE masks
 * mapped from their runs equal masks resampled pixel by pixel (an
 * independent reference here), for every orientation, scale and crop;
 * members that repeat; errors that name the place. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/coco.h"
#include "prepix/json_read.h"

/* Parses text (a C string) with limits l; the object, or NULL with err. */
static ppx_coco *parse(const char *text, const ppx_coco_limits *l, ppx_err *err)
{
    ppx_buf b;
    ppx_buf_init(&b);
    MUST(ppx_buf_append(&b, text, strlen(text)));
    ppx_coco_limits def;
    ppx_coco_default_limits(&def);
    ppx_coco *c = NULL;
    ppx_err_clear(err);
    if (ppx_coco_parse(&b, l ? l : &def, &c, err))
        return NULL;
    return c;
}

/* The error of parsing text, "" when it parses. */
static const char *error_of(const char *text)
{
    static ppx_err err;
    ppx_coco *c = parse(text, NULL, &err);
    if (c) {
        ppx_coco_free(&c);
        return "";
    }
    return err.msg;
}

static uint64_t state = 0x853c49e6748fea9bULL;
static uint32_t rnd(uint32_t n)
{
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((state >> 33) % n);
}

/* The reference: mask (column-major W x H) through g, each output pixel the
 * input pixel under its centre's inverse image (floor after + 1e-7, as
 * docs/pipeline.md says), 0 outside; its runs into runs (count returned). */
static size_t reference(const uint8_t *mask, uint32_t W, uint32_t H, const ppx_geom *g,
                        uint32_t *runs)
{
    double inv[6];
    size_t m = 0;
    uint32_t run = 0;
    uint8_t cur = 0;
    int ok = ppx_geom_inverse(g, inv) == 0;
    for (uint32_t x = 0; x < g->w; x++)
        for (uint32_t y = 0; y < g->h; y++) {
            double cx = x + 0.5, cy = y + 0.5;
            double sx = floor(inv[0] * cx + inv[1] * cy + inv[2] + 1e-7);
            double sy = floor(inv[3] * cx + inv[4] * cy + inv[5] + 1e-7);
            uint8_t v = ok && sx >= 0 && sy >= 0 && sx < W && sy < H
                            ? mask[(size_t)sx * H + (size_t)sy]
                            : 0;
            if (v != cur) {
                runs[m++] = run;
                run = 0;
                cur = v;
            }
            run++;
        }
    runs[m++] = run;
    return m;
}

/* The counts of the first annotation's segmentation in json (NUL-ended). */
static size_t written_counts(const char *json, uint32_t *out)
{
    ppx_json_limits jl = {1u << 30, 64, 1u << 24, 1u << 24};
    ppx_jdoc d;
    ppx_err e;
    ppx_err_clear(&e);
    MUST(ppx_jdoc_parse(&d, json, strlen(json), &jl, &e));
    long anns = ppx_jdoc_get(&d, 0, "annotations");
    long seg = anns >= 0 && d.v[anns].n ? ppx_jdoc_get(&d, (size_t)anns + 1, "segmentation") : -1;
    long counts = seg >= 0 ? ppx_jdoc_get(&d, (size_t)seg, "counts") : -1;
    size_t n = 0;
    if (counts >= 0 && d.v[counts].type == PPX_JV_NUMS) {
        double *v = malloc(d.v[counts].n * sizeof *v);
        ppx_jdoc_nums(&d, (size_t)counts, v);
        for (n = 0; n < d.v[counts].n; n++)
            out[n] = (uint32_t)v[n];
        free(v);
    }
    ppx_jdoc_destroy(&d);
    return n;
}

/* One random mask through g: the written counts equal the reference's
 * (an empty mask drops the annotation: then the reference is all zeros). */
static int one_mask(uint32_t W, uint32_t H, const ppx_geom *g)
{
    uint8_t *mask = malloc((size_t)W * H);
    uint32_t *in = malloc(((size_t)W * H + 1) * sizeof *in);
    uint32_t *want = malloc(((size_t)g->w * g->h + 1) * sizeof *want);
    uint32_t *got = malloc(((size_t)g->w * g->h + 1) * sizeof *got);
    size_t n_in = 0, pos = 0;
    uint8_t v = 0;
    while (pos < (size_t)W * H) { /* runs of 1 to 12 pixels, some of none */
        uint32_t len = rnd(13);
        if (pos + len > (size_t)W * H)
            len = (uint32_t)((size_t)W * H - pos);
        memset(mask + pos, v, len);
        in[n_in++] = len;
        pos += len;
        v ^= 1;
    }
    ppx_buf t;
    ppx_buf_init(&t);
    MUST(ppx_buf_printf(&t,
                        "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"width\": %u, "
                        "\"height\": %u}], \"annotations\": [{\"id\": 1, \"image_id\": 1, "
                        "\"category_id\": 1, \"iscrowd\": 1, \"segmentation\": {\"size\": [%u, "
                        "%u], \"counts\": [",
                        W, H, H, W));
    for (size_t k = 0; k < n_in; k++)
        MUST(ppx_buf_printf(&t, "%s%u", k ? ", " : "", in[k]));
    MUST(ppx_buf_printf(&t, "]}}]}"));
    MUST(ppx_buf_append(&t, "", 1));
    ppx_err e;
    ppx_coco *c = parse((const char *)t.data, NULL, &e);
    ppx_buf_destroy(&t);
    CHECK(c != NULL);
    ppx_coco_out out = {.state = PPX_COCO_OK, .name = "a.png", .geom = *g};
    ppx_buf json;
    ppx_buf_init(&json);
    ppx_coco_counts ct;
    CHECK(ppx_coco_write(c, &out, &json, &ct, &e) == 0);
    MUST(ppx_buf_append(&json, "", 1));
    size_t n_want = reference(mask, W, H, g, want);
    size_t n_got = written_counts((const char *)json.data, got);
    if (n_got == 0) /* dropped: an empty mask */
        CHECK(n_want == 1 && ct.annotations_outside == 1);
    else
        CHECK(n_got == n_want && memcmp(got, want, n_got * sizeof *got) == 0);
    free(ct.by_category);
    ppx_buf_destroy(&json);
    ppx_coco_free(&c);
    free(mask);
    free(in);
    free(want);
    free(got);
    return 0;
}

static int rle_runs_match_pixels(void)
{
    for (int i = 0; i < 400; i++) {
        uint32_t W = 1 + rnd(40), H = 1 + rnd(30);
        ppx_geom g;
        ppx_geom_identity(&g, W, H);
        ppx_geom_then_orient(&g, 1 + (int)rnd(8)); /* flips and 90-degree turns */
        ppx_geom_then_resize(&g, 1 + rnd(70), 1 + rnd(70));
        if (rnd(2))
            ppx_geom_then_crop(&g, (int64_t)rnd(20) - 8, (int64_t)rnd(20) - 8, 1 + rnd(50),
                               1 + rnd(50));
        if (one_mask(W, H, &g))
            return 1;
    }
    return 0;
}

static const char *const img = "{\"id\": 1, \"file_name\": \"a.png\", \"width\": 10, "
                               "\"height\": 10}";

/* A member that repeats counts as its last: the earlier one is copied as
 * it was written, the last one mapped. */
static int last_member_wins(void)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"images\": [%s], \"annotations\": [{\"bbox\": \"no\", \"image_id\": 5, "
             "\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [ 1, 2, 3, 4 ]}]}",
             img);
    ppx_err e;
    ppx_coco *c = parse(text, NULL, &e);
    CHECK(c != NULL);
    ppx_coco_out out = {.state = PPX_COCO_OK, .name = "b.png"};
    ppx_geom_identity(&out.geom, 10, 10);
    ppx_geom_then_resize(&out.geom, 20, 20);
    ppx_buf json;
    ppx_buf_init(&json);
    ppx_coco_counts ct;
    CHECK(ppx_coco_write(c, &out, &json, &ct, &e) == 0);
    MUST(ppx_buf_append(&json, "", 1));
    CHECK_STR((const char *)json.data,
              "{\"images\":[{\"id\":1,\"file_name\":\"b.png\",\"width\":20,\"height\":20}],"
              "\"annotations\":[{\"bbox\":\"no\",\"image_id\":5,\"id\":1,\"image_id\":1,"
              "\"category_id\":1,\"bbox\":[2,4,6,8]}]}\n");
    free(ct.by_category);
    ppx_buf_destroy(&json);
    ppx_coco_free(&c);
    return 0;
}

static int errors_name_the_place(void)
{
    CHECK_STR(error_of("{\"images\": [1, 2, 3]}"), "images: not an array of objects");
    CHECK_STR(error_of("{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 1, "
                       "\"height\": 1}, 2]}"),
              "images[1]: not an object");
    CHECK_STR(error_of("{\"images\": [], \"annotations\": 3}"),
              "annotations: not an array of objects");
    CHECK_STR(error_of("{\"annotations\": []}"), "images: missing");
    CHECK_STR(error_of("{\"images\": [], \"categories\": {}}"), "categories: not an array");
    CHECK_STR(error_of("{\"images\": [], \"annotations\": [{\"segmentation\": [[1, 2, 1.e5]]}]}"),
              "line 1 column 59: expected a digit after '.'");
    CHECK_STR(error_of("{\"images\": [], \"annotations\": [{\"bbox\": [1, 2, 3, 4e999]}]}"),
              "line 1 column 51: a number too large for a double");
    CHECK_STR(error_of("{\"images\": [] \"x\": 1}"),
              "line 1 column 15: expected ',' or '}' in an object");
    char text[512];
    snprintf(text, sizeof text,
             "{\"images\": [%s], \"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
             "\"keypoints\": [1, 2, 2, 3, 4, 3]}]}",
             img);
    CHECK_STR(error_of(text), "annotations[0].keypoints: a visibility other than 0, 1 or 2");
    snprintf(text, sizeof text,
             "{\"images\": [%s], \"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
             "\"segmentation\": [1, 2, 3, 4, 5, 6]}]}",
             img);
    CHECK_STR(error_of(text),
              "annotations[0].segmentation: a polygon must be inside a list: [[x1, y1, ...]]");
    snprintf(text, sizeof text,
             "{\"annotations\": [{\"image_id\": 2, \"category_id\": 1}], \"images\": [%s]}", img);
    CHECK_STR(error_of(text), "annotations[0].image_id: 2 names no image of the file");
    return 0;
}

PPX_TEST_MAIN(TEST(rle_runs_match_pixels), TEST(last_member_wins), TEST(errors_name_the_place))
