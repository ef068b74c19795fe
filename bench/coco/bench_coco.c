/* COCO mapping benchmark (issue 23): what --coco costs rank 0 for N
 * annotations, COCO-shaped (a box, a polygon of 8 to 24 vertices, keypoints
 * on a third, an RLE crowd mask on one in a hundred), over N / 7 images of
 * 640 x 480, mapped through a resize to 256 and a centre crop of 224.
 *
 *   bench_coco make N FILE        writes such a file
 *   bench_coco run FILE [THREADS] times what rank 0 does with it
 *
 * run prints, for THREADS threads (default 1; ppx_coco_limits' threads),
 * the seconds to read FILE (as the run reads --coco: from the page cache
 * when it is there), to parse and check it, and to map it into a new file
 * (as the run writes coco.json; in $TMPDIR, default /tmp, removed after),
 * each as wall time and as this process's CPU time (all threads), and the
 * peak RSS (the file's text included). A process of its own for each run:
 * memory freed before (a generated file's) changes what fresh memory
 * costs. Run by bench/coco/run.sh. With PPX_BENCH_OUT=OUT the mapped file
 * is kept at OUT. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "prepix/coco.h"
#include "prepix/fsafe.h"

/* CPU seconds of this process, all its threads: on a shared machine the
 * wall clock also counts other processes' turns (both are printed). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int put_fd(void *ctx, const void *data, size_t len, ppx_err *err)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(*(int *)ctx, p, len);
        if (w <= 0)
            return ppx_err_set(err, PPX_EIO, PPX_STAGE_WRITE, "cannot write: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static double unif(void)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* Writes the synthetic file of n annotations to path. */
static int make(size_t n, const char *path)
{
    size_t n_im = n / 7 + 1;
    ppx_buf t;
    ppx_buf_init(&t);
    int rc = ppx_buf_printf(&t, "{\"info\": {\"description\": \"bench\"}, \"images\": [");
    for (size_t i = 0; i < n_im && !rc; i++)
        rc = ppx_buf_printf(&t,
                            "%s{\"license\": 1, \"file_name\": \"%012zu.jpg\", \"height\": 480, "
                            "\"width\": 640, \"id\": %zu}",
                            i ? ", " : "", i, i);
    rc = rc || ppx_buf_printf(&t, "], \"annotations\": [");
    for (size_t a = 0; a < n && !rc; a++) {
        double x = unif() * 600, y = unif() * 440, w = 5 + unif() * 200, h = 5 + unif() * 200;
        rc = ppx_buf_printf(&t, "%s{\"id\": %zu, \"image_id\": %zu, \"category_id\": %d, ",
                            a ? ", " : "", a, a % n_im, (int)(a % 80) + 1);
        if (a % 100 == 99) {
            rc = rc || ppx_buf_printf(&t, "\"iscrowd\": 1, \"segmentation\": {\"size\": [480, "
                                          "640], \"counts\": [1000, 2000, 3000, 301200]}, ");
        } else {
            rc = rc || ppx_buf_printf(&t, "\"iscrowd\": 0, \"segmentation\": [[");
            int v = 8 + (int)(unif() * 16);
            for (int k = 0; k < v && !rc; k++)
                rc = ppx_buf_printf(&t, "%s%.2f, %.2f", k ? ", " : "", x + unif() * w,
                                    y + unif() * h);
            rc = rc || ppx_buf_printf(&t, "]], ");
        }
        if (a % 3 == 0) {
            rc = rc || ppx_buf_printf(&t, "\"num_keypoints\": 17, \"keypoints\": [");
            for (int k = 0; k < 17 && !rc; k++)
                rc = ppx_buf_printf(&t, "%s%.1f, %.1f, 2", k ? ", " : "", x + unif() * w,
                                    y + unif() * h);
            rc = rc || ppx_buf_printf(&t, "], ");
        }
        rc = rc || ppx_buf_printf(&t, "\"area\": %.3f, \"bbox\": [%.2f, %.2f, %.2f, %.2f]}",
                                  w * h / 2, x, y, w, h);
    }
    rc = rc || ppx_buf_printf(&t, "], \"categories\": [{\"id\": 1, \"name\": \"person\"}]}");
    if (rc)
        return 1;
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(t.data, 1, t.len, f) != t.len;
    if ((f && fclose(f)) || bad) {
        perror(path);
        return 1;
    }
    ppx_buf_destroy(&t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "make") == 0)
        return make(strtoull(argv[2], NULL, 10), argv[3]);
    if (argc < 3 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: bench_coco make N FILE | bench_coco run FILE [THREADS]\n");
        return 2;
    }
    const char *in = argv[2];
    ppx_coco_limits lim;
    ppx_coco_default_limits(&lim);
    lim.threads = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
    ppx_err e;
    ppx_err_clear(&e);
    ppx_coco *c;
    ppx_buf t;
    ppx_buf_init(&t);
    double wr = wall(), tr = now();
    if (ppx_read_at(AT_FDCWD, in, lim.max_bytes + 1, &t, &e)) {
        fprintf(stderr, "bench_coco: %s: %s\n", in, e.msg);
        return 1;
    }
    size_t bytes = t.len;
    double w0 = wall(), t0 = now();
    if (ppx_coco_parse(&t, &lim, &c, &e)) {
        fprintf(stderr, "bench_coco: %s\n", e.msg);
        return 1;
    }
    double t1 = now(), w1 = wall();
    size_t n = ppx_coco_n_annotations(c), n_im = ppx_coco_n_images(c);
    ppx_coco_out *outs = calloc(n_im ? n_im : 1, sizeof *outs);
    char name[32];
    snprintf(name, sizeof name, "out.jpg");
    for (size_t i = 0; i < n_im; i++) {
        outs[i].state = PPX_COCO_OK;
        outs[i].name = name;
        ppx_geom_identity(&outs[i].geom, 640, 480);
        ppx_geom_then_resize(&outs[i].geom, 341, 256);
        ppx_geom_then_crop(&outs[i].geom, 58, 16, 224, 224);
    }
    /* Into a new file, as the run writes coco.json (ppx_atomic_write). */
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_coco.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    ppx_coco_sink sink = {put_fd, &fd};
    ppx_coco_counts ct;
    if (ppx_coco_write_to(c, outs, &sink, &ct, &e)) {
        fprintf(stderr, "bench_coco: %s\n", e.msg);
        return 1;
    }
    close(fd);
    double t2 = now(), w2 = wall();
    /* PPX_BENCH_OUT=FILE: the written JSON kept there, to compare two builds' bytes. */
    const char *dump = getenv("PPX_BENCH_OUT");
    if (dump ? rename(path, dump) : unlink(path)) {
        perror(dump ? dump : path);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("annotations %zu  images %zu  file %.1f MB  threads %u  wall (CPU): read %.3f (%.3f) s  "
           "parse+check %.3f (%.3f) s  map+write %.3f (%.3f) s  total %.3f (%.3f) s  written %llu  "
           "outside %llu  peak RSS %.0f MB\n",
           n, n_im, bytes / 1e6, lim.threads, w0 - wr, t0 - tr, w1 - w0, t1 - t0, w2 - w1, t2 - t1,
           w2 - wr, t2 - tr, (unsigned long long)ct.annotations_written,
           (unsigned long long)ct.annotations_outside, ru.ru_maxrss / 1024.0);
    free(ct.by_category);
    free(outs);
    ppx_coco_free(&c);
    return 0;
}
