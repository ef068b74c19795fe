/* The HTML report: one page a person reads instead of the JSON. It is self-contained (inline
 * CSS and SVG, system fonts, no script, no network reference), so it can be mailed or opened
 * from a cluster's scratch space, and every string taken from the run is escaped: file names
 * are untrusted bytes. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "prepix/error.h"
#include "stats/report.h"

/* Rows of the failure table; the JSON report lists every failure. Past a few thousand rows
 * the page stops being read and only grows (a 5% failure rate over a million images would
 * make it some 10 MB). */
#define MAX_FAILURE_ROWS 2000
/* Rows of the shard and class tables, for the same reason: ImageNet in shards of 1000 makes
 * 1,282 shards of 1,000 classes; the JSON lists them all. */
#define MAX_LIST_ROWS 2000

typedef struct {
    ppx_buf *out;
    int failed;
} html;

#define put(h, ...)                                                                                \
    do {                                                                                           \
        if (ppx_buf_printf((h)->out, __VA_ARGS__))                                                 \
            (h)->failed = 1;                                                                       \
    } while (0)

/* Markup taken as it is (no printf: the CSS holds '%'). */
static void raw(html *h, const char *s)
{
    if (ppx_buf_append(h->out, s, strlen(s)))
        h->failed = 1;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF), or 0 if s does not start one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* s as HTML text, safe in element content and in quoted attributes: markup characters become
 * entities; control characters and bytes that are not UTF-8 are shown as \xNN, so that a file
 * name with a newline or a stray Latin-1 byte stays visible and tells its bytes (the JSON
 * report has them exactly). NULL is shown as an empty string. */
static void text(html *h, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const char *e = NULL;
        char hex[8];
        size_t n = 1;
        switch (*p) {
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '&':
            e = "&amp;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            if (*p < 0x20 || *p == 0x7F || (*p >= 0x80 && !(n = utf8_len(p)))) {
                snprintf(hex, sizeof hex, "\\x%02x", *p);
                e = hex;
                n = 1;
            }
        }
        if (e ? ppx_buf_append(h->out, e, strlen(e)) : ppx_buf_append(h->out, p, n))
            h->failed = 1;
        p += n;
    }
}

/* A count for an axis label: 950, 12k, 3.4M. */
static void compact(char *b, size_t n, double v)
{
    static const char *const suffix[] = {"", "k", "M", "G", "T", "P"};
    int i = 0;
    while (v >= 1000 && i < 5) {
        v /= 1000;
        i++;
    }
    snprintf(b, n, v < 10 && i > 0 && v != floor(v) ? "%.1f%s" : "%.0f%s", v, suffix[i]);
}

static const char *group_kind(unsigned ch)
{
    static const char *const kinds[4] = {"gray", "gray + alpha", "RGB", "RGBA"};
    return kinds[ch - 1];
}

/* Alpha in a hue of its own, dashed: a second gray (as it was) is hard to tell from the first,
 * and a dashed line never hides the curve it crosses. */
static const char *band_colour(unsigned ch, unsigned b)
{
    static const char *const colours[4][4] = {{"#57606a"},
                                              {"#57606a", "#8250df"},
                                              {"#d1242f", "#1a7f37", "#0969da"},
                                              {"#d1242f", "#1a7f37", "#0969da", "#8250df"}};
    return colours[ch - 1][b];
}

static const char *band_dash(unsigned ch, unsigned b)
{
    return (ch == 2 || ch == 4) && b == ch - 1 ? " stroke-dasharray=\"4 3\"" : "";
}

/* What a band is, in words, for the legend. */
static const char *band_meaning(unsigned ch, unsigned b)
{
    static const char *const meanings[4][4] = {
        {"gray"}, {"gray", "alpha"}, {"red", "green", "blue"}, {"red", "green", "blue", "alpha"}};
    return meanings[ch - 1][b];
}

enum { PLOT_W = 520, PLOT_H = 210, PAD_L = 46, PAD_R = 12, PAD_T = 12, PAD_B = 40 };
/* The curves keep this far from the area's left and right edges, so that the bins of 0 and
 * 255, where clipped values and alpha pile up, never lie on its border. */
#define INSET 7.0
/* Count labels are 11 px high: one closer than this to the label below it is left out. */
#define LABEL_GAP 12.0

/* One histogram's frame: the area in SVG units and the count at its top edge (log: of
 * log10(1 + count)). */
typedef struct {
    double x0, y0, w, ht, top;
    int log;
} plot;

static double bin_x(const plot *p, int v)
{
    return p->x0 + INSET + (p->w - 2 * INSET) * (v + 0.5) / 256.0;
}

/* Counts past the top are drawn at the top edge. */
static double count_y(const plot *p, double c)
{
    double f = (p->log ? log10(1.0 + c) : c) / p->top;
    return p->y0 + p->ht - p->ht * (f < 1 ? f : 1);
}

/* The grid line of count c and its label, unless the label would touch the one below it
 * (at *last_y; updated). On a log axis up to a million, 1 sits 8 px above 0. */
static void count_tick(html *h, const plot *p, double c, double *last_y)
{
    char lab[32];
    double y = count_y(p, c);
    put(h, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", p->x0,
        p->x0 + p->w, y, y);
    if (*last_y - y < LABEL_GAP)
        return;
    compact(lab, sizeof lab, c);
    put(h, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" class=\"ylab\">%s</text>", p->x0 - 5,
        y + 4, lab);
    *last_y = y;
}

/* A round step for a linear axis up to mx: 1, 2 or 5 times a power of ten, 4 to 10 of them. */
static double linear_step(double mx)
{
    double step = pow(10, floor(log10(mx / 4)));
    if (mx / step > 20)
        step *= 5;
    else if (mx / step > 8)
        step *= 2;
    return step < 1 ? 1 : step; /* counts are whole */
}

/* The count axis, bottom up from 0: decades on a log axis (1, 2, 5 times them below 100, so
 * that an axis up to 6 has labels above 1), round steps up to the top on a linear one. */
static void count_axis(html *h, const plot *p, double mx, double step)
{
    double last_y = p->y0 + p->ht;
    put(h, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" class=\"ylab\">0</text>", p->x0 - 5,
        last_y + 4);
    if (p->log) {
        static const double fine[] = {1, 2, 5, 10, 20, 50};
        if (mx < 100)
            for (size_t i = 0; i < sizeof fine / sizeof *fine && fine[i] <= mx; i++)
                count_tick(h, p, fine[i], &last_y);
        else
            for (double d = 1; d <= mx; d *= 10)
                count_tick(h, p, d, &last_y);
    } else {
        for (double c = step; c <= p->top + step / 2; c += step)
            count_tick(h, p, c, &last_y);
    }
}

/* The value axis: five ticks over the group's real range, each at the centre of the bin that
 * holds its value, where the curves put that bin. */
static void value_axis(html *h, const plot *p, unsigned bits)
{
    unsigned maxv = bits == 16 ? 65535 : 255;
    for (int t = 0; t <= 4; t++) {
        unsigned v = t == 4 ? maxv : (maxv + 1) / 4 * (unsigned)t;
        double x = bin_x(p, (int)(v >> (bits - 8)));
        put(h,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" class=\"tick\"/>"
            "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\" class=\"xlab\">%u</text>",
            x, x, p->y0 + p->ht, p->y0 + p->ht + 4, x, p->y0 + p->ht + 16,
            t == 0   ? "start"
            : t == 4 ? "end"
                     : "middle",
            v);
    }
    put(h,
        "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">sample value "
        "(%u-bit, 0&#8211;%u%s)</text>",
        p->x0 + p->w / 2, PLOT_H - 4, bits, maxv, bits == 16 ? ", bins of 256 values" : "");
}

/* Marks each end bin (0, 255) that rises past the top of a linear axis with its band and
 * count, inside the area next to its spike, one line per band; returns how many. */
static int clip_marks(html *h, const plot *p, const ppx_group_stats *g, unsigned ch, unsigned bits)
{
    int marks = 0;
    for (int end = 0; end < 256; end += 255) {
        int k = 0;
        for (unsigned b = 0; b < ch; b++) {
            uint64_t c = g->hist[b][end];
            if ((double)c <= p->top)
                continue;
            char lab[32];
            unsigned lo = (unsigned)end << (bits - 8), hi = lo + (bits == 16 ? 255 : 0);
            compact(lab, sizeof lab, (double)c);
            put(h,
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\" class=\"clip\" style=\"fill:%s\">"
                "%s%s %s%s<title>%s: %llu samples at %u",
                bin_x(p, end) + (end ? -5 : 5), p->y0 + 12 + 12 * k, end ? "end" : "start",
                band_colour(ch, b), end ? "" : "&#8593; ", ppx__report_band_name(ch, b), lab,
                end ? " &#8593;" : "", ppx__report_band_name(ch, b), (unsigned long long)c, lo);
            if (hi != lo)
                put(h, "&#8211;%u", hi);
            put(h, ", above the top of the axis</title></text>");
            k++;
            marks++;
        }
    }
    return marks;
}

/* One histogram of every band of a group, on a log or a linear count axis; returns the
 * number of end bins marked as past the top. The x axis is labelled with the group's real
 * sample values: a 16-bit group's 256 bins each hold 256 values (the report bins 16-bit
 * samples by their high byte). A linear axis is scaled to the bins between the end bins:
 * clipped values and alpha pile up at 0 and 255, and a spike there would flatten the rest to
 * the floor; a taller end bin is drawn to the top edge and marked with its count. */
static int histogram_svg(html *h, const ppx_group_stats *g, unsigned ch, unsigned bits, int log)
{
    plot p = {PAD_L, PAD_T, PLOT_W - PAD_L - PAD_R, PLOT_H - PAD_T - PAD_B, 0, log};
    uint64_t mx = 1, inner = 0;
    for (unsigned b = 0; b < ch; b++)
        for (int v = 0; v < 256; v++) {
            if (g->hist[b][v] > mx)
                mx = g->hist[b][v];
            if (v > 0 && v < 255 && g->hist[b][v] > inner)
                inner = g->hist[b][v];
        }
    double step = 0;
    if (log) {
        p.top = log10(1.0 + (double)mx); /* log1p keeps empty bins on the axis, 1 above it */
    } else {
        double m = (double)(inner ? inner : mx);
        step = linear_step(m);
        p.top = ceil(m / step) * step;
    }
    put(h,
        "<svg class=\"hist\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
        "aria-label=\"histogram, %s count axis\">",
        PLOT_W, PLOT_H, PLOT_W, PLOT_H, log ? "logarithmic" : "linear");
    put(h, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"area\"/>", p.x0,
        p.y0, p.w, p.ht);
    count_axis(h, &p, (double)mx, step);
    value_axis(h, &p, bits);
    for (unsigned b = 0; b < ch; b++) {
        put(h, "<polyline class=\"band\" stroke=\"%s\"%s points=\"", band_colour(ch, b),
            band_dash(ch, b));
        for (int v = 0; v < 256; v++)
            put(h, "%.1f,%.1f ", bin_x(&p, v), count_y(&p, (double)g->hist[b][v]));
        put(h, "\"><title>%s</title></polyline>", ppx__report_band_name(ch, b));
    }
    int marks = log ? 0 : clip_marks(h, &p, g, ch, bits);
    put(h, "</svg>");
    return marks;
}

static void channel_group(html *h, const ppx_group_stats *g, unsigned ch, unsigned bits)
{
    put(h,
        "<section class=\"group\" id=\"group-%uch-%ubit\"><h3>%s, %u-bit "
        "<span class=\"muted\">&#183; %llu image%s &#183; %llu pixels</span></h3>\n",
        ch, bits, group_kind(ch), bits, (unsigned long long)g->images, g->images == 1 ? "" : "s",
        (unsigned long long)g->pixels);
    put(h, "<table class=\"bands\"><thead><tr><th>band</th><th class=\"n\">mean</th>"
           "<th class=\"n\">std</th><th class=\"n\">min</th><th class=\"n\">max</th></tr>"
           "</thead><tbody>");
    for (unsigned b = 0; b < ch; b++) {
        double m, sd;
        ppx_group_mean_std(g, bits, (int)b, &m, &sd);
        put(h,
            "<tr><td><span class=\"swatch\" style=\"background:%s\"></span>%s</td>"
            "<td class=\"n\">%.4f</td><td class=\"n\">%.4f</td><td class=\"n\">%u</td>"
            "<td class=\"n\">%u</td></tr>",
            band_colour(ch, b), ppx__report_band_name(ch, b), m, sd, g->min[b], g->max[b]);
    }
    char mean[64], std[64];
    ppx__report_normalize(g, ch, bits, mean, std, sizeof mean);
    put(h,
        "</tbody></table>\n<p class=\"norm\">for the pipeline: <code>normalize mean=%s "
        "std=%s</code> <span class=\"muted\">(0..1 scale%s)</span></p>\n",
        mean, std,
        ch == 2 || ch == 4 ? "; colour bands only: npy shards, where normalize runs, drop alpha"
                           : "");
    /* Each band keyed by a stroke drawn as its curve is: colour and dash. */
    put(h, "<div class=\"legend\">");
    for (unsigned b = 0; b < ch; b++)
        put(h,
            "<span class=\"entry\"><svg class=\"key\" width=\"26\" height=\"10\" "
            "aria-hidden=\"true\"><line x1=\"1\" x2=\"25\" y1=\"5\" y2=\"5\" stroke=\"%s\"%s/>"
            "</svg><strong>%s</strong> %s</span>",
            band_colour(ch, b), band_dash(ch, b), ppx__report_band_name(ch, b),
            band_meaning(ch, b));
    put(h, "</div>\n<div class=\"plots\"><figure>");
    histogram_svg(h, g, ch, bits, 1);
    put(h, "<figcaption>pixel count, logarithmic: rare values and the bulk both "
           "show</figcaption></figure><figure>");
    int marks = histogram_svg(h, g, ch, bits, 0);
    put(h,
        "<figcaption>pixel count, linear: how the bulk is spread%s</figcaption></figure>"
        "</div></section>\n",
        marks ? "; scaled to the bins between the end bins, a taller end bin (clipped "
                "values, alpha) is marked &#8593; with its count"
              : "");
}

/* A bar of the table column "share": n against the largest, up to 160 px. */
static void share_bar(html *h, uint64_t n, uint64_t largest)
{
    put(h, "<td><span class=\"bar\" style=\"width:%.1fpx\"></span></td>",
        largest ? 160.0 * (double)n / (double)largest : 0.0);
}

static void more_rows(html *h, size_t n, size_t shown)
{
    if (n > shown)
        put(h, "<p class=\"muted\">&#8230; and %zu more: the JSON report lists all.</p>\n",
            n - shown);
}

/* The shards written, with their images (-f tar, -f npy). A run that did not complete has not
 * written index.csv: its shards are listed by the run that completes it. */
static void shards_section(html *h, const ppx_report *r)
{
    raw(h, "<section id=\"shards\"><h2>Shards</h2>\n");
    if (r->shards_state != PPX_REPORT_SHARDS_LISTED) {
        raw(h, "<p class=\"muted\">Listed when the run completes, with <code>index.csv</code> "
               "and <code>classes.txt</code>: run again with --resume to finish it.</p>"
               "</section>\n");
        return;
    }
    uint64_t images = 0, largest = 0;
    for (size_t i = 0; i < r->n_shards; i++) {
        images += r->shards[i].images;
        largest = r->shards[i].images > largest ? r->shards[i].images : largest;
    }
    put(h,
        "<p>%zu shard%s in the output folder, holding %llu image%s; <code>index.csv</code> "
        "maps each key to its shard and input path, <code>classes.txt</code> names the "
        "labels.</p>\n<div class=\"scroll\"><table><thead><tr><th>file</th>"
        "<th class=\"n\">images</th><th>share</th></tr></thead><tbody>",
        r->n_shards, r->n_shards == 1 ? "" : "s", (unsigned long long)images,
        images == 1 ? "" : "s");
    size_t show = r->n_shards < MAX_LIST_ROWS ? r->n_shards : MAX_LIST_ROWS;
    for (size_t i = 0; i < show; i++) {
        raw(h, "<tr><td class=\"path\">");
        text(h, r->shards[i].file);
        put(h, "</td><td class=\"n\">%llu</td>", (unsigned long long)r->shards[i].images);
        share_bar(h, r->shards[i].images, largest);
        raw(h, "</tr>");
    }
    raw(h, "</tbody></table></div>\n");
    more_rows(h, r->n_shards, show);
    raw(h, "</section>\n");
}

/* The images of each label in the shards; class names are folder names: escaped. */
static void classes_section(html *h, const ppx_report *r)
{
    uint64_t largest = 0;
    for (size_t i = 0; i < r->n_classes; i++)
        largest = r->classes[i].images > largest ? r->classes[i].images : largest;
    put(h,
        "<section id=\"classes\"><h2>Classes (%zu)</h2>\n<p class=\"muted\">The label of "
        "each image in the shards: the line of <code>classes.txt</code> (from 0) of its first "
        "folder, -1 for an image at the top of INPUT, or its sample's <code>.cls</code> value."
        "</p>\n<div class=\"scroll\"><table><thead><tr><th class=\"n\">label</th>"
        "<th>class</th><th class=\"n\">images</th><th>share</th></tr></thead><tbody>",
        r->n_classes);
    size_t show = r->n_classes < MAX_LIST_ROWS ? r->n_classes : MAX_LIST_ROWS;
    for (size_t i = 0; i < show; i++) {
        const ppx_report_class *c = &r->classes[i];
        put(h, "<tr><td class=\"n\">%lld</td><td>", (long long)c->label);
        if (c->name)
            text(h, c->name);
        else
            raw(h, "<span class=\"muted\">&#8212;</span>");
        put(h, "</td><td class=\"n\">%llu</td>", (unsigned long long)c->images);
        share_bar(h, c->images, largest);
        raw(h, "</tr>");
    }
    raw(h, "</tbody></table></div>\n");
    more_rows(h, r->n_classes, show);
    raw(h, "</section>\n");
}

/* The largest groups of duplicates with a thumbnail of their first members (data: URIs
 * made by rank 0: the page stays self-contained), a placeholder where none could be made. */
static void duplicates_section(html *h, const ppx_dup_report *d)
{
    const ppx_dups *x = d->dups;
    put(h,
        "<section id=\"duplicates\"><h2>Duplicates</h2>\n<p>%zu exact groups, %zu near groups "
        "(phash within %d bits); a deduplicated set drops %zu images.",
        x->n_exact, x->n_near, d->distance, x->n_drop);
    if (d->n_splits)
        put(h, " Leaks between splits: %zu.", d->n_leaks);
    raw(h, "</p>\n");
    if (d->n_shown)
        put(h,
            "<p class=\"muted\">The %zu largest groups, at most %d images each; the JSON "
            "report lists them all.</p>\n",
            d->n_shown, PPX_THUMB_MEMBERS);
    for (size_t g = 0; g < d->n_shown; g++) {
        const ppx_dup_group *grp =
            d->shown[g].near ? &x->near[d->shown[g].group] : &x->exact[d->shown[g].group];
        put(h, "<div class=\"dupgroup\"><h3>%s group of %zu</h3><div class=\"thumbs\">",
            d->shown[g].near ? "Near" : "Exact", grp->n);
        size_t show = grp->n < PPX_THUMB_MEMBERS ? grp->n : PPX_THUMB_MEMBERS;
        for (size_t k = 0; k < show; k++) {
            size_t pos = x->members[grp->first + k];
            const char *t = d->thumbs ? d->thumbs[pos] : NULL;
            raw(h, "<figure class=\"thumb\">");
            if (t && strncmp(t, "data:image/jpeg;base64,", 23) == 0 &&
                strspn(t + 23,
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
                    strlen(t + 23)) {
                raw(h, "<img alt=\"\" src=\"");
                raw(h, t);
                raw(h, "\">");
            } else {
                raw(h, "<div class=\"ph\" title=\"could not be read again\">?</div>");
            }
            put(h, "<figcaption>%s", k == 0 ? "<b>kept</b> " : "");
            text(h, d->paths[pos] ? d->paths[pos] : "?");
            raw(h, "</figcaption></figure>");
        }
        raw(h, "</div></div>\n");
    }
    raw(h, "</section>\n");
}

static const char *exit_meaning(int code)
{
    switch (code) {
    case 0:
        return "every image was processed";
    case 1:
        return "fatal: the run could not go on";
    case 3:
        return "finished, but some images failed";
    case 4:
        return "stopped early: run again with --resume";
    default:
        return "";
    }
}

static void meta_row(html *h, const char *key, const char *value, int code)
{
    put(h, "<dt>%s</dt><dd>%s", key, code ? "<code>" : "");
    text(h, value);
    put(h, "%s</dd>", code ? "</code>" : "");
}

static void card(html *h, const char *cls, const char *key, const char *value)
{
    put(h, "<div class=\"card%s%s\"><div class=\"v\">%s</div><div class=\"k\">%s</div></div>",
        cls[0] ? " " : "", cls, value, key);
}

static const char css[] =
    ":root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--panel:#f6f8fa;--ok:#1a7f37;"
    "--bad:#cf222e;--warn:#9a6700}"
    "*{box-sizing:border-box}"
    "body{margin:0;color:var(--fg);background:#fff;font:15px/1.55 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "main{max-width:72rem;margin:0 auto;padding:2rem 1.5rem 3rem}"
    "header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.5rem 1rem}"
    "h1{font-size:1.7rem;margin:0}"
    "h2{font-size:1.2rem;margin:2.5rem 0 .8rem;padding-bottom:.3rem;"
    "border-bottom:1px solid var(--line)}"
    "h3{font-size:1.05rem;margin:1.8rem 0 .6rem}"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',"
    "monospace;font-size:.88em;overflow-wrap:anywhere}"
    ".muted{color:var(--muted);font-weight:normal}"
    ".badge{display:inline-block;padding:.1rem .7rem;border-radius:1rem;font-weight:600;"
    "font-size:.85rem}"
    ".badge.ok{background:#dafbe1;color:var(--ok)}"
    ".badge.bad{background:#ffebe9;color:var(--bad)}"
    ".badge.warn{background:#fff8c5;color:var(--warn)}"
    "#warnings .box{background:#fff8c5;border:1px solid #e6c35c;border-left:6px solid #d4a72c;"
    "border-radius:6px;padding:.7rem 1rem;margin:1rem 0}"
    "#warnings .box ul{margin:.3rem 0 0;padding-left:1.3rem}"
    "#warnings h2{border:0;margin:0;font-size:1rem;color:var(--warn)}"
    "#warnings p.none{color:var(--muted);margin:.8rem 0}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));"
    "gap:.75rem;margin:1.2rem 0}"
    ".card{background:var(--panel);border:1px solid var(--line);border-radius:8px;"
    "padding:.6rem .9rem}"
    ".card .v{font-size:1.45rem;font-weight:600;font-variant-numeric:tabular-nums}"
    ".card .k{color:var(--muted);font-size:.78rem;text-transform:uppercase;"
    "letter-spacing:.05em}"
    ".card.ok .v{color:var(--ok)}.card.bad .v{color:var(--bad)}"
    "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.2rem;margin:0}"
    "dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;"
    "margin:.4rem 0}"
    "th,td{padding:.35rem .7rem;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:baseline}"
    "th{font-size:.76rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);"
    "font-weight:600}"
    "th.n,td.n{text-align:right}"
    "table.bands{width:auto;min-width:min(28rem,100%)}"
    "td.path{overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:.88em}"
    ".swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.45em;"
    "vertical-align:-.05em}"
    ".legend{display:flex;flex-wrap:wrap;gap:1.2rem;font-size:.9rem;margin:.8rem 0 .3rem}"
    ".legend svg.key{display:inline-block;vertical-align:middle;margin-right:.4em}"
    ".legend svg.key line{stroke-width:2.5}"
    ".plots{display:flex;flex-wrap:wrap;gap:1.2rem}"
    "figure{margin:0;max-width:520px}"
    "figcaption{font-size:.8rem;color:var(--muted);margin-top:.2rem}"
    "svg{max-width:100%;height:auto;display:block}"
    "svg text{font:11px system-ui,sans-serif;fill:#656d76}"
    "svg .axis{font-size:12px}"
    "svg .area{fill:#fbfcfd;stroke:#d8dee4}"
    "svg .grid{stroke:#eaeef2}svg .tick{stroke:#8c959f}"
    "svg .band{fill:none;stroke-width:1.6;stroke-linejoin:round;opacity:.9}"
    ".bar{display:inline-block;height:.7rem;border-radius:2px;background:#54aeff;"
    "vertical-align:middle}"
    "p.norm{margin:.4rem 0}"
    ".scroll{overflow-x:auto}"
    ".thumbs{display:flex;flex-wrap:wrap;gap:.6rem}"
    "figure.thumb{width:96px}figure.thumb img,.ph{width:64px;height:64px;object-fit:contain;"
    "display:block;background:var(--panel);border:1px solid var(--line)}"
    ".ph{text-align:center;line-height:64px;color:var(--muted)}"
    "figure.thumb figcaption{overflow-wrap:anywhere;font-size:.7rem}"
    "footer{margin-top:3rem;color:var(--muted);font-size:.8rem}"
    /* A phone's width: less margin, so the plots (scaled to fit) keep legible text. */
    "@media (max-width:40rem){main{padding:1rem .75rem 2rem}th,td{padding:.3rem .45rem}}"
    "@media print{main{max-width:none;padding:0}}";

static void head_section(html *h, const ppx_report *r, const char *date)
{
    const ppx_stats *s = r->stats;
    raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
           /* The browser itself then refuses any script or fetch, should a string ever
            * slip through unescaped. */
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'");
    /* Thumbnails of duplicates are data: URIs, never fetched. */
    if (r->dups && r->dups->n_shown)
        raw(h, "; img-src data:");
    raw(h, "\"><title>prepix report: ");
    text(h, r->input);
    raw(h, "</title><style>");
    raw(h, css);
    raw(h, "</style></head><body><main>\n<header><h1>prepix report</h1>");
    if (r->complete)
        put(h, "<span class=\"badge %s\" id=\"status\">%s</span>", s->failed ? "warn" : "ok",
            s->failed ? "complete, with failures" : "complete");
    else {
        raw(h, "<span class=\"badge bad\" id=\"status\">stopped early: ");
        text(h, r->stop_reason);
        raw(h, "</span>");
    }
    put(h, "<span class=\"muted\">exit code %d &#183; %s</span></header>\n", r->exit_code, date);
}

static void warnings_section(html *h, const ppx_report *r)
{
    /* Warnings come first: they are what a person would otherwise miss. */
    raw(h, "<section id=\"warnings\">");
    if (r->n_warnings) {
        put(h, "<div class=\"box\"><h2>Warnings (%zu)</h2><ul>", r->n_warnings);
        for (size_t i = 0; i < r->n_warnings; i++) {
            raw(h, "<li>");
            text(h, r->warnings[i]);
            raw(h, "</li>");
        }
        raw(h, "</ul></div>");
    } else {
        raw(h, "<p class=\"none\">No warnings.</p>");
    }
    raw(h, "</section>\n");
}

static void summary_section(html *h, const ppx_report *r)
{
    const ppx_stats *s = r->stats;
    char v[64];
    /* The counts at a glance. */
    uint64_t done_now = s->ok + s->failed + s->nodata - r->resumed_images;
    raw(h, "<section id=\"summary\"><div class=\"cards\">");
    snprintf(v, sizeof v, "%llu", (unsigned long long)s->total);
    card(h, "", "images", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)s->ok);
    card(h, "ok", "ok", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)s->failed);
    card(h, s->failed ? "bad" : "", "failed", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)r->skipped);
    card(h, "", "skipped (not images)", v);
    if (r->resumed_images) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)r->resumed_images);
        card(h, "", "resumed", v);
    }
    snprintf(v, sizeof v, "%.2f s", r->elapsed_s);
    card(h, "", "elapsed", v);
    snprintf(v, sizeof v, "%.1f", r->elapsed_s > 0 ? (double)done_now / r->elapsed_s : 0.0);
    card(h, "", "images / s", v);
    snprintf(v, sizeof v, "%.1f MB", (double)s->bytes_read / 1e6);
    card(h, "", "read", v);
    snprintf(v, sizeof v, "%.1f MB", (double)s->bytes_written / 1e6);
    card(h, "", "written", v);
    raw(h, "</div></section>\n");
}

static void run_section(html *h, const ppx_report *r, const char *date)
{
    /* What was asked and how it ended. */
    raw(h, "<section id=\"run\"><h2>Run</h2><dl class=\"meta\">");
    meta_row(h, "status", r->complete ? "complete" : "stopped early", 0);
    if (!r->complete)
        meta_row(h, "stop reason", r->stop_reason, 0);
    put(h, "<dt>exit code</dt><dd>%d <span class=\"muted\">%s</span></dd>", r->exit_code,
        exit_meaning(r->exit_code));
    meta_row(h, "command line", r->command_line ? r->command_line : "(not recorded)",
             r->command_line != NULL);
    meta_row(h, "input", r->input, 1);
    meta_row(h, "output folder", r->outdir ? r->outdir : "(none)", r->outdir != NULL);
    meta_row(h, "pipeline", r->pipeline && r->pipeline[0] ? r->pipeline : "(none)", 1);
    meta_row(h, "format", r->format, 1);
    int workers = 0;
    for (int i = 0; i < r->ranks; i++)
        workers += r->per_rank[i].workers;
    put(h, "<dt>ranks</dt><dd>%d rank%s, %d worker%s</dd>", r->ranks, r->ranks == 1 ? "" : "s",
        workers, workers == 1 ? "" : "s");
    meta_row(h, "prepix version", PPX_VERSION, 0);
    meta_row(h, "report date", date, 0);
    raw(h, "</dl></section>\n");
}

static void channels_section(html *h, const ppx_stats *s)
{
    raw(h, "<section id=\"channels\"><h2>Channel statistics</h2>\n");
    int groups = 0;
    for (int gi = 0; gi < PPX_STATS_GROUPS; gi++) {
        const ppx_group_stats *g = &s->group[gi];
        if (!g->images)
            continue;
        channel_group(h, g, (unsigned)(gi % 4) + 1, gi >= 4 ? 16 : 8);
        groups++;
    }
    if (!groups)
        raw(h, "<p class=\"muted\">No image was processed.</p>");
    raw(h, "</section>\n");
}

/* Rasters: a table per sample type (JSON `raster_stats` holds the
 * histograms); written only when rasters were measured. */
static void rasters_section(html *h, const ppx_stats *s)
{
    int any = 0;
    for (int t = 0; t < PPX_RSTATS_TYPES; t++)
        any |= s->raster[t].images != 0;
    if (!any)
        return;
    raw(h, "<section id=\"rasters\"><h2>Raster statistics</h2>\n");
    for (int t = 0; t < PPX_RSTATS_TYPES; t++) {
        const ppx_raster_group *g = &s->raster[t];
        if (!g->images)
            continue;
        put(h,
            "<section class=\"group\"><h3>%s <span class=\"muted\">&#183; %llu image%s "
            "&#183; %llu pixels &#183; %u to %u bands</span></h3>\n",
            ppx_sample_name(ppx_rstats_type(t)), (unsigned long long)g->images,
            g->images == 1 ? "" : "s", (unsigned long long)g->pixels, g->bands_min, g->bands_max);
        put(h, "<table class=\"bands\"><thead><tr><th>band</th><th class=\"n\">count</th>"
               "<th class=\"n\">NaN</th><th class=\"n\">&#177;inf</th><th class=\"n\">mean</th>"
               "<th class=\"n\">std</th><th class=\"n\">min</th><th class=\"n\">max</th>"
               "</tr></thead><tbody>");
        for (unsigned b = 0; b < g->bands_max && b < PPX_RSTATS_BANDS; b++) {
            const ppx_band_stats *bs = &g->band[b];
            double m, sd;
            ppx_xacc_mean_std(&bs->sum, &bs->sumsq, bs->count, &m, &sd);
            put(h,
                "<tr><td>%u</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                "<td class=\"n\">%llu</td><td class=\"n\">%.6g</td><td class=\"n\">%.6g</td>"
                "<td class=\"n\">%.6g</td><td class=\"n\">%.6g</td></tr>",
                b + 1, (unsigned long long)bs->count, (unsigned long long)bs->nan,
                (unsigned long long)(bs->posinf + bs->neginf), m, sd, bs->count ? bs->min : 0,
                bs->count ? bs->max : 0);
        }
        raw(h, "</tbody></table></section>\n");
    }
    raw(h, "</section>\n");
}

static void sizes_section(html *h, const ppx_stats *s)
{
    raw(h, "<section id=\"sizes\"><h2>Input sizes</h2>\n");
    if (s->sized) {
        double mw = (double)s->w_sum / (double)s->sized, mh = (double)s->h_sum / (double)s->sized;
        put(h,
            "<table class=\"bands\"><thead><tr><th></th><th class=\"n\">min</th>"
            "<th class=\"n\">mean</th><th class=\"n\">max</th></tr></thead><tbody>"
            "<tr><td>width</td><td class=\"n\">%llu</td><td class=\"n\">%.0f</td>"
            "<td class=\"n\">%llu</td></tr><tr><td>height</td><td class=\"n\">%llu</td>"
            "<td class=\"n\">%.0f</td><td class=\"n\">%llu</td></tr></tbody></table>\n",
            (unsigned long long)s->w_min, mw, (unsigned long long)s->w_max,
            (unsigned long long)s->h_min, mh, (unsigned long long)s->h_max);
        /* Each range as a bar from min to max with the mean marked, on one pixel scale. */
        uint64_t big = s->w_max > s->h_max ? s->w_max : s->h_max;
        double scale = 440.0 / (double)(big ? big : 1);
        const char *names[2] = {"width", "height"};
        uint64_t mn[2] = {s->w_min, s->h_min}, mxx[2] = {s->w_max, s->h_max};
        double mean[2] = {mw, mh};
        put(h,
            "<svg width=\"%d\" height=\"84\" viewBox=\"0 0 %d 84\" role=\"img\" "
            "aria-label=\"input size ranges\">",
            PLOT_W, PLOT_W);
        for (int i = 0; i < 2; i++) {
            int y = 8 + i * 30;
            put(h,
                "<text x=\"0\" y=\"%d\">%s</text><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                "height=\"14\" rx=\"2\" fill=\"#9ecbff\"/><line x1=\"%.1f\" x2=\"%.1f\" "
                "y1=\"%d\" y2=\"%d\" stroke=\"#0550ae\" stroke-width=\"2\"/>",
                y + 11, names[i], 50 + (double)mn[i] * scale, y,
                (double)(mxx[i] - mn[i]) * scale + 1, 50 + mean[i] * scale, 50 + mean[i] * scale,
                y - 2, y + 16);
        }
        put(h,
            "<line x1=\"50\" x2=\"490\" y1=\"70\" y2=\"70\" class=\"tick\"/>"
            "<text x=\"50\" y=\"82\">0</text><text x=\"490\" y=\"82\" text-anchor=\"end\">"
            "%llu px</text></svg>\n",
            (unsigned long long)big);
    } else {
        raw(h, "<p class=\"muted\">No input size is known.</p>");
    }
    raw(h, "</section>\n");
}

static void ranks_section(html *h, const ppx_report *r)
{
    /* Wide tables scroll in a box of their own: the page keeps the window's width. */
    raw(h, "<section id=\"ranks\"><h2>Ranks</h2>\n<div class=\"scroll\"><table><thead><tr>"
           "<th class=\"n\">rank</th>"
           "<th>host</th><th class=\"n\">workers</th><th class=\"n\">images</th>"
           "<th class=\"n\">failed</th><th class=\"n\">busy s</th><th class=\"n\">images/s</th>"
           "<th>throughput</th></tr></thead><tbody>");
    double best = 0;
    for (int i = 0; i < r->ranks; i++) {
        double ips = r->per_rank[i].elapsed_s > 0
                         ? (double)r->per_rank[i].images / r->per_rank[i].elapsed_s
                         : 0;
        if (ips > best)
            best = ips;
    }
    for (int i = 0; i < r->ranks; i++) {
        const ppx_rank_info *p = &r->per_rank[i];
        double ips = p->elapsed_s > 0 ? (double)p->images / p->elapsed_s : 0;
        put(h, "<tr><td class=\"n\">%d</td><td>", p->rank);
        text(h, p->host);
        put(h,
            "</td><td class=\"n\">%d</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
            "<td class=\"n\">%.2f</td><td class=\"n\">%.1f</td><td><span class=\"bar\" "
            "style=\"width:%.1fpx\"></span></td></tr>",
            p->workers, (unsigned long long)p->images, (unsigned long long)p->failed, p->busy_s,
            ips, best > 0 ? 160.0 * ips / best : 0.0);
    }
    raw(h, "</tbody></table></div></section>\n");
}

static void failures_section(html *h, const ppx_report *r)
{
    put(h, "<section id=\"failures\"><h2>Failures (%zu)</h2>\n", r->failures->n);
    if (r->failures->n) {
        raw(h, "<div class=\"scroll\"><table><thead><tr><th>path</th><th>stage</th>"
               "<th>code</th><th>reason</th>"
               "</tr></thead><tbody>");
        size_t show = r->failures->n < MAX_FAILURE_ROWS ? r->failures->n : MAX_FAILURE_ROWS;
        for (size_t i = 0; i < show; i++) {
            const ppx_failure *f = &r->failures->v[i];
            raw(h, "<tr><td class=\"path\">");
            text(h, r->fail_paths[i]);
            put(h, "</td><td>%s</td><td><code>%s</code></td><td>", ppx_stage_name(f->stage),
                ppx_err_name(f->code));
            text(h, f->msg);
            raw(h, "</td></tr>");
        }
        raw(h, "</tbody></table></div>\n");
        if (r->failures->n > show)
            put(h,
                "<p class=\"muted\">&#8230; and %zu more: the JSON report lists every "
                "failure.</p>\n",
                r->failures->n - show);
    } else {
        raw(h, "<p class=\"muted\">No image failed.</p>\n");
    }
    raw(h, "</section>\n");
}

int ppx_report_html(const ppx_report *r, ppx_buf *out)
{
    html h = {out, 0};
    char date[64] = "";
    time_t t = r->date ? r->date : time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &tm);

    head_section(&h, r, date);
    warnings_section(&h, r);
    summary_section(&h, r);
    run_section(&h, r, date);
    if (r->shards_state != PPX_REPORT_NO_SHARDS)
        shards_section(&h, r);
    if (r->shards_state == PPX_REPORT_SHARDS_LISTED)
        classes_section(&h, r);
    if (r->dups)
        duplicates_section(&h, r->dups);

    channels_section(&h, r->stats);
    rasters_section(&h, r->stats);
    sizes_section(&h, r->stats);
    ranks_section(&h, r);
    failures_section(&h, r);
    raw(&h, "<footer>prepix ");
    text(&h, PPX_VERSION);
    raw(&h, " &#183; report made ");
    text(&h, date);
    raw(&h, "</footer>\n</main></body></html>\n");
    return h.failed ? PPX_ENOMEM : 0;
}
