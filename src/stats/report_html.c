/* The HTML report: one file, no network references, inline SVG plots. */
#include <stdio.h>
#include <string.h>

#include "prepix/error.h"
#include "stats/report.h"

typedef struct {
    ppx_buf *out;
    int failed;
} html;

#define put(h, ...)                                                                                \
    do {                                                                                           \
        if (ppx_buf_printf((h)->out, __VA_ARGS__))                                                 \
            (h)->failed = 1;                                                                       \
    } while (0)

/* Text with <, >, &, quotes escaped; bytes that are not printable ASCII or
 * UTF-8 pass through as they are (the page declares UTF-8). */
static void text(html *h, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                        : *s == '"' ? "&quot;" : NULL;
        if (e ? ppx_buf_append(h->out, e, strlen(e)) : ppx_buf_append(h->out, s, 1))
            h->failed = 1;
    }
}

static void histogram_svg(html *h, const ppx_group_stats *g, unsigned ch)
{
    static const char *const colours[4][4] = {{"#444"},
                                              {"#444", "#999"},
                                              {"#d33", "#3a3", "#36d"},
                                              {"#d33", "#3a3", "#36d", "#999"}};
    uint64_t mx = 1;
    for (unsigned b = 0; b < ch; b++)
        for (int v = 0; v < 256; v++)
            if (g->hist[b][v] > mx)
                mx = g->hist[b][v];
    put(h, "<svg width=\"520\" height=\"170\" viewBox=\"0 0 520 170\" role=\"img\">"
           "<rect x=\"0\" y=\"0\" width=\"520\" height=\"170\" fill=\"#fafafa\"/>");
    for (unsigned b = 0; b < ch; b++) {
        put(h, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1\" points=\"",
            colours[ch - 1][b]);
        for (int v = 0; v < 256; v++)
            put(h, "%d,%.1f ", 4 + v * 2, 160.0 - 150.0 * (double)g->hist[b][v] / (double)mx);
        put(h, "\"/>");
    }
    put(h, "<text x=\"4\" y=\"168\" font-size=\"9\">0</text>"
           "<text x=\"500\" y=\"168\" font-size=\"9\">255</text></svg>\n");
}

int ppx_report_html(const ppx_report *r, ppx_buf *out)
{
    html h = {out, 0};
    const ppx_stats *s = r->stats;
    put(&h, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>prepix report</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
            "font-size:90%%;text-align:left}</style></head><body>\n<h1>prepix report</h1>\n");
    put(&h, "<p>Input <code>");
    text(&h, r->input);
    put(&h, "</code>, pipeline <code>");
    text(&h, r->pipeline[0] ? r->pipeline : "(none)");
    put(&h, "</code>, format %s.</p>\n", r->format);
    put(&h,
        "<table><tr><th>images</th><th>ok</th><th>failed</th><th>skipped</th><th>resumed</th>"
        "<th>seconds</th><th>exit code</th></tr><tr><td>%llu</td><td>%llu</td><td>%llu</td>"
        "<td>%llu</td><td>%llu</td><td>%.2f</td><td>%d%s</td></tr></table>\n",
        (unsigned long long)s->total, (unsigned long long)s->ok, (unsigned long long)s->failed,
        (unsigned long long)r->skipped, (unsigned long long)r->resumed_images, r->elapsed_s,
        r->exit_code, r->complete ? "" : " (stopped early: run again with --resume)");

    put(&h, "<h2>Channel statistics</h2>\n");
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!g->images)
            continue;
        unsigned ch = (unsigned)(gi % 4) + 1, bits = gi >= 4 ? 16 : 8;
        put(&h, "<h3>%u channel%s, %u-bit: %llu images</h3>\n<table><tr><th>band</th>"
                "<th>mean</th><th>std</th><th>min</th><th>max</th></tr>",
            ch, ch > 1 ? "s" : "", bits, (unsigned long long)g->images);
        for (unsigned b = 0; b < ch; b++) {
            double m, sd;
            ppx_group_mean_std(g, bits, (int)b, &m, &sd);
            put(&h, "<tr><td>%u</td><td>%.6f</td><td>%.6f</td><td>%u</td><td>%u</td></tr>", b, m,
                sd, g->min[b], g->max[b]);
        }
        put(&h, "</table>\n");
        histogram_svg(&h, g, ch);
    }

    put(&h, "<h2>Input sizes</h2>\n");
    if (s->sized) {
        double mw = (double)s->w_sum / (double)s->sized, mh = (double)s->h_sum / (double)s->sized;
        double scale = 480.0 / (double)(s->w_max > s->h_max ? s->w_max : s->h_max);
        put(&h, "<svg width=\"520\" height=\"80\" viewBox=\"0 0 520 80\" role=\"img\">");
        const char *names[2] = {"width", "height"};
        uint64_t mn[2] = {s->w_min, s->h_min}, mxx[2] = {s->w_max, s->h_max};
        double mean[2] = {mw, mh};
        for (int i = 0; i < 2; i++) {
            int y = 10 + i * 35;
            put(&h, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"#9bd\"/>"
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#036\" "
                    "stroke-width=\"2\"/><text x=\"4\" y=\"%d\" font-size=\"10\">%s %llu..%llu, "
                    "mean %.0f</text>",
                20 + mn[i] * scale, y, (double)(mxx[i] - mn[i]) * scale + 1, 20 + mean[i] * scale,
                20 + mean[i] * scale, y - 2, y + 16, y + 26, names[i],
                (unsigned long long)mn[i], (unsigned long long)mxx[i], mean[i]);
        }
        put(&h, "</svg>\n");
    }

    put(&h, "<h2>Ranks</h2>\n<table><tr><th>rank</th><th>host</th><th>workers</th>"
            "<th>images</th><th>failed</th><th>busy s</th><th>images/s</th><th></th></tr>");
    double best = 0;
    for (int i = 0; i < r->ranks; i++) {
        double ips = r->per_rank[i].elapsed_s > 0
                         ? (double)r->per_rank[i].images / r->per_rank[i].elapsed_s : 0;
        if (ips > best)
            best = ips;
    }
    for (int i = 0; i < r->ranks; i++) {
        const ppx_rank_info *p = &r->per_rank[i];
        double ips = p->elapsed_s > 0 ? (double)p->images / p->elapsed_s : 0;
        put(&h, "<tr><td>%d</td><td>", p->rank);
        text(&h, p->host);
        put(&h, "</td><td>%d</td><td>%llu</td><td>%llu</td><td>%.2f</td><td>%.1f</td><td>"
                "<svg width=\"200\" height=\"10\"><rect width=\"%.1f\" height=\"10\" "
                "fill=\"#6a6\"/></svg></td></tr>",
            p->workers, (unsigned long long)p->images, (unsigned long long)p->failed, p->busy_s,
            ips, best > 0 ? 200.0 * ips / best : 0.0);
    }
    put(&h, "</table>\n<h2>Failures (%zu)</h2>\n<table><tr><th>path</th><th>stage</th>"
            "<th>code</th><th>reason</th></tr>",
        r->failures->n);
    for (size_t i = 0; i < r->failures->n; i++) {
        const ppx_failure *f = &r->failures->v[i];
        put(&h, "<tr><td>");
        text(&h, r->fail_paths[i]);
        put(&h, "</td><td>%s</td><td>%s</td><td>", ppx_stage_name(f->stage),
            ppx_err_name(f->code));
        text(&h, f->msg);
        put(&h, "</td></tr>");
    }
    put(&h, "</table>\n</body></html>\n");
    return h.failed ? PPX_ENOMEM : 0;
}
