/* Shard containers (tar, npy) and the shard files built from a chunk's
 * outputs. Python's tarfile and numpy read them in the scenario tests; here
 * the exact bytes. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/codec.h"
#include "prepix/io.h"
#include "prepix/sched.h"
#include "prepix/tar_npy.h"
#include "prepix/buf.h"
#include "sched/shards.h"

static unsigned long octal_field(const uint8_t *p, size_t n)
{
    char tmp[16];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return strtoul(tmp, NULL, 8);
}

static int tar_member(void)
{
    ppx_buf t;
    ppx_buf_init(&t);
    CHECK_EQ_INT(ppx_tar_add(&t, "000000007.jpg", "hello", 5), 0);
    CHECK_EQ_INT(ppx_tar_add(&t, "000000007.cls", "", 0), 0);
    CHECK_EQ_INT(ppx_tar_end(&t), 0);
    CHECK_EQ_INT((int)t.len, 512 + 512 + 512 + 1024);
    const uint8_t *h = t.data;
    CHECK_STR((const char *)h, "000000007.jpg");
    CHECK_EQ_INT((int)octal_field(h + 124, 12), 5);
    CHECK_EQ_INT((int)octal_field(h + 100, 8), 0644);
    CHECK_EQ_INT((int)octal_field(h + 136, 12), 0); /* mtime */
    CHECK(h[156] == '0' && memcmp(h + 257,
                                  "ustar\0"
                                  "00",
                                  8) == 0);
    /* The checksum a reader computes: header bytes with the field as spaces. */
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    CHECK_EQ_INT((int)octal_field(h + 148, 7), (int)sum);
    CHECK(memcmp(h + 512, "hello", 5) == 0 && h[512 + 5] == 0 && h[1023] == 0);
    CHECK_STR((const char *)h + 1024, "000000007.cls");
    for (size_t i = 1536; i < t.len; i++)
        CHECK(t.data[i] == 0);
    ppx_buf_destroy(&t);
    return 0;
}

static int tar_name_limit(void)
{
    ppx_buf t;
    ppx_buf_init(&t);
    char name[102];
    memset(name, 'a', 101);
    name[101] = '\0';
    CHECK_EQ_INT(ppx_tar_add(&t, name, "x", 1), PPX_EINVAL);
    CHECK_EQ_INT(ppx_tar_add(&t, "", "x", 1), PPX_EINVAL);
    CHECK_EQ_INT((int)t.len, 0);
    name[100] = '\0'; /* exactly 100: fills the field, no NUL */
    CHECK_EQ_INT(ppx_tar_add(&t, name, "x", 1), 0);
    CHECK(memcmp(t.data, name, 100) == 0 && t.data[100] == '0');
    ppx_buf_destroy(&t);
    return 0;
}

static int npy_header(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    uint64_t shape[4] = {3, 224, 200, 1};
    CHECK_EQ_INT(ppx_npy_header(&b, "|u1", shape, 4), 0);
    CHECK_EQ_INT((int)b.len % 64, 0);
    CHECK(memcmp(b.data, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_EQ_INT(b.data[8] | b.data[9] << 8, (int)b.len - 10);
    CHECK(b.data[b.len - 1] == '\n');
    const char *want = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 224, 200, 1), }";
    CHECK(memcmp(b.data + 10, want, strlen(want)) == 0);
    b.len = 0;
    uint64_t one[1] = {5};
    CHECK_EQ_INT(ppx_npy_header(&b, "<i8", one, 1), 0);
    want = "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
    CHECK(memcmp(b.data + 10, want, strlen(want)) == 0);
    ppx_buf_destroy(&b);
    return 0;
}

static int add_keys(ppx_listing *l, const char *const *keys, size_t n)
{
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < n; i++)
        if (ppx_listing_add(l, keys[i], strlen(keys[i])))
            return -1;
    return 0;
}

static int classes_labels(void)
{
    /* Byte order of paths ("a.b/" < "a/") is not the order of the names. */
    const char *keys[] = {"a.b/1.jpg", "a.b/2.jpg", "a/deep/3.jpg", "a/4.jpg",
                          "a0/5.png",  "top.jpg",   "zz/6.tif"};
    ppx_listing l;
    CHECK_EQ_INT(add_keys(&l, keys, 7), 0);
    ppx_classes cl;
    CHECK_EQ_INT(ppx_classes_build(&cl, &l), 0);
    CHECK_EQ_INT((int)cl.n, 4);
    CHECK_STR(cl.names[0], "a");
    CHECK_STR(cl.names[1], "a.b");
    CHECK_STR(cl.names[2], "a0");
    CHECK_STR(cl.names[3], "zz");
    CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, 2), 0);  /* a/deep/3.jpg */
    CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, 0), 1);  /* a.b/1.jpg */
    CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, 4), 2);  /* a0/5.png */
    CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, 6), 3);  /* zz/6.tif */
    CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, 5), -1); /* top.jpg */
    ppx_classes_destroy(&cl);
    ppx_listing_destroy(&l);
    return 0;
}

/* Classes taken as a walk lists the entries (a streamed shard run): the
 * names of ppx_classes_build, each label final once taken, and a class that
 * sorts before one already taken refused. */
static int classes_grow(void)
{
    const char *keys[] = {"a/deep/3.jpg", "a/4.jpg",  "a.b/1.jpg", "a0/5.png",
                          "top.jpg",      "zz/6.tif", "b/7.jpg"};
    ppx_listing l;
    CHECK_EQ_INT(add_keys(&l, keys, 1), 0);
    ppx_classes cl;
    ppx_classes_init(&cl);
    CHECK_EQ_INT(ppx_classes_grow(&cl, &l), 0);
    CHECK_EQ_INT((int)cl.n, 1);
    for (size_t i = 1; i < 6; i++)
        CHECK_EQ_INT(ppx_listing_add(&l, keys[i], strlen(keys[i])), 0);
    CHECK_EQ_INT(ppx_classes_grow(&cl, &l), 0);
    ppx_classes all;
    CHECK_EQ_INT(ppx_classes_build(&all, &l), 0);
    CHECK_EQ_INT((int)cl.n, (int)all.n);
    for (size_t i = 0; i < cl.n; i++)
        CHECK_STR(cl.names[i], all.names[i]);
    for (size_t i = 0; i < l.n; i++)
        CHECK_EQ_INT((int)ppx_classes_label(&cl, &l, i), (int)ppx_classes_label(&all, &l, i));
    /* "b" sorts before "zz", already taken: labels handed out would move. */
    CHECK_EQ_INT(ppx_listing_add(&l, keys[6], strlen(keys[6])), 0);
    CHECK_EQ_INT(ppx_classes_grow(&cl, &l), PPX_EINVAL);
    CHECK_EQ_INT((int)cl.n, 4);
    CHECK_EQ_INT((int)cl.seen, 6);
    ppx_classes_destroy(&all);
    ppx_classes_destroy(&cl);
    ppx_listing_destroy(&l);
    return 0;
}

/* The process's umask, which applies to every file written. */
static mode_t current_umask(void)
{
    mode_t m = umask(022);
    umask(m);
    return m;
}

static int read_file(const char *path, ppx_buf *b)
{
    ppx_err e;
    b->len = 0;
    return ppx_file_read(path, 1 << 20, b, NULL, &e);
}

static int remove_dir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return 0;
}

static int shard_order(void)
{
    char dir[] = "/tmp/ppx-shards-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    ppx_buf scratch, f;
    ppx_buf_init(&scratch);
    ppx_buf_init(&f);
    /* Results arrive in any order; the shard holds them in listing order. */
    ppx_shard_item tar[] = {{12, 2, PPX_FMT_PNG, (const uint8_t *)"BB", 2, {0}},
                            {10, -1, PPX_FMT_TIFF, (const uint8_t *)"AAA", 3, {0}}};
    ppx_err e;
    ppx_err_clear(&e);
    CHECK_EQ_INT(ppx_shard_write(dfd, PPX_SHARD_TAR, NULL, 3, tar, 2, 0600, NULL, NULL, NULL, 0,
                                 &scratch, &e),
                 0);
    char path[4096];
    MUST(ppx_shard_path(path, sizeof path, dir, PPX_SHARD_TAR, 3, 0));
    CHECK(strstr(path, "/shard-000003.tar") != NULL);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0600 & ~current_umask()));
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK_EQ_INT((int)f.len, 4 * 1024 + 1024);
    CHECK_STR((const char *)f.data, "000000010.tiff");
    CHECK(memcmp(f.data + 512, "AAA", 3) == 0);
    CHECK_STR((const char *)f.data + 1024, "000000010.cls");
    CHECK(memcmp(f.data + 1536, "-1", 2) == 0 && f.data[1538] == 0);
    CHECK_STR((const char *)f.data + 2048, "000000012.png");
    CHECK(memcmp(f.data + 3584, "2", 1) == 0);

    /* npy: 1x2 pixels, 3 channels; the image of index 5 comes first. */
    const int u8x3 = ppx_npy_layout(PPX_U8, 3);
    ppx_shard_item npy[] = {{6, 1, u8x3, (const uint8_t *)"abcdef", 6, {0}},
                            {5, 0, u8x3, (const uint8_t *)"ABCDEF", 6, {0}},
                            {7, 0, u8x3, (const uint8_t *)"xyz", 3, {0}}};
    ppx_npy_shape sh = {.w = 2, .h = 1, .c = 3};
    CHECK_EQ_INT(
        ppx_shard_write(dfd, PPX_SHARD_NPY, &sh, 0, npy, 2, 0, NULL, NULL, NULL, 0, &scratch, &e),
        0);
    MUST(ppx_shard_path(path, sizeof path, dir, PPX_SHARD_NPY, 0, 0));
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0644 & ~current_umask()));
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK(strstr((const char *)f.data + 10, "'shape': (2, 1, 2, 3)") != NULL);
    CHECK(memcmp(f.data + f.len - 12, "ABCDEFabcdef", 12) == 0);
    MUST(ppx_shard_path(path, sizeof path, dir, PPX_SHARD_NPY, 0, 1));
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK(memcmp(f.data + f.len - 16, "\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 16) == 0);
    /* Rasters: the items' layout is the array's dtype and C (int16, one
     * band); an item of another layout is refused. */
    const int i16x1 = ppx_npy_layout(PPX_I16, 1);
    ppx_shard_item ras[] = {{9, 0, i16x1, (const uint8_t *)"\1\0\2\0", 4, {0}},
                            {8, 0, i16x1, (const uint8_t *)"\3\0\4\0", 4, {0}}};
    CHECK_EQ_INT(
        ppx_shard_write(dfd, PPX_SHARD_NPY, &sh, 1, ras, 2, 0, NULL, NULL, NULL, 0, &scratch, &e),
        0);
    MUST(ppx_shard_path(path, sizeof path, dir, PPX_SHARD_NPY, 1, 0));
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK(strstr((const char *)f.data + 10, "'descr': '<i2'") != NULL);
    CHECK(strstr((const char *)f.data + 10, "'shape': (2, 1, 2, 1)") != NULL);
    CHECK(memcmp(f.data + f.len - 8, "\3\0\4\0\1\0\2\0", 8) == 0);
    ras[1].format = u8x3;
    CHECK_EQ_INT(
        ppx_shard_write(dfd, PPX_SHARD_NPY, &sh, 2, ras, 2, 0, NULL, NULL, NULL, 0, &scratch, &e),
        PPX_EINTERNAL);
    /* A payload of the wrong size is a bug, never a silently skewed array. */
    CHECK_EQ_INT(
        ppx_shard_write(dfd, PPX_SHARD_NPY, &sh, 1, npy, 3, 0, NULL, NULL, NULL, 0, &scratch, &e),
        PPX_EINTERNAL);
    ppx_buf_destroy(&scratch);
    ppx_buf_destroy(&f);
    close(dfd);
    return remove_dir(dir);
}

static int index_csv(void)
{
    char dir[] = "/tmp/ppx-shards-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    const char *keys[] = {"a,b/1.jpg", "a,b/2.jpg", "cat/\"q\".png", "top.jpg"};
    ppx_listing l;
    CHECK_EQ_INT(add_keys(&l, keys, 4), 0);
    ppx_classes cl;
    CHECK_EQ_INT(ppx_classes_build(&cl, &l), 0);
    ppx_failures fails = {0};
    CHECK_EQ_INT(ppx_failures_add(&fails, 1, PPX_STAGE_DECODE, PPX_ECORRUPT, "bad"), 0);
    ppx_err e;
    ppx_err_clear(&e);
    /* Image 2's geometry record: a rotation, a resize and a crop; image 0 has none (a chunk
     * resumed from an older journal), its columns empty. */
    ppx_prints geoms = {0};
    ppx_fingerprint fp = {.valid = 0};
    ppx_geom_identity(&fp.geom, 4, 10);
    ppx_geom_then_orient(&fp.geom, 6);
    ppx_geom_then_resize(&fp.geom, 5, 1);
    ppx_geom_then_crop(&fp.geom, -0, 1, 3, 5);
    MUST(ppx_prints_add(&geoms, 2, &fp));
    CHECK_EQ_INT(ppx_shard_write_index(dfd, PPX_SHARD_NPY, 2, &l, &cl, &fails, &geoms, &e), 0);
    ppx_prints_destroy(&geoms);
    char path[4096];
    ppx_buf f;
    ppx_buf_init(&f);
    snprintf(path, sizeof path, "%s/index.csv", dir);
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK_EQ_INT(ppx_buf_append(&f, "", 1), 0);
    CHECK_STR((const char *)f.data,
              "key,shard,label,path,width,height,xx,xy,x0,yx,yy,y0\n"
              "000000000,shard-000000.npy,0,\"a,b/1.jpg\",,,,,,,,\n"
              "000000002,shard-000001.npy,1,\"cat/\"\"q\"\".png\",3,5,0,-0.5,5,0.25,0,-1\n"
              "000000003,shard-000001.npy,-1,top.jpg,,,,,,,,\n");
    snprintf(path, sizeof path, "%s/classes.txt", dir);
    CHECK_EQ_INT(read_file(path, &f), 0);
    CHECK_EQ_INT(ppx_buf_append(&f, "", 1), 0);
    CHECK_STR((const char *)f.data, "a,b\ncat\n");
    ppx_buf_destroy(&f);
    ppx_failures_destroy(&fails);
    ppx_classes_destroy(&cl);
    ppx_listing_destroy(&l);
    close(dfd);
    return remove_dir(dir);
}

/* What the report lists: every shard with the images that did not fail (an empty one too),
 * every label of index.csv and every line of classes.txt with its images, by label. */
static int shard_tally(void)
{
    const char *keys[] = {"a/1.jpg", "a/2.jpg", "b/3.jpg", "c/4.jpg", "top.jpg"};
    ppx_listing l;
    CHECK_EQ_INT(add_keys(&l, keys, 5), 0);
    ppx_classes cl;
    CHECK_EQ_INT(ppx_classes_build(&cl, &l), 0);
    ppx_failures fails = {0};
    CHECK_EQ_INT(ppx_failures_add(&fails, 2, PPX_STAGE_DECODE, PPX_ECORRUPT, "bad"), 0);
    ppx_shard_tally t;
    CHECK_EQ_INT(ppx_shard_tally_build(&t, PPX_SHARD_TAR, 2, &l, &cl, &fails), 0);
    CHECK_EQ_INT((int)t.n_shards, 3);
    const char *files[] = {"shard-000000.tar", "shard-000001.tar", "shard-000002.tar"};
    const int images[] = {2, 1, 1};
    for (int i = 0; i < 3; i++) {
        CHECK_STR(t.shards[i].file, files[i]);
        CHECK_EQ_INT((int)t.shards[i].images, images[i]);
    }
    CHECK_EQ_INT((int)t.n_classes, 4);
    const int labels[] = {-1, 0, 1, 2}, counts[] = {1, 2, 0, 1};
    const char *names[] = {NULL, "a", "b", "c"};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT((int)t.classes[i].label, labels[i]);
        CHECK_EQ_INT((int)t.classes[i].images, counts[i]);
        if (names[i])
            CHECK_STR(t.classes[i].name, names[i]);
        else
            CHECK(t.classes[i].name == NULL);
    }
    ppx_shard_tally_destroy(&t);
    CHECK(t.shards == NULL && t.classes == NULL);
    ppx_shard_tally_destroy(&t); /* twice is harmless */
    ppx_failures_destroy(&fails);
    ppx_classes_destroy(&cl);
    ppx_listing_destroy(&l);
    return 0;
}

/* The npy shape comes from the pipeline's output geometry: its fixed size,
 * the channels its last colour op sets (3 when none does: the shard makes
 * every image RGB), float32 after normalize; a size that varies is refused. */
static int npy_shape(void)
{
    static const struct {
        const char *spec;
        int rc;
        uint32_t w, h, c;
        int f32;
    } cases[] = {
        {"resize 256 | center-crop 224", 0, 224, 224, 3, 0},
        {"grayscale | pad 8x6", 0, 8, 6, 1, 0},
        {"grayscale | rgb | crop 0,0,5,4", 0, 5, 4, 3, 0},
        {"resize 30x20 fit=fill | normalize mean=0.5 std=0.25", 0, 30, 20, 3, 1},
        {"resize 256", PPX_EINVAL, 0, 0, 0, 0},
        {"", PPX_EINVAL, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ppx_pipeline *pl = NULL;
        ppx_err e;
        if (cases[i].spec[0])
            CHECK_EQ_INT(ppx_pipeline_parse(cases[i].spec, &pl, &e), 0);
        ppx_npy_shape sh = {7, 7, 7, 7};
        CHECK_EQ_INT(ppx_sched_npy_shape(pl, 0, 0, &sh), cases[i].rc);
        if (cases[i].rc == 0)
            CHECK(sh.w == cases[i].w && sh.h == cases[i].h && sh.c == cases[i].c &&
                  sh.f32 == cases[i].f32);
        else
            CHECK(sh.w == 7 && sh.c == 7); /* written only on success */
        ppx_pipeline_free(&pl);
    }
    /* Chips (--chips 32x16) all have one size: no ops keep it, the sized
     * ones map it. */
    ppx_npy_shape sh;
    CHECK_EQ_INT(ppx_sched_npy_shape(NULL, 32, 16, &sh), 0);
    CHECK(sh.w == 32 && sh.h == 16 && sh.c == 3);
    ppx_pipeline *pl = NULL;
    ppx_err e;
    CHECK_EQ_INT(ppx_pipeline_parse("rotate 90 | resize 8 | flip h", &pl, &e), 0);
    CHECK_EQ_INT(ppx_sched_npy_shape(pl, 32, 16, &sh), 0);
    CHECK(sh.w == 8 && sh.h == 16);
    ppx_pipeline_free(&pl);
    return 0;
}

PPX_TEST_MAIN(TEST(tar_member), TEST(tar_name_limit), TEST(npy_header), TEST(classes_labels),
              TEST(classes_grow), TEST(shard_order), TEST(index_csv), TEST(shard_tally),
              TEST(npy_shape))
