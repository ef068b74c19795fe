/* Exact and near duplicates among fingerprints, without comparing all pairs.
 *
 * Exact groups: one radix sort of the exact fingerprints.
 *
 * Near groups: the distinct phash values are joined (union-find) when they
 * differ in at most D bits. The candidates come from a multi-index: the 64
 * bits are cut into m bands, and by the generalised pigeonhole principle
 * (Qin et al., "GPH", 2018) two hashes within D differ in at most t_b bits
 * in some band b whenever the t_b add up to D - m + 1 (t_b = -1 leaves a
 * band out). Here t_b is 0 or 1: per band, the values are bucketed by the
 * band's bits (a counting sort), and only pairs inside a bucket (t_b >= 0)
 * and between buckets one bit apart (t_b = 1) are compared. m is chosen
 * from 3 (bands of 21-22 bits) up by an estimate of the comparisons: for
 * 10^7 random hashes at the default D = 4, three bands with t = (1, 1, 0)
 * compare about 10^9 pairs (docs/duplicates.md has the measurements).
 * Larger D needs more, narrower bands and grows steeply.
 *
 * Then, inside each joined set, in listing order, an image joins the first
 * earlier kept image within D, or is kept: the groups of a dataset that
 * keeps the first of each are therefore within D of what it keeps. */
#include "prepix/dedup.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* ---- sorting ------------------------------------------------------------- */

/* Stable LSD radix sort of (key, val) by the key's low `bits` bits, 11 bits
 * a pass; passes whose digit is the same everywhere are skipped. tk/tv are
 * scratch of n entries. The result is in key/val. */
static void radix_sort(uint64_t *key, uint32_t *val, uint64_t *tk, uint32_t *tv, size_t n, int bits)
{
    enum { DIGIT = 11, RADIX = 1 << DIGIT };
    size_t count[RADIX];
    for (int shift = 0; shift < bits; shift += DIGIT) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(key[i] >> shift) & (RADIX - 1)]++;
        if (n && count[(key[0] >> shift) & (RADIX - 1)] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t p = count[(key[i] >> shift) & (RADIX - 1)]++;
            tk[p] = key[i];
            tv[p] = val[i];
        }
        memcpy(key, tk, n * sizeof *key);
        memcpy(val, tv, n * sizeof *val);
    }
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- union-find ---------------------------------------------------------- */

static uint32_t find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void unite(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = find(parent, a);
    b = find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* ---- the multi-index ----------------------------------------------------- */

typedef struct {
    int m;           /* bands */
    int shift[64];   /* the band's lowest bit */
    int width[64];   /* bits */
    int t[64];       /* -1, 0 or 1: bits of this band two joined hashes may differ in */
    double estimate; /* comparisons expected for uniform hashes */
} plan;

/* The bands and thresholds for D among n distinct values: the cheapest m by
 * the estimate (bucketing, comparisons inside buckets, between buckets a bit
 * apart), with widths of at most 22 bits (a bucket table of 16 MiB). */
static plan make_plan(int D, size_t n)
{
    plan best = {0};
    best.estimate = -1;
    for (int m = 3; m <= 64; m++) {
        int sum = D - m + 1; /* GPH: the thresholds add up to this */
        if (sum > m)
            continue;
        plan p = {.m = m};
        for (int b = 0, at = 0; b < m; b++) {
            p.width[b] = 64 / m + (b < 64 % m);
            p.shift[b] = at;
            at += p.width[b];
            p.t[b] = -1;
        }
        if (p.width[0] > 22)
            continue;
        /* Raise thresholds one at a time, widest bands first, to reach sum. */
        for (int k = 0, left = sum + m; left > 0; k = (k + 1) % m)
            if (p.t[k] < 1) {
                p.t[k]++;
                left--;
            }
        double N = (double)n, est = 0;
        for (int b = 0; b < m; b++) {
            if (p.t[b] < 0)
                continue;
            double buckets = (double)((uint64_t)1 << p.width[b]);
            est += 3 * N + buckets + (1 + p.t[b] * p.width[b]) * N * N / buckets / 2;
            if (p.t[b])
                est += p.width[b] * (N < buckets ? N : buckets);
        }
        p.estimate = est;
        if (best.estimate < 0 || est < best.estimate)
            best = p;
    }
    return best;
}

typedef struct {
    const uint64_t *uv; /* distinct phash values, ascending */
    uint32_t n;
    int D;
    uint32_t *parent;
    uint64_t compared;
    /* scratch: the values bucketed by one band */
    uint32_t *off;
    uint64_t *h;
    uint32_t *id;
} index_ctx;

/* Compares each value of [a0, a1) with each of [b0, b1), or, when the two
 * ranges are the same bucket, each pair once. */
static void compare_range(index_ctx *x, uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1)
{
    for (uint32_t i = a0; i < a1; i++) {
        uint64_t hi = x->h[i];
        uint32_t j0 = a0 == b0 ? i + 1 : b0;
        for (uint32_t j = j0; j < b1; j++)
            if (ppx_hamming64(hi, x->h[j]) <= x->D)
                unite(x->parent, x->id[i], x->id[j]);
        x->compared += b1 - j0;
    }
}

/* One band: bucket the values by its bits, compare inside buckets and, with
 * t = 1, between buckets whose keys differ in one bit. */
static void band_pass(index_ctx *x, int shift, int width, int t)
{
    uint32_t nb = (uint32_t)1 << width, mask = nb - 1;
    memset(x->off, 0, ((size_t)nb + 1) * sizeof *x->off);
    for (uint32_t i = 0; i < x->n; i++)
        x->off[((x->uv[i] >> shift) & mask) + 1]++;
    for (uint32_t k = 0; k < nb; k++)
        x->off[k + 1] += x->off[k];
    for (uint32_t i = 0; i < x->n; i++) {
        uint32_t p = x->off[(x->uv[i] >> shift) & mask]++;
        x->h[p] = x->uv[i];
        x->id[p] = i;
    }
    for (uint32_t k = nb; k > 0; k--) /* back to the starts */
        x->off[k] = x->off[k - 1];
    x->off[0] = 0;
    for (uint32_t k = 0; k < nb; k++) {
        uint32_t a0 = x->off[k], a1 = x->off[k + 1];
        if (a0 == a1)
            continue;
        compare_range(x, a0, a1, a0, a1);
        for (int bit = 0; t > 0 && bit < width; bit++) {
            uint32_t k2 = k | (uint32_t)1 << bit;
            if (k2 != k && x->off[k2] != x->off[k2 + 1])
                compare_range(x, a0, a1, x->off[k2], x->off[k2 + 1]);
        }
    }
}

/* ---- the groups ---------------------------------------------------------- */

static int cmp_exact_pos(const void *a, const void *b, void *arg)
{
    const ppx_print *v = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = memcmp(v[x].exact, v[y].exact, PPX_EXACT_BYTES);
    return c ? c : (x > y) - (x < y);
}

typedef struct {
    size_t *members;
    size_t n_members, cap_members;
    ppx_dup_group *g;
    size_t n, cap;
} group_list;

static int add_group(group_list *l, const size_t *pos, size_t count)
{
    if (ppx_array_grow((void **)&l->g, &l->cap, l->n, sizeof *l->g, 64))
        return PPX_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if (ppx_array_grow((void **)&l->members, &l->cap_members, l->n_members, sizeof *l->members,
                           256))
            return PPX_ENOMEM;
        l->members[l->n_members++] = pos[i];
    }
    l->g[l->n++] = (ppx_dup_group){l->n_members - count, count};
    return 0;
}

/* Exact groups: sort by the first 64 bits, then each run of equal ones by
 * the whole fingerprint and listing position. */
static int exact_groups(const ppx_print *v, uint32_t n, group_list *out)
{
    int rc = PPX_ENOMEM;
    uint64_t *key = malloc((n ? n : 1) * sizeof *key), *tk = malloc((n ? n : 1) * sizeof *tk);
    uint32_t *val = malloc((n ? n : 1) * sizeof *val), *tv = malloc((n ? n : 1) * sizeof *tv);
    size_t *pos = NULL, cap = 0;
    if (!key || !tk || !val || !tv)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        key[i] = be64(v[i].exact);
        val[i] = i;
    }
    radix_sort(key, val, tk, tv, n, 64);
    for (uint32_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && key[b] == key[a]; b++)
            ;
        if (b - a < 2)
            continue;
        qsort_r(val + a, b - a, sizeof *val, cmp_exact_pos, (void *)v);
        for (uint32_t c = a, d; c < b; c = d) {
            for (d = c + 1; d < b && memcmp(v[val[d]].exact, v[val[c]].exact, PPX_EXACT_BYTES) == 0;
                 d++)
                ;
            if (d - c < 2)
                continue;
            for (uint32_t k = c; k < d; k++) {
                if (ppx_array_grow((void **)&pos, &cap, k - c, sizeof *pos, 16))
                    goto out;
                pos[k - c] = val[k];
            }
            if (add_group(out, pos, d - c))
                goto out;
        }
    }
    rc = 0;
out:
    free(key);
    free(tk);
    free(val);
    free(tv);
    free(pos);
    return rc;
}

typedef struct {
    uint32_t leader, pos;
} assignment;

static int cmp_assign(const void *a, const void *b)
{
    const assignment *x = a, *y = b;
    if (x->leader != y->leader)
        return (x->leader > y->leader) - (x->leader < y->leader);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_group_first(const void *a, const void *b, void *arg)
{
    const size_t *members = arg;
    size_t x = members[((const ppx_dup_group *)a)->first];
    size_t y = members[((const ppx_dup_group *)b)->first];
    return (x > y) - (x < y);
}

/* The kept images and their groups inside one joined set comp[0..k)
 * (positions ascending): near groups into out, drops marked. */
static int cluster(const ppx_print *v, const uint32_t *comp, uint32_t k, const uint32_t *vid,
                   const uint64_t *uv, uint32_t *lead, int D, uint32_t **leaders, size_t *cap_l,
                   assignment **as, size_t *cap_a, size_t **pos, size_t *cap_p, group_list *out,
                   uint8_t *drop, size_t *n_drop)
{
    size_t nl = 0;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t p = comp[i], u = vid[p];
        if (lead[u] == NONE) {
            for (size_t j = 0; j < nl && lead[u] == NONE; j++)
                if (ppx_hamming64(uv[vid[(*leaders)[j]]], uv[u]) <= D)
                    lead[u] = (*leaders)[j];
            if (lead[u] == NONE) {
                if (ppx_array_grow((void **)leaders, cap_l, nl, sizeof **leaders, 16))
                    return PPX_ENOMEM;
                (*leaders)[nl++] = p;
                lead[u] = p;
            }
        }
        if (ppx_array_grow((void **)as, cap_a, i, sizeof **as, 16))
            return PPX_ENOMEM;
        (*as)[i] = (assignment){lead[u], p};
    }
    for (uint32_t i = 0; i < k; i++)
        lead[vid[comp[i]]] = NONE; /* ready for the next set */
    qsort(*as, k, sizeof **as, cmp_assign);
    for (uint32_t a = 0, b; a < k; a = b) {
        for (b = a + 1; b < k && (*as)[b].leader == (*as)[a].leader; b++)
            ;
        if (b - a < 2)
            continue;
        int same = 1;
        for (uint32_t i = a; i < b; i++) {
            if (i > a) {
                drop[(*as)[i].pos] = 1;
                (*n_drop)++;
            }
            same &= memcmp(v[(*as)[i].pos].exact, v[(*as)[a].pos].exact, PPX_EXACT_BYTES) == 0;
        }
        if (same)
            continue; /* all the same pixels: an exact group, listed as such */
        for (uint32_t i = a; i < b; i++) {
            if (ppx_array_grow((void **)pos, cap_p, i - a, sizeof **pos, 16))
                return PPX_ENOMEM;
            (*pos)[i - a] = (*as)[i].pos;
        }
        if (add_group(out, *pos, b - a))
            return PPX_ENOMEM;
    }
    return 0;
}

/* Joins in parent every two of the m distinct values uv within Hamming distance D, one
 * band pass of the multi-index at a time. */
static int join_near(const uint64_t *uv, uint32_t m, int D, uint32_t *parent, ppx_dups *d)
{
    plan p = make_plan(D, m);
    int wmax = 0;
    for (int b = 0; b < p.m; b++)
        wmax = p.width[b] > wmax ? p.width[b] : wmax;
    index_ctx x = {.uv = uv, .n = m, .D = D, .parent = parent};
    x.off = malloc((((size_t)1 << wmax) + 1) * sizeof *x.off);
    x.h = malloc(m * sizeof *x.h);
    x.id = malloc(m * sizeof *x.id);
    int rc = PPX_ENOMEM;
    if (x.off && x.h && x.id) {
        for (int b = 0; b < p.m; b++)
            if (p.t[b] >= 0)
                band_pass(&x, p.shift[b], p.width[b], p.t[b]);
        d->bands = p.m;
        d->compared = x.compared;
        rc = 0;
    }
    free(x.off);
    free(x.h);
    free(x.id);
    return rc;
}

/* Near groups: distinct values, the multi-index, then the sets it joined. */
static int near_groups(const ppx_print *v, uint32_t n, int D, group_list *out, ppx_dups *d)
{
    int rc = PPX_ENOMEM;
    size_t nn = n ? n : 1;
    uint64_t *key = malloc(nn * sizeof *key), *tk = malloc(nn * sizeof *tk);
    uint32_t *val = malloc(nn * sizeof *val), *tv = malloc(nn * sizeof *tv);
    uint32_t *vid = malloc(nn * sizeof *vid);
    uint64_t *uv = NULL;
    uint32_t *parent = NULL, *count = NULL, *order = NULL, *lead = NULL, *leaders = NULL;
    assignment *as = NULL;
    size_t *pos = NULL, cap_l = 0, cap_a = 0, cap_p = 0;
    if (!key || !tk || !val || !tv || !vid)
        goto out;
    /* Distinct values: images with the same phash are one node. */
    for (uint32_t i = 0; i < n; i++) {
        key[i] = v[i].phash;
        val[i] = i;
    }
    radix_sort(key, val, tk, tv, n, 64);
    free(tk);
    free(tv);
    tk = NULL;
    tv = NULL;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == 0 || key[i] != key[i - 1])
            key[m++] = key[i];
        vid[val[i]] = m - 1;
    }
    free(val);
    val = NULL;
    uv = realloc(key, (m ? m : 1) * sizeof *uv);
    if (!uv)
        goto out;
    key = NULL;
    parent = malloc((m ? m : 1) * sizeof *parent);
    if (!parent)
        goto out;
    for (uint32_t i = 0; i < m; i++)
        parent[i] = i;
    if (D > 0 && m > 1 && join_near(uv, m, D, parent, d))
        goto out;
    /* The joined sets, each in listing order: a counting sort of positions by root. */
    count = calloc((size_t)m + 1, sizeof *count);
    order = malloc(nn * sizeof *order);
    lead = malloc((m ? m : 1) * sizeof *lead);
    if (!count || !order || !lead)
        goto out;
    for (uint32_t u = 0; u < m; u++) {
        parent[u] = find(parent, u);
        lead[u] = NONE;
    }
    for (uint32_t i = 0; i < n; i++)
        count[parent[vid[i]] + 1]++;
    for (uint32_t u = 0; u < m; u++)
        count[u + 1] += count[u];
    for (uint32_t i = 0; i < n; i++)
        order[count[parent[vid[i]]]++] = i;
    for (uint32_t u = m; u > 0; u--)
        count[u] = count[u - 1];
    count[0] = 0;
    for (uint32_t u = 0; u < m; u++) {
        uint32_t a = count[u], b = count[u + 1];
        if (b - a >= 2 && cluster(v, order + a, b - a, vid, uv, lead, D, &leaders, &cap_l, &as,
                                  &cap_a, &pos, &cap_p, out, d->drop, &d->n_drop))
            goto out;
    }
    rc = 0;
out:
    free(key);
    free(tk);
    free(val);
    free(tv);
    free(vid);
    free(uv);
    free(parent);
    free(count);
    free(order);
    free(lead);
    free(leaders);
    free(as);
    free(pos);
    return rc;
}

int ppx_dups_find(const ppx_print *v, size_t n, int distance, ppx_dups *d)
{
    memset(d, 0, sizeof *d);
    if (distance < 0 || distance > PPX_DUP_DISTANCE_MAX || n >= NONE)
        return PPX_EINVAL;
    group_list ex = {0}, nr = {0};
    d->drop = calloc(n ? n : 1, 1);
    int rc = d->drop ? exact_groups(v, (uint32_t)n, &ex) : PPX_ENOMEM;
    if (!rc)
        rc = near_groups(v, (uint32_t)n, distance, &nr, d);
    /* Both lists share one members array: the near members after the exact ones. */
    if (!rc && nr.n_members) {
        size_t *mv = realloc(ex.members, (ex.n_members + nr.n_members) * sizeof *mv);
        if (!mv) {
            rc = PPX_ENOMEM;
        } else {
            ex.members = mv;
            memcpy(mv + ex.n_members, nr.members, nr.n_members * sizeof *mv);
            for (size_t i = 0; i < nr.n; i++)
                nr.g[i].first += ex.n_members;
            ex.n_members += nr.n_members;
        }
    }
    if (!rc) {
        if (ex.n)
            qsort_r(ex.g, ex.n, sizeof *ex.g, cmp_group_first, ex.members);
        if (nr.n)
            qsort_r(nr.g, nr.n, sizeof *nr.g, cmp_group_first, ex.members);
        d->members = ex.members;
        d->exact = ex.g;
        d->n_exact = ex.n;
        d->near = nr.g;
        d->n_near = nr.n;
        ex.members = NULL;
        ex.g = NULL;
        nr.g = NULL;
    }
    free(ex.members);
    free(ex.g);
    free(nr.members);
    free(nr.g);
    if (rc)
        ppx_dups_destroy(d);
    return rc;
}

void ppx_dups_destroy(ppx_dups *d)
{
    free(d->members);
    free(d->exact);
    free(d->near);
    free(d->drop);
    memset(d, 0, sizeof *d);
}
