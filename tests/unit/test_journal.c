/* Unit tests of the resume journal's encodings: the sparse statistics
 * (exact for every ppx_stats, small for small chunks, format 1 still read)
 * and the parsing of damaged journals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/stats.h"

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
    ppx_buf_append(&b, "junk", 4); /* what follows in a record is not read */
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
    ppx_image_alloc(img, w, h, c, PPX_U8, NULL, &e);
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
    ppx_buf_put_le64(o, 0x3153585050ULL);
    for (size_t i = 0; i < 12; i++)
        ppx_buf_put_le64(o, scal[i]);
    ppx_buf_put_le64(o, mask);
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!(mask & (1ULL << gi)))
            continue;
        ppx_buf_put_le64(o, g->images);
        ppx_buf_put_le64(o, g->pixels);
        for (int b = 0; b < 4; b++) {
            ppx_buf_put_le64(o, g->sum[b].lo);
            ppx_buf_put_le64(o, g->sum[b].hi);
            ppx_buf_put_le64(o, g->sumsq[b].lo);
            ppx_buf_put_le64(o, g->sumsq[b].hi);
            ppx_buf_put_le64(o, g->min[b]);
            ppx_buf_put_le64(o, g->max[b]);
        }
        for (int b = 0; b < 4; b++)
            for (int v = 0; v < 256; v++)
                ppx_buf_put_le64(o, g->hist[b][v]);
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

PPX_TEST_MAIN(TEST(stats_roundtrip_random), TEST(stats_roundtrip_edges), TEST(stats_size),
              TEST(stats_format1_read), TEST(stats_hostile))
