/* The option table of `prepix run|stats` (src/cli/options.c) against the
 * man page, the --help text and the parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/options.h"
#include "prepix/dedup.h"
#include "prepix/limits.h"
#include "prepix/pipeline.h"

#define MAX_DOC 128

/* The option names in the tag lines (the line after each .TP) of the man
 * page's OPTIONS section: long names without "--", short ones as "x". */
typedef struct {
    char names[MAX_DOC][48];
    int n;
} doc_names;

static void add_name(doc_names *d, const char *s, size_t len)
{
    if (d->n < MAX_DOC && len < sizeof d->names[0]) {
        memcpy(d->names[d->n], s, len);
        d->names[d->n++][len] = '\0';
    }
}

/* Finds "-x" and "--long-name" (after the roff "\-" is made "-") where a
 * word starts. */
static void scan_tag(const char *line, doc_names *d)
{
    char s[512];
    size_t n = 0;
    for (size_t i = 0; line[i] && n + 1 < sizeof s; i++)
        if (!(line[i] == '\\' && line[i + 1] == '-'))
            s[n++] = line[i];
    s[n] = '\0';
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '-' || (i > 0 && s[i - 1] != ' ' && s[i - 1] != '"'))
            continue;
        size_t start = i + (s[i + 1] == '-' ? 2 : 1), end = start;
        while (s[end] && (strchr("abcdefghijklmnopqrstuvwxyz0123456789-", s[end]) ||
                          (s[end] >= 'A' && s[end] <= 'Z')))
            end++;
        if (end > start && (s[i + 1] == '-' || end == start + 1))
            add_name(d, s + start, end - start);
        i = end ? end - 1 : i;
    }
}

static int read_man_options(doc_names *d)
{
    const char *src = getenv("PPX_SOURCE_DIR");
    char path[PPX_PATH_MAX], line[512];
    snprintf(path, sizeof path, "%s/docs/prepix.1", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    int in_options = 0, tag_next = 0;
    d->n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, ".SH", 3) == 0)
            in_options = strncmp(line, ".SH OPTIONS", 11) == 0;
        else if (in_options && tag_next)
            scan_tag(line, d);
        tag_next = in_options && strncmp(line, ".TP", 3) == 0;
    }
    fclose(f);
    return 0;
}

static int documented(const doc_names *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->names[i], name) == 0)
            return 1;
    return 0;
}

static const ppx_cli_opt *row_named(const char *name)
{
    for (size_t i = 0; i < ppx_cli_n_options; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        if (strcmp(o->name, name) == 0 || (!name[1] && o->short_name == name[0]))
            return o;
    }
    return NULL;
}

/* Every option of the table has an entry in prepix(1)'s OPTIONS, and every
 * option an entry there names is in the table. */
static int man_page_lists_options(void)
{
    doc_names d;
    CHECK(read_man_options(&d) == 0);
    CHECK(d.n > 10);
    int bad = 0;
    for (size_t i = 0; i < ppx_cli_n_options; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        char s[2] = {o->short_name, '\0'};
        if (!documented(&d, o->name) || (o->short_name && !documented(&d, s))) {
            fprintf(stderr, "docs/prepix.1 does not document --%s%s%s\n", o->name,
                    o->short_name ? " or -" : "", s);
            bad = 1;
        }
    }
    for (int i = 0; i < d.n; i++)
        if (!row_named(d.names[i])) {
            fprintf(stderr, "docs/prepix.1 documents %s%s, which prepix does not have\n",
                    d.names[i][1] ? "--" : "-", d.names[i]);
            bad = 1;
        }
    return bad;
}

/* Each row names itself once, and has what its kind needs. */
static int table_consistent(void)
{
    for (size_t i = 0; i < ppx_cli_n_options; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(o->name, ppx_cli_options[j].name) != 0);
            CHECK(!o->short_name || o->short_name != ppx_cli_options[j].short_name);
        }
        CHECK(o->kind != PPX_OPT_CUSTOM || o->set);
        CHECK(o->kind != PPX_OPT_CHOICE || (o->choices && o->arg));
        CHECK(o->kind == PPX_OPT_CUSTOM || o->field != PPX_FIELD_NONE);
        if (o->kind == PPX_OPT_UINT || o->kind == PPX_OPT_INT || o->kind == PPX_OPT_SECONDS) {
            CHECK(o->arg && o->expect);
            CHECK(o->lo < 0 || (uint64_t)o->lo <= o->hi);
        }
        if (o->def_flags & PPX_OPT_HAS_DEF) {
            CHECK(o->def >= (double)o->lo && o->def <= (double)o->hi);
            CHECK(!o->lo_open || o->def > (double)o->lo);
        }
    }
    return 0;
}

static char *usage_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    ppx_cli_print_usage(f);
    fclose(f);
    return text;
}

/* --help lists each row with help under its names and, in its text, the
 * row's own default and bounds; the others are named somewhere in it. */
static int help_lists_options(void)
{
    char *text = usage_text();
    CHECK(text);
    for (size_t i = 0; i < ppx_cli_n_options; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        char want[128];
        if (o->help && o->short_name)
            snprintf(want, sizeof want, "\n  -%c, --%s%s%s", o->short_name, o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        else if (o->help)
            snprintf(want, sizeof want, "\n      --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else if (o->short_name)
            snprintf(want, sizeof want, " -%c ", o->short_name);
        else
            snprintf(want, sizeof want, "--%s", o->name);
        if (!strstr(text, want)) {
            fprintf(stderr, "--help does not show \"%s\"\n", want);
            free(text);
            return 1;
        }
    }
    CHECK(
        strstr(text, "  -q, --quality N        JPEG and lossy WebP quality 1..100 (default 90)\n"));
    CHECK(strstr(text, "      --max-pixels N     refuse larger images before decoding (default "
                       "268435456)\n"));
    CHECK(strstr(text, "(default off: it costs 12% CPU")); /* not "12%%" */
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1)
        CHECK(nl - line <= 100);
    free(text);
    return 0;
}

static int parse(ppx_run_config *cfg, ppx_cli_run *r, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    r->cfg = cfg;
    return ppx_cli_parse_options(argc, argv, r);
}

/* The rows' defaults land in the configuration, values in their fields,
 * bounds refuse what they should. */
static int parse_values(void)
{
    ppx_run_config cfg;
    ppx_cli_run r;
    ppx_limits lim;
    ppx_limits_default(&lim);
    char *none[] = {"run", NULL};
    CHECK_EQ_INT(parse(&cfg, &r, none), 0);
    CHECK_EQ_INT(cfg.quality, 90);
    CHECK(cfg.timeout_s == 60 && cfg.rank_timeout_s == 120);
    CHECK_EQ_INT(cfg.max_failures, -1);
    CHECK_EQ_INT(cfg.dup_distance, PPX_DUP_DISTANCE_DEFAULT);
    CHECK(cfg.limits.max_pixels == lim.max_pixels && cfg.limits.max_pixels == 268435456u);
    CHECK_EQ_INT(cfg.shard_size, 0); /* applied later, for tar and npy only */
    CHECK(cfg.progress == PPX_PROGRESS_AUTO && !cfg.transport_bytes && !cfg.duplicates);

    char *some[] = {"run",
                    "-i",
                    "a",
                    "-i",
                    "b=c",
                    "-q",
                    "100",
                    "--seed",
                    "18446744073709551615",
                    "--timeout",
                    "0.5",
                    "--max-failures",
                    "-1",
                    "--progress",
                    "log",
                    "--duplicates",
                    "on",
                    "--no-follow-symlinks",
                    "--max-pixels",
                    "4294836225",
                    "-p",
                    "rgb",
                    "-f",
                    "webp-lossless",
                    NULL};
    CHECK_EQ_INT(parse(&cfg, &r, some), 0);
    CHECK(r.n_inputs == 2 && strcmp(r.inputs[1], "b=c") == 0 && strcmp(r.spec_arg, "rgb") == 0);
    CHECK_EQ_INT(cfg.quality, 100);
    CHECK(cfg.seed == UINT64_MAX && cfg.timeout_s == 0.5 && cfg.max_failures == -1);
    CHECK(cfg.progress == PPX_PROGRESS_LOG && cfg.duplicates == 1 && cfg.follow_symlinks == 0);
    CHECK(cfg.limits.max_pixels == 65535ULL * 65535ULL);
    CHECK(cfg.out_format == PPX_FMT_WEBP && cfg.webp_lossless);

    char *bad[][4] = {{"run", "-q", "101", NULL},
                      {"run", "-q", "0", NULL},
                      {"run", "--timeout", "0", NULL},
                      {"run", "--rank-timeout", "", NULL},
                      {"run", "--max-failures", "-2", NULL},
                      {"run", "--progress", "x", NULL},
                      {"run", "--max-pixels", "4294836226", NULL},
                      {"run", "-f", "gif", NULL},
                      {"run", "--dup-distance", "33", NULL},
                      {"run", "--seed", "-1", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(parse(&cfg, &r, bad[i]), EXIT_USAGE);
    return 0;
}

/* A spec "NAME ARG KEY=VALUE" parses; or, with want_error, fails with a
 * message holding want_error. */
static int spec_ok(const char *spec, const char *want_error)
{
    ppx_pipeline *pl = NULL;
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_pipeline_parse(spec, &pl, &err);
    ppx_pipeline_free(&pl);
    if (!want_error && rc)
        fprintf(stderr, "\"%s\" refused: %s\n", spec, err.msg);
    if (want_error && (!rc || !strstr(err.msg, want_error)))
        fprintf(stderr, "\"%s\": \"%s\" does not say \"%s\"\n", spec, err.msg, want_error);
    return want_error ? rc && strstr(err.msg, want_error) : rc == 0;
}

/* Every op's keys as `prepix ops` shows them (made from the op's key rows):
 * each shown value parses, each of a choice's words is named when a value is
 * bad, and each key is named when a key is unknown. */
static int ops_usage_parses(void)
{
    char *text = NULL, spec[256], want[64];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f);
    ppx_pipeline_print_ops(f);
    fclose(f);
    int ops = 0, keys = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        if (strncmp(line, "  ", 2) != 0 || line[2] == ' ')
            continue;
        char name[32] = "", arg[32] = "";
        char *save = NULL, *tok = strtok_r(line + 2, " ", &save);
        snprintf(name, sizeof name, "%s", tok);
        ops++;
        while ((tok = strtok_r(NULL, " ", &save))) {
            if (tok[0] != '[') {
                /* a positional: its first form, capitals made 8 before the
                 * first comma and 9 after it (scale's LO,HI needs LO < HI) */
                size_t n = strcspn(tok, "|");
                int comma = 0;
                for (size_t i = 0; i < n && i + 1 < sizeof arg; i++) {
                    comma |= tok[i] == ',';
                    arg[i] = tok[i] >= 'A' && tok[i] <= 'Z' ? (comma ? '9' : '8') : tok[i];
                }
                continue;
            }
            char *eq = strchr(tok, '='), *end = strchr(tok, ']');
            CHECK(eq && end);
            *end = '\0';
            keys++;
            snprintf(spec, sizeof spec, "%s %s bogus=1", name, arg);
            snprintf(want, sizeof want, "%.*s=", (int)(eq - tok - 1), tok + 1);
            CHECK(spec_ok(spec, want));
            int choice = strchr(eq, '|') != NULL;
            for (char *w = eq + 1; *w;) {
                size_t n = strcspn(w, "|");
                snprintf(spec, sizeof spec, "%s %s %.*s%.*s", name, arg, (int)(eq - tok), tok + 1,
                         (int)n, w);
                CHECK(spec_ok(spec, NULL));
                snprintf(spec, sizeof spec, "%s %s %.*s@", name, arg, (int)(eq - tok), tok + 1);
                snprintf(want, sizeof want, "%.*s", (int)n, w);
                CHECK(!choice || spec_ok(spec, want));
                w += n + (w[n] == '|');
            }
        }
    }
    free(text);
    CHECK(ops >= 13 && keys >= 9);
    return 0;
}

PPX_TEST_MAIN(TEST(man_page_lists_options), TEST(table_consistent), TEST(help_lists_options),
              TEST(parse_values), TEST(ops_usage_parses))
