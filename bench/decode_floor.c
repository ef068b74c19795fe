/* decode_floor: the least work any JPEG thumbnailer must do.
 *
 *   decode_floor [-m MARGIN] [-f] shorter|longer SIZE FILE...
 *
 * Each FILE is read into memory and decoded with libjpeg-turbo at the largest
 * DCT scale (1/8, 1/4, 1/2, 1/1) whose output still covers SIZE on the named
 * side (MARGIN times SIZE with -m, default 1: -m 2 is the scale that prepix
 * and libvips' thumbnail choose, which keep a factor 2 for the resize). The
 * pixels are decoded to RGB (gray and CMYK stay as they are) into one reused
 * row buffer and discarded: no resize, no encode, no write. -f asks for
 * libjpeg-turbo's fast integer IDCT and plain (box) chroma upsampling, to
 * measure what those would save (prepix uses the accurate defaults). Run under
 * `xargs -P` with the same process parallelism as the tools it bounds.
 *
 * Exit status: 0 when every file decoded, 1 when any failed (its name and
 * libjpeg's message go to stderr), 2 on a usage error. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} floor_err;

typedef struct {
    int longer;         /* 1: SIZE bounds the longer side, 0: the shorter */
    int fast;           /* JDCT_IFAST and no fancy upsampling */
    unsigned target;    /* SIZE times MARGIN */
    unsigned char *row; /* reused across images */
    size_t row_cap;
} floor_ctx;

static void on_error(j_common_ptr c)
{
    floor_err *e = (floor_err *)c->err;
    longjmp(e->jb, 1);
}

/* Warnings (extra bytes before a marker, ...) are benign here: a floor that
 * printed them would only be slower. */
static void on_message(j_common_ptr c)
{
    (void)c;
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    int rc = -1;
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    if (!f)
        goto out;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long n = ftell(f);
    if (n <= 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        goto out;
    *buf = b;
    *len = (size_t)n;
    b = NULL;
    rc = 0;
out:
    free(b);
    if (f)
        fclose(f);
    return rc;
}

/* Largest denominator whose output (libjpeg rounds up) still covers target. */
static unsigned choose_denom(const floor_ctx *fc, unsigned w, unsigned h)
{
    unsigned side = fc->longer ? (w > h ? w : h) : (w < h ? w : h);
    for (unsigned d = 8; d >= 2; d /= 2)
        if ((side + d - 1) / d >= fc->target)
            return d;
    return 1;
}

/* No local variable changed after setjmp is read after a longjmp (the error
 * path only returns), so none needs to be volatile. */
static int decode_one(floor_ctx *fc, struct jpeg_decompress_struct *d, floor_err *e,
                      const unsigned char *buf, size_t len)
{
    if (setjmp(e->jb))
        return -1;
    jpeg_mem_src(d, buf, (unsigned long)len);
    jpeg_read_header(d, TRUE);
    if (d->jpeg_color_space == JCS_YCbCr)
        d->out_color_space = JCS_RGB;
    d->scale_num = 1;
    d->scale_denom = choose_denom(fc, d->image_width, d->image_height);
    if (fc->fast) {
        d->dct_method = JDCT_IFAST;
        d->do_fancy_upsampling = FALSE;
    }
    jpeg_start_decompress(d);
    size_t stride = (size_t)d->output_width * (size_t)d->output_components;
    if (stride > fc->row_cap) {
        unsigned char *r = realloc(fc->row, stride);
        if (!r) {
            jpeg_abort_decompress(d);
            return -1;
        }
        fc->row = r;
        fc->row_cap = stride;
    }
    JSAMPROW rows[1] = {fc->row};
    while (d->output_scanline < d->output_height)
        jpeg_read_scanlines(d, rows, 1);
    jpeg_finish_decompress(d);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned margin = 1;
    int fast = 0, a = 1;
    for (;;) {
        if (a + 1 < argc && strcmp(argv[a], "-m") == 0) {
            margin = (unsigned)strtoul(argv[a + 1], NULL, 10);
            a += 2;
        } else if (a < argc && strcmp(argv[a], "-f") == 0) {
            fast = 1;
            a++;
        } else {
            break;
        }
    }
    if (argc - a < 2 || margin == 0 ||
        (strcmp(argv[a], "shorter") != 0 && strcmp(argv[a], "longer") != 0)) {
        fprintf(stderr, "usage: decode_floor [-m MARGIN] [-f] shorter|longer SIZE FILE...\n");
        return 2;
    }
    floor_ctx fc = {.longer = strcmp(argv[a], "longer") == 0, .fast = fast};
    fc.target = (unsigned)strtoul(argv[a + 1], NULL, 10) * margin;

    struct jpeg_decompress_struct d;
    floor_err e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.output_message = on_message;
    jpeg_create_decompress(&d);

    int failed = 0;
    for (int i = a + 2; i < argc; i++) {
        unsigned char *buf = NULL;
        size_t len = 0;
        if (read_file(argv[i], &buf, &len) != 0) {
            fprintf(stderr, "decode_floor: %s: cannot read\n", argv[i]);
            failed = 1;
            continue;
        }
        if (decode_one(&fc, &d, &e, buf, len) != 0) {
            char msg[JMSG_LENGTH_MAX];
            e.pub.format_message((j_common_ptr)&d, msg);
            fprintf(stderr, "decode_floor: %s: %s\n", argv[i], msg);
            jpeg_abort_decompress(&d);
            failed = 1;
        }
        free(buf);
    }
    jpeg_destroy_decompress(&d);
    free(fc.row);
    return failed;
}
