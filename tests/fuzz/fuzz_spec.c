/* Fuzz target for the pipeline language: ppx_pipeline_parse on arbitrary
 * text. Properties checked beyond "no crash, no leak, no UB":
 *  - a failure is PPX_ESPEC with a non-empty one-line message naming "op N";
 *  - a success has a canonical text that parses again to the same text;
 *  - the hint, fixed size and a run on a small image (under tight limits,
 *    every output sample read) work for every spec that parses.
 *
 * Built with clang -fsanitize=fuzzer under the fuzz preset (target
 * fuzz_spec); in other builds standalone_main.c adds a main() that replays
 * files given on the command line, so that tests/fuzz/spec_corpus runs as
 * ordinary tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/pipeline.h"

#define MAX_SPEC 4096

/* Where the sum of the output samples goes, so that reading them is not
 * optimised away. */
static volatile unsigned sample_sink;

static void fail(const char *what, const char *spec)
{
    fprintf(stderr, "fuzz_spec: %s\nspec: [%s]\n", what, spec);
    abort();
}

/* Runs pl on a small RGB image with limits; reads every output sample so
 * that the sanitizers see uninitialised or out-of-bounds results. */
static void run_small(const ppx_pipeline *pl, const char *spec, unsigned channels, ppx_sample type,
                      int orientation)
{
    ppx_pipeline_ctx *ctx = NULL;
    ppx_image img;
    ppx_image_init(&img);
    if (ppx_pipeline_ctx_new(&ctx))
        return;
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 1 << 16; /* the spec, not the image, sets sizes: keep them small */
    l.max_alloc = 16 << 20;
    ppx_pipeline_ctx_set_limits(ctx, &l);
    if (ppx_image_alloc(&img, 7, 5, channels, type, NULL, NULL) == 0) {
        for (size_t i = 0; i < img.stride * img.height; i++)
            img.data[i] = (uint8_t)(i * 37 + 11);
        img.orientation = orientation;
        ppx_image *out = NULL;
        ppx_err err;
        ppx_err_clear(&err);
        int rc = ppx_pipeline_run(pl, ctx, &img, 1, "fuzz/key.jpg", &out, &err);
        if (rc == 0 && ppx_pipeline_has_normalize(pl))
            rc = ppx_pipeline_normalize(pl, ctx, out, &out, &err);
        if (rc == 0) {
            unsigned sum = 0;
            for (uint32_t y = 0; y < out->height; y++) {
                const uint8_t *row = ppx_image_row(out, y);
                for (size_t i = 0;
                     i < (size_t)out->width * out->channels * ppx_sample_size(out->type); i++)
                    sum += row[i];
            }
            sample_sink = sum;
        } else if (err.stage != PPX_STAGE_TRANSFORM || err.msg[0] == '\0') {
            fail("run failed without a transform-stage message", spec);
        }
    }
    ppx_image_destroy(&img);
    ppx_pipeline_ctx_free(&ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_SPEC)
        return 0;
    char *spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    ppx_pipeline *pl = NULL, *again = NULL;
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_pipeline_parse(spec, &pl, &err);
    if (rc) {
        if (rc != PPX_ESPEC && rc != PPX_ENOMEM)
            fail("parse failed with an unexpected code", spec);
        if (rc == PPX_ESPEC && (strncmp(err.msg, "op ", 3) != 0 || strchr(err.msg, '\n')))
            fail("bad error message", spec);
        goto out;
    }
    const char *canon = ppx_pipeline_canonical(pl);
    if (ppx_pipeline_parse(canon, &again, &err))
        fail("canonical text does not parse", spec);
    if (strcmp(canon, ppx_pipeline_canonical(again)) != 0)
        fail("canonical text is not stable", spec);
    if (ppx_pipeline_length(pl) != ppx_pipeline_length(again))
        fail("canonical text has another length", spec);
    uint32_t w, h;
    ppx_pipeline_decode_hint(pl, 4000, 3000, 6, &w, &h);
    if ((w == 0) != (h == 0) || w > 4000 || h > 3000)
        fail("bad decode hint", spec);
    ppx_pipeline_decode_hint(pl, 1, 1, 1, &w, &h);
    int fixed = ppx_pipeline_fixed_size(pl, &w, &h);
    ppx_pipeline_geometry g;
    ppx_pipeline_output_geometry(pl, &g);
    if (g.fixed != fixed || (fixed && (g.w != w || g.h != h)) || g.channels > 3)
        fail("output geometry disagrees with the fixed size", spec);
    if ((unsigned)ppx_pipeline_is_random(pl) > 1)
        fail("is_random is not 0 or 1", spec);
    run_small(pl, spec, 3, PPX_U8, 6);
    run_small(pl, spec, 2, PPX_U16, 1);
out:
    ppx_pipeline_free(&pl);
    ppx_pipeline_free(&again);
    free(spec);
    return 0;
}
