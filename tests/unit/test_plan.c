/* The plan of a run without MPI (src/sched/plan.h): the cut of the listing
 * into chunks, the entries that fail before any work, the messages between
 * ranks packed and unpacked (and refused when damaged), the outcome. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sched/plan.h"

static int chunk_geometry(void)
{
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(0, 4), 1);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(100, 4), 1);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000, 4), 8);      /* 128 chunks: 32 per worker */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000, 0), 32);     /* 0 workers counts as 1 */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000000, 1), 256); /* capped */
    /* Large jobs: at least one image per 200 workers, so that rank 0 keeps up
     * (64,000 workers: 320; the cap rises with it). */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000, 200), 1);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000, 201), 2);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(100000000, 64000), 320); /* 49 by the count */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000, 64000), 320);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000000000, 25600), 256); /* 1221: capped */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(1000000000, 6400), 256);
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(10000000, 6400), 49); /* floor 32 */
    CHECK_EQ_INT(ppx__plan_auto_chunk_size(100000, 6400), 32);
    /* The size no longer moves past the point a streamed run waits for. */
    CHECK_EQ_INT(ppx__plan_auto_chunk_sure(4), 32 * 4 * 255);
    CHECK_EQ_INT(ppx__plan_auto_chunk_sure(0), 32 * 255);
    CHECK_EQ_INT(ppx__plan_auto_chunk_sure(64000), 0); /* known before the walk */
    for (uint64_t w = 1; w < 70000; w = w * 3 + 1) {
        uint64_t sure = ppx__plan_auto_chunk_sure(w);
        CHECK_EQ_INT(ppx__plan_auto_chunk_size(sure + 1, w),
                     ppx__plan_auto_chunk_size(sure * 5 + 1000000000ULL, w));
    }
    CHECK_EQ_INT(ppx__plan_n_chunks(0, 5), 0);
    CHECK_EQ_INT(ppx__plan_n_chunks(10, 5), 2);
    CHECK_EQ_INT(ppx__plan_n_chunks(11, 5), 3);
    uint64_t first, count;
    ppx__plan_range(11, 5, 2, &first, &count);
    CHECK(first == 10 && count == 1); /* the last chunk is short */
    ppx__plan_range(11, 5, 1, &first, &count);
    CHECK(first == 5 && count == 5);
    ppx__plan_range(11, 5, 3, &first, &count);
    CHECK_EQ_INT(count, 0); /* past the end: none */
    return 0;
}

static int shards_size(void)
{
    CHECK_EQ_INT(ppx__plan_shards_size(100, 8), 13); /* 8 shards of up to 13 */
    CHECK_EQ_INT(ppx__plan_shards_size(20, 8), 2);   /* ceil would give 7 shards of 3 */
    CHECK_EQ_INT(ppx__plan_shards_size(5, 8), 1);
    CHECK_EQ_INT(ppx__plan_shards_size(0, 8), 1);
    for (uint64_t n = 1; n < 300; n++)
        for (uint64_t k = 1; k < 20; k++) {
            uint64_t cs = ppx__plan_shards_size(n, k);
            /* k or more shards whenever there are k images or more */
            if (n >= k && ppx__plan_n_chunks(n, cs) < k)
                return fprintf(stderr, "n %llu k %llu: %llu shards\n", (unsigned long long)n,
                               (unsigned long long)k,
                               (unsigned long long)ppx__plan_n_chunks(n, cs)),
                       1;
        }
    return 0;
}

static int walk_prefail(void)
{
    ppx_walk_error w[3] = {{.index = 0, .errno_value = 13},
                           {.index = 2, .problem = 5},
                           {.index = 3, .errno_value = 2, .archive = 1}};
    CHECK_EQ_INT(ppx__plan_walk_prefail(&w[0]), PREFAIL_WALK | 13u << 8);
    CHECK_EQ_INT(ppx__plan_walk_prefail(&w[1]), PREFAIL_ARCHIVE | 5u << 8);
    CHECK_EQ_INT(ppx__plan_walk_prefail(&w[2]), PREFAIL_ARC_OPEN | 2u << 8);
    ppx_listing l;
    memset(&l, 0, sizeof l);
    l.n = 5;
    l.walk_errors = w;
    l.n_walk_errors = 3;
    uint32_t prefail[5] = {0};
    ppx__plan_mark_walk_errors(&l, prefail);
    CHECK(prefail[0] == (PREFAIL_WALK | 13u << 8) && prefail[1] == 0 &&
          prefail[2] == (PREFAIL_ARCHIVE | 5u << 8) && prefail[4] == 0);
    return 0;
}

static int outcome(void)
{
    CHECK_EQ_INT(ppx__plan_outcome(0, 0, 0, 0), PPX_RUN_DONE);
    CHECK_EQ_INT(ppx__plan_outcome(0, 0, 1, 0), PPX_RUN_FAILURES);
    CHECK_EQ_INT(ppx__plan_outcome(0, 0, 0, 1), PPX_RUN_FAILURES); /* listed, not counted */
    CHECK_EQ_INT(ppx__plan_outcome(0, 1, 5, 5), PPX_RUN_STOPPED);
    CHECK_EQ_INT(ppx__plan_outcome(1, 1, 5, 5), PPX_RUN_FATAL);
    CHECK_EQ_INT(ppx__plan_setup_outcome(0), PPX_RUN_DONE);
    CHECK_EQ_INT(ppx__plan_setup_outcome(PPX_EUSAGE), PPX_RUN_REFUSED);
    CHECK_EQ_INT(ppx__plan_setup_outcome(PPX_ECANCELED), PPX_RUN_STOPPED);
    CHECK_EQ_INT(ppx__plan_setup_outcome(PPX_EIO), PPX_RUN_FATAL);
    CHECK_EQ_INT(ppx__plan_setup_outcome(PPX_ENOMEM), PPX_RUN_FATAL);
    /* The values are DESIGN.md's exit codes, which the report records. */
    CHECK(PPX_RUN_DONE == 0 && PPX_RUN_FATAL == 1 && PPX_RUN_REFUSED == 2 &&
          PPX_RUN_FAILURES == 3 && PPX_RUN_STOPPED == 4);
    return 0;
}

/* An assignment of chunk 7 (images 70..72): a file, an archive member, and
 * with bytes, the first image's bytes and the second's read error. */
static void make_assign(ppx_buf *b, int bytes)
{
    ppx_span file = {0}, member = {.off = 512, .size = 100, .arc_len = 5};
    member.arc.id.ino = 99;
    member.arc.id.dev = 3;
    member.arc.follow = 1;
    MUST(ppx__pack_assign_head(b, ASSIGN_CHUNK, STOP_DRAIN, 7, 70, 2));
    MUST(ppx__pack_assign_entry(b, "a/x.jpg", 0, 4, &file));
    if (bytes)
        MUST(ppx_put_u64(b, 0) || ppx_put_u64(b, 0644) || ppx_put_u64(b, 3) ||
             ppx_buf_append(b, "abc", 3));
    MUST(ppx__pack_assign_entry(b, "t.tar/y.png", PREFAIL_TWICE, -1, &member));
    if (bytes)
        MUST(ppx_put_u64(b, (uint64_t)(int64_t)PPX_EIO) || ppx_put_u64(b, PPX_STAGE_INPUT) ||
             ppx_put_u64(b, 4) || ppx_buf_append(b, "gone", 4));
    MUST(ppx_put_u64(b, 2) || ppx_buf_append(b, "sd", 2));
}

static int assign_roundtrip(void)
{
    for (int bytes = 0; bytes < 2; bytes++) {
        ppx_buf b;
        ppx_buf_init(&b);
        make_assign(&b, bytes);
        int kind, stop;
        chunk *c = ppx__unpack_assign(&b, bytes, &kind, &stop);
        CHECK(c != NULL);
        CHECK(kind == ASSIGN_CHUNK && stop == STOP_DRAIN);
        CHECK(c->id == 7 && c->first == 70 && c->count == 2 && c->remaining == 2);
        CHECK_STR(ppx__chunk_key(c, 0), "a/x.jpg");
        CHECK_STR(ppx__chunk_key(c, 1), "t.tar/y.png");
        CHECK(c->prefail[0] == 0 && c->prefail[1] == PREFAIL_TWICE);
        CHECK(c->label[0] == 4 && c->label[1] == -1);
        CHECK(c->span[1].off == 512 && c->span[1].size == 100 && c->span[1].arc_len == 5);
        CHECK(c->span[1].arc.id.ino == 99 && c->span[1].arc.follow == 1);
        CHECK(c->span[1].arc.dev_known == 0); /* another host's device numbers differ */
        CHECK(c->sides.len == 2 && memcmp(c->sides.data, "sd", 2) == 0);
        if (bytes) {
            CHECK(b.data == NULL && c->inputs.len > 0); /* taken, not copied */
            CHECK(c->in_code[0] == 0 && c->in_mode[0] == 0644 && c->in_len[0] == 3);
            CHECK(memcmp(c->inputs.data + c->in_off[0], "abc", 3) == 0);
            CHECK(c->in_code[1] == PPX_EIO && c->in_len[1] == PPX_STAGE_INPUT);
            CHECK_STR((const char *)c->in_errs.data + c->in_off[1], "gone");
        }
        ppx__chunk_free(c);
        ppx_buf_destroy(&b);
    }
    return 0;
}

static int assign_damaged(void)
{
    for (int bytes = 0; bytes < 2; bytes++) {
        ppx_buf whole;
        ppx_buf_init(&whole);
        make_assign(&whole, bytes);
        /* Every cut short is refused, and nothing is taken from the message. */
        for (size_t n = 0; n < whole.len; n++) {
            ppx_buf b;
            ppx_buf_init(&b);
            MUST(ppx_buf_append(&b, whole.data, n));
            int kind, stop;
            chunk *c = ppx__unpack_assign(&b, bytes, &kind, &stop);
            if (c)
                return fprintf(stderr, "cut at %zu of %zu accepted\n", n, whole.len), 1;
            ppx_buf_destroy(&b);
        }
        ppx_buf_destroy(&whole);
    }
    /* A count no message of this size can hold is refused before any
     * allocation for it (2^40 images would be terabytes of arrays). */
    ppx_buf b;
    ppx_buf_init(&b);
    MUST(ppx__pack_assign_head(&b, ASSIGN_CHUNK, 0, 0, 0, 1ULL << 40));
    MUST(
        ppx_buf_append(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64));
    int kind, stop;
    CHECK(ppx__unpack_assign(&b, 0, &kind, &stop) == NULL);
    /* "No more work" is no chunk, its stop word read. */
    b.len = 0;
    MUST(ppx__pack_assign_head(&b, ASSIGN_NOMORE, STOP_NOW, 0, 0, 0));
    CHECK(ppx__unpack_assign(&b, 0, &kind, &stop) == NULL);
    CHECK(kind == ASSIGN_NOMORE && stop == STOP_NOW);
    /* An archive's name longer than the key. */
    b.len = 0;
    ppx_span sp = {.arc_len = 9};
    MUST(ppx__pack_assign_head(&b, ASSIGN_CHUNK, 0, 0, 0, 1));
    MUST(ppx__pack_assign_entry(&b, "short", 0, -1, &sp));
    MUST(ppx_put_u64(&b, 0));
    CHECK(ppx__unpack_assign(&b, 0, &kind, &stop) == NULL);
    /* A key with a NUL inside (no path has one), and an empty message. */
    b.len = 0;
    MUST(ppx__pack_assign_head(&b, ASSIGN_CHUNK, 0, 0, 0, 1));
    MUST(ppx_put_u64(&b, 3) || ppx_buf_append(&b, "a\0b", 3));
    for (int k = 0; k < 9; k++)
        MUST(ppx_put_u64(&b, 0));
    MUST(ppx_put_u64(&b, 0));
    CHECK(ppx__unpack_assign(&b, 0, &kind, &stop) == NULL);
    ppx_buf empty;
    ppx_buf_init(&empty);
    CHECK(ppx__unpack_assign(&empty, 0, &kind, &stop) == NULL && kind == 0);
    /* A read error whose code is no PPX_E code: 2^32 reads as 0 in 32 bits,
     * which would make the error's stage an image's length (found by
     * fuzz_wire: tests/fuzz/wire_corpus/assign_code_high_bits.bin). */
    b.len = 0;
    sp.arc_len = 0;
    MUST(ppx__pack_assign_head(&b, ASSIGN_CHUNK, 0, 0, 0, 1));
    MUST(ppx__pack_assign_entry(&b, "x.jpg", 0, -1, &sp));
    MUST(ppx_put_u64(&b, 1ULL << 32) || ppx_put_u64(&b, 1000000) || ppx_put_u64(&b, 1) ||
         ppx_buf_append(&b, "e", 1) || ppx_put_u64(&b, 0));
    CHECK(ppx__unpack_assign(&b, 1, &kind, &stop) == NULL);
    ppx_buf_destroy(&b);
    return 0;
}

static int end_roundtrip(void)
{
    ppx_stats st;
    ppx_stats_init(&st);
    st.total = 3;
    st.ok = 2;
    st.failed = 1;
    ppx_rank_info me = {.rank = 2, .workers = 4, .images = 3, .failed = 1};
    snprintf(me.host, sizeof me.host, "node-1");
    ppx_failures f = {0};
    MUST(ppx_failures_add(&f, 11, PPX_STAGE_DECODE, PPX_ECORRUPT, "bad huffman"));
    ppx_prints pr = {0};
    ppx_buf b;
    ppx_buf_init(&b);
    MUST(ppx__pack_end(0, 1, &st, &me, &f, &pr, &b));
    int all[2] = {0, 0};
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_rank_info ri;
    ppx_failures fails = {0};
    ppx_prints prints = {0};
    CHECK_EQ_INT(ppx__unpack_end(b.data, b.len, all, &total, &ri, &fails, &prints), 0);
    CHECK(all[0] == 0 && all[1] == 1);
    CHECK(total.total == 3 && total.ok == 2 && total.failed == 1);
    CHECK(ri.rank == 2 && ri.workers == 4);
    CHECK_STR(ri.host, "node-1");
    CHECK(fails.n == 1 && fails.v[0].index == 11);
    /* Cut short anywhere, or one byte too many: refused, nothing merged. */
    for (size_t n = 0; n <= b.len; n++) {
        int a2[2] = {0, 0};
        ppx_stats t2;
        ppx_stats_init(&t2);
        ppx_failures f2 = {0};
        ppx_prints p2 = {0};
        MUST(n == b.len ? ppx_buf_append(&b, "x", 1) : 0);
        int rc = ppx__unpack_end(b.data, n == b.len ? b.len : n, a2, &t2, &ri, &f2, &p2);
        CHECK(rc != 0);
        CHECK(a2[0] == 0 && a2[1] == 0 && t2.total == 0);
        ppx_failures_destroy(&f2);
        ppx_prints_destroy(&p2);
        if (n + 1 == b.len)
            break; /* the byte added: done */
    }
    /* A flag other than 0 or 1. */
    b.data[0] = 2;
    CHECK_EQ_INT(ppx__unpack_end(b.data, b.len, all, &total, &ri, &fails, &prints), PPX_ECORRUPT);
    ppx_failures_destroy(&f);
    ppx_failures_destroy(&fails);
    ppx_prints_destroy(&prints);
    ppx_buf_destroy(&b);
    return 0;
}

static int chunk_result_roundtrip(void)
{
    ppx_stats st;
    ppx_stats_init(&st);
    st.total = 2;
    st.ok = 1;
    st.failed = 1;
    ppx_failures f = {0};
    MUST(ppx_failures_add(&f, 41, PPX_STAGE_DECODE, PPX_ETRUNC, "truncated"));
    ppx_img_stats is;
    memset(&is, 0, sizeof is);
    ppx_fingerprint fp;
    memset(&fp, 0, sizeof fp);
    ppx_buf outputs, b, scratch;
    ppx_buf_init(&outputs);
    ppx_buf_init(&b);
    ppx_buf_init(&scratch);
    /* The image's bytes, then its one companion's (2 bytes of role 1). */
    const uint64_t parts[PPX_SPAN_PARTS] = {0, 2};
    MUST(ppx__pack_out_rec(&outputs, 40, 3, 1, (const uint8_t *)"JPEGPN", 6, parts, 640, 480, 0644,
                           &is, &fp));
    MUST(ppx__pack_chunk_result(&b, 10, 2, &st, &f, &outputs, &scratch));
    ppx_chunk_result cr;
    CHECK_EQ_INT(ppx__unpack_chunk_result(b.data, b.len, &cr), 0);
    CHECK(cr.id == 10 && cr.count == 2 && cr.stats.ok == 1 && cr.fails.n == 1);
    CHECK(cr.outputs.len == outputs.len && memcmp(cr.outputs.data, outputs.data, outputs.len) == 0);
    ppx_out_rec *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ppx__parse_outputs(&cr.outputs, 40, 42, &v, &n), 0);
    CHECK(n == 1 && v[0].it.index == 40 && v[0].it.label == 3 && v[0].it.len == 4);
    CHECK(memcmp(v[0].it.data, "JPEG", 4) == 0 && v[0].in_w == 640 && v[0].mode == 0644);
    CHECK(v[0].it.part_len[0] == 0 && v[0].it.part_len[1] == 2);
    free(v);
    /* An index outside the chunk, and every cut of the records. */
    CHECK_EQ_INT(ppx__parse_outputs(&cr.outputs, 41, 42, &v, &n), PPX_EMPI);
    for (size_t k = 1; k < outputs.len; k++) {
        ppx_buf cut = {.data = outputs.data, .len = k};
        CHECK_EQ_INT(ppx__parse_outputs(&cut, 0, 100, &v, &n), PPX_EMPI);
    }
    ppx_failures_destroy(&cr.fails);
    /* The header cut short anywhere before the outputs. */
    for (size_t k = 0; k < b.len - outputs.len; k++) {
        CHECK_EQ_INT(ppx__unpack_chunk_result(b.data, k, &cr), PPX_ECORRUPT);
        CHECK(cr.fails.n == 0);
    }
    ppx_failures_destroy(&f);
    ppx_buf_destroy(&outputs);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&scratch);
    return 0;
}

PPX_TEST_MAIN(TEST(chunk_geometry), TEST(shards_size), TEST(walk_prefail), TEST(outcome),
              TEST(assign_roundtrip), TEST(assign_damaged), TEST(end_roundtrip),
              TEST(chunk_result_roundtrip))
