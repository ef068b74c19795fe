/* Unit tests of the resume journal's encodings: the sparse statistics
 * (exact for every ppx_stats, small for small chunks, format 1 still read)
 * and the parsing of damaged journals. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "prepix/fsafe.h"
#include "prepix/stats.h"
#include "sched/journal.h"

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A value of one of the shapes that stress an integer coding. */
static uint64_t pick(uint64_t *r)
{
    switch (rnd(r) % 7) {
    case 0:
        return 0;
    case 1:
        return rnd(r) % 300;
    case 2:
        return UINT64_MAX - rnd(r) % 4;
    case 3:
        return 1ULL << (rnd(r) % 64);
    case 4:
        return rnd(r) >> (rnd(r) % 64);
    case 5:
        return (1ULL << 63) + rnd(r) % 3 - 1;
    default:
        return rnd(r);
    }
}

static void random_hist(uint64_t h[256], uint64_t *r)
{
    unsigned kind = (unsigned)(rnd(r) % 6);
    uint64_t base = pick(r);
    for (int v = 0; v < 256; v++) {
        switch (kind) {
        case 0: /* empty */
            h[v] = 0;
            break;
        case 1: /* any counts */
            h[v] = pick(r);
            break;
        case 2: /* sparse */
            h[v] = rnd(r) % 16 ? 0 : pick(r);
            break;
        case 3: /* every other bin: the most runs there can be */
            h[v] = v % 2 ? 0 : pick(r) | 1;
            break;
        case 4: /* a smooth curve with noise, like a photo's */
            h[v] = base % 100000 + (uint64_t)((v - 128) * (v - 128)) + rnd(r) % 64;
            break;
        default: /* huge counts that differ by wrapping amounts */
            h[v] = base + (uint64_t)v * (UINT64_MAX / 7);
            break;
        }
    }
}

static void random_stats(ppx_stats *s, uint64_t *r)
{
    ppx_stats_init(s);
    uint64_t *scal[] = {&s->total,         &s->ok,    &s->failed, &s->bytes_read,
                        &s->bytes_written, &s->sized, &s->w_min,  &s->w_max,
                        &s->w_sum,         &s->h_min, &s->h_max,  &s->h_sum};
    for (size_t i = 0; i < sizeof scal / sizeof scal[0]; i++)
        if (rnd(r) % 2)
            *scal[i] = pick(r);
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        if (rnd(r) % 3 == 0)
            continue;
        ppx_group_stats *g = &s->group[gi];
        g->images = pick(r);
        g->pixels = pick(r);
        for (int b = 0; b < 4; b++) {
            g->sum[b] = (ppx_u128){pick(r), pick(r)};
            g->sumsq[b] = (ppx_u128){pick(r), pick(r)};
            g->min[b] = rnd(r) % 2 ? UINT32_MAX : (uint32_t)pick(r);
            g->max[b] = (uint32_t)pick(r);
            random_hist(g->hist[b], r);
        }
    }
}

/* Serialises s, reads it back and compares every bit; strict prefixes (when
 * check_prefixes: the first 300, then about 100 more) must be refused and
 * leave the output untouched. */
static int roundtrip(const ppx_stats *s, int check_prefixes, size_t *size)
{
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(ppx_stats_serialize(s, &b), 0);
    MUST(ppx_buf_append(&b, "junk", 4)); /* what follows in a record is not read */
    ppx_stats back;
    memset(&back, 0xa5, sizeof back);
    size_t used = 0;
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len, &back, &used), 0);
    CHECK_EQ_INT(used, b.len - 4);
    CHECK(ppx_stats_equal(s, &back));
    for (size_t n = 0; check_prefixes && n < used; n += n < 300 ? 1 : used / 97 + 1) {
        ppx_stats t;
        memset(&t, 0x5a, sizeof t);
        ppx_stats keep = t;
        CHECK_EQ_INT(ppx_stats_deserialize(b.data, n, &t, &used), PPX_ECORRUPT);
        CHECK(memcmp(&t, &keep, sizeof t) == 0);
    }
    *size = used;
    ppx_buf_destroy(&b);
    return 0;
}

static int stats_roundtrip_random(void)
{
    uint64_t r = 0x9e3779b97f4a7c15ULL;
    size_t size;
    for (int i = 0; i < 1000; i++) {
        ppx_stats s;
        random_stats(&s, &r);
        if (roundtrip(&s, i % 50 == 0, &size))
            return 1;
    }
    return 0;
}

static int stats_roundtrip_edges(void)
{
    ppx_stats s;
    size_t size;
    /* Empty: the tag, no scalar, no group. */
    ppx_stats_init(&s);
    CHECK_EQ_INT(roundtrip(&s, 1, &size), 0);
    CHECK_EQ_INT(size, 6);
    /* Every field at its largest. */
    memset(&s, 0xff, sizeof s);
    CHECK_EQ_INT(roundtrip(&s, 0, &size), 0);
    /* Every field 0, w_min and the bands' min included (not the initial values). */
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(roundtrip(&s, 1, &size), 0);
    /* A group with images == 0 but data (merge skips such a group; the
     * coding must not). */
    ppx_stats_init(&s);
    s.group[5].hist[2][255] = 1;
    CHECK_EQ_INT(roundtrip(&s, 1, &size), 0);
    /* Counts that alternate between 1 and 2^64 - 1: every difference escapes. */
    ppx_stats_init(&s);
    for (int v = 0; v < 256; v++)
        s.group[0].hist[0][v] = v % 2 ? UINT64_MAX : 1;
    s.group[0].images = UINT64_MAX;
    CHECK_EQ_INT(roundtrip(&s, 0, &size), 0);
    /* 16-bit images whose sums pass 2^64: the 128-bit sums' high words. */
    ppx_img_stats st;
    memset(&st, 0, sizeof st);
    st.channels = 3;
    st.bits = 16;
    st.pixels = 1ULL << 28;
    for (int b = 0; b < 3; b++) {
        st.sum[b] = 65535ULL << 28;
        st.sumsq[b] = (65535ULL * 65535ULL) << 28;
        st.min[b] = 1;
        st.max[b] = 65535;
        st.hist[b][255] = 1u << 28;
    }
    ppx_stats_init(&s);
    for (int i = 0; i < 70; i++)
        ppx_stats_add_image(&s, &st, 16384, 16384);
    const ppx_group_stats *g = &s.group[ppx_stats_group(3, 16)];
    CHECK(g->sumsq[0].hi > 0);
    CHECK_EQ_INT(roundtrip(&s, 1, &size), 0);
    return 0;
}

/* A photo-like 8-bit image: smooth gradients plus noise, every level used. */
static void photo(ppx_image *img, uint32_t w, uint32_t h, unsigned c, uint64_t seed)
{
    ppx_err e;
    MUST(ppx_image_alloc(img, w, h, c, PPX_U8, NULL, &e));
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (unsigned b = 0; b < c; b++) {
                int v = (int)((x * (b + 1) + y * (3 - b)) * 255 / (w + h) / 2) + 40 +
                        (int)(rnd(&seed) % 96) - 48;
                img->data[(size_t)y * img->stride + x * c + b] = (uint8_t)(v < 0     ? 0
                                                                           : v > 255 ? 255
                                                                                     : v);
            }
}

/* The sizes docs/formats.md quotes: a chunk's record costs what it holds. */
static int stats_size(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_stats s;
    ppx_img_stats st;
    size_t size;
    /* One 1x1 RGB image. */
    ppx_stats_init(&s);
    photo(&img, 1, 1, 3, 1);
    ppx_img_stats_compute(&img, &st);
    ppx_stats_add_image(&s, &st, 640, 480);
    s.total = s.ok = 1;
    s.bytes_read = 123456;
    s.bytes_written = 4567;
    CHECK_EQ_INT(roundtrip(&s, 1, &size), 0);
    printf("1x1 RGB: %zu bytes\n", size);
    CHECK(size <= 64);
    /* One 224x224 RGB image of 256 levels per band. */
    ppx_stats_init(&s);
    photo(&img, 224, 224, 3, 2);
    ppx_img_stats_compute(&img, &st);
    ppx_stats_add_image(&s, &st, 640, 480);
    s.total = s.ok = 1;
    CHECK_EQ_INT(roundtrip(&s, 0, &size), 0);
    printf("224x224 RGB: %zu bytes\n", size);
    CHECK(size < 1024);
    /* 256 of them. */
    for (int i = 1; i < 256; i++) {
        photo(&img, 224, 224, 3, 3 + (uint64_t)i);
        ppx_img_stats_compute(&img, &st);
        ppx_stats_add_image(&s, &st, 640, 480);
    }
    CHECK_EQ_INT(roundtrip(&s, 0, &size), 0);
    printf("256 x 224x224 RGB: %zu bytes\n", size);
    CHECK(size < 2048);
    ppx_image_destroy(&img);
    return 0;
}

/* Format 1, as prepix wrote it before format 2: journals of that version
 * are still read. */
static void serialize_v1(const ppx_stats *s, ppx_buf *o)
{
    uint64_t scal[] = {s->total, s->ok,    s->failed, s->bytes_read, s->bytes_written, s->sized,
                       s->w_min, s->w_max, s->w_sum,  s->h_min,      s->h_max,         s->h_sum};
    uint64_t mask = 0;
    for (int g = 0; g < PPX_STATS_GROUPS; g++)
        if (s->group[g].images)
            mask |= 1ULL << g;
    MUST(ppx_put_u64(o, 0x3153585050ULL));
    for (size_t i = 0; i < 12; i++)
        MUST(ppx_put_u64(o, scal[i]));
    MUST(ppx_put_u64(o, mask));
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!(mask & (1ULL << gi)))
            continue;
        MUST(ppx_put_u64(o, g->images));
        MUST(ppx_put_u64(o, g->pixels));
        for (int b = 0; b < 4; b++) {
            MUST(ppx_put_u64(o, g->sum[b].lo));
            MUST(ppx_put_u64(o, g->sum[b].hi));
            MUST(ppx_put_u64(o, g->sumsq[b].lo));
            MUST(ppx_put_u64(o, g->sumsq[b].hi));
            MUST(ppx_put_u64(o, g->min[b]));
            MUST(ppx_put_u64(o, g->max[b]));
        }
        for (int b = 0; b < 4; b++)
            for (int v = 0; v < 256; v++)
                MUST(ppx_put_u64(o, g->hist[b][v]));
    }
}

static int stats_format1_read(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_stats s, back;
    ppx_stats_init(&s);
    photo(&img, 30, 20, 3, 9);
    ppx_img_stats st;
    ppx_img_stats_compute(&img, &st);
    ppx_stats_add_image(&s, &st, 30, 20);
    s.total = s.ok = 1;
    ppx_buf b;
    ppx_buf_init(&b);
    serialize_v1(&s, &b);
    size_t used;
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len, &back, &used), 0);
    CHECK_EQ_INT(used, b.len);
    CHECK(ppx_stats_equal(&s, &back));
    CHECK_EQ_INT(ppx_stats_deserialize(b.data, b.len - 1, &back, &used), PPX_ECORRUPT);
    ppx_buf_destroy(&b);
    ppx_image_destroy(&img);
    return 0;
}

/* Inputs no writer makes: each refused, the output untouched. */
static int stats_hostile(void)
{
    static const struct {
        const char *what;
        uint8_t b[24];
        size_t n;
    } cases[] = {
        {"no tag", {'P', 'X', 'S', '3', 0, 0}, 6},
        {"scalar mask past 12 bits", {'P', 'X', 'S', '2', 0x80, 0x20, 0}, 7},
        {"varint of 11 bytes",
         {'P', 'X', 'S', '2', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
          0},
         17},
        {"varint over 64 bits",
         {'P', 'X', 'S', '2', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0},
         16},
        {"unknown band flag", {'P', 'X', 'S', '2', 0, 1, 1, 1, 0x80, 0, 0, 0}, 12},
        {"min over 32 bits",
         {'P', 'X', 'S', '2', 0, 1, 1, 1, 16, 0x80, 0x80, 0x80, 0x80, 0x10},
         14},
        {"129 runs", {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 0x81, 0x01}, 11},
        {"run past bin 255", {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 1, 200, 57, 0, 0}, 14},
        {"empty run", {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 1, 0, 0, 0, 0}, 14},
        {"k of 64", {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 1, 0, 1, 64, 0}, 14},
        /* k 63, then quotient 2 (bits 1,1,0): 2 << 63 overflows. */
        {"quotient overflow",
         {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 1, 0, 1, 63, 0x03, 0, 0, 0, 0, 0, 0, 0, 0},
         22},
        {"bits cut short", {'P', 'X', 'S', '2', 0, 1, 1, 1, 64, 1, 0, 2, 0, 0xff}, 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ppx_stats t, keep;
        memset(&t, 0x33, sizeof t);
        keep = t;
        size_t used = 12345;
        int rc = ppx_stats_deserialize(cases[i].b, cases[i].n, &t, &used);
        if (rc != PPX_ECORRUPT)
            fprintf(stderr, "case \"%s\": rc %d\n", cases[i].what, rc);
        CHECK_EQ_INT(rc, PPX_ECORRUPT);
        CHECK(memcmp(&t, &keep, sizeof t) == 0 && used == 12345);
    }
    CHECK_EQ_INT(ppx_stats_deserialize(NULL, 0, &(ppx_stats){0}, NULL), PPX_ECORRUPT);
    return 0;
}

/* ---- journal records ---------------------------------------------------- */

#define REC_MAGIC 0x4a585050ULL /* "PPXJ" */
enum { V1 = 1, V2 = 2 };

/* Appends one record as docs/formats.md describes it, its statistics in
 * format 1 (journal version 1) or 2. extra: bytes after the failures (none
 * in a record prepix writes). */
static void put_record(ppx_buf *j, int version, uint64_t chunk, uint64_t count, const ppx_stats *s,
                       const ppx_failures *f, const char *extra)
{
    ppx_buf body;
    ppx_buf_init(&body);
    MUST(ppx_put_u64(&body, chunk));
    MUST(ppx_put_u64(&body, count));
    if (version == V1)
        serialize_v1(s, &body);
    else
        MUST(ppx_stats_serialize(s, &body));
    MUST(ppx_failures_pack(f, &body));
    if (extra)
        MUST(ppx_buf_append(&body, extra, strlen(extra)));
    MUST(ppx_put_u64(j, REC_MAGIC));
    MUST(ppx_put_u64(j, body.len));
    MUST(ppx_buf_append(j, body.data, body.len));
    MUST(ppx_put_u64(j, ppx_fnv1a(PPX_FNV1A_INIT, body.data, body.len)));
    ppx_buf_destroy(&body);
}

/* Statistics of n images of one chunk. */
static void chunk_stats(ppx_stats *s, unsigned n, uint64_t seed)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_stats_init(s);
    for (unsigned i = 0; i < n; i++) {
        photo(&img, 6 + i, 5, 3, seed + i);
        ppx_img_stats st;
        ppx_img_stats_compute(&img, &st);
        ppx_stats_add_image(s, &st, 6 + i, 5);
        s->total++;
        s->ok++;
    }
    ppx_image_destroy(&img);
}

/* Three records for 10 images in chunks of 4: chunk 0 (one failure, image
 * 2), chunk 1, chunk 2 (2 images); ends[i] is where record i ends. */
typedef struct {
    ppx_buf bytes;
    size_t ends[3];
    ppx_stats all;
} journal3;

static void make_journal3(journal3 *j, int version)
{
    ppx_buf_init(&j->bytes);
    ppx_stats_init(&j->all);
    static const uint64_t counts[3] = {4, 4, 2};
    for (int c = 0; c < 3; c++) {
        ppx_stats s;
        chunk_stats(&s, (unsigned)counts[c], 10 * (uint64_t)c + 1);
        ppx_failures f = {0};
        if (c == 0) {
            s.ok--;
            s.failed++;
            MUST(ppx_failures_add(&f, 2, PPX_STAGE_DECODE, PPX_ETRUNC, "truncated JPEG"));
        }
        put_record(&j->bytes, version, (uint64_t)c, counts[c], &s, &f, NULL);
        j->ends[c] = j->bytes.len;
        ppx_stats_merge(&j->all, &s);
        ppx_failures_destroy(&f);
    }
}

static int parse3(const uint8_t *p, size_t n, ppx_resume_state *rs)
{
    CHECK_EQ_INT(ppx_resume_state_init(rs, 3, 4, 10), 0);
    CHECK_EQ_INT(ppx_journal_parse(p, n, rs), 0);
    /* Whatever was kept is consistent: the images of the chunks done. */
    uint64_t images = 0;
    for (int c = 0; c < 3; c++)
        images += rs->done[c] ? (c == 2 ? 2 : 4) : 0;
    CHECK_EQ_INT(rs->images, images);
    CHECK_EQ_INT(rs->stats.total, images);
    CHECK_EQ_INT(rs->failures.n, rs->done[0]);
    return 0;
}

static int journal_parse_intact(void)
{
    journal3 j;
    make_journal3(&j, V2);
    ppx_resume_state rs;
    CHECK_EQ_INT(parse3(j.bytes.data, j.bytes.len, &rs), 0);
    CHECK_EQ_INT(rs.chunks, 3);
    CHECK_EQ_INT(rs.ignored, 0);
    CHECK(ppx_stats_equal(&rs.stats, &j.all));
    CHECK_STR(rs.failures.v[0].msg, "truncated JPEG");
    CHECK_EQ_INT(rs.failures.v[0].code, PPX_ETRUNC);
    ppx_resume_state_destroy(&rs);
    /* Each record twice: the second copies count as duplicates. */
    MUST(ppx_buf_append(&j.bytes, j.bytes.data, j.bytes.len));
    CHECK_EQ_INT(parse3(j.bytes.data, j.bytes.len, &rs), 0);
    CHECK_EQ_INT(rs.chunks, 3);
    CHECK_EQ_INT(rs.duplicates, 3);
    CHECK(ppx_stats_equal(&rs.stats, &j.all));
    ppx_resume_state_destroy(&rs);
    ppx_buf_destroy(&j.bytes);
    return 0;
}

/* A kill cuts the file anywhere: the whole records before the cut count,
 * nothing else, and a cut tail is not damage. */
static int journal_parse_truncated(void)
{
    journal3 j;
    make_journal3(&j, V2);
    for (size_t n = 0; n <= j.bytes.len; n++) {
        ppx_resume_state rs;
        CHECK_EQ_INT(parse3(j.bytes.data, n, &rs), 0);
        uint64_t whole = (n >= j.ends[0]) + (n >= j.ends[1]) + (n >= j.ends[2]);
        CHECK_EQ_INT(rs.chunks, whole);
        CHECK_EQ_INT(rs.ignored, 0);
        ppx_resume_state_destroy(&rs);
    }
    ppx_buf_destroy(&j.bytes);
    return 0;
}

/* One flipped bit anywhere costs its own record and no other. */
static int journal_parse_bitflip(void)
{
    journal3 j;
    make_journal3(&j, V2);
    for (size_t bit = 0; bit < 8 * j.bytes.len; bit++) {
        j.bytes.data[bit / 8] ^= (uint8_t)(1u << bit % 8);
        ppx_resume_state rs;
        CHECK_EQ_INT(parse3(j.bytes.data, j.bytes.len, &rs), 0);
        int hit = bit / 8 < j.ends[0] ? 0 : bit / 8 < j.ends[1] ? 1 : 2;
        if (rs.chunks != 2 || rs.done[hit])
            fprintf(stderr, "bit %zu (record %d): %llu chunks\n", bit, hit,
                    (unsigned long long)rs.chunks);
        CHECK_EQ_INT(rs.chunks, 2);
        CHECK(!rs.done[hit]);
        CHECK(rs.ignored <= 1);
        ppx_resume_state_destroy(&rs);
        j.bytes.data[bit / 8] ^= (uint8_t)(1u << bit % 8);
    }
    ppx_buf_destroy(&j.bytes);
    return 0;
}

/* Records with a good checksum that this run cannot have written: each is
 * ignored (its chunk redone), and the records after it are still read. */
static int journal_parse_foreign(void)
{
    ppx_stats s;
    chunk_stats(&s, 4, 1);
    ppx_failures none = {0}, outside = {0}, bad_stage = {0};
    MUST(ppx_failures_add(&outside, 4, PPX_STAGE_DECODE, PPX_ETRUNC, "image 4 is chunk 1's"));
    MUST(ppx_failures_add(&bad_stage, 1, PPX_STAGE_DECODE, PPX_ETRUNC, "x"));
    bad_stage.v[0].stage = PPX_STAGE__COUNT;
    static const char *const what[] = {"chunk out of range",  "short count",     "long count",
                                       "last chunk's count",  "failure outside", "failure stage",
                                       "bytes after failures"};
    for (int k = 0; k < 7; k++) {
        ppx_buf b;
        ppx_buf_init(&b);
        switch (k) {
        case 0:
            put_record(&b, V2, 3, 4, &s, &none, NULL);
            break;
        case 1:
            put_record(&b, V2, 0, 3, &s, &none, NULL);
            break;
        case 2:
            put_record(&b, V2, 0, 5, &s, &none, NULL);
            break;
        case 3:
            put_record(&b, V2, 2, 4, &s, &none, NULL);
            break;
        case 4:
            put_record(&b, V2, 0, 4, &s, &outside, NULL);
            break;
        case 5:
            put_record(&b, V2, 0, 4, &s, &bad_stage, NULL);
            break;
        default:
            put_record(&b, V2, 0, 4, &s, &none, "x");
            break;
        }
        put_record(&b, V2, 1, 4, &s, &none, NULL);
        ppx_resume_state rs;
        CHECK_EQ_INT(ppx_resume_state_init(&rs, 3, 4, 10), 0);
        CHECK_EQ_INT(ppx_journal_parse(b.data, b.len, &rs), 0);
        if (rs.chunks != 1 || !rs.done[1] || rs.ignored != 1)
            fprintf(stderr, "case %s\n", what[k]);
        CHECK_EQ_INT(rs.chunks, 1);
        CHECK(rs.done[1]);
        CHECK_EQ_INT(rs.ignored, 1);
        ppx_resume_state_destroy(&rs);
        ppx_buf_destroy(&b);
    }
    /* A length field of 2^63 allocates nothing and stops nothing. */
    ppx_buf b;
    ppx_buf_init(&b);
    MUST(ppx_put_u64(&b, REC_MAGIC));
    MUST(ppx_put_u64(&b, 1ULL << 63));
    MUST(ppx_put_u64(&b, 0));
    put_record(&b, V2, 1, 4, &s, &none, NULL);
    ppx_resume_state rs;
    CHECK_EQ_INT(ppx_resume_state_init(&rs, 3, 4, 10), 0);
    CHECK_EQ_INT(ppx_journal_parse(b.data, b.len, &rs), 0);
    CHECK_EQ_INT(rs.chunks, 1);
    CHECK_EQ_INT(rs.ignored, 1);
    ppx_resume_state_destroy(&rs);
    ppx_buf_destroy(&b);
    /* Geometry that does not add up is refused. */
    CHECK_EQ_INT(ppx_resume_state_init(&rs, 2, 4, 10), PPX_EINVAL);
    ppx_resume_state_destroy(&rs);
    CHECK_EQ_INT(ppx_resume_state_init(&rs, 1, UINT64_MAX, 10), PPX_EINVAL);
    ppx_resume_state_destroy(&rs);
    ppx_failures_destroy(&outside);
    ppx_failures_destroy(&bad_stage);
    return 0;
}

static int failures_hostile(void)
{
    ppx_failures f = {0};
    MUST(ppx_failures_add(&f, 1, PPX_STAGE_DECODE, PPX_ETRUNC, "kept"));
    ppx_buf b;
    ppx_buf_init(&b);
    /* A count of 2^61 over 40 bytes: refused before any work. */
    MUST(ppx_put_u64(&b, 1ULL << 61));
    for (int i = 0; i < 4; i++)
        MUST(ppx_put_u64(&b, 0));
    CHECK_EQ_INT(ppx_failures_unpack(b.data, b.len, &f, NULL), PPX_ECORRUPT);
    /* Two entries, the second bad in one field each: the first is not kept
     * either (all or none). */
    for (int k = 0; k < 5; k++) {
        b.len = 0;
        MUST(ppx_put_u64(&b, 2));
        for (int e = 0; e < 2; e++) {
            int bad = e == 1;
            MUST(ppx_put_u64(&b, 7));
            MUST(ppx_put_u64(&b, bad && k == 0 ? (uint64_t)PPX_STAGE__COUNT : PPX_STAGE_READ));
            MUST(ppx_put_u64(&b, bad && k == 1   ? 0
                                 : bad && k == 2 ? (uint64_t)(int64_t)INT32_MIN - 1
                                                 : (uint64_t)(int64_t)PPX_EIO));
            MUST(ppx_put_u64(&b, bad && k == 3 ? PPX_ERR_MSG_MAX : bad && k == 4 ? 3 : 2));
            MUST(ppx_buf_append(&b, "ab", 2));
        }
        CHECK_EQ_INT(ppx_failures_unpack(b.data, b.len, &f, NULL), PPX_ECORRUPT);
        CHECK_EQ_INT(f.n, 1);
    }
    CHECK_STR(f.v[0].msg, "kept");
    ppx_failures_destroy(&f);
    ppx_buf_destroy(&b);
    return 0;
}

static int identity_strict(void)
{
    ppx_run_identity a, b;
    static const struct {
        const char *text;
        uint64_t chunk;
    } cases[] = {
        {"chunk_size=256\n", 256},
        {"chunk_size=18446744073709551615\n", UINT64_MAX},
        {"chunk_size=18446744073709551616\n", 0},
        {"chunk_size=-1\n", 0},
        {"chunk_size=+5\n", 0},
        {"chunk_size=0256\n", 0},
        {"chunk_size= 5\n", 0},
        {"chunk_size=5x\n", 0},
        {"chunk_size=\n", 0},
        {"chunk_size", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a.text, sizeof a.text, "%s", cases[i].text);
        CHECK(ppx_identity_chunk_size(&a) == cases[i].chunk);
    }
    /* A damaged chunk size in the journal is named, not resumed under
     * another chunk size. */
    ppx_identity_make(&a, "resize 64", "png", 90, 0, 100, 0xabc, 10, 4);
    ppx_identity_make(&b, "resize 64", "png", 90, 0, 100, 0xabc, 10, 1);
    char diff[512];
    CHECK(ppx_identity_diff(&a, &b, diff, sizeof diff));
    CHECK(strstr(diff, "chunk size") != NULL);
    /* Version 1 journals (format 1 records) and version 2 (no fingerprints) resume;
     * others do not. */
    ppx_identity_make(&b, "resize 64", "png", 90, 0, 100, 0xabc, 10, 4);
    CHECK(strncmp(b.text, "version=3\n", 10) == 0);
    a = b;
    a.text[8] = '1';
    CHECK(!ppx_identity_diff(&a, &b, diff, sizeof diff));
    a.text[8] = '2';
    CHECK(!ppx_identity_diff(&a, &b, diff, sizeof diff));
    a.text[8] = '4';
    CHECK(ppx_identity_diff(&a, &b, diff, sizeof diff));
    CHECK(strstr(diff, "journal version (journal \"4\", now \"3\")") != NULL);
    /* Small or no room for the text. */
    CHECK(ppx_identity_diff(&a, &b, diff, 1) && diff[0] == '\0');
    CHECK(ppx_identity_diff(&a, &b, diff, 0));
    return 0;
}

static void put_file(int dir, const char *name, const void *p, size_t n)
{
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (write(fd, p, n) != (ssize_t)n)
            perror(name);
        close(fd);
    }
}

/* A journal an earlier prepix wrote (version 1, format 1 records) resumes
 * with the same statistics; a damaged run file is refused by name. */
static int journal_format1_load(void)
{
    char t[] = "/tmp/ppx-journal-XXXXXX";
    CHECK(mkdtemp(t) != NULL);
    int root = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ppx_err e;
    int jdir = ppx_private_dir_open(root, ".prepix", &e);
    CHECK(jdir >= 0);
    const char *id1 = "version=1\npipeline=resize 64\nformat=png\nquality=90\nseed=0\n"
                      "max_pixels=100\nlisting=0000000000000abc\nimages=10\nchunk_size=4\n";
    put_file(jdir, "run", id1, strlen(id1));
    journal3 j;
    make_journal3(&j, V1);
    put_file(jdir, "journal-1-0.bin", j.bytes.data, j.bytes.len);
    ppx_resume_state rs;
    CHECK_EQ_INT(ppx_journal_load(jdir, 3, &rs, &e), 0);
    CHECK_EQ_INT(rs.chunks, 3);
    CHECK_EQ_INT(rs.images, 10);
    CHECK(ppx_stats_equal(&rs.stats, &j.all));
    CHECK_EQ_INT(rs.next_attempt, 2);
    ppx_resume_state_destroy(&rs);
    /* The next attempt writes format 2 records beside them. */
    ppx_journal jn;
    CHECK_EQ_INT(ppx_journal_open(&jn, jdir, 2, 0, &e), 0);
    ppx_stats s;
    chunk_stats(&s, 2, 5);
    ppx_failures none = {0};
    CHECK_EQ_INT(ppx_journal_append(&jn, 2, 2, &s, &none, &e), 0);
    ppx_journal_close(&jn);
    CHECK_EQ_INT(ppx_journal_load(jdir, 3, &rs, &e), 0);
    CHECK_EQ_INT(rs.duplicates, 1);
    ppx_resume_state_destroy(&rs);
    /* A run file whose chunk geometry disagrees with the listing's. */
    put_file(jdir, "run", "images=10\nchunk_size=3\n", 23);
    CHECK_EQ_INT(ppx_journal_load(jdir, 3, &rs, &e), PPX_ECORRUPT);
    CHECK(strstr(e.msg, ".prepix/run") != NULL);
    ppx_resume_state_destroy(&rs);
    ppx_buf_destroy(&j.bytes);
    close(jdir);
    close(root);
    return 0;
}

/* Fingerprints travel with their chunk's record: read back exactly, counted missing for a
 * record without them (an older prepix, or a run without fingerprints), and a record whose
 * fingerprints name an image outside its chunk is ignored (its chunk redone). */
static int journal_prints(void)
{
    ppx_journal j = {.fd = -1};
    ppx_buf_init(&j.rec);
    ppx_stats s;
    ppx_err e;
    ppx_failures none = {0};
    ppx_prints p0 = {0}, p2 = {0};
    ppx_fingerprint fp = {.phash = 0x8000000000000001ULL, .scale = 4, .valid = 1};
    memset(fp.exact, 0xab, PPX_EXACT_BYTES);
    MUST(ppx_prints_add(&p0, 1, &fp));
    MUST(ppx_prints_add(&p0, 3, &fp));
    MUST(ppx_prints_add(&p2, 4, &fp)); /* chunk 2 holds images 8 and 9 */
    chunk_stats(&s, 4, 1);
    CHECK_EQ_INT(ppx_journal_add(&j, 0, 4, &s, &none, &p0, &e), 0);
    CHECK_EQ_INT(ppx_journal_add(&j, 1, 4, &s, &none, NULL, &e), 0);
    chunk_stats(&s, 2, 1);
    CHECK_EQ_INT(ppx_journal_add(&j, 2, 2, &s, &none, &p2, &e), 0);
    ppx_resume_state rs;
    MUST(ppx_resume_state_init(&rs, 3, 4, 10));
    CHECK_EQ_INT(ppx_journal_parse(j.rec.data, j.rec.len, &rs), 0);
    CHECK_EQ_INT(rs.chunks, 2);
    CHECK_EQ_INT(rs.ignored, 1);
    CHECK_EQ_INT(rs.unprinted_chunks, 1);
    CHECK_EQ_INT(rs.prints.n, 2);
    CHECK(memcmp(rs.prints.v, p0.v, 2 * sizeof *p0.v) == 0);
    ppx_resume_state_destroy(&rs);
    ppx_prints_destroy(&p0);
    ppx_prints_destroy(&p2);
    ppx_buf_destroy(&j.rec);
    return 0;
}

PPX_TEST_MAIN(TEST(stats_roundtrip_random), TEST(stats_roundtrip_edges), TEST(stats_size),
              TEST(stats_format1_read), TEST(stats_hostile), TEST(journal_parse_intact),
              TEST(journal_parse_truncated), TEST(journal_parse_bitflip),
              TEST(journal_parse_foreign), TEST(failures_hostile), TEST(identity_strict),
              TEST(journal_format1_load), TEST(journal_prints))
