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

/* ---- threads: the same text, the same first error ------------------------ */

/* The reader's parts and the writer's blocks of 16 KiB: a file of a few
 * hundred KB is many of each. */
#define SMALL (16u << 10)

static void small_parts(void)
{
    ppx__coco_part_min = ppx__coco_block_bytes = SMALL;
}

/* A COCO file of n_im images (640 x 480) and 12 annotations each, an
 * image's together (a box, a polygon of 30 vertices, keypoints on some, an
 * RLE crowd mask on one in 50, and the members extra, when not NULL, last),
 * about 6 KB an image. at (n_im entries, or NULL): where each image's first
 * annotation starts, from the list's start. */
static void big_file(ppx_buf *t, size_t n_im, size_t *at, const char *extra)
{
    MUST(ppx_buf_printf(t, "{\"info\": {\"v\": 1}, \"images\": ["));
    for (size_t i = 0; i < n_im; i++)
        MUST(ppx_buf_printf(t,
                            "%s{\"id\": %zu, \"file_name\": \"%06zu.jpg\", \"width\": 640, "
                            "\"height\": 480}",
                            i ? ", " : "", i + 1, i));
    MUST(ppx_buf_printf(t, "], \"annotations\": ["));
    size_t list = t->len;
    for (size_t a = 0; a < n_im * 12; a++) {
        double x = rnd(600), y = rnd(440), w = 5 + rnd(300), h = 5 + rnd(300);
        if (at && a % 12 == 0)
            at[a / 12] = t->len - list;
        MUST(ppx_buf_printf(t, "%s{\"id\": %zu, \"image_id\": %zu, \"category_id\": %u, ",
                            a ? ", " : "", a, 1 + a / 12, 1 + rnd(90)));
        if (a % 50 == 7) {
            MUST(ppx_buf_printf(t, "\"iscrowd\": 1, \"segmentation\": {\"size\": [480, 640], "
                                   "\"counts\": [1000, 2000, 3000, 301200]}, "));
        } else {
            MUST(ppx_buf_printf(t, "\"segmentation\": [["));
            for (int k = 0; k < 30; k++)
                MUST(ppx_buf_printf(t, "%s%.2f, %.2f", k ? ", " : "", x + rnd(1000) * w / 1000,
                                    y + rnd(1000) * h / 1000));
            MUST(ppx_buf_printf(t, "]], "));
        }
        if (a % 3 == 0)
            MUST(ppx_buf_printf(t,
                                "\"num_keypoints\": 2, \"keypoints\": [%.1f, %.1f, 2, 0, 0, 0, "
                                "%.1f, %.1f, 1], ",
                                x + 1, y + 1, x + w, y + h));
        MUST(ppx_buf_printf(t, "\"area\": %.3f, \"bbox\": [%.2f, %.2f, %.2f, %.2f]%s%s}", w * h, x,
                            y, w, h, extra ? ", " : "", extra ? extra : ""));
    }
    MUST(ppx_buf_printf(t, "], \"categories\": [{\"id\": 1, \"name\": \"a\"}]}"));
}

/* Image i's fate: most written through a resize and a crop (a few also
 * flipped, so that some annotations fall outside), some failed, some
 * absent; those at or after huge_from get an output too large for their
 * RLE masks. */
static void fates(ppx_coco_out *outs, size_t n_im, size_t huge_from)
{
    for (size_t i = 0; i < n_im; i++) {
        ppx_coco_out *o = &outs[i];
        o->state = i % 17 == 3 ? PPX_COCO_FAILED : i % 13 == 5 ? PPX_COCO_ABSENT : PPX_COCO_OK;
        o->name = "out.jpg";
        ppx_geom_identity(&o->geom, 640, 480);
        if (i >= huge_from) {
            ppx_geom_then_resize(&o->geom, 60000 + (uint32_t)i, 60000);
            continue;
        }
        ppx_geom_then_resize(&o->geom, 341 + (uint32_t)(i % 7), 256);
        if (i % 4 == 1)
            ppx_geom_then_orient(&o->geom, 2 + (int)(i % 7));
        ppx_geom_then_crop(&o->geom, (int64_t)(i % 90), 16, 224, 224);
    }
}

/* Parses t (a copy) with threads threads and writes it for outs; 0 and the
 * text in json and counts in ct, or the error. */
static int run_threads(const ppx_buf *t, unsigned threads, const ppx_coco_out *outs, ppx_buf *json,
                       ppx_coco_counts *ct, ppx_err *e)
{
    ppx_buf copy;
    ppx_buf_init(&copy);
    MUST(ppx_buf_append(&copy, t->data, t->len));
    ppx_coco_limits l;
    ppx_coco_default_limits(&l);
    l.threads = threads;
    ppx_coco *c;
    ppx_err_clear(e);
    int rc = ppx_coco_parse(&copy, &l, &c, e);
    if (rc)
        return rc;
    rc = ppx_coco_write(c, outs, json, ct, e);
    ppx_coco_free(&c);
    return rc;
}

/* Written with 1, 2, 3 or 8 threads: the same bytes and the same counts. */
static int threads_same_text(void)
{
    size_t n_im = 150;
    ppx_buf t, one, many;
    small_parts();
    ppx_buf_init(&t);
    big_file(&t, n_im, NULL, NULL);
    CHECK(t.len > 32 * SMALL);
    ppx_coco_out *outs = calloc(n_im, sizeof *outs);
    fates(outs, n_im, n_im);
    ppx_err e;
    ppx_coco_counts c1, cn;
    ppx_buf_init(&one);
    CHECK(run_threads(&t, 1, outs, &one, &c1, &e) == 0);
    CHECK(c1.annotations_outside > 0 && c1.annotations_removed > 0 && c1.n_categories > 10);
    for (unsigned threads = 2; threads <= 8; threads += threads == 3 ? 5 : 1) {
        ppx_buf_init(&many);
        CHECK(run_threads(&t, threads, outs, &many, &cn, &e) == 0);
        CHECK(many.len == one.len && memcmp(many.data, one.data, one.len) == 0);
        CHECK(cn.annotations_written == c1.annotations_written &&
              cn.annotations_outside == c1.annotations_outside &&
              cn.annotations_removed == c1.annotations_removed &&
              cn.n_categories == c1.n_categories &&
              memcmp(cn.by_category, c1.by_category, c1.n_categories * sizeof *c1.by_category) ==
                  0);
        free(cn.by_category);
        ppx_buf_destroy(&many);
    }
    free(c1.by_category);
    ppx_buf_destroy(&one);
    ppx_buf_destroy(&t);
    free(outs);
    return 0;
}

/* RLE masks whose outputs are over the pixel limit (each message names
 * its own size) from near the end of the writer's second block on: the
 * third block fails sooner than the second, and every thread count
 * reports the first in the file's order, as one thread does. */
static int threads_first_error(void)
{
    size_t n_im = 150, *at = calloc(n_im, sizeof *at), huge = 0;
    ppx_buf t, json;
    small_parts();
    ppx_buf_init(&t);
    big_file(&t, n_im, at, NULL);
    while (huge < n_im && at[huge] < 2 * SMALL - SMALL / 8)
        huge++;
    ppx_coco_out *outs = calloc(n_im, sizeof *outs);
    fates(outs, n_im, huge);
    ppx_err e;
    ppx_coco_counts ct;
    char first[sizeof e.msg];
    ppx_buf_init(&json);
    CHECK(run_threads(&t, 1, outs, &json, &ct, &e) == PPX_ELIMIT);
    snprintf(first, sizeof first, "%s", e.msg);
    CHECK(strstr(first, "over the pixel limit") != NULL);
    for (int round = 0; round < 20; round++) {
        ppx_buf_destroy(&json);
        CHECK(run_threads(&t, 2 + (unsigned)round % 7, outs, &json, &ct, &e) == PPX_ELIMIT);
        CHECK_STR(e.msg, first);
    }
    ppx_buf_destroy(&json);
    ppx_buf_destroy(&t);
    free(outs);
    free(at);
    return 0;
}

/* The text of t with the first old at or after annotation k's '{' (found
 * by its "id") replaced by with ("" : with inserted before k). */
static void mutate(const ppx_buf *t, ppx_buf *out, size_t k, const char *old, const char *with)
{
    char key[48];
    snprintf(key, sizeof key, "{\"id\": %zu, \"image_id\"", k);
    const char *text = (const char *)t->data, *at = strstr(strstr(text, "\"annotations\""), key);
    MUST(at == NULL || (at = strstr(at, old)) == NULL);
    size_t off = (size_t)(at - text), skip = strlen(old);
    ppx_buf_init(out);
    MUST(ppx_buf_append(out, text, off) || ppx_buf_append(out, with, strlen(with)) ||
         ppx_buf_append(out, text + off + skip, t->len - off - skip) || ppx_buf_append(out, "", 1));
    out->len--;
}

/* What parsing text with threads threads and limits l gives: "" and the
 * written text's hash, or the error. */
static void outcome(const ppx_buf *text, unsigned threads, const ppx_coco_limits *l, char *what,
                    size_t cap)
{
    ppx_buf copy;
    ppx_buf_init(&copy);
    MUST(ppx_buf_append(&copy, text->data, text->len));
    ppx_coco_limits lim = *l;
    lim.threads = threads;
    ppx_coco *c;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_coco_parse(&copy, &lim, &c, &e);
    if (rc) {
        snprintf(what, cap, "error %d: %s", rc, e.msg);
        return;
    }
    size_t n = ppx_coco_n_images(c);
    ppx_coco_out *outs = calloc(n ? n : 1, sizeof *outs);
    fates(outs, n, n);
    ppx_buf json;
    ppx_buf_init(&json);
    ppx_coco_counts ct;
    MUST(ppx_coco_write(c, outs, &json, &ct, &e));
    snprintf(what, cap, "ok %zu bytes, hash %016llx, %zu images", json.len,
             (unsigned long long)ppx_fnv1a(PPX_FNV1A_INIT, json.data, json.len), n);
    free(ct.by_category);
    ppx_buf_destroy(&json);
    free(outs);
    ppx_coco_free(&c);
}

/* Read by 2 to 8 threads, a file gives what one thread gives: the same
 * tables (the same written text), and for errors deep in the list (past
 * the reader's first parts) the same code and message, index and line and
 * column included. In the second file every annotation ends
 * with bytes a part's start is guessed from (a string that ends in "}, {",
 * then nested objects that read as annotations): the parts that start
 * there are not taken. */
static int threads_same_errors(void)
{
    size_t n_im = 150, k = n_im * 12 * 7 / 10; /* an annotation at 70 % of the list */
    static const char *const extras[2] = {
        NULL, "\"parts\": [{\"image_id\": 1, \"category_id\": 1}, {\"image_id\": 2, "
              "\"category_id\": 2}], \"note\": \"}, {\""};
    /* Each at 70 % of the list, those found after reading (by image) at 90 % too. */
    static const struct {
        const char *old, *with;
        int twice;
    } cases[] = {
        {"", "", 0}, /* the file as made */
        {"", "{\"image_id\": \"x\", ", 0},
        {"{", "{\"bad\": 1.e5, ", 0},
        {"", "[1, 2], ", 0},
        {"", "{\"t\": 1}]}", 0}, /* the list and the file end early */
        {"\"image_id\": ", "\"image_id\": 99999999, \"was\": ", 1},
        {"\"size\": [480, 640]", "\"size\": [480, 641]", 1},
    };
    ppx_coco_limits def, few_values, few_anns;
    ppx_coco_default_limits(&def);
    few_values = few_anns = def;
    few_values.max_nodes = n_im * 12 * 8; /* passed in the list's last third */
    few_anns.max_annotations = n_im * 12 * 2 / 3;
    char one[PPX_ERR_MSG_MAX + 32], many[sizeof one];
    small_parts();
    for (int x = 0; x < 2; x++) {
        ppx_buf t, m;
        ppx_buf_init(&t);
        big_file(&t, n_im, NULL, extras[x]);
        CHECK(t.len > 32 * SMALL);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mutate(&t, &m, k, cases[c].old, cases[c].with);
            if (cases[c].twice) {
                ppx_buf m2;
                mutate(&m, &m2, n_im * 12 * 9 / 10, cases[c].old, cases[c].with);
                ppx_buf_destroy(&m);
                m = m2;
            }
            /* The limits only with the file as made. */
            for (int l = 0; l < (c == 0 ? 3 : 1); l++) {
                const ppx_coco_limits *lim = l == 0 ? &def : l == 1 ? &few_values : &few_anns;
                outcome(&m, 1, lim, one, sizeof one);
                CHECK((c == 0 && l == 0) == (strncmp(one, "ok", 2) == 0));
                for (unsigned threads = 2; threads <= 8; threads++) {
                    outcome(&m, threads, lim, many, sizeof many);
                    if (strcmp(one, many) != 0)
                        fprintf(stderr, "file %d case %zu limits %d threads %u\n", x, c, l,
                                threads);
                    CHECK_STR(many, one);
                }
            }
            ppx_buf_destroy(&m);
        }
        ppx_buf_destroy(&t);
    }
    return 0;
}

/* A sink that fails at its third piece. */
static int failing_put(void *ctx, const void *data, size_t len, ppx_err *err)
{
    (void)data;
    (void)len;
    if (++*(int *)ctx == 3)
        return ppx_err_set(err, PPX_EOUTPUT, PPX_STAGE_WRITE, "disk full (test)");
    return 0;
}

/* The sink's failure (at the second block) ends the write with its error,
 * threads or not, also when a later block would fail to map (threads map
 * it before the sink is called). */
static int sink_failure_ends(void)
{
    size_t n_im = 150;
    ppx_buf t;
    small_parts();
    ppx_buf_init(&t);
    big_file(&t, n_im, NULL, NULL);
    ppx_coco_out *outs = calloc(n_im, sizeof *outs);
    for (unsigned round = 0; round < 16; round++) {
        unsigned threads = round % 2 ? 4 : 1;
        fates(outs, n_im, round < 2 ? n_im : 7); /* 7: a mask in the fifth block */
        ppx_buf copy;
        ppx_buf_init(&copy);
        MUST(ppx_buf_append(&copy, t.data, t.len));
        ppx_coco_limits l;
        ppx_coco_default_limits(&l);
        l.threads = threads;
        ppx_coco *c;
        ppx_err e;
        ppx_err_clear(&e);
        MUST(ppx_coco_parse(&copy, &l, &c, &e));
        int calls = 0;
        ppx_coco_sink sink = {failing_put, &calls};
        ppx_coco_counts ct;
        CHECK(ppx_coco_write_to(c, outs, &sink, &ct, &e) == PPX_EOUTPUT);
        CHECK_STR(e.msg, "disk full (test)");
        CHECK(calls == 3 && ct.by_category == NULL);
        ppx_coco_free(&c);
    }
    ppx_buf_destroy(&t);
    free(outs);
    return 0;
}

PPX_TEST_MAIN(TEST(rle_runs_match_pixels), TEST(last_member_wins), TEST(errors_name_the_place),
              TEST(threads_same_text), TEST(threads_first_error), TEST(threads_same_errors),
              TEST(sink_failure_ends))
