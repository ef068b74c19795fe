/* The report writers on a hand-made run: JSON keys that are always present, the summary's
 * warning and report lines, and HTML escaping of hostile strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/error.h"
#include "stats/report.h"

/* A run with one RGB 8-bit group, one gray 16-bit group, one failure and two warnings. */
typedef struct {
    ppx_stats stats;
    ppx_failures fails;
    const char *paths[1];
    ppx_rank_info rank;
    const char *warnings[2];
    ppx_report r;
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    ppx_stats_init(&f->stats);
    f->stats.total = 3;
    f->stats.ok = 2;
    f->stats.failed = 1;
    ppx_group_stats *g = &f->stats.group[ppx_stats_group(3, 8)];
    g->images = 1;
    g->pixels = 4;
    for (int b = 0; b < 3; b++) {
        g->hist[b][0] = 3; /* a spike at 0 */
        g->hist[b][200] = 1;
        g->sum[b].lo = 200;
        g->sumsq[b].lo = 40000;
        g->max[b] = 200;
    }
    g = &f->stats.group[ppx_stats_group(1, 16)];
    g->images = 1;
    g->pixels = 2;
    g->hist[0][255] = 2;
    g->sum[0].lo = 2 * 65535;
    g->sumsq[0].lo = 2ull * 65535 * 65535;
    g->min[0] = g->max[0] = 65535;
    MUST(ppx_failures_add(&f->fails, 0, PPX_STAGE_DECODE, PPX_ETRUNC, "cut <short> & \"early\""));
    f->paths[0] = "in/<script>alert(1)</script>\x01\xff&.jpg";
    f->rank = (ppx_rank_info){.rank = 0,
                              .host = "node<1>",
                              .workers = 2,
                              .images = 3,
                              .failed = 1,
                              .busy_s = 1,
                              .elapsed_s = 1};
    f->warnings[0] = "listing changed: \"a\" <b>\n";
    f->warnings[1] = "second";
    f->r = (ppx_report){.stats = &f->stats,
                        .failures = &f->fails,
                        .fail_paths = f->paths,
                        .ranks = 1,
                        .per_rank = &f->rank,
                        .elapsed_s = 1,
                        .complete = 1,
                        .stop_reason = "stopped",
                        .exit_code = 3,
                        .pipeline = "resize 32",
                        .format = "png",
                        .input = "in",
                        .outdir = "out",
                        .warnings = f->warnings,
                        .n_warnings = 2,
                        .command_line = "prepix run -i in -o out",
                        .date = 1700000000};
}

static char *render(const ppx_report *r, int (*fn)(const ppx_report *, ppx_buf *))
{
    ppx_buf b;
    ppx_buf_init(&b);
    if (fn(r, &b) || ppx_buf_append(&b, "", 1)) {
        ppx_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.data; /* ppx_buf's data is malloc'd: the caller frees it */
}

static int json_always_keys(void)
{
    fixture f;
    fixture_init(&f);
    char *j = render(&f.r, ppx_report_json);
    CHECK(j);
    /* A complete run has an empty stop_reason whatever the caller left in it. */
    CHECK(strstr(j, "\"complete\":true,\"stop_reason\":\"\","));
    CHECK(strstr(j, "\"warnings\":[\"listing changed: \\\"a\\\" <b>\\n\",\"second\"]"));
    CHECK(strstr(j, "\"command_line\":\"prepix run -i in -o out\""));
    free(j);

    f.r.complete = 0;
    f.r.n_warnings = 0;
    f.r.warnings = NULL;
    f.r.command_line = NULL;
    j = render(&f.r, ppx_report_json);
    CHECK(j);
    CHECK(strstr(j, "\"complete\":false,\"stop_reason\":\"stopped\","));
    CHECK(strstr(j, "\"warnings\":[]"));
    CHECK(!strstr(j, "command_line"));
    CHECK(strstr(j, "\"outdir\":\"out\""));
    free(j);

    /* prepix stats has no OUTDIR: the key is there, null, as docs/formats.md says. */
    f.r.outdir = NULL;
    j = render(&f.r, ppx_report_json);
    CHECK(j);
    CHECK(strstr(j, "\"input\":\"in\",\"outdir\":null,"));
    free(j);
    ppx_failures_destroy(&f.fails);
    return 0;
}

static char *summary(const ppx_report *r, const char *path)
{
    char *s = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&s, &n);
    if (!m)
        return NULL;
    ppx_report_summary(r, path, m);
    fclose(m);
    return s;
}

static int summary_lines(void)
{
    fixture f;
    fixture_init(&f);
    char *s = summary(&f.r, "out/prepix-report.json");
    CHECK(s);
    /* Escaped as in the JSON: a warning may quote a file name. */
    CHECK(strstr(s, "\nprepix: warning: listing changed: \\\"a\\\" <b>\\n\n"));
    CHECK(strstr(s, "\nprepix: warning: second\n"));
    CHECK(strstr(s, "\nprepix: report: out/prepix-report.json\n"));
    free(s);
    f.r.report_failed = 1;
    s = summary(&f.r, "out/prepix-report.json");
    CHECK(s);
    CHECK(!strstr(s, "report: "));
    CHECK(strstr(s, "prepix: warning: second\n"));
    free(s);
    ppx_failures_destroy(&f.fails);
    return 0;
}

static int html_escaped(void)
{
    fixture f;
    fixture_init(&f);
    char *h = render(&f.r, ppx_report_html);
    CHECK(h);
    /* Hostile strings are text: no tag of theirs, control and non-UTF-8 bytes shown. */
    CHECK(!strstr(h, "<script"));
    CHECK(!strstr(h, "<b>"));
    CHECK(!strstr(h, "<1>"));
    CHECK(strstr(h, "in/&lt;script&gt;alert(1)&lt;/script&gt;\\x01\\xff&amp;.jpg"));
    CHECK(strstr(h, "cut &lt;short&gt; &amp; &quot;early&quot;"));
    CHECK(strstr(h, "listing changed: &quot;a&quot; &lt;b&gt;\\x0a"));
    CHECK(strstr(h, "node&lt;1&gt;"));
    CHECK(strstr(h, "prepix run -i in -o out"));
    CHECK(!strstr(h, "http:") && !strstr(h, "https:"));
    /* Bands by name, and the 16-bit group on its own axis. */
    CHECK(strstr(h, "id=\"group-3ch-8bit\""));
    CHECK(strstr(h, "<title>G</title>"));
    const char *g16 = strstr(h, "id=\"group-1ch-16bit\"");
    CHECK(g16);
    CHECK(strstr(g16, ">65535</text>"));
    CHECK(!strstr(g16, ">255</text>"));
    /* Warnings before the statistics. */
    const char *w = strstr(h, "Warnings (2)");
    CHECK(w && w < strstr(h, "id=\"channels\""));
    free(h);
    ppx_failures_destroy(&f.fails);
    return 0;
}

/* Shards and classes: in the JSON and the HTML when listed (class names are folder names,
 * untrusted: escaped), a note in the HTML when the run stopped before they were, nothing for a
 * run that writes no shards. */
static int report_shards(void)
{
    fixture f;
    fixture_init(&f);
    const ppx_report_shard shards[2] = {{"shard-000000.tar", 3}, {"shard-000001.tar", 0}};
    const ppx_report_class classes[3] = {{-1, NULL, 1}, {0, "<b>cats</b>", 2}, {1, "dogs", 0}};
    f.r.shards_state = PPX_REPORT_SHARDS_LISTED;
    f.r.shards = shards;
    f.r.n_shards = 2;
    f.r.classes = classes;
    f.r.n_classes = 3;
    char *j = render(&f.r, ppx_report_json);
    CHECK(j);
    CHECK(strstr(j, "\"shards\":[{\"file\":\"shard-000000.tar\",\"images\":3},"
                    "{\"file\":\"shard-000001.tar\",\"images\":0}]"));
    CHECK(strstr(j, "\"classes\":[{\"label\":-1,\"name\":null,\"images\":1},"
                    "{\"label\":0,\"name\":\"<b>cats</b>\",\"images\":2},"
                    "{\"label\":1,\"name\":\"dogs\",\"images\":0}]"));
    free(j);
    char *h = render(&f.r, ppx_report_html);
    CHECK(h);
    CHECK(strstr(h, "id=\"shards\"") && strstr(h, "id=\"classes\""));
    CHECK(strstr(h, ">shard-000001.tar<"));
    CHECK(strstr(h, "&lt;b&gt;cats&lt;/b&gt;") && !strstr(h, "<b>cats"));
    free(h);

    f.r.shards_state = PPX_REPORT_SHARDS_UNLISTED;
    j = render(&f.r, ppx_report_json);
    CHECK(j);
    CHECK(!strstr(j, "\"shards\"") && !strstr(j, "\"classes\""));
    free(j);
    h = render(&f.r, ppx_report_html);
    CHECK(h);
    CHECK(strstr(h, "id=\"shards\"") && strstr(h, "--resume"));
    CHECK(!strstr(h, "shard-000000.tar") && !strstr(h, "cats"));
    free(h);

    f.r.shards_state = PPX_REPORT_NO_SHARDS;
    h = render(&f.r, ppx_report_html);
    CHECK(h);
    CHECK(!strstr(h, "id=\"shards\"") && !strstr(h, "id=\"classes\""));
    free(h);
    ppx_failures_destroy(&f.fails);
    return 0;
}

PPX_TEST_MAIN(TEST(json_always_keys), TEST(summary_lines), TEST(html_escaped), TEST(report_shards))
