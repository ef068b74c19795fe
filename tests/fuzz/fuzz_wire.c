/* Fuzz target for the messages a rank reads from another rank's bytes
 * (src/sched/plan.h): an assignment (ppx__unpack_assign, paths and bytes
 * transports), a rank's end message (ppx__unpack_end) and a chunk's results
 * (ppx__unpack_chunk_result and the output records of ppx__parse_outputs,
 * what ppx__store_remote_chunk reads before it writes anything). Another
 * rank's memory may be damaged, or its binary another build's: whatever the
 * bytes, each unpacker returns a result or a refusal, never a crash, a leak
 * or an allocation the message cannot back. The first byte picks the
 * unpacker (its value modulo 4); the rest is the message. Properties checked
 * beyond "no crash, no leak, no UB":
 *  - an accepted assignment's keys, archive names and images' bytes lie
 *    within what was received;
 *  - an accepted end message's flags are 0 or 1, and a refused one merges
 *    nothing;
 *  - an accepted chunk result's records lie within the message, in order.
 *
 * Built with clang -fsanitize=fuzzer under the fuzz preset (target
 * fuzz_wire); elsewhere standalone_main.c replays the files of
 * tests/fuzz/wire_corpus (make_wire_seeds.c wrote the seeds) as ordinary
 * tests (fuzz.wire.<file>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs add nothing the unpackers have not seen in smaller ones. */
#define MAX_INPUT (1u << 20)

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_wire: %s\n", what);
    abort();
}

static void assign(const uint8_t *p, size_t n, int bytes)
{
    ppx_buf msg;
    ppx_buf_init(&msg);
    if (ppx_buf_append(&msg, p, n))
        return;
    int kind, stop;
    chunk *c = ppx__unpack_assign(&msg, bytes, &kind, &stop);
    if (c) {
        if (kind != ASSIGN_CHUNK || (bytes && msg.data))
            fail("an assignment accepted with another kind, or its bytes not taken");
        const ppx_buf *in = bytes ? &c->inputs : NULL;
        for (uint64_t i = 0; i < c->count; i++) {
            const char *k = ppx__chunk_key(c, i);
            size_t kl = strlen(k);
            if (c->key_off[i] + kl >= c->keys.len || c->span[i].arc_len > kl)
                fail("a key or archive name outside the keys received");
            if (in && !c->in_code[i] &&
                (c->in_off[i] > in->len || c->in_len[i] > in->len - c->in_off[i]))
                fail("an image's bytes outside the message");
            if (in && c->in_code[i] && c->in_off[i] >= c->in_errs.len)
                fail("an error text outside the errors received");
        }
        ppx__chunk_free(c);
    }
    ppx_buf_destroy(&msg);
}

static void end(const uint8_t *p, size_t n)
{
    int all[2] = {0, 0};
    ppx_stats total;
    ppx_stats_init(&total);
    ppx_rank_info ri;
    ppx_failures fails = {0};
    ppx_prints prints = {0};
    int rc = ppx__unpack_end(p, n, all, &total, &ri, &fails, &prints);
    if (rc && (all[0] || all[1] || total.total || total.ok))
        fail("a refused end message merged something");
    if (!rc && (all[0] > 1 || all[1] > 1))
        fail("an end message's flag is neither 0 nor 1");
    ppx_failures_destroy(&fails);
    ppx_prints_destroy(&prints);
}

static void chunk_result(const uint8_t *p, size_t n)
{
    ppx_chunk_result cr;
    if (ppx__unpack_chunk_result(p, n, &cr))
        return;
    if (cr.outputs.len && (cr.outputs.data < p || cr.outputs.data + cr.outputs.len != p + n))
        fail("a chunk result's outputs are not the end of the message");
    ppx_out_rec *v = NULL;
    size_t nv = 0;
    if (ppx__parse_outputs(&cr.outputs, 0, UINT64_MAX, &v, &nv) == 0) {
        for (size_t i = 0; i < nv; i++) {
            if (v[i].it.len && (v[i].it.data < cr.outputs.data ||
                                v[i].it.data + v[i].it.len > cr.outputs.data + cr.outputs.len))
                fail("an output's bytes outside the message");
            if (i && v[i - 1].it.index > v[i].it.index)
                fail("output records out of order");
        }
        free(v);
    }
    ppx_failures_destroy(&cr.fails);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
    case 1:
        assign(p, n, data[0] % 4);
        break;
    case 2:
        end(p, n);
        break;
    default:
        chunk_result(p, n);
        break;
    }
    return 0;
}
