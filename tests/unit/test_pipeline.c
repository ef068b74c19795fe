/* The pipeline language (parser, errors, canonical text), the run loop's
 * view of it (hint, fixed size, randomness) and running images through. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "prepix/ops.h"
#include "prepix/pipeline.h"

/* Parses spec, expecting PPX_ESPEC with a message that contains want. */
static int parse_fails(const char *spec, const char *want)
{
    ppx_pipeline *pl = (ppx_pipeline *)(uintptr_t)1; /* must stay untouched */
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_pipeline_parse(spec, &pl, &e);
    if (rc != PPX_ESPEC || e.stage != PPX_STAGE_NONE || !strstr(e.msg, want) ||
        pl != (ppx_pipeline *)(uintptr_t)1) {
        fprintf(stderr, "spec [%s]: rc %d msg [%s], wanted [%s]\n", spec, rc, e.msg, want);
        return 1;
    }
    return 0;
}

/* Parses spec and checks its canonical text. */
static int canonical_is(const char *spec, const char *want)
{
    ppx_pipeline *pl = NULL;
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx_pipeline_parse(spec, &pl, &e)) {
        fprintf(stderr, "spec [%s]: %s\n", spec, e.msg);
        return 1;
    }
    int bad = strcmp(ppx_pipeline_canonical(pl), want) != 0;
    if (bad)
        fprintf(stderr, "spec [%s]:\n  got  [%s]\n  want [%s]\n", spec, ppx_pipeline_canonical(pl),
                want);
    /* The canonical text is itself a spec with the same canonical text. */
    ppx_pipeline *again = NULL;
    if (!bad && (ppx_pipeline_parse(want, &again, &e) ||
                 strcmp(ppx_pipeline_canonical(again), want) != 0)) {
        fprintf(stderr, "canonical [%s] does not round-trip\n", want);
        bad = 1;
    }
    ppx_pipeline_free(&pl);
    ppx_pipeline_free(&again);
    return bad;
}

static int parse_unknown_op(void)
{
    CHECK(parse_fails("autorotate | rezise 256",
                      "op 2: unknown op \"rezise\" (did you mean \"resize\"?): expected one of "
                      "autorotate, resize, center-crop") == 0);
    CHECK(parse_fails("centercrop 3", "(did you mean \"center-crop\"?)") == 0);
    CHECK(parse_fails("blur", "op 1: unknown op \"blur\": expected one of") == 0);
    /* Names are case-sensitive and need the dash. */
    CHECK(parse_fails("Resize 3", "unknown op \"Resize\"") == 0);
    CHECK(parse_fails("center_crop 3", "unknown op \"center_crop\"") == 0);
    return 0;
}

static int parse_bad_arguments(void)
{
    CHECK(parse_fails("autorotate | resize 25x", "op 2 (\"resize\"): bad size \"25x\": expected W "
                                                 "or WxH") == 0);
    CHECK(parse_fails("resize 0", "bad size \"0\"") == 0);
    CHECK(parse_fails("resize 65536", "bad size \"65536\"") == 0);
    CHECK(parse_fails("resize -3", "bad size \"-3\"") == 0);
    CHECK(parse_fails("resize 2x3x4", "bad size \"2x3x4\"") == 0);
    CHECK(parse_fails("resize", "op 1 (\"resize\"): missing size") == 0);
    CHECK(parse_fails("resize 256 fit=wide", "bad fit \"wide\": expected shorter, longer") == 0);
    CHECK(parse_fails("resize 256 filter=lanczos", "bad filter \"lanczos\"") == 0);
    CHECK(parse_fails("resize 256 fitt=fill", "unknown argument \"fitt=fill\": expected fit=, "
                                              "filter= or draft=") == 0);
    CHECK(parse_fails("resize 256 draft=yes", "bad draft \"yes\": expected safe, fast or off") ==
          0);
    CHECK(parse_fails("resize 256 fit=fill fit=cover", "fit= given twice") == 0);
    CHECK(parse_fails("resize 256 300", "unexpected argument \"300\"") == 0);
    CHECK(parse_fails("resize 300x200 fit=shorter", "fit=shorter needs one size S") == 0);
    CHECK(parse_fails("crop 1,2,3", "bad box \"1,2,3\": expected X,Y,W,H") == 0);
    CHECK(parse_fails("crop 1,2,0,4", "bad box") == 0);
    CHECK(parse_fails("crop 1.5,2,3,4", "bad box") == 0);
    CHECK(parse_fails("crop 1,2,3,4,", "bad box") == 0);
    CHECK(parse_fails("crop", "missing box") == 0);
    CHECK(parse_fails("random-crop 224 scale=0.5", "bad scale \"0.5\": expected a,b") == 0);
    CHECK(parse_fails("random-crop 224 scale=1,0.5", "bad scale") == 0);
    CHECK(parse_fails("random-crop 224 ratio=0,1", "bad ratio") == 0);
    CHECK(parse_fails("random-crop 224 scale=nan,1", "bad scale") == 0);
    CHECK(parse_fails("random-crop 224 scale=0x1p-3,1", "bad scale") == 0);
    CHECK(parse_fails("pad 10 color=256,0,0", "bad color") == 0);
    CHECK(parse_fails("pad 10 color=1,2", "bad color") == 0);
    CHECK(parse_fails("flip x", "bad direction \"x\": expected h or v") == 0);
    CHECK(parse_fails("flip", "missing direction") == 0);
    CHECK(parse_fails("flip h p=1.5", "bad probability") == 0);
    CHECK(parse_fails("rotate 45", "bad angle \"45\": expected 90, 180 or 270") == 0);
    CHECK(parse_fails("rotate -90", "bad angle") == 0);
    CHECK(parse_fails("grayscale 1", "unexpected argument \"1\"") == 0);
    CHECK(parse_fails("rgb mode=x", "unexpected argument \"mode=x\": rgb takes no arguments") == 0);
    CHECK(parse_fails("normalize mean=1,2,3 std=1,2", "mean has 3 values but std has 2") == 0);
    CHECK(parse_fails("normalize std=0", "std must not be 0") == 0);
    /* One value a band, up to 256 (PPX_MAX_BANDS): 13 parse and come back
     * in the canonical text, 257 do not. */
    char many[2048] = "normalize mean=1";
    for (int i = 2; i <= 13; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
    ppx_pipeline *pl = NULL;
    ppx_err e;
    CHECK(ppx_pipeline_parse(many, &pl, &e) == 0);
    CHECK(ppx_pipeline_normalize_values(pl) == 13);
    CHECK(strstr(ppx_pipeline_canonical(pl), ",12,13 std=1,1,") != NULL);
    ppx_pipeline_free(&pl);
    for (int i = 14; i <= 257; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
    CHECK(parse_fails(many, "bad mean") == 0);
    return 0;
}

static int parse_structure(void)
{
    CHECK(parse_fails("autorotate || resize 3", "op 2: empty op") == 0);
    CHECK(parse_fails("| rgb", "op 1: empty op") == 0);
    CHECK(parse_fails("rgb |", "op 2: empty op") == 0);
    CHECK(parse_fails("rgb | normalize | to-8bit",
                      "op 2 (\"normalize\"): normalize must be the last op") == 0);
    CHECK(parse_fails("normalize | normalize", "op 1 (\"normalize\"): normalize must be") == 0);
    /* Positions count ops, comments and newlines included. */
    CHECK(parse_fails("# header\nautorotate |\n  resize 256 | # shrink\n  rotate 91",
                      "op 3 (\"rotate\")") == 0);
    /* Bytes that cannot be printed do not reach the one-line message. */
    ppx_pipeline *pl = NULL;
    ppx_err e;
    CHECK(ppx_pipeline_parse("bl\x01ur\x7f", &pl, &e) == PPX_ESPEC);
    CHECK(strstr(e.msg, "\"bl?ur?\"") != NULL);
    /* A long token is cut in the message. */
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(ppx_pipeline_parse(big, &pl, &e) == PPX_ESPEC);
    CHECK(strstr(e.msg, "...") != NULL && strlen(e.msg) < 300);
    return 0;
}

static int parse_empty(void)
{
    const char *empty[] = {NULL, "", "   ", "\n\t", "# only a comment\n"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        ppx_pipeline *pl = NULL;
        ppx_err e;
        CHECK(ppx_pipeline_parse(empty[i], &pl, &e) == 0);
        CHECK_EQ_INT(ppx_pipeline_length(pl), 0);
        CHECK_STR(ppx_pipeline_canonical(pl), "");
        CHECK(!ppx_pipeline_has_normalize(pl) && !ppx_pipeline_is_random(pl));
        ppx_pipeline_free(&pl);
        CHECK(pl == NULL);
    }
    ppx_pipeline_free(NULL);
    return 0;
}

static int canonical_text(void)
{
    CHECK(canonical_is("autorotate | resize 256 | center-crop 224",
                       "autorotate | resize 256 fit=shorter filter=lanczos3 draft=safe | "
                       "center-crop 224x224") == 0);
    CHECK(canonical_is("  resize   256x128\tfilter=bilinear  ",
                       "resize 256x128 fit=fill filter=bilinear draft=safe") == 0);
    CHECK(canonical_is("resize 300 fit=cover",
                       "resize 300x300 fit=cover filter=lanczos3 draft=safe") == 0);
    CHECK(canonical_is("resize 300 draft=fast fit=longer filter=nearest",
                       "resize 300 fit=longer filter=nearest draft=fast") == 0);
    CHECK(canonical_is("random-crop 224",
                       "random-crop 224x224 scale=0.08,1 ratio=0.75,1.3333333333333333 "
                       "filter=lanczos3") == 0);
    CHECK(canonical_is("random-crop 32x16 ratio=1,2 scale=0.5,0.75 filter=bicubic",
                       "random-crop 32x16 scale=0.5,0.75 ratio=1,2 filter=bicubic") == 0);
    CHECK(canonical_is("pad 10 color=9", "pad 10x10 color=9,9,9,255") == 0);
    CHECK(canonical_is("pad 10x5 color=1,2,3,4", "pad 10x5 color=1,2,3,4") == 0);
    CHECK(canonical_is("flip v", "flip v p=1") == 0);
    CHECK(canonical_is("flip h p=0.5", "flip h p=0.5") == 0);
    CHECK(canonical_is("crop 007,0,10,20", "crop 7,0,10,20") == 0);
    CHECK(canonical_is("rotate 270 | grayscale | rgb | to-8bit | equalize",
                       "rotate 270 | grayscale | rgb | to-8bit | equalize") == 0);
    CHECK(canonical_is("normalize", "normalize mean=0 std=1") == 0);
    CHECK(canonical_is("normalize mean=0.485,0.456,0.406 std=0.229,0.224,0.225",
                       "normalize mean=0.485,0.456,0.406 std=0.229,0.224,0.225") == 0);
    CHECK(canonical_is("normalize mean=0.5 std=0.1,0.2", "normalize mean=0.5,0.5 std=0.1,0.2") ==
          0);
    return 0;
}

static int properties(void)
{
    ppx_pipeline *pl = NULL;
    ppx_err e;
    uint32_t w = 0, h = 0;
    CHECK(ppx_pipeline_parse("autorotate | resize 256 | random-crop 224 | normalize", &pl, &e) ==
          0);
    CHECK_EQ_INT(ppx_pipeline_length(pl), 4);
    CHECK(ppx_pipeline_has_normalize(pl));
    CHECK(ppx_pipeline_is_random(pl));
    CHECK(ppx_pipeline_fixed_size(pl, &w, &h) && w == 224 && h == 224);
    ppx_pipeline_geometry g;
    ppx_pipeline_output_geometry(pl, &g);
    CHECK(g.fixed && g.w == 224 && g.h == 224 && g.channels == 0 && g.f32);
    ppx_pipeline_free(&pl);
    CHECK(ppx_pipeline_parse("flip h p=1 | flip v p=0 | resize 256", &pl, &e) == 0);
    CHECK(!ppx_pipeline_is_random(pl));
    CHECK(!ppx_pipeline_fixed_size(pl, &w, &h));
    ppx_pipeline_output_geometry(pl, &g);
    CHECK(!g.fixed && g.w == 0 && g.h == 0 && g.channels == 0 && !g.f32);
    ppx_pipeline_free(&pl);
    /* Channels: the last colour op decides. */
    CHECK(ppx_pipeline_parse("rgb | grayscale | pad 8x6", &pl, &e) == 0);
    ppx_pipeline_output_geometry(pl, &g);
    CHECK(g.fixed && g.w == 8 && g.h == 6 && g.channels == 1 && !g.f32);
    ppx_pipeline_free(&pl);
    CHECK(ppx_pipeline_parse("grayscale | rgb | pad 8x6", &pl, &e) == 0);
    ppx_pipeline_output_geometry(pl, &g);
    CHECK(g.channels == 3);
    ppx_pipeline_output_geometry(NULL, &g);
    CHECK(!g.fixed && g.channels == 0 && !g.f32);
    ppx_pipeline_free(&pl);
    CHECK(ppx_pipeline_parse("center-crop 30x20 | rotate 90 | resize 10 fit=longer", &pl, &e) == 0);
    CHECK(ppx_pipeline_fixed_size(pl, &w, &h) && w == 6 && h == 10);
    ppx_pipeline_free(&pl);
    /* After a fixed non-square size, autorotate depends on each file. */
    CHECK(ppx_pipeline_parse("resize 30x20 fit=fill | autorotate", &pl, &e) == 0);
    CHECK(!ppx_pipeline_fixed_size(pl, &w, &h));
    ppx_pipeline_free(&pl);
    return 0;
}

static int print_ops_lists_all(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    ppx_pipeline_print_ops(f);
    fclose(f);
    const char *names[] = {"autorotate",  "resize",   "center-crop", "crop",
                           "random-crop", "pad",      "flip",        "rotate",
                           "grayscale",   "rgb",      "to-8bit",     "equalize",
                           "normalize",   "lanczos3", "fit=shorter", "scale=0.08,1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s", names[i]);
        if (!strstr(text, i < 13 ? line : names[i])) {
            fprintf(stderr, "missing %s\n", names[i]);
            free(text);
            return 1;
        }
    }
    free(text);
    return 0;
}

/* ---- The shrink-on-load hint ---- */

static int hint_of(const char *spec, uint32_t w, uint32_t h, int orientation, uint32_t ew,
                   uint32_t eh)
{
    ppx_pipeline *pl = NULL;
    ppx_err e;
    if (ppx_pipeline_parse(spec, &pl, &e))
        return 1;
    uint32_t mw = 7, mh = 7;
    ppx_pipeline_decode_hint(pl, w, h, orientation, &mw, &mh);
    ppx_pipeline_free(&pl);
    if (mw != ew || mh != eh) {
        fprintf(stderr, "[%s] %ux%u o%d: hint %ux%u, want %ux%u\n", spec, w, h, orientation, mw, mh,
                ew, eh);
        return 1;
    }
    return 0;
}

static int decode_hint(void)
{
    /* 4000x3000 -> 341x256: 1/8 (500x375) leaves less than 2x; 1/4 is it. */
    CHECK(hint_of("resize 256", 4000, 3000, 1, 1000, 750) == 0);
    CHECK(hint_of("autorotate | resize 256 | center-crop 224", 4000, 3000, 1, 1000, 750) == 0);
    CHECK(hint_of("resize 100", 4000, 3000, 1, 500, 375) == 0);
    /* Sizes are rounded up as libjpeg does: ceil(4001 / 4). */
    CHECK(hint_of("resize 256", 4001, 3001, 1, 1001, 751) == 0);
    /* Too little reduction: full size. */
    CHECK(hint_of("resize 256", 500, 375, 1, 0, 0) == 0);
    CHECK(hint_of("resize 2000", 4000, 3000, 1, 0, 0) == 0);
    /* Orientation 6 swaps axes for the resize that follows autorotate; the
     * hint is in the stored frame. resize 100x50 fill on upright 3000x4000:
     * 1/8 is 375x500, which covers 2 x (100x50). Stored: 500x375. */
    CHECK(hint_of("autorotate | resize 100x50 fit=fill", 4000, 3000, 6, 500, 375) == 0);
    /* fit=fill, tall target: upright 3000x4000 -> 1000x2000 needs 2000x4000
     * upright: nothing smaller. Without autorotate the stored frame is used:
     * 4000x3000 -> 1000x2000 needs 3000 rows of 3000: full. */
    CHECK(hint_of("autorotate | resize 1000x2000 fit=fill", 4000, 3000, 6, 0, 0) == 0);
    CHECK(hint_of("resize 500x200 fit=fill", 4000, 3000, 6, 1000, 750) == 0);
    /* rotate 90 swaps too: upright 3000x4000 -> 500x200 needs 1/2 (1500x2000
     * upright, 2000x1500 stored). */
    CHECK(hint_of("rotate 90 | grayscale | flip h | resize 500x200 fit=fill", 4000, 3000, 1, 2000,
                  1500) == 0);
    /* Ops in pixel coordinates, or on exact values, before the resize. */
    CHECK(hint_of("crop 0,0,2000,2000 | resize 256", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("random-crop 224", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("center-crop 3000 | resize 256", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("equalize | resize 256", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("pad 5000 | resize 256", 4000, 3000, 1, 0, 0) == 0);
    /* A random crop after the resize is fine. */
    CHECK(hint_of("resize 256 | random-crop 224", 4000, 3000, 1, 1000, 750) == 0);
    /* Nearest promises original samples; no resize at all; no pipeline. */
    CHECK(hint_of("resize 256 filter=nearest", 4000, 3000, 1, 0, 0) == 0);
    /* draft=fast (Pillow's draft): the decoded size need only cover the output;
     * draft=off: never shrink on load. */
    CHECK(hint_of("resize 256 draft=fast", 4000, 3000, 1, 500, 375) == 0);
    CHECK(hint_of("resize 256 draft=off", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("grayscale", 4000, 3000, 1, 0, 0) == 0);
    CHECK(hint_of("", 4000, 3000, 1, 0, 0) == 0);
    uint32_t mw = 1, mh = 1;
    ppx_pipeline_decode_hint(NULL, 10, 10, 1, &mw, &mh);
    CHECK(mw == 0 && mh == 0);
    return 0;
}

/* Whatever scale the hint lets the decoder pick, the first resize gives
 * the same output size as from the full image, for many source sizes. */
static int decode_hint_keeps_geometry(void)
{
    const char *specs[] = {"resize 256", "resize 224 fit=longer", "resize 300x200 fit=contain",
                           "resize 300x200 fit=cover", "autorotate | resize 97"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        ppx_pipeline *pl = NULL;
        ppx_err e;
        CHECK(ppx_pipeline_parse(specs[s], &pl, &e) == 0);
        for (uint32_t w = 900; w < 5000; w += 37)
            for (uint32_t h = 700; h < 4000; h += 101) {
                uint32_t mw, mh;
                ppx_pipeline_decode_hint(pl, w, h, 1, &mw, &mh);
                if (mw == 0)
                    continue;
                /* The decoder's choice: smallest 1/d with ceil(w/d) >= mw. */
                uint32_t d = 8;
                while (d > 1 && ((w + d - 1) / d < mw || (h + d - 1) / d < mh))
                    d /= 2;
                CHECK(d > 1);
                uint32_t sw = (w + d - 1) / d, sh = (h + d - 1) / d;
                CHECK(sw == mw && sh == mh);
                uint32_t a, b, c, dd;
                const char *sp = specs[s];
                uint32_t S = s == 0 ? 256 : s == 1 ? 224 : s == 4 ? 97 : 300;
                uint32_t T = s == 2 || s == 3 ? 200 : S;
                ppx_fit fit = s == 1   ? PPX_FIT_LONGER
                              : s == 2 ? PPX_FIT_CONTAIN
                              : s == 3 ? PPX_FIT_COVER
                                       : PPX_FIT_SHORTER;
                ppx_resize_dims(w, h, S, T, fit, &a, &b);
                ppx_resize_dims(sw, sh, S, T, fit, &c, &dd);
                if (a != c || b != dd || sw < 2 * a || sh < 2 * b) {
                    fprintf(stderr, "[%s] %ux%u: full %ux%u, hinted %ux%u -> %ux%u\n", sp, w, h, a,
                            b, sw, sh, c, dd);
                    return 1;
                }
            }
        ppx_pipeline_free(&pl);
    }
    return 0;
}

/* ---- Running ---- */

static void pattern(ppx_image *img)
{
    for (uint32_t y = 0; y < img->height; y++)
        for (size_t i = 0; i < (size_t)img->width * img->channels; i++)
            ppx_image_row(img, y)[i] = (uint8_t)((i * 7 + y * 13 + (i * y) % 11) & 255);
}

static int run_spec(const char *spec, ppx_image *img, uint64_t seed, const char *key,
                    ppx_pipeline_ctx *ctx, ppx_image **out, ppx_err *e)
{
    ppx_pipeline *pl = NULL;
    int rc = ppx_pipeline_parse(spec, &pl, e);
    if (rc == 0)
        rc = ppx_pipeline_run(pl, ctx, img, seed, key, out, e);
    ppx_pipeline_free(&pl);
    return rc;
}

/* torchvision's "resize 256 | center-crop 224" on 500x375: 341x256, then
 * the centre 224x224 at (58, 16). */
static int run_torchvision_example(void)
{
    ppx_image img, ref, tmp;
    ppx_image_init(&img);
    ppx_image_init(&ref);
    ppx_image_init(&tmp);
    CHECK(ppx_image_alloc(&img, 500, 375, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&img);
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    ppx_image *out = NULL;
    ppx_err e;
    CHECK(run_spec("resize 256 | center-crop 224", &img, 0, "", ctx, &out, &e) == 0);
    CHECK(out->width == 224 && out->height == 224 && out->channels == 3);
    CHECK(ppx_op_resize(NULL, &img, &tmp, 341, 256, PPX_FILTER_LANCZOS3, NULL, NULL) == 0);
    CHECK(ppx_op_extract(&tmp, &ref, 58, 16, 224, 224, NULL, NULL, NULL) == 0);
    CHECK(memcmp(out->data, ref.data, 224 * 224 * 3) == 0);
    /* The input is never written. */
    ppx_image copy;
    ppx_image_init(&copy);
    CHECK(ppx_image_alloc(&copy, 500, 375, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&copy);
    CHECK(memcmp(copy.data, img.data, 500 * 375 * 3) == 0);
    ppx_image_destroy(&copy);
    ppx_pipeline_ctx_free(&ctx);
    CHECK(ctx == NULL);
    ppx_image_destroy(&img);
    ppx_image_destroy(&ref);
    ppx_image_destroy(&tmp);
    return 0;
}

/* No ops, or ops that change nothing: the input itself comes back. */
static int run_noops(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK(ppx_image_alloc(&img, 20, 10, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&img);
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    ppx_image *out = NULL;
    ppx_err e;
    CHECK(run_spec("", &img, 0, "", ctx, &out, &e) == 0 && out == &img);
    CHECK(run_spec("autorotate | rgb | to-8bit | resize 10 | center-crop 20x10 | flip h p=0", &img,
                   0, "", ctx, &out, &e) == 0);
    CHECK(out == &img);
    ppx_pipeline_ctx_free(&ctx);
    ppx_image_destroy(&img);
    return 0;
}

/* Same seed and key: same result; another key or seed: another crop. The
 * result does not depend on what the context ran before. */
static int run_random_determinism(void)
{
    ppx_image img, first;
    ppx_image_init(&img);
    ppx_image_init(&first);
    CHECK(ppx_image_alloc(&img, 160, 120, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&img);
    ppx_pipeline_ctx *c1 = NULL, *c2 = NULL;
    CHECK(ppx_pipeline_ctx_new(&c1) == 0 && ppx_pipeline_ctx_new(&c2) == 0);
    const char *spec = "random-crop 32 | flip h p=0.5";
    ppx_image *o1 = NULL, *o2 = NULL;
    ppx_err e;
    CHECK(run_spec(spec, &img, 9, "a/b.jpg", c1, &o1, &e) == 0);
    CHECK(ppx_image_alloc(&first, 32, 32, 3, PPX_U8, NULL, NULL) == 0);
    memcpy(first.data, o1->data, 32 * 32 * 3);
    /* A context that ran other images first. */
    CHECK(run_spec("resize 77x33 fit=fill", &img, 0, "x", c2, &o2, &e) == 0);
    CHECK(run_spec(spec, &img, 9, "a/c.jpg", c2, &o2, &e) == 0);
    CHECK(run_spec(spec, &img, 9, "a/b.jpg", c2, &o2, &e) == 0);
    CHECK(memcmp(first.data, o2->data, 32 * 32 * 3) == 0);
    int differ_key = 0, differ_seed = 0;
    for (int i = 0; i < 8; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK(run_spec(spec, &img, 9, key, c2, &o2, &e) == 0);
        differ_key += memcmp(first.data, o2->data, 32 * 32 * 3) != 0;
        CHECK(run_spec(spec, &img, (uint64_t)i + 100, "a/b.jpg", c2, &o2, &e) == 0);
        differ_seed += memcmp(first.data, o2->data, 32 * 32 * 3) != 0;
    }
    CHECK_EQ_INT(differ_key, 8);
    CHECK_EQ_INT(differ_seed, 8);
    ppx_pipeline_ctx_free(&c1);
    ppx_pipeline_ctx_free(&c2);
    ppx_image_destroy(&img);
    ppx_image_destroy(&first);
    return 0;
}

/* flip p=0.5 flips about half of the keys, and a key always gets the same
 * answer. */
static int run_flip_probability(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK(ppx_image_alloc(&img, 2, 1, 1, PPX_U8, NULL, NULL) == 0);
    img.data[0] = 1;
    img.data[1] = 2;
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    int flipped = 0;
    for (int i = 0; i < 400; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d.png", i);
        ppx_image *o = NULL;
        ppx_err e;
        CHECK(run_spec("flip h p=0.5", &img, 1, key, ctx, &o, &e) == 0);
        int f = o->data[0] == 2;
        flipped += f;
        CHECK(run_spec("flip h p=0.5", &img, 1, key, ctx, &o, &e) == 0);
        CHECK((o->data[0] == 2) == f);
    }
    CHECK(flipped > 160 && flipped < 240);
    ppx_pipeline_ctx_free(&ctx);
    ppx_image_destroy(&img);
    return 0;
}

/* Warm context: the second image of the same size allocates nothing (the
 * result lands in the same buffer). */
static int run_buffers_reused(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK(ppx_image_alloc(&img, 300, 200, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&img);
    ppx_pipeline *pl = NULL;
    ppx_err e;
    CHECK(ppx_pipeline_parse("autorotate | resize 100 | center-crop 90 | flip h", &pl, &e) == 0);
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    ppx_image *o = NULL;
    img.orientation = 6;
    CHECK(ppx_pipeline_run(pl, ctx, &img, 0, "", &o, &e) == 0);
    uint8_t *p = o->data;
    CHECK(o->orientation == 1 && o->width == 90 && o->height == 90);
    CHECK(ppx_pipeline_run(pl, ctx, &img, 0, "", &o, &e) == 0);
    CHECK(o->data == p);
    ppx_pipeline_ctx_free(&ctx);
    ppx_pipeline_free(&pl);
    ppx_image_destroy(&img);
    return 0;
}

static int run_normalize(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK(ppx_image_alloc(&img, 4, 4, 3, PPX_U8, NULL, NULL) == 0);
    memset(img.data, 255, 4 * 4 * 3);
    ppx_pipeline *pl = NULL;
    ppx_err e;
    CHECK(ppx_pipeline_parse("center-crop 2 | normalize mean=0.5 std=0.25", &pl, &e) == 0);
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    ppx_image *o = NULL, *f = NULL;
    /* run stops before normalize: statistics see the 8-bit image. */
    CHECK(ppx_pipeline_run(pl, ctx, &img, 0, "", &o, &e) == 0);
    CHECK(o->type == PPX_U8 && o->width == 2);
    CHECK(ppx_pipeline_normalize(pl, ctx, o, &f, &e) == 0);
    CHECK(f->type == PPX_F32 && f->width == 2 && f->channels == 3);
    CHECK(((float *)f->data)[0] == 2.0f);
    ppx_pipeline_free(&pl);
    CHECK(ppx_pipeline_parse("center-crop 2", &pl, &e) == 0);
    CHECK_EQ_INT(ppx_pipeline_normalize(pl, ctx, o, &f, &e), PPX_EINVAL);
    /* A per-image failure: 3 values for a gray image. */
    ppx_pipeline_free(&pl);
    CHECK(ppx_pipeline_parse("grayscale | normalize mean=1,2,3 std=1,2,3", &pl, &e) == 0);
    CHECK(ppx_pipeline_run(pl, ctx, &img, 0, "", &o, &e) == 0);
    CHECK_EQ_INT(ppx_pipeline_normalize(pl, ctx, o, &f, &e), PPX_EINVAL);
    CHECK_EQ_INT(e.stage, PPX_STAGE_TRANSFORM);
    ppx_pipeline_free(&pl);
    ppx_pipeline_ctx_free(&ctx);
    ppx_image_destroy(&img);
    return 0;
}

/* Context limits turn an absurd output size into PPX_ELIMIT. */
static int run_limits(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK(ppx_image_alloc(&img, 8, 8, 3, PPX_U8, NULL, NULL) == 0);
    pattern(&img);
    ppx_pipeline_ctx *ctx = NULL;
    CHECK(ppx_pipeline_ctx_new(&ctx) == 0);
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_pixels = 1 << 20;
    ppx_pipeline_ctx_set_limits(ctx, &l);
    ppx_image *o = NULL;
    ppx_err e;
    CHECK_EQ_INT(run_spec("resize 65535x65535", &img, 0, "", ctx, &o, &e), PPX_ELIMIT);
    CHECK_EQ_INT(e.stage, PPX_STAGE_TRANSFORM);
    CHECK_EQ_INT(run_spec("pad 2000x1000", &img, 0, "", ctx, &o, &e), PPX_ELIMIT);
    CHECK(run_spec("pad 1000x1000", &img, 0, "", ctx, &o, &e) == 0);
    ppx_pipeline_ctx_set_limits(ctx, NULL);
    CHECK(run_spec("pad 2000x1000", &img, 0, "", ctx, &o, &e) == 0);
    ppx_pipeline_ctx_free(&ctx);
    ppx_image_destroy(&img);
    return 0;
}

/* Edge cases of the tokeniser and number parsers (the parser fuzz target,
 * tests/fuzz/fuzz_spec.c, found no failure in about 11 minutes and 550 000
 * runs; inputs it ever breaks on belong here and in tests/fuzz/spec_corpus). */
static int parse_edge_cases(void)
{
    /* Each spec with its expected error, or NULL: parses. */
    static const struct {
        const char *spec;
        const char *error;
    } cases[] = {
        {"crop 0,0,1,1,", "bad box"},
        {"pad 1 color=", "bad color"},
        {"normalize mean=,", "bad mean"},
        {"resize 1x", "bad size"},
        {"resize x1", "bad size"},
        {"flip h p=", "bad probability"},
        {"random-crop 1 scale=1e309,1e309", "bad scale"},
        {"resize 1 # a | comment hides this bar\n | flip v p=0.", NULL},
        {"resize 060x635", NULL},
        {"pad 20#", NULL},
        {"flip h p=.5e0", NULL},
        {"flip h p=", "bad probability"},
        {"crop 4294967296,0,1,1", "bad box"},
        {"crop 2147483647,2147483647,1,1", NULL},
        {"rgb\v|\fgrayscale", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].error) {
            CHECK(parse_fails(cases[i].spec, cases[i].error) == 0);
        } else {
            ppx_pipeline *pl = NULL;
            ppx_err e;
            CHECK(ppx_pipeline_parse(cases[i].spec, &pl, &e) == 0);
            ppx_pipeline_free(&pl);
        }
    }
    return 0;
}

PPX_TEST_MAIN(TEST(parse_unknown_op), TEST(parse_bad_arguments), TEST(parse_structure),
              TEST(parse_empty), TEST(canonical_text), TEST(properties), TEST(print_ops_lists_all),
              TEST(decode_hint), TEST(decode_hint_keeps_geometry), TEST(run_torchvision_example),
              TEST(run_noops), TEST(run_random_determinism), TEST(run_flip_probability),
              TEST(run_buffers_reused), TEST(run_normalize), TEST(run_limits),
              TEST(parse_edge_cases))
