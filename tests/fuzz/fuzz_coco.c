/* Fuzz target for the COCO reader (--coco): ppx_coco_parse on arbitrary
 * bytes, under small limits. Properties checked beyond "no crash, no leak,
 * no UB":
 *  - a failure is one non-empty line of message with a known code;
 *  - a file that parses is mapped and written for every image through a
 *    rotation, a scale and a crop (so clipping, RLE resampling and
 *    keypoints all run), and what is written is parsed again as JSON;
 *  - the written counts add up: written + outside + of removed images is
 *    every annotation;
 *  - the COCO reader (its own pass, src/annot/coco_read.c) and the generic
 *    JSON reader agree on the grammar: a file it accepts is JSON, and a
 *    syntax error it reports is the generic reader's, word for word;
 *  - read and written by 3 threads (parts and blocks of 32 bytes, so that
 *    small inputs are cut into many), the outcome is one thread's: the same
 *    code and message, or the same bytes and counts.
 *
 * Built with clang -fsanitize=fuzzer under the fuzz preset (target
 * fuzz_coco); in other builds standalone_main.c adds a main() that replays
 * files given on the command line, so that tests/fuzz/coco_corpus runs as
 * ordinary tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/coco.h"
#include "prepix/json_read.h"

#define MAX_INPUT (1 << 20)

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_coco: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text of json[0..len) parses as JSON (or memory ran out), else abort. */
static void is_json(ppx_buf *json, const char *what)
{
    ppx_json_limits jl = {.max_bytes = UINT32_MAX - 2,
                          .max_depth = 64,
                          .max_nodes = UINT64_MAX,
                          .max_number = UINT64_MAX};
    ppx_jdoc d;
    if (ppx_buf_append(json, "", 1))
        return;
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx_jdoc_parse(&d, (const char *)json->data, json->len - 1, &jl, &e) != 0 &&
        e.code != PPX_ENOMEM)
        fail(what, e.msg);
    ppx_jdoc_destroy(&d);
    json->len--;
}

/* -f tar's path for the first n images: each image's slice is a COCO file
 * that parses (it is part of one that did), and its KEY.json is JSON. */
static void samples(const ppx_coco *c, const ppx_coco_out *outs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ppx_buf text, json;
        ppx_buf_init(&text);
        ppx_buf_init(&json);
        ppx_coco_limits lim;
        ppx_coco_default_limits(&lim);
        lim.max_depth = 16;
        lim.max_pixels = 1 << 16;
        ppx_coco *one = NULL;
        ppx_err err;
        ppx_err_clear(&err);
        if (ppx_coco_slice(c, i, &text))
            goto next;
        if (ppx_coco_parse(&text, &lim, &one, &err)) {
            if (err.code != PPX_ENOMEM)
                fail("an image's slice is not a COCO file", err.msg);
            goto next;
        }
        if (ppx_coco_n_images(one) != 1)
            fail("a slice of more or fewer than one image", "");
        if (ppx_coco_write_sample(one, 0, &outs[i], &json, &err) == 0 && json.len)
            is_json(&json, "a KEY.json that is not JSON");
    next:
        ppx_coco_free(&one);
        ppx_buf_destroy(&text);
        ppx_buf_destroy(&json);
    }
}

/* The generic reader on the same bytes, as the COCO reader's rc says. */
static void same_grammar(const uint8_t *data, size_t size, int rc, const ppx_err *err)
{
    if (rc != 0 && rc != PPX_ECORRUPT)
        return;
    ppx_buf b;
    ppx_buf_init(&b);
    if (ppx_buf_append(&b, data, size) || ppx_buf_append(&b, "", 1)) {
        ppx_buf_destroy(&b);
        return;
    }
    ppx_json_limits jl = {.max_bytes = UINT32_MAX - 2,
                          .max_depth = 16,
                          .max_nodes = UINT64_MAX,
                          .max_number = UINT64_MAX};
    ppx_jdoc d;
    ppx_err e;
    ppx_err_clear(&e);
    int jrc = ppx_jdoc_parse(&d, (const char *)b.data, size, &jl, &e);
    ppx_jdoc_destroy(&d);
    ppx_buf_destroy(&b);
    if (jrc == PPX_ENOMEM)
        return;
    if (rc == 0 && jrc != 0)
        fail("accepted, but not JSON", e.msg);
    if (rc == PPX_ECORRUPT && (jrc != PPX_ECORRUPT || strcmp(e.msg, err->msg) != 0))
        fail("a syntax error the generic reader does not see", err->msg);
}

/* What reading and writing an input gave: 0 and the text and counts, or
 * the code and message. */
typedef struct {
    int rc;
    ppx_err err;
    ppx_buf json;
    ppx_coco_counts ct;
} outcome;

/* The fates of c's n images: most written through a rotation, a scale and
 * a crop, some failed, some absent. */
static void fates(ppx_coco_out *outs, const ppx_coco *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i % 5 == 4)
            continue; /* absent */
        outs[i].state = i % 7 == 6 ? PPX_COCO_FAILED : PPX_COCO_OK;
        outs[i].name = ppx_coco_file_name(c, i);
        ppx_geom_identity(&outs[i].geom, 64, 48);
        ppx_geom_then_orient(&outs[i].geom, 1 + (int)(i % 8));
        ppx_geom_then_resize(&outs[i].geom, 40 + (uint32_t)(i % 13), 30);
        ppx_geom_then_crop(&outs[i].geom, (int64_t)(i % 9) - 4, 3, 36, 33);
    }
}

/* data read and written with lim's threads into o; 1 when memory ran out. */
static int read_write(const uint8_t *data, size_t size, const ppx_coco_limits *lim, outcome *o)
{
    ppx_buf text;
    ppx_buf_init(&text);
    ppx_buf_init(&o->json);
    memset(&o->ct, 0, sizeof o->ct);
    ppx_err_clear(&o->err);
    ppx_coco *c = NULL;
    if (ppx_buf_append(&text, data, size))
        return 1;
    o->rc = ppx_coco_parse(&text, lim, &c, &o->err);
    if (o->rc)
        return o->rc == PPX_ENOMEM;
    size_t n = ppx_coco_n_images(c);
    ppx_coco_out *outs = calloc(n ? n : 1, sizeof *outs);
    if (!outs) {
        ppx_coco_free(&c);
        return 1;
    }
    fates(outs, c, n);
    o->rc = ppx_coco_write(c, outs, &o->json, &o->ct, &o->err);
    free(outs);
    ppx_coco_free(&c);
    return o->rc == PPX_ENOMEM;
}

/* Read and written by 3 threads, data gives what one thread gave (rc,
 * err; json and ct on success). */
static void same_with_threads(const uint8_t *data, size_t size, const ppx_coco_limits *lim, int rc,
                              const ppx_err *err, const ppx_buf *json, const ppx_coco_counts *ct)
{
    size_t part = ppx__coco_part_min, block = ppx__coco_block_bytes;
    ppx__coco_part_min = ppx__coco_block_bytes = 32;
    ppx_coco_limits l = *lim;
    l.threads = 3;
    outcome o;
    int nomem = read_write(data, size, &l, &o);
    ppx__coco_part_min = part;
    ppx__coco_block_bytes = block;
    if (!nomem) {
        if (o.rc != rc || strcmp(o.err.msg, err->msg) != 0)
            fail("3 threads fail otherwise than one", o.err.msg);
        if (!rc && (o.json.len != json->len || memcmp(o.json.data, json->data, json->len) != 0))
            fail("3 threads write otherwise than one", "");
        if (!rc && (o.ct.annotations_written != ct->annotations_written ||
                    o.ct.annotations_outside != ct->annotations_outside ||
                    o.ct.n_categories != ct->n_categories))
            fail("3 threads count otherwise than one", "");
    }
    free(o.ct.by_category);
    ppx_buf_destroy(&o.json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    ppx_buf text;
    ppx_buf_init(&text);
    if (ppx_buf_append(&text, data, size))
        return 0;
    ppx_coco_limits lim;
    ppx_coco_default_limits(&lim);
    lim.max_depth = 16;
    lim.max_nodes = 1 << 16;
    lim.max_numbers = 1 << 14;
    lim.max_pixels = 1 << 16; /* masks of at most 256 x 256 */
    ppx_err err;
    ppx_err_clear(&err);
    ppx_coco *c = NULL;
    int rc = ppx_coco_parse(&text, &lim, &c, &err);
    same_grammar(data, size, rc, &err);
    if (rc) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            fail("a failure without a one-line message", err.msg);
        if (rc != PPX_ECORRUPT && rc != PPX_ELIMIT && rc != PPX_EINVAL && rc != PPX_ENOMEM)
            fail("an unexpected code", err.msg);
        if (rc != PPX_ENOMEM)
            same_with_threads(data, size, &lim, rc, &err, NULL, NULL);
        ppx_buf_destroy(&text);
        return 0;
    }
    size_t n = ppx_coco_n_images(c);
    ppx_coco_out *outs = calloc(n ? n : 1, sizeof *outs);
    if (!outs)
        goto out;
    fates(outs, c, n);
    ppx_buf json;
    ppx_buf_init(&json);
    ppx_coco_counts ct;
    ppx_err_clear(&err);
    rc = ppx_coco_write(c, outs, &json, &ct, &err);
    if (rc == 0) {
        if (ct.annotations_written + ct.annotations_outside + ct.annotations_removed !=
            ct.annotations)
            fail("counts do not add up", "");
        is_json(&json, "the written file is not JSON");
        samples(c, outs, n < 64 ? n : 64);
    }
    if (rc != PPX_ENOMEM)
        same_with_threads(data, size, &lim, rc, &err, &json, &ct);
    free(ct.by_category);
    ppx_buf_destroy(&json);
out:
    free(outs);
    ppx_coco_free(&c);
    return 0;
}
