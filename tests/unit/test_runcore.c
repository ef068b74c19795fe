/* Unit tests of the run machinery that needs no process or MPI: JSON writer,
 * exact statistics, the journal, the listing, output naming. */
#include <fcntl.h>
#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "work/job.h"
#include "prepix/fsafe.h"
#include "prepix/io.h"
#include "prepix/json.h"
#include "prepix/stats.h"
#include "sched/journal.h"
#include "sched/listing.h"
#include "stats/report.h"

static int json_escaping(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_json j;
    ppx_json_init(&j, &b);
    ppx_json_obj(&j);
    ppx_json_key(&j, "s");
    const char s[] = "q\"b\\n\nt\tc\x01 caf\xc3\xa9 bad\xff\xc3 end\xf0\x9f\x98\x80";
    ppx_json_strn(&j, s, sizeof s - 1);
    ppx_json_key(&j, "a");
    ppx_json_arr(&j);
    ppx_json_u64(&j, 18446744073709551615ULL);
    ppx_json_i64(&j, -3);
    ppx_json_dbl(&j, 0.1);
    ppx_json_dbl(&j, 1.0 / 0.0);
    ppx_json_bool(&j, 1);
    ppx_json_null(&j);
    ppx_json_arr_end(&j);
    ppx_json_obj_end(&j);
    CHECK(!j.failed);
    MUST(ppx_buf_append(&b, "", 1));
    CHECK_STR((char *)b.data,
              "{\"s\":\"q\\\"b\\\\n\\nt\\tc\\u0001 caf\xc3\xa9 bad\\udcff\\udcc3 "
              "end\xf0\x9f\x98\x80\",\"a\":[18446744073709551615,-3,0.1,null,true,null]}");
    ppx_buf_destroy(&b);
    return 0;
}

static void fill(ppx_image *img, uint32_t w, uint32_t h, unsigned c, unsigned seed)
{
    ppx_err e;
    MUST(ppx_image_alloc(img, w, h, c, PPX_U8, NULL, &e));
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        img->data[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
}

static int stats_exact_merge(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_stats all, a, b;
    ppx_stats_init(&all);
    ppx_stats_init(&a);
    ppx_stats_init(&b);
    for (unsigned i = 0; i < 10; i++) {
        fill(&img, 13 + i, 7 + i, 3, i);
        ppx_img_stats st;
        ppx_img_stats_compute(&img, &st);
        ppx_stats_add_image(&all, &st, 100 + i, 50);
        ppx_stats_add_image(i % 3 ? &a : &b, &st, 100 + i, 50);
    }
    ppx_stats ab = a, ba = b;
    ppx_stats_merge(&ab, &b);
    ppx_stats_merge(&ba, &a);
    CHECK(ppx_stats_equal(&ab, &all));
    CHECK(ppx_stats_equal(&ba, &all));
    /* Histogram and sums agree, and mean is the plain mean. */
    const ppx_group_stats *g = &all.group[ppx_stats_group(3, 8)];
    uint64_t n = 0, sum = 0;
    for (int v = 0; v < 256; v++) {
        n += g->hist[0][v];
        sum += g->hist[0][v] * (uint64_t)v;
    }
    CHECK_EQ_INT(n, g->pixels);
    CHECK_EQ_INT(sum, g->sum[0].lo);
    CHECK_EQ_INT(all.w_min, 100);
    CHECK_EQ_INT(all.w_max, 109);
    ppx_image_destroy(&img);
    return 0;
}

static int stats_histogram_exact(void)
{
    /* Against a plain per-sample count, for every channel count, odd widths included. */
    ppx_image img;
    ppx_image_init(&img);
    for (unsigned c = 1; c <= 4; c++)
        for (uint32_t w = 1; w <= 6; w++) {
            fill(&img, w, 5, c, c * 7 + w);
            ppx_img_stats st;
            ppx_img_stats_compute(&img, &st);
            uint32_t ref[4][256];
            memset(ref, 0, sizeof ref);
            uint64_t sum[4] = {0};
            for (size_t i = 0; i < (size_t)w * 5 * c; i++) {
                ref[i % c][img.data[i]]++;
                sum[i % c] += img.data[i];
            }
            for (unsigned b = 0; b < c; b++) {
                CHECK(memcmp(ref[b], st.hist[b], sizeof ref[b]) == 0);
                CHECK_EQ_INT(st.sum[b], sum[b]);
            }
        }
    ppx_image_destroy(&img);
    return 0;
}

static int stats_serialize(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_stats s, back;
    ppx_stats_init(&s);
    fill(&img, 20, 10, 4, 1);
    ppx_img_stats st;
    ppx_img_stats_compute(&img, &st);
    ppx_stats_add_image(&s, &st, 20, 10);
    s.ok = 1;
    s.total = 1;
    s.group[ppx_stats_group(4, 8)].sum[0].hi = 7; /* a 128-bit carry survives */
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_stats_serialize(&s, &b), 0);
    size_t used;
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len, &back, &used), 0);
    CHECK_EQ_INT(used, b.len);
    CHECK(ppx_stats_equal(&s, &back));
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len - 1, &back, &used), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    return 0;
}

static int stats_16bit_carry(void)
{
    /* Sums over many large 16-bit images exceed 64 bits: the 128-bit merge keeps them. */
    ppx_img_stats st;
    memset(&st, 0, sizeof st);
    st.channels = 1;
    st.bits = 16;
    st.pixels = 1ULL << 28;
    st.sum[0] = 65535ULL << 28;
    st.sumsq[0] = (65535ULL * 65535ULL) << 28;
    st.min[0] = st.max[0] = 65535;
    ppx_stats s;
    ppx_stats_init(&s);
    for (int i = 0; i < 64; i++)
        ppx_stats_add_image(&s, &st, 1, 1);
    const ppx_group_stats *g = &s.group[ppx_stats_group(1, 16)];
    CHECK(g->sumsq[0].hi > 0);
    double mean, std;
    ppx_group_mean_std(g, 16, 0, &mean, &std);
    CHECK(mean > 0.999999 && mean < 1.000001);
    CHECK(std < 1e-6);
    return 0;
}

static void touch(const char *dir, const char *name)
{
    char p[8400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0)
        close(fd);
}

static char tmpl[] = "/tmp/ppx-unit-XXXXXX";

static int journal_roundtrip(void)
{
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    ppx_err e;
    ppx_journal j;
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    int jdir = ppx_private_dir_open(root, ".prepix", &e);
    CHECK(jdir >= 0);
    CHECK_EQ_INT(ppx_journal_open(&j, jdir, 1, 0, &e), 0);
    ppx_journal j2; /* an attempt number is never reused: the file must be new */
    CHECK_EQ_INT(ppx_journal_open(&j2, jdir, 1, 0, &e), PPX_EOUTPUT);
    ppx_stats s;
    ppx_stats_init(&s);
    s.total = s.ok = 3;
    ppx_failures f = {0};
    MUST(ppx_failures_add(&f, 7, PPX_STAGE_DECODE, PPX_ECORRUPT, "bad \"data\""));
    CHECK_EQ_INT(ppx_journal_append(&j, 2, 4, &s, &f, &e), 0);
    CHECK_EQ_INT(ppx_journal_append(&j, 0, 4, &s, &f, &e), 0);
    CHECK_EQ_INT(ppx_journal_append(&j, 2, 4, &s, &f, &e), 0); /* a duplicate */
    ppx_journal_close(&j);
    /* A record cut short by a kill at the end is ignored. */
    char path[4300];
    snprintf(path, sizeof path, "%s/.prepix/journal-1-0.bin", dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size - 5) == 0);
    ppx_resume_state rs;
    /* Names that are not ours, or whose attempt number is out of range, are
     * left alone: an attempt near INT_MAX must not become the next one. */
    touch(dir, ".prepix/journal-2147483647-0.bin");
    touch(dir, ".prepix/journal--5-0.bin");
    touch(dir, ".prepix/journal-1-0.bin.old");
    CHECK_EQ_INT(ppx_journal_load(jdir, 4, &rs, &e), 0);
    CHECK_EQ_INT(rs.chunks, 2);
    CHECK_EQ_INT(rs.images, 8);
    CHECK_EQ_INT(rs.duplicates, 0); /* the duplicate was the truncated record */
    CHECK(rs.done[0] && rs.done[2] && !rs.done[1] && !rs.done[3]);
    CHECK_EQ_INT(rs.stats.ok, 6);
    CHECK_EQ_INT(rs.failures.n, 2);
    CHECK_STR(rs.failures.v[0].msg, "bad \"data\"");
    CHECK_EQ_INT(rs.next_attempt, 2);
    ppx_resume_state_destroy(&rs);
    /* A journal that is a link is refused, never read through. */
    snprintf(path, sizeof path, "%s/.prepix/journal-3-0.bin", dir);
    CHECK(symlink("/etc/passwd", path) == 0);
    CHECK(ppx_journal_load(jdir, 4, &rs, &e) == PPX_EUNSAFE);
    ppx_resume_state_destroy(&rs);
    ppx_failures_destroy(&f);
    close(jdir);
    close(root);
    return 0;
}

static int identity_diff(void)
{
    ppx_run_identity a, b;
    ppx_identity_make(&a, "resize 256", "jpeg", 90, 0, 100, 0xabc, 10, 2);
    ppx_identity_make(&b, "resize 256", "jpeg", 90, 1, 100, 0xabc, 10, 5);
    char diff[1024];
    CHECK(ppx_identity_diff(&a, &b, diff, sizeof diff));
    CHECK(strstr(diff, "seed") != NULL);
    CHECK(strstr(diff, "pipeline") == NULL);
    CHECK_EQ_INT(ppx_identity_chunk_size(&b), 5);
    CHECK(!ppx_identity_diff(&a, &a, diff, sizeof diff));
    return 0;
}

static int listing_order(void)
{
    char t[] = "/tmp/ppx-list-XXXXXX";
    char *dir = mkdtemp(t);
    CHECK(dir != NULL);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/b", dir);
    mkdir(sub, 0755);
    touch(dir, "c.JPG");
    touch(dir, "a.png");
    touch(dir, "B.tif");
    touch(dir, "notes.txt");
    touch(sub, "z.jpeg");
    touch(sub, "y.TIFF");
    snprintf(sub, sizeof sub, "%s/b/link", dir);
    CHECK(symlink(dir, sub) == 0); /* a symlinked folder is not followed */
    ppx_listing l;
    ppx_err e;
    CHECK_EQ_INT(ppx_listing_build(dir, 0, NULL, &l, &e), 0);
    CHECK_EQ_INT(l.n, 5);
    CHECK_STR(ppx_listing_key(&l, 0), "B.tif");
    CHECK_STR(ppx_listing_key(&l, 1), "a.png");
    CHECK_STR(ppx_listing_key(&l, 2), "b/y.TIFF");
    CHECK_STR(ppx_listing_key(&l, 3), "b/z.jpeg");
    CHECK_STR(ppx_listing_key(&l, 4), "c.JPG");
    CHECK_EQ_INT(l.skipped, 2); /* notes.txt and the link */
    uint64_t h = l.hash;
    ppx_listing_destroy(&l);
    CHECK_EQ_INT(ppx_listing_build(dir, 0, NULL, &l, &e), 0);
    CHECK(l.hash == h);
    ppx_listing_destroy(&l);
    CHECK_EQ_INT(ppx_listing_build("/nonexistent/x", 0, NULL, &l, &e), PPX_ENOENT);
    return 0;
}

static int output_names(void)
{
    char out[4096];
    ppx_err e;
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "a/b.png", PPX_FMT_JPEG, &e), 0);
    CHECK_STR(out, "a/b.jpg");
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "x.JPEG", PPX_FMT_JPEG, &e), 0);
    CHECK_STR(out, "x.JPEG");
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "x.tif", PPX_FMT_UNKNOWN, &e), 0);
    CHECK_STR(out, "x.tif");
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "/abs/p.tiff", PPX_FMT_PNG, &e), 0);
    CHECK_STR(out, "abs/p.png");
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "d.ir/noext", PPX_FMT_PNG, &e), 0);
    CHECK_STR(out, "d.ir/noext");
    /* Never outside OUTDIR, whatever the key. */
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "../src/p.jpg", PPX_FMT_JPEG, &e), PPX_EUNSAFE);
    CHECK(strstr(e.msg, "outside OUTDIR") != NULL);
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "/a/../../b.jpg", PPX_FMT_UNKNOWN, &e),
                 PPX_EUNSAFE);
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "a/..", PPX_FMT_UNKNOWN, &e), PPX_EUNSAFE);
    /* '..' that stays below the top is resolved by the text (absolute list lines). */
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, "/w/m/../s/./x.png", PPX_FMT_JPEG, &e), 0);
    CHECK_STR(out, "w/s/x.jpg");
    char longname[300];
    memset(longname, 'a', 256);
    memcpy(longname + 256, ".jpg", 5);
    CHECK_EQ_INT(ppx_output_name(out, sizeof out, longname, PPX_FMT_UNKNOWN, &e), PPX_ENAMETOOLONG);
    /* One key per file: "./" and "//" spellings normalise to one. */
    char k[64];
    snprintf(k, sizeof k, "%s", ".//a/./b//c.jpg");
    ppx_key_normalize(k);
    CHECK_STR(k, "a/b/c.jpg");
    snprintf(k, sizeof k, "%s", "/x//./y/");
    ppx_key_normalize(k);
    CHECK_STR(k, "/x/y");
    snprintf(k, sizeof k, "%s", "../a");
    ppx_key_normalize(k);
    CHECK_STR(k, "../a");
    CHECK(ppx_is_image_name("a.TiFf") && !ppx_is_image_name(".jpg") && !ppx_is_image_name("a.gif"));
    return 0;
}

static int atomic_write(void)
{
    char t[] = "/tmp/ppx-w-XXXXXX";
    char *dir = mkdtemp(t);
    CHECK(dir != NULL);
    char p[4200];
    snprintf(p, sizeof p, "%s/x/y/z.bin", dir);
    ppx_err e;
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    CHECK_EQ_INT(ppx_write_beneath(root, NULL, "x/y/z.bin", "abc", 3, NULL, &e), 0);
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_file_read(p, 100, &b, NULL, &e), 0);
    CHECK_EQ_INT(b.len, 3);
    CHECK_EQ_INT(ppx_file_read(p, 2, &b, NULL, &e), PPX_ELIMIT);
    snprintf(p, sizeof p, "%s/x/y", dir);
    DIR *d = opendir(p);
    CHECK(d != NULL);
    int entries = 0;
    for (struct dirent *de; (de = readdir(d));)
        entries += de->d_name[0] != '.' || strncmp(de->d_name, ".ppx-", 5) == 0;
    closedir(d);
    CHECK_EQ_INT(entries, 1); /* z.bin, no temporary left behind */
    /* Names that would leave the root are refused before anything is made. */
    CHECK_EQ_INT(ppx_write_beneath(root, NULL, "../escape.bin", "abc", 3, NULL, &e), PPX_EUNSAFE);
    CHECK_EQ_INT(ppx_write_beneath(root, NULL, "/abs.bin", "abc", 3, NULL, &e), PPX_EUNSAFE);
    /* A link on the way is never followed. */
    snprintf(p, sizeof p, "%s/link", dir);
    CHECK(symlink("/tmp", p) == 0);
    CHECK_EQ_INT(ppx_write_beneath(root, NULL, "link/z.bin", "abc", 3, NULL, &e), PPX_EUNSAFE);
    close(root);
    snprintf(p, sizeof p, "%s/x", dir);
    CHECK_EQ_INT(ppx_file_read(p, 100, &b, NULL, &e), PPX_ESPECIAL);
    CHECK(strstr(e.msg, "directory") != NULL);
    ppx_buf_destroy(&b);
    return 0;
}

/* Encodes a flat w x h RGB JPEG. */
static int flat_jpeg(uint32_t w, uint32_t h, ppx_buf *out)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    int rc = ppx_image_alloc(&img, w, h, 3, PPX_U8, NULL, &e);
    if (!rc) {
        memset(img.data, 100, img.stride * h);
        ppx_encode_opts eo;
        ppx_encode_opts_default(&eo, PPX_FMT_JPEG);
        rc = ppx_codec_encode(&img, &eo, out, &e);
    }
    ppx_image_destroy(&img);
    return rc;
}

/* After a big image the worker's buffers over the limit are freed; a small
 * image's stay for the next one. */
static int job_trim(void)
{
    ppx_pipeline *pl;
    ppx_err e;
    CHECK_EQ_INT(ppx_pipeline_parse("flip h", &pl, &e), 0);
    ppx_job_config cfg = {.pipeline = pl, .write_outputs = 1};
    ppx_encode_opts_default(&cfg.enc, PPX_FMT_JPEG);
    ppx_limits_default(&cfg.limits);
    ppx_job_ctx c;
    CHECK_EQ_INT(ppx_job_ctx_init(&c), 0);
    ppx_buf big, small;
    ppx_buf_init(&big);
    ppx_buf_init(&small);
    CHECK_EQ_INT(flat_jpeg(3000, 2000, &big), 0); /* 18 MB decoded */
    CHECK_EQ_INT(flat_jpeg(300, 200, &small), 0);
    ppx_result r;
    ppx_job_run(&cfg, &c, "big.jpg", NULL, "big.jpg", NULL, &big, &r);
    CHECK_EQ_INT(r.status, 0);
    CHECK(c.img.cap >= (size_t)3000 * 2000 * 3);
    ppx_job_ctx_trim(&c, (size_t)16 << 20);
    CHECK_EQ_INT((int)c.img.cap, 0);
    CHECK(c.out.cap > 0); /* a flat JPEG is small: kept */
    ppx_job_run(&cfg, &c, "small.jpg", NULL, "small.jpg", NULL, &small, &r);
    CHECK_EQ_INT(r.status, 0);
    size_t cap = c.img.cap;
    CHECK(cap >= (size_t)300 * 200 * 3);
    ppx_job_ctx_trim(&c, (size_t)16 << 20);
    CHECK_EQ_INT((int)(c.img.cap == cap), 1);
    ppx_job_ctx_destroy(&c);
    ppx_buf_destroy(&big);
    ppx_buf_destroy(&small);
    ppx_pipeline_free(&pl);
    return 0;
}

/* Every message between ranks and every record on disk is little-endian,
 * whatever the machine: the bytes are fixed here, not read back with the
 * writer's own memory layout. */
static int wire_little_endian(void)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_put_u64(&b, 0x0102030405060708ULL), 0);
    CHECK_EQ_INT(ppx_put_u32(&b, 0x0a0b0c0du), 0);
    static const uint8_t want[12] = {8, 7, 6, 5, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a};
    CHECK_EQ_INT((int)b.len, 12);
    CHECK(memcmp(b.data, want, 12) == 0);
    ppx_rd r = {b.data, b.data + b.len, 0};
    CHECK(ppx_get_u64(&r) == 0x0102030405060708ULL);
    CHECK(ppx_get_u32(&r) == 0x0a0b0c0du);
    CHECK_EQ_INT(r.bad, 0);
    CHECK(ppx_get_u64(&r) == 0 && r.bad); /* past the end */
    ppx_buf_destroy(&b);
    return 0;
}

static int img_stats_pack(void)
{
    ppx_img_stats st;
    memset(&st, 0, sizeof st);
    st.channels = 3;
    st.bits = 16;
    st.pixels = 1000;
    for (int c = 0; c < 3; c++) {
        st.sum[c] = 123456789ULL * (uint64_t)(c + 1);
        st.sumsq[c] = 0xfedcba9876543210ULL - (uint64_t)c;
        st.min[c] = (uint16_t)(c + 1);
        st.max[c] = (uint16_t)(65535 - c);
        for (int v = 0; v < 256; v++)
            st.hist[c][v] = (uint32_t)(v * 7 + c);
    }
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_img_stats_pack(&st, &b), 0);
    /* channels, bits, pixels; then per channel sum, sumsq, min, max, 256 bins;
     * then clipped, narrowed, the raster part: type, bands, pixels (no
     * bands when type is 0) */
    CHECK_EQ_INT((int)b.len, 16 + 3 * (24 + 256 * 4) + 16 + 16);
    static const uint8_t head[16] = {3, 0, 0, 0, 16, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0};
    CHECK(memcmp(b.data, head, 16) == 0);
    ppx_img_stats back;
    ppx_rd r = {b.data, b.data + b.len, 0};
    CHECK_EQ_INT(ppx_img_stats_unpack(&r, &back), 0);
    CHECK(memcmp(&back, &st, sizeof st) == 0);
    CHECK(r.p == r.end);
    r = (ppx_rd){b.data, b.data + b.len - 1, 0}; /* cut short */
    CHECK_EQ_INT(ppx_img_stats_unpack(&r, &back), PPX_ECORRUPT);
    b.data[0] = 5; /* five channels */
    r = (ppx_rd){b.data, b.data + b.len, 0};
    CHECK_EQ_INT(ppx_img_stats_unpack(&r, &back), PPX_ECORRUPT);
    /* A raster's: every measured band travels, bit for bit. */
    memset(&st, 0, sizeof st);
    ppx_image img;
    ppx_image_init(&img);
    CHECK_EQ_INT(ppx_image_alloc(&img, 5, 3, 20, PPX_F32, NULL, NULL), 0);
    for (uint32_t y = 0; y < 3; y++)
        for (uint32_t x = 0; x < 5 * 20; x++)
            ((float *)ppx_image_row(&img, y))[x] = (float)(x * 1.25 - y * 7.5e10);
    ppx_raster_img_stats_compute(&img, &st.raster);
    b.len = 0;
    CHECK_EQ_INT(ppx_img_stats_pack(&st, &b), 0);
    r = (ppx_rd){b.data, b.data + b.len, 0};
    CHECK_EQ_INT(ppx_img_stats_unpack(&r, &back), 0);
    CHECK(memcmp(&back, &st, sizeof st) == 0);
    CHECK(r.p == r.end);
    r = (ppx_rd){b.data, b.data + b.len - 1, 0};
    CHECK_EQ_INT(ppx_img_stats_unpack(&r, &back), PPX_ECORRUPT);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* The superaccumulator: any order of the same values gives the same bits;
 * extremes of float32 (the smallest subnormal, near the largest, -0.0) and
 * the sums of their squares are exact. */
static int xacc_order(void)
{
    float v[64];
    uint64_t seed = 12345;
    for (int i = 0; i < 64; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t bits = (uint32_t)(seed >> 32);
        memcpy(&v[i], &bits, 4);
        if (isnan(v[i]) || isinf(v[i]))
            v[i] = (float)(i - 32) * 1e-3f;
    }
    v[0] = 1e-45f, v[1] = 3e38f, v[2] = -0.0f, v[3] = -3e38f, v[4] = -1e-45f;
    ppx_xacc fw, bw, sq_fw, sq_bw, half, rest;
    memset(&fw, 0, sizeof fw);
    bw = sq_fw = sq_bw = half = rest = fw;
    for (int i = 0; i < 64; i++) {
        ppx_xacc_add_f32(&fw, v[i]);
        ppx_xacc_add_sq_f32(&sq_fw, v[i]);
        ppx_xacc_add_f32(&bw, v[63 - i]);
        ppx_xacc_add_sq_f32(&sq_bw, v[63 - i]);
        ppx_xacc_add_f32(i % 2 ? &half : &rest, v[i]);
    }
    ppx_xacc_merge(&half, &rest);
    CHECK(memcmp(&fw, &bw, sizeof fw) == 0);
    CHECK(memcmp(&fw, &half, sizeof fw) == 0);
    CHECK(memcmp(&sq_fw, &sq_bw, sizeof fw) == 0);
    /* Adding then taking away every value leaves exactly zero. */
    for (int i = 0; i < 64; i++)
        ppx_xacc_add_f32(&fw, -v[i]);
    ppx_xacc zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&fw, &zero, sizeof fw) == 0);
    /* 1e-45 is 2^-149: bit 149 of the fixed point; its square bit 0. */
    ppx_xacc a = zero, q = zero;
    ppx_xacc_add_f32(&a, 1e-45f);
    ppx_xacc_add_sq_f32(&q, 1e-45f);
    CHECK(a.w[2] == 1ULL << (149 - 128) && q.w[0] == 1);
    /* -0.0 adds nothing. */
    a = zero;
    ppx_xacc_add_f32(&a, -0.0f);
    CHECK(memcmp(&a, &zero, sizeof a) == 0);
    /* 3e38 + 3e38 - 1e-45: far past float range and below float precision. */
    a = zero;
    ppx_xacc_add_f32(&a, 3e38f);
    ppx_xacc_add_f32(&a, 3e38f);
    ppx_xacc_add_f32(&a, -1e-45f);
    CHECK(ppx_xacc_value(&a) == 2.0L * 3e38f);
    CHECK(a.w[2] == ~0ULL << (149 - 128) && a.w[0] == 0 && a.w[1] == 0);
    /* mean and std of {3e38, -3e38}: 0 and 3e38, no overflow. */
    a = q = zero;
    ppx_xacc_add_f32(&a, 3e38f);
    ppx_xacc_add_f32(&a, -3e38f);
    ppx_xacc_add_sq_f32(&q, 3e38f);
    ppx_xacc_add_sq_f32(&q, -3e38f);
    double mean, std;
    ppx_xacc_mean_std(&a, &q, 2, &mean, &std);
    CHECK(mean == 0 && std == (double)3e38f);
    /* Integers: 2^31 - 1 and -2^31, squares in 128 bits. */
    a = q = zero;
    ppx_xacc_add_i64(&a, INT32_MAX);
    ppx_xacc_add_i64(&a, INT32_MIN);
    CHECK(ppx_xacc_value(&a) == -1.0L);
    return 0;
}

/* Raster statistics: per-image then merged in any grouping equal the
 * whole; NaN and infinities counted apart; -0.0 the minimum over 0.0 in any
 * order. */
static int raster_stats_merge(void)
{
    ppx_image img;
    ppx_image_init(&img);
    CHECK_EQ_INT(ppx_image_alloc(&img, 4, 2, 2, PPX_F32, NULL, NULL), 0);
    static const float px[2][8] = {{0.0f, 1.0f, -0.0f, NAN, INFINITY, 2.0f, 5.0f, -INFINITY},
                                   {1e-45f, 3e38f, -0.0f, -3e38f, NAN, NAN, 0.5f, 0.25f}};
    for (uint32_t y = 0; y < 2; y++)
        memcpy(ppx_image_row(&img, y), px[y], sizeof px[y]);
    ppx_img_stats st;
    memset(&st, 0, sizeof st);
    ppx_raster_img_stats_compute(&img, &st.raster);
    const ppx_band_stats *b0 = &st.raster.band[0], *b1 = &st.raster.band[1];
    /* band 0: 0, -0, inf, 5, 1e-45, -0, nan, 0.5; band 1: 1, nan, 2, -inf,
     * 3e38, -3e38, nan, 0.25 */
    CHECK_EQ_INT((int)b0->count, 6);
    CHECK_EQ_INT((int)b0->posinf, 1);
    CHECK_EQ_INT((int)b0->nan, 1);
    CHECK_EQ_INT((int)b1->count, 5);
    CHECK_EQ_INT((int)b1->nan, 2);
    CHECK_EQ_INT((int)b1->neginf, 1);
    CHECK(b0->min == 0 && signbit(b0->min) && b0->max == 5.0f);
    CHECK(b1->min == -3e38f && b1->max == 3e38f);
    ppx_stats one, two, three;
    ppx_stats_init(&one);
    ppx_stats_init(&two);
    ppx_stats_init(&three);
    ppx_stats_add_image(&one, &st, 4, 2);
    ppx_stats_add_image(&one, &st, 4, 2);
    ppx_stats_add_image(&two, &st, 4, 2);
    ppx_stats_merge(&three, &two);
    ppx_stats_merge(&three, &two);
    CHECK(ppx_stats_equal(&one, &three));
    int t = ppx_rstats_type_index(PPX_F32);
    CHECK_EQ_INT((int)one.raster[t].images, 2);
    CHECK_EQ_INT((int)one.raster[t].band[0].count, 12);
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_stats_serialize(&one, &b), 0);
    CHECK(memcmp(b.data, "PXS3", 4) == 0);
    ppx_stats back;
    size_t used;
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len, &back, &used), 0);
    CHECK(used == b.len && ppx_stats_equal(&back, &one));
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    return 0;
}

static int rank_info_pack(void)
{
    ppx_rank_info ri;
    memset(&ri, 0, sizeof ri);
    ri.rank = 7;
    snprintf(ri.host, sizeof ri.host, "node-%d", 12);
    ri.workers = 64;
    ri.images = 1ULL << 40;
    ri.failed = 3;
    ri.busy_s = 1.5;
    ri.elapsed_s = 0.25;
    snprintf(ri.error, sizeof ri.error, "MPI_Send failed");
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_rank_info_pack(&ri, &b), 0);
    static const uint8_t head[8] = {7, 0, 0, 0, 0, 0, 0, 0};
    CHECK(memcmp(b.data, head, 8) == 0);
    ppx_rank_info back;
    ppx_rd r = {b.data, b.data + b.len, 0};
    CHECK_EQ_INT(ppx_rank_info_unpack(&r, &back), 0);
    CHECK(r.p == r.end);
    CHECK_EQ_INT(back.rank, 7);
    CHECK_STR(back.host, "node-12");
    CHECK_EQ_INT(back.workers, 64);
    CHECK(back.images == 1ULL << 40 && back.failed == 3);
    CHECK(back.busy_s == 1.5 && back.elapsed_s == 0.25);
    CHECK_STR(back.error, "MPI_Send failed");
    r = (ppx_rd){b.data, b.data + b.len - 1, 0};
    CHECK_EQ_INT(ppx_rank_info_unpack(&r, &back), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    return 0;
}

PPX_TEST_MAIN(TEST(json_escaping), TEST(stats_exact_merge), TEST(stats_histogram_exact),
              TEST(stats_serialize), TEST(stats_16bit_carry), TEST(journal_roundtrip),
              TEST(identity_diff), TEST(listing_order), TEST(output_names), TEST(atomic_write),
              TEST(job_trim), TEST(wire_little_endian), TEST(img_stats_pack), TEST(xacc_order),
              TEST(raster_stats_merge), TEST(rank_info_pack))
