/* Writes the seeds of fuzz_wire (tests/fuzz/wire_corpus): one valid message
 * of each kind the target reads, each after its selector byte. Built on
 * demand (target make_wire_seeds, not part of all):
 *   cmake --build build/dev --target make_wire_seeds
 *   build/dev/tests/make_wire_seeds tests/fuzz/wire_corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/plan.h"

/* Whether the unpacker the selector picks accepts the message whole: a seed
 * the target refuses at once would only exercise its first checks. */
static int accepted(uint8_t sel, const ppx_buf *b)
{
    ppx_buf copy;
    ppx_buf_init(&copy);
    if (ppx_buf_append(&copy, b->data, b->len))
        return 0;
    int ok = 0, kind, stop;
    if (sel < 2) {
        chunk *c = ppx__unpack_assign(&copy, sel, &kind, &stop);
        ok = c != NULL;
        ppx__chunk_free(c);
    } else if (sel == 2) {
        int all[2] = {0, 0};
        ppx_stats t;
        ppx_stats_init(&t);
        ppx_rank_info ri;
        ppx_failures f = {0};
        ppx_prints p = {0};
        ok = ppx__unpack_end(b->data, b->len, all, &t, &ri, &f, &p) == 0;
        ppx_failures_destroy(&f);
        ppx_prints_destroy(&p);
    } else {
        ppx_chunk_result cr;
        ppx_out_rec *v = NULL;
        size_t n = 0;
        ok = ppx__unpack_chunk_result(b->data, b->len, &cr) == 0;
        ok = ok && ppx__parse_outputs(&cr.outputs, 0, UINT64_MAX, &v, &n) == 0 && n == 1;
        free(v);
        if (ok)
            ppx_failures_destroy(&cr.fails);
    }
    ppx_buf_destroy(&copy);
    return ok;
}

static int save(const char *dir, const char *name, uint8_t sel, const ppx_buf *b)
{
    if (!accepted(sel, b))
        return fprintf(stderr, "make_wire_seeds: %s is refused by its unpacker\n", name), 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return perror(path), 1;
    int bad = fwrite(&sel, 1, 1, f) != 1 || (b->len && fwrite(b->data, b->len, 1, f) != 1);
    return fclose(f) != 0 || bad;
}

static int assign(ppx_buf *b, int bytes)
{
    ppx_span file = {0}, member = {.off = 512, .size = 100, .arc_len = 5};
    member.arc.id.ino = 99;
    b->len = 0;
    int rc = ppx__pack_assign_head(b, ASSIGN_CHUNK, 0, 3, 6, 2) ||
             ppx__pack_assign_entry(b, "cat/x.jpg", 0, 0, &file);
    if (bytes)
        rc = rc || ppx_put_u64(b, 0) || ppx_put_u64(b, 0644) || ppx_put_u64(b, 4) ||
             ppx_buf_append(b, "\xff\xd8\xff\xd9", 4);
    rc = rc || ppx__pack_assign_entry(b, "a.tar/y.png", PREFAIL_TWICE, 1, &member);
    if (bytes)
        rc = rc || ppx_put_u64(b, (uint64_t)(int64_t)PPX_EIO) || ppx_put_u64(b, 1) ||
             ppx_put_u64(b, 4) || ppx_buf_append(b, "gone", 4);
    /* one sidecar record: image 1, offset, size, extension "txt" */
    return rc || ppx_put_u64(b, 35) || ppx_put_u64(b, 1) || ppx_put_u64(b, 0) ||
           ppx_put_u64(b, 2) || ppx_put_u64(b, 3) || ppx_buf_append(b, "txt", 3);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fprintf(stderr, "usage: make_wire_seeds DIR\n"), 2;
    const uint64_t no_parts[PPX_SPAN_PARTS] = {0};
    ppx_buf b, out, scratch;
    ppx_buf_init(&b);
    ppx_buf_init(&out);
    ppx_buf_init(&scratch);
    int rc = assign(&b, 0) || save(argv[1], "assign_paths.bin", 0, &b) || assign(&b, 1) ||
             save(argv[1], "assign_bytes.bin", 1, &b);
    ppx_stats st;
    ppx_stats_init(&st);
    st.total = 2;
    st.ok = 1;
    st.failed = 1;
    ppx_failures f = {0};
    ppx_prints pr = {0};
    ppx_fingerprint fp;
    memset(&fp, 0, sizeof fp);
    fp.valid = 1;
    fp.scale = 1;
    fp.phash = 0x0123456789abcdefULL;
    ppx_img_stats is;
    memset(&is, 0, sizeof is);
    ppx_rank_info me = {.rank = 1, .workers = 2, .images = 2, .failed = 1};
    snprintf(me.host, sizeof me.host, "node-1");
    rc = rc || ppx_failures_add(&f, 7, PPX_STAGE_DECODE, PPX_ECORRUPT, "corrupt") ||
         ppx_prints_add(&pr, 6, &fp);
    b.len = 0;
    rc = rc || ppx__pack_end(0, 1, &st, &me, &f, &pr, &b) || save(argv[1], "end.bin", 2, &b);
    b.len = 0;
    rc = rc ||
         ppx__pack_out_rec(&out, 6, 0, 1, (const uint8_t *)"\xff\xd8\xff\xd9", 4, no_parts, 64, 48,
                           0644, &is, &fp) ||
         ppx__pack_chunk_result(&b, 3, 2, &st, &f, &out, &scratch) ||
         save(argv[1], "chunk_result.bin", 3, &b);
    ppx_failures_destroy(&f);
    ppx_prints_destroy(&pr);
    ppx_buf_destroy(&b);
    ppx_buf_destroy(&out);
    ppx_buf_destroy(&scratch);
    return rc ? 1 : 0;
}
