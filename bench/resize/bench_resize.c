/* bench_resize: megapixels per second of ppx_op_resize on real photos.
 *
 *   bench_resize [--runs N] [--filters f1,f2] [--cold] IMAGE.ppm[:WxH]...
 *
 * For each image (binary P5/P6, 8-bit) and each filter, resizes to WxH
 * (default: shorter side 256, torchvision's size) N times (default 7) and
 * prints the median time and source megapixels per second. --cold makes a
 * new resizer for every run (coefficient tables recomputed, as for a
 * dataset whose image sizes all differ); by default the resizer is warm.
 * One thread: prepix parallelises across images, not inside one. Times are
 * the process's CPU time (CLOCK_PROCESS_CPUTIME_ID), which other jobs on a
 * shared machine disturb much less than wall time. Not a test;
 * bench/resize/run.sh builds and runs it with the comparisons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prepix/ops.h"

static int read_pnm(const char *path, ppx_image *img)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char magic[3] = {0};
    unsigned w, h, maxval;
    int rc = -1;
    if (fscanf(f, "%2s %u %u %u", magic, &w, &h, &maxval) != 4 || fgetc(f) == EOF ||
        maxval != 255 || (strcmp(magic, "P5") && strcmp(magic, "P6")))
        goto out;
    if (ppx_image_alloc(img, w, h, magic[1] == '5' ? 1 : 3, PPX_U8, NULL, NULL))
        goto out;
    if (fread(img->data, 1, img->stride * h, f) == img->stride * h)
        rc = 0;
out:
    fclose(f);
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 7, cold = 0;
    const char *filters = "nearest,bilinear,bicubic,lanczos3";
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--filters") == 0 && i + 1 < argc)
            filters = argv[++i];
        else if (strcmp(argv[i], "--cold") == 0)
            cold = 1;
        else
            break;
    }
    if (i >= argc || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: bench_resize [--runs N] [--filters LIST] [--cold] IMG[:WxH]...\n");
        return 2;
    }
    printf("%-28s %11s %11s %-9s %9s %9s\n", "image", "source", "target", "filter", "ms", "MP/s");
    ppx_image src, dst;
    ppx_image_init(&src);
    ppx_image_init(&dst);
    double *t = calloc((size_t)runs, sizeof *t);
    for (; i < argc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", argv[i]);
        unsigned tw = 0, th = 0;
        char *colon = strrchr(path, ':');
        if (colon && sscanf(colon + 1, "%ux%u", &tw, &th) == 2)
            *colon = '\0';
        if (read_pnm(path, &src)) {
            fprintf(stderr, "%s: cannot read (binary 8-bit P5/P6 only)\n", path);
            return 1;
        }
        if (!tw)
            ppx_resize_dims(src.width, src.height, 256, 256, PPX_FIT_SHORTER, &tw, &th);
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        for (int f = 0; f < 4; f++) {
            const char *name = ppx_filter_name((ppx_filter)f);
            if (!strstr(filters, name))
                continue;
            ppx_resizer *rs = NULL;
            ppx_resizer_new(&rs);
            ppx_err err;
            /* One warm-up run: page faults of the first allocation are not
             * the resampler's speed. */
            if (ppx_op_resize(rs, &src, &dst, tw, th, (ppx_filter)f, NULL, &err)) {
                fprintf(stderr, "%s: %s\n", base, err.msg);
                return 1;
            }
            for (int r = 0; r < runs; r++) {
                if (cold) {
                    ppx_resizer_free(&rs);
                    ppx_resizer_new(&rs);
                }
                double t0 = now();
                ppx_op_resize(rs, &src, &dst, tw, th, (ppx_filter)f, NULL, &err);
                t[r] = now() - t0;
            }
            qsort(t, (size_t)runs, sizeof *t, cmp_double);
            double med = t[runs / 2];
            char s1[32], s2[32];
            snprintf(s1, sizeof s1, "%ux%u", src.width, src.height);
            snprintf(s2, sizeof s2, "%ux%u", tw, th);
            printf("%-28.28s %11s %11s %-9s %9.2f %9.1f\n", base, s1, s2, name, med * 1e3,
                   (double)src.width * src.height / med / 1e6);
            ppx_resizer_free(&rs);
        }
    }
    free(t);
    ppx_image_destroy(&src);
    ppx_image_destroy(&dst);
    return 0;
}
